"""Best-of-N behaviour cloning hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option


@dataclass
class BoNConfig(RLConfig):
    threshold: float = option(
        1.0,
        "the reward a run needs to be imitated (1.0: only fully correct runs of a 0/1 reward; "
        "lower it for graded rewards)",
        min=-1e9,
        max=1e9,
    )
    per_group: int = option(
        2,
        "at most this many of a group's best runs are kept (distinct outputs only: "
        "identical runs would only weigh one answer more)",
        min=1,
        max=64,
    )
    epochs: int = option(2, "passes over the kept runs per training round", min=1, max=50)
