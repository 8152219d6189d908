"""Generate the offline tasks into the sia cache, once, from a fixed seed."""

from __future__ import annotations

import csv
import random
import shutil
from importlib.resources import files
from pathlib import Path

from sia_core.api.tasks import build_once, cache_dir, refresh
from sia_core.api.tasks import is_built as pack_is_built

VERSION = 1
SEED = 20260101
FILES = Path(str(files("sia_tasks_offline") / "files"))

PRODUCTS = [
    "kettle",
    "lamp",
    "chair",
    "blender",
    "backpack",
    "phone case",
    "desk",
    "toaster",
    "jacket",
    "headset",
    "mattress",
    "umbrella",
    "keyboard",
    "frying pan",
    "tent",
]
GOOD = [
    "great",
    "excellent",
    "reliable",
    "sturdy",
    "comfortable",
    "wonderful",
    "well made",
    "worth the money",
    "a joy to use",
    "perfect",
]
BAD = [
    "terrible",
    "awful",
    "flimsy",
    "useless",
    "broken",
    "disappointing",
    "cheaply made",
    "a waste of money",
    "a pain to use",
    "defective",
    "bad",
    "wrong",
]


# Negated reviews whose surface word points the other way: a model that reads words
# rather than sentences labels them wrong.
NEGATED_POSITIVE = [
    "The {p} is not {bad} at all.",
    "I could not find anything {bad} about this {p}.",
    "Nobody could call this {p} {bad}.",
    "This {p} is anything but {bad}.",
    "I expected the {p} to be {bad}, but it is not.",
]
NEGATED_NEGATIVE = [
    "The {p} is not {good}.",
    "I would not call this {p} {good}.",
    "This {p} is far from {good}.",
    "I wanted the {p} to be {good}, but it is not.",
    "Nobody could call this {p} {good}.",
]
PLAIN = {
    "positive": ["The {p} is {good}.", "This {p} is really {good}."],
    "negative": ["The {p} is {bad}.", "This {p} is really {bad}."],
}


def _review(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["positive", "negative"])
    if rng.random() < 0.25:
        template = rng.choice(PLAIN[label])
    else:
        template = rng.choice(NEGATED_POSITIVE if label == "positive" else NEGATED_NEGATIVE)
    text = template.format(p=rng.choice(PRODUCTS), good=rng.choice(GOOD), bad=rng.choice(BAD))
    return text, label


def _sum(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if rng.random() < 0.5:
        return f"{a} + {b}", str(a + b)
    a, b = max(a, b), min(a, b)
    return f"{a} - {b}", str(a - b)


SPECS = {
    # name: (row maker, input column, train rows, test rows)
    "sentiment": (_review, "review", 400, 100),
    "arithmetic": (_sum, "problem", 600, 300),
}


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def generate(name: str, root: Path) -> None:
    make, column, n_train, n_test = SPECS[name]
    rng = random.Random(f"{SEED}-{name}")
    rows = [make(rng) for _ in range(n_train + n_test)]
    public, private = root / "data" / "public", root / "data" / "private"
    _write(
        public / "train.csv",
        ["id", column, "answer"],
        [[f"{name[0]}{i:04d}", x, y] for i, (x, y) in enumerate(rows[:n_train])],
    )
    test = [(f"{name[0]}{i:04d}", x, y) for i, (x, y) in enumerate(rows[n_train:], n_train)]
    _write(public / "test.csv", ["id", column], [[i, x] for i, x, _ in test])
    _write(private / "answers.csv", ["id", "answer"], [[i, y] for i, _, y in test])
    shutil.copy2(FILES / f"{name}_task.md", public / "task.md")
    shutil.copy2(FILES / "evaluate_exact.py", public / "evaluate.py")
    (root / "reference").mkdir()
    shutil.copy2(FILES / f"{name}_agent.py", root / "reference" / "reference_target_agent.py")
    shutil.copy2(FILES / f"{name}_samples.md", root / "reference" / "SAMPLE_TASK_DESCRIPTIONS.md")
    shutil.copy2(FILES / f"{name}.toml", root / "task.toml")


def location(name: str) -> Path:
    return cache_dir() / "tasks" / f"{name}-v{VERSION}"


def is_built(name: str) -> bool:
    return pack_is_built(location(name))


def task_dir(name: str) -> Path:
    root = build_once(location(name), lambda tmp: generate(name, tmp))
    refresh(
        {
            FILES / f"{name}.toml": root / "task.toml",
            FILES / f"{name}_task.md": root / "data" / "public" / "task.md",
            FILES / "evaluate_exact.py": root / "data" / "public" / "evaluate.py",
            FILES / f"{name}_agent.py": root / "reference" / "reference_target_agent.py",
            FILES / f"{name}_samples.md": root / "reference" / "SAMPLE_TASK_DESCRIPTIONS.md",
        }
    )
    return root
