"""Entry point of sia-backend-openhands: registers the `openhands` backend.

Cheap to import: the OpenHands SDK is imported only when a run uses the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sia_core.api import Backend, BackendSpec, hookimpl


def _factory(options: Mapping[str, str]) -> Backend:
    from sia_backend_openhands.backend import OpenHandsBackend

    return OpenHandsBackend.from_options(options)


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="openhands",
            summary="OpenHands SDK agent on any litellm model (anthropic/, gemini/, openai/, "
            "or a local OpenAI-compatible server with api_base=URL)",
            factory=_factory,
        )
    )
