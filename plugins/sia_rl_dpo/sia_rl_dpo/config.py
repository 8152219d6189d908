"""DPO hyperparameters."""

from __future__ import annotations

from dataclasses import dataclass

from sia_core.api import RLConfig, option

PAIRINGS = ("best-worst", "all")


@dataclass
class DPOConfig(RLConfig):
    beta: float = option(
        0.1,
        "strength of the implicit KL to the adapter-free reference: small lets the policy "
        "move further from it",
        min=1e-4,
        max=10.0,
    )
    label_smoothing: float = option(
        0.0,
        "probability that a pair's preference is wrong (conservative DPO); 0: trust every pair",
        min=0.0,
        max=0.49,
    )
    pairing: str = option(
        "best-worst",
        "which runs of an item's group are paired: 'best-worst' (one pair, the best run "
        "against the worst) or 'all' (every pair whose rewards differ by more than margin)",
    )
    margin: float = option(
        0.0, "a pair needs its rewards to differ by more than this", min=0.0, max=1e6
    )
    minibatch_size: int = option(8, "pairs per optimiser step", min=1, max=4096)

    def __post_init__(self) -> None:
        if self.pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {', '.join(PAIRINGS)}, got {self.pairing!r}")
