"""Best-of-N behaviour cloning hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sia_core.api import option, parse


@dataclass
class BoNConfig:
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
    minibatch_size: int = option(16, "calls per optimiser step", min=1, max=4096)
    max_grad_norm: float = option(1.0, "gradient clipping norm", min=0.0, max=100.0)
    learning_rate: float | None = option(
        None, "LoRA learning rate (null: the run's --lora-lr)", min=0.0, max=1.0
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoNConfig:
        return parse(cls, data, "bon")
