"""Whether the task model can be reached, asked once before any work.

A run whose task model cannot answer would otherwise go through every generation with
every model call failing and report its zeros as scores. Two things are cheap to know
in advance: whether the provider's key is in the environment, and whether a
`--task-model-base` server answers at all. Either problem is one line.
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request

from sia_core.policy.registry import DEFAULT_MODEL

# provider prefix -> the variables its client reads, any one of which will do. The
# families sia's own tasks use are named here so the message can say "(or ...)";
# other providers are asked of litellm, which knows them all.
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai": ("OPENAI_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "together_ai": ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
}
# Servers a user runs: they need an address, not a key.
SELF_HOSTED = frozenset({"hosted_vllm", "ollama", "ollama_chat", "lm_studio", "llamafile"})
PROBE_TIMEOUT_S = 5.0


def _offline_hint() -> str:
    return f"run offline with --task-model {DEFAULT_MODEL}"


def missing_key(name: str, api_base: str | None) -> str | None:
    """The one line saying which key `name` needs and is not set, or None when it has one
    (or needs none: a local server given by address)."""
    provider, _, model = name.partition("/")
    if not model:
        provider = ""
    if provider in SELF_HOSTED:
        return None
    if api_base or (provider == "openai" and os.environ.get("OPENAI_BASE_URL")):
        # A server the user named may need no key at all (vLLM, Ollama, llama.cpp).
        return None
    wanted = PROVIDER_KEYS.get(provider) or _litellm_keys(name)
    if not wanted or any(os.environ.get(var) for var in wanted):
        return None
    keys = wanted[0] + (f" (or {', '.join(wanted[1:])})" if len(wanted) > 1 else "")
    return (
        f"task model {name}: {keys} is not set; set it, or {_offline_hint()}, "
        "or name another provider's model with --task-model"
    )


def _litellm_keys(name: str) -> tuple[str, ...]:
    """The variables litellm says `name` needs and misses (empty: none, or unknown)."""
    from sia_core.console_log import quiet_litellm

    try:
        litellm = quiet_litellm(None)
    except ImportError:
        return ()
    try:
        found = litellm.validate_environment(model=name)
    except Exception:  # litellm raises for names it cannot place; the call will say more
        return ()
    if found.get("keys_in_environment"):
        return ()
    return tuple(str(key) for key in found.get("missing_keys") or ())


def server_down(api_base: str) -> str | None:
    """The one line saying `api_base` does not answer, or None when it does. Any HTTP
    answer counts (a 401 or 404 from /models is still a server); only no answer fails."""
    url = api_base.rstrip("/") + "/models"
    request = urllib.request.Request(url, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.timeout | TimeoutError):
            reason = f"no answer in {PROBE_TIMEOUT_S:.0f} s"
        return (
            f"--task-model-base {api_base} does not answer ({reason}); start the server, "
            f"correct the address, or {_offline_hint()}"
        )


def unreachable(name: str | None, api_base: str | None, local: bool) -> str | None:
    """Why the task model `name` cannot be reached, in one line, or None."""
    if name is None or local:
        return None
    if api_base:
        return server_down(api_base)
    return missing_key(name, None)
