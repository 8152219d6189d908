"""Which lever the offline backend pulls next, from the run's evidence so far.

A harness trial costs one selection run; a weights generation costs rounds of K
rollouts plus training (on arithmetic, 2 CPU cores: about 1 min against 4-5 min), so the
cheap lever goes first. Measured on arithmetic (benchmarks/levers.py): the first knob
edits pay a lot (the prompt format alone took selection from 1% to 14%), the third and
later little or nothing, while each weights generation kept adding a few points. So the
harness is explored with two edits, then the weights are trained while they pay; a
weights gain opens a fresh knob study (the best demos and temperature move with the
adapter) that gets one re-tuning trial; two weights generations in a row not kept send
the search back to the knobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.backends.contract import BackendCannotAct

LEVER_SETTINGS = ("harness", "weights", "both")
EXPLORE_TRIALS = 3
"""Finished trials (the parent's own setting counts as one) before the base model's knob
study counts as explored: two edits."""
RETUNE_TRIALS = 2
"""The same after a weights gain, on the new adapter's study: one re-tuning edit."""
WEIGHTS_PATIENCE = 2
"""Weights generations in a row not kept before the harness is tried again."""
MAX_TRIALS = 16
"""Finished trials on one adapter after which the harness is not tried again on it."""


@dataclass(frozen=True)
class LeverEvidence:
    levers: str
    """What the user allows: harness, weights or both."""
    knobs: int
    """Knobs the parent harness declares."""
    trainable: bool
    """The task model can be trained and an RL algorithm is installed."""
    trials: int
    """Finished trials of the knob study for the parent's adapter and harness."""
    history: tuple[tuple[str, bool], ...]
    """(lever, kept) of each generation after the first, oldest first."""
    knob_problem: str = ""
    """Why the parent's knobs could not be read, when they could not."""


def _streak(history: tuple[tuple[str, bool], ...], lever: str) -> int:
    """How many of the latest generations pulled `lever` and were not kept."""
    count = 0
    for pulled, kept in reversed(history):
        if pulled != lever or kept:
            break
        count += 1
    return count


def _no_knobs(evidence: LeverEvidence) -> str:
    if evidence.knob_problem:
        return f"the harness's knobs cannot be read ({evidence.knob_problem})"
    return "the harness declares no knobs (`NAME = value  # sia-knob: ...`, docs/tasks.md)"


def choose_lever(evidence: LeverEvidence) -> tuple[str, str]:
    """The lever and why; BackendCannotAct when the allowed levers cannot be pulled."""
    can_tune = evidence.knobs > 0
    cannot_train = (
        "the task model cannot be trained here (no open-weight task model served locally, "
        "no labelled rows, no RL algorithm installed, or a harness that makes no model call)"
    )
    if evidence.levers == "harness" or (evidence.levers == "both" and not evidence.trainable):
        if not can_tune:
            if evidence.levers == "both":
                raise BackendCannotAct(
                    f"nothing for the heuristic backend to change: {_no_knobs(evidence)}, "
                    f"and {cannot_train}"
                )
            raise BackendCannotAct(f"levers=harness, but {_no_knobs(evidence)}")
        why = "levers=harness" if evidence.levers == "harness" else cannot_train
        return "harness", f"{why}: tune the harness's knobs"
    if evidence.levers == "weights" or not can_tune:
        if not evidence.trainable:
            raise BackendCannotAct(f"levers=weights, but {cannot_train}")
        why = "levers=weights" if evidence.levers == "weights" else _no_knobs(evidence)
        return "weights", f"{why}: train the weights"
    last = evidence.history[-1] if evidence.history else None
    weights_gain = any(lever == "weights" and kept for lever, kept in evidence.history)
    explore = RETUNE_TRIALS if weights_gain else EXPLORE_TRIALS
    if evidence.trials < explore:
        if last == ("weights", True):
            return "harness", (
                f"re-tune the harness after a weights gain: the knobs are untried on the new "
                f"adapter ({evidence.trials} of {explore} finished trials)"
            )
        return "harness", (
            f"the knobs are untried on this adapter and harness ({evidence.trials} of "
            f"{explore} finished trials): tune the harness"
        )
    weights_misses = _streak(evidence.history, "weights")
    if weights_misses >= WEIGHTS_PATIENCE and evidence.trials < MAX_TRIALS:
        return "harness", (
            f"the last {weights_misses} weights generations were not kept: back to the knobs "
            f"({evidence.trials} trials on this adapter)"
        )
    if last and last[0] == "harness" and not last[1]:
        return "weights", (
            f"the last knob trial was not kept: the harness has plateaued on this adapter "
            f"({evidence.trials} trials): train the weights"
        )
    return "weights", (
        f"the knobs are tried on this adapter ({evidence.trials} trials): train the weights"
    )
