"""The `--backend-opt KEY=VALUE` options of the openhands backend: the common ones, and
how to reach the model."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sia_core.api import SiaError
from sia_core.api.agents import AgentOptions


@dataclass(frozen=True)
class OpenHandsOptions(AgentOptions):
    api_base: str | None = None
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp): use model=openai/NAME."""
    api_key_env: str | None = None
    """The environment variable holding the key, when litellm's usual one does not apply."""
    max_retries: int = 5
    retry_min_wait: float = 4.0
    retry_max_wait: float = 60.0

    def api_key(self, model: str) -> str | None:
        """The key to pass explicitly, or None to let litellm find its usual variable."""
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise SiaError(f"api_key_env={self.api_key_env} but that variable is not set")
            return key
        if model.startswith("gemini/") and not os.environ.get("GEMINI_API_KEY"):
            return os.environ.get("GOOGLE_API_KEY")
        if self.api_base and not os.environ.get("OPENAI_API_KEY"):
            return "sk-no-key"  # local servers usually accept any key
        return None
