"""The four original tasks: what each is, and which original data files make it up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OriginalTask:
    description: str
    members: dict[str, str]
    """Path inside the original task folder -> path inside the task directory built here."""


TASKS: dict[str, OriginalTask] = {
    "gpqa": OriginalTask(
        "GPQA diamond: 198 graduate-level multiple-choice questions (accuracy)",
        {
            "data/public/diamond_questions.json": "data/public/diamond_questions.json",
            "data/private/diamond_questions.json": "data/private/diamond_questions.json",
        },
    ),
    "lawbench": OriginalTask(
        "LawBench charge prediction: 913 Chinese criminal cases, 191 charges (accuracy)",
        {
            "data/public/test.csv": "data/public/test.csv",
            "data/public/classes.json": "data/public/classes.json",
            "data/public/sample_submission.csv": "data/public/sample_submission.csv",
            "data/training_data/train.csv": "data/public/train.csv",
            "data/private/test.csv": "data/private/test.csv",
        },
    ),
    "longcot-chess": OriginalTask(
        "LongCoT chess: 50 hard best-move and knight-path problems (exact match)",
        {
            "data/public/chess_hard.json": "data/public/chess_hard.json",
            "data/private/answers.json": "data/private/answers.json",
        },
    ),
    "spaceship-titanic": OriginalTask(
        "Spaceship Titanic, MLE-bench split: which passengers were transported (accuracy)",
        {
            "data/public/train.csv": "data/public/train.csv",
            "data/public/test.csv": "data/public/test.csv",
            "data/public/sample_submission.csv": "data/public/sample_submission.csv",
            "data/private/test.csv": "data/private/test.csv",
        },
    ),
}

SAMPLES = "reference/SAMPLE_TASK_DESCRIPTIONS.md"
"""The original's sample task descriptions, shown to the Meta-Agent; copied as they are."""
