"""Small copies of the original task data, in the original formats, written by the test."""

from __future__ import annotations

import csv
import json
from pathlib import Path

CLASSES = ["盗窃", "故意伤害", "[走私、贩卖、运输、制造]毒品"]


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _samples(task: Path) -> None:
    (task / "reference").mkdir(parents=True, exist_ok=True)
    (task / "reference" / "SAMPLE_TASK_DESCRIPTIONS.md").write_text("# Sample tasks\n")


def write_original_tasks(root: Path) -> Path:
    """Write ROOT/sia/tasks/<task>/... as in the sia-agent wheel; return ROOT."""
    tasks = root / "sia" / "tasks"
    gpqa = tasks / "gpqa"
    questions = [
        {
            "id": i,
            "domain": domain,
            "subdomain": domain,
            "Question": f"Question {i}?",
            "options": {"A": "one", "B": "two", "C": "three", "D": "four"},
        }
        for i, domain in [(1, "Physics"), (2, "Chemistry"), (3, "Biology")]
    ]
    _json(gpqa / "data/public/diamond_questions.json", questions)
    answers = dict(zip((1, 2, 3), "BDA", strict=True))
    _json(
        gpqa / "data/private/diamond_questions.json",
        [{**q, "correct_answer_letter": answers[q["id"]]} for q in questions],
    )
    law = tasks / "lawbench"
    _json(law / "data/public/classes.json", CLASSES)
    train = [[str(i), f"案情{i}", CLASSES[i % 3]] for i in range(20)]
    _csv(law / "data/training_data/train.csv", ["id", "text", "label"], train)
    _csv(law / "data/public/test.csv", ["id", "text"], [[str(i), f"事实{i}"] for i in range(4)])
    _csv(
        law / "data/public/sample_submission.csv",
        ["id", "label"],
        [[str(i), "盗窃"] for i in range(4)],
    )
    _csv(
        law / "data/private/test.csv",
        ["id", "label"],
        [[str(i), CLASSES[(i + 1) % 3]] for i in range(4)],
    )
    chess = tasks / "longcot-chess"
    _json(
        chess / "data/public/chess_hard.json",
        [
            {
                "question_id": "best_3_moves_hard_1",
                "prompt": "FEN ...",
                "problem": {"template": "best_3_moves"},
            },
            {
                "question_id": "knight_path_hard_1",
                "prompt": "Board ...",
                "problem": {"template": "knight_path"},
            },
        ],
    )
    _json(
        chess / "data/private/answers.json",
        {"best_3_moves_hard_1": ["c4", "bxc4", "bxc4"], "knight_path_hard_1": "218"},
    )
    ship = tasks / "spaceship-titanic"
    columns = ["PassengerId", "HomePlanet", "CryoSleep", "Age", "Transported"]
    rows = [[f"{i:04d}_01", "Earth", str(i % 2 == 0), "30.0", str(i % 3 == 0)] for i in range(30)]
    _csv(ship / "data/public/train.csv", columns, rows[:25])
    _csv(ship / "data/public/test.csv", columns[:-1], [r[:-1] for r in rows[25:]])
    _csv(
        ship / "data/public/sample_submission.csv",
        ["PassengerId", "Transported"],
        [[r[0], "False"] for r in rows[25:]],
    )
    _csv(ship / "data/private/test.csv", columns, rows[25:])
    for task in (gpqa, law, chess, ship):
        _samples(task)
    return root
