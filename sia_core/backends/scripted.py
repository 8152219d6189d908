"""Replays prepared generations: DIR/gen_N/{target_agent.py, improvement.md, decision.json}.

A recorded run directory has the same layout, so `--backend-opt script=runs/run_X`
replays that run's harnesses against a (possibly different) task or model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

from sia_core.backends.contract import (
    BackendCannotAct,
    Decision,
    FeedbackContext,
    MetaContext,
    start_from_reference,
)
from sia_core.errors import SiaError
from sia_core.run_layout import candidate_dir, gen_dir, gen_name

COPIED = ("target_agent.py", "improvement.md", "requirements.txt")


class ScriptedBackend:
    name = "scripted"

    def __init__(self, script: Path | None) -> None:
        self.script = script

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> ScriptedBackend:
        unknown = set(options) - {"script"}
        if unknown:
            raise SiaError(
                f"backend 'scripted' has no option {sorted(unknown)[0]!r}; it takes script=DIR"
            )
        script = Path(options["script"]).expanduser().resolve() if "script" in options else None
        if script is not None and not script.is_dir():
            raise SiaError(f"scripted backend: script directory {script} does not exist")
        return cls(script)

    def _replay(self, number: int, out_dir: Path, candidate: int = 1) -> Decision | None:
        source = gen_dir(self.script, number) if self.script else None
        # Several candidates: DIR/gen_N/candidates/K/, candidate 1 falling back to gen_N/.
        if source is not None and candidate_dir(source, candidate).is_dir():
            source = candidate_dir(source, candidate)
        elif candidate > 1:
            return None
        if source is None or not (source / "target_agent.py").is_file():
            return None
        for name in COPIED:
            if (source / name).is_file():
                shutil.copy2(source / name, out_dir / name)
        decision_file = source / "decision.json"
        if decision_file.is_file():
            try:
                decision = Decision.from_dict(json.loads(decision_file.read_text("utf-8")))
            except ValueError as exc:
                raise SiaError(f"{decision_file}: {exc}") from None
        else:
            improvement = source / "improvement.md"
            text = improvement.read_text("utf-8") if improvement.is_file() else ""
            first = text.strip().splitlines()[:1]
            decision = Decision(lever="harness", rationale=first[0] if first else "replayed")
        decision.source = f"scripted: {source}"
        return decision

    def initial(self, ctx: MetaContext) -> Decision:
        replayed = self._replay(1, ctx.out_dir)
        if replayed is not None:
            return replayed
        return start_from_reference(ctx, "the script has no gen_1/target_agent.py")

    def feedback(self, ctx: FeedbackContext) -> Decision:
        replayed = self._replay(ctx.number, ctx.out_dir, ctx.candidate)
        if replayed is None:
            where = gen_name(ctx.number) + (
                f"/candidates/{ctx.candidate}" if ctx.candidate > 1 else ""
            )
            raise BackendCannotAct(f"the script has no {where}/target_agent.py")
        return replayed
