"""Entry point of sia-backend-claude: registers the `claude` backend.

Cheap to import: the Claude Agent SDK is imported only when a run uses the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sia_core.api import Backend, BackendSpec, hookimpl


def _factory(options: Mapping[str, str]) -> Backend:
    from sia_backend_claude.backend import ClaudeBackend

    return ClaudeBackend.from_options(options)


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="claude",
            summary="Claude Code (Claude Agent SDK) as Meta- and Feedback-Agent; "
            "models haiku, sonnet, opus or a full id",
            factory=_factory,
        )
    )
