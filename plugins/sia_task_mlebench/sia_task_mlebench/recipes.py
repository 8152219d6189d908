"""How a competition is split and scored.

Most MLE-bench competitions are prepared with `train_test_split(train, test_size=0.1,
random_state=0)` on Kaggle's labelled train.csv: the held-out rows become the test set.
That is the generic recipe here. A competition listed in KNOWN has been checked against
MLE-bench's own split (spaceship-titanic: tested against the split the original SIA
ships); any other is prepared with the generic recipe and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS = {
    # name: (direction, what it means)
    "accuracy": ("max", "share of rows whose predicted label equals the true one"),
    "auc": ("max", "area under the ROC curve of the predicted probability of the positive class"),
    "rmse": ("min", "root mean squared error of the predicted value"),
    "logloss": ("min", "log-loss of the predicted class probabilities (clipped to 1e-15)"),
}


@dataclass(frozen=True)
class Recipe:
    metric: str
    test_fraction: float = 0.1
    seed: int = 0
    label_column: str | None = None
    """For multiclass log-loss: the train.csv column whose values are the classes that
    sample_submission.csv has one probability column each for."""
    verified: bool = False
    """True when the split was checked to equal MLE-bench's for this competition."""

    @property
    def direction(self) -> str:
        return METRICS[self.metric][0]


KNOWN: dict[str, Recipe] = {
    "spaceship-titanic": Recipe(metric="accuracy", verified=True),
}
