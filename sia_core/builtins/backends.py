"""Built-in backends: `scripted` (replays prepared generations) and `heuristic` (no LLM)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sia_core.api import hookimpl
from sia_core.specs import BackendSpec


def _scripted(options: Mapping[str, str]):  # noqa: ANN202 - lazy import keeps loading cheap
    from sia_core.backends.scripted import ScriptedBackend

    return ScriptedBackend.from_options(options)


def _heuristic(options: Mapping[str, str]):  # noqa: ANN202
    from sia_core.backends.heuristic import HeuristicBackend

    return HeuristicBackend.from_options(options)


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="scripted",
            summary="Replays a directory of prepared generations (gen_N/target_agent.py, "
            "improvement.md, decision.json); for tests and for replaying a run. "
            "Option: script=DIR.",
            factory=_scripted,
        )
    )
    register(
        BackendSpec(
            name="heuristic",
            summary="No LLM: keeps the reference harness and pulls the weights lever with the "
            "algorithm the reward-shape classifier recommends.",
            factory=_heuristic,
        )
    )
