"""The `--backend-opt KEY=VALUE` options of the openhands backend."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from sia_core.errors import SiaError


@dataclass(frozen=True)
class OpenHandsOptions:
    model: str | None = None
    """A litellm model name (anthropic/..., gemini/..., openai/...); `--meta-model` wins."""
    api_base: str | None = None
    """An OpenAI-compatible server (vLLM, Ollama, llama.cpp): use model=openai/NAME."""
    api_key_env: str | None = None
    """The environment variable holding the key, when litellm's usual one does not apply."""
    max_turns: int = 40
    timeout_s: float = 1800.0
    max_retries: int = 5
    retry_min_wait: float = 4.0
    retry_max_wait: float = 60.0
    request_timeout_s: float = 600.0
    """One API call taking longer than this is abandoned and retried."""
    trial_items: int = 5
    evidence_tokens: int = 6000

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> OpenHandsOptions:
        known = {f.name: str(f.type).split(" ")[0] for f in fields(cls)}
        values: dict[str, object] = {}
        for key, raw in options.items():
            if key not in known:
                raise SiaError(
                    f"backend 'openhands' has no option {key!r}; options: {', '.join(known)}"
                )
            kind = {"int": int, "float": float}.get(known[key], str)
            try:
                values[key] = kind(raw)
            except ValueError:
                raise SiaError(f"backend option {key}={raw!r} must be a {kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]

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
