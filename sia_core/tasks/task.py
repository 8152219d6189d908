"""A task directory in the original SIA layout, plus an optional task.toml.

TASK/data/public/task.md                   what the agent is told
TASK/data/public/evaluate.py  (or TASK/evaluate.py)
TASK/data/private/                         answers: never shown to an agent
TASK/reference/reference_target_agent.py
TASK/reference/SAMPLE_TASK_DESCRIPTIONS.md
TASK/task.toml                             optional, see docs/tasks.md
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli

from sia_core.errors import SiaError


class TaskError(SiaError):
    pass


@dataclass(frozen=True)
class ValidationSplit:
    """How to carve a selection split from labelled public data (see docs/tasks.md)."""

    source: str
    """Labelled public file (csv or jsonl) the validation rows are taken from."""
    inputs: str
    """Public file the agent predicts on; replaced by the held-out rows without labels."""
    answers: str
    """Private file the evaluator reads answers from; replaced by the held-out labels."""
    id_column: str
    label_column: str
    fraction: float = 0.2
    seed: int = 0
    answer_label_column: str | None = None
    """Name of the label column in the answers file, when it differs from the source's."""


@dataclass(frozen=True)
class ShardSpec:
    """How one run of a harness over a split is spread over several sandboxes
    (`--parallel N`, see docs/tasks.md): the rows of `inputs` are cut into N contiguous
    shards, one sandbox each, and the row files in `outputs` are concatenated back in
    shard order before the evaluator runs once on the whole split."""

    inputs: str
    """Public row file (csv or jsonl) the agent predicts on."""
    outputs: tuple[str, ...]
    """Row files (csv or jsonl) the agent writes in its working directory."""


@dataclass(frozen=True)
class TaskConfig:
    name: str | None = None
    description: str = ""
    metric: str = "accuracy"
    direction: str = "max"
    agent_timeout_s: float = 3600.0
    eval_timeout_s: float = 600.0
    memory_mb: int = 4096
    max_processes: int = 256
    gpu: str | None = None
    """The accelerator a GPU sandbox should give the agent and evaluator (e.g. "H100");
    the local sandbox has none to give and runs without one."""
    task_model: str | None = None
    validation: ValidationSplit | None = None
    selection_data: str | None = None
    """`[validation] view`: a directory under the task root whose `public/` and
    `private/` files replace those of data/ in the selection view, for a task whose
    selection split is not rows carved from a labelled file (scrna-denoise scores other
    cells)."""
    shards: ShardSpec | None = None


@dataclass(frozen=True)
class Task:
    root: Path
    name: str
    public_dir: Path
    private_dir: Path
    task_md: Path
    evaluator: Path
    reference_agent: Path | None
    samples: Path | None
    config: TaskConfig = field(default_factory=TaskConfig)

    def better(self, score: float, than: float | None) -> bool:
        if than is None:
            return True
        return score > than if self.config.direction == "max" else score < than


_SECTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "task": {"name": str, "description": str},
    "metric": {"key": str, "direction": str},
    "limits": {
        "agent_timeout_s": (int, float),
        "eval_timeout_s": (int, float),
        "memory_mb": int,
        "max_processes": int,
        "gpu": str,
    },
    "model": {"task_model": str},
    "validation": {
        "source": str,
        "inputs": str,
        "answers": str,
        "id_column": str,
        "label_column": str,
        "answer_label_column": str,
        "fraction": (int, float),
        "seed": int,
        "view": str,
    },
    "parallel": {"inputs": str, "outputs": list},
    # Options for the task's own evaluator, which reads them from task.toml itself:
    # any key, scalar values only (sia does not interpret them).
    "evaluator": {},
}
_FREE_SECTIONS = {"evaluator"}


def _check_table(path: Path, section: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise TaskError(f"{path}: [{section}] must be a table")
    allowed = _SECTIONS[section]
    for key, value in table.items():
        if section in _FREE_SECTIONS:
            if not isinstance(value, (str, int, float, bool)):
                raise TaskError(
                    f"{path}: [{section}] {key} must be a string, number or boolean, got {value!r}"
                )
            continue
        if key not in allowed:
            raise TaskError(
                f"{path}: unknown key {key!r} in [{section}]; known keys: "
                f"{', '.join(sorted(allowed))}"
            )
        expected = allowed[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            names = expected.__name__ if isinstance(expected, type) else "number"
            raise TaskError(f"{path}: [{section}] {key} must be a {names}, got {value!r}")
    return table


def read_task_toml(path: Path, public_dir: Path, private_dir: Path) -> TaskConfig:
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except tomli.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from None
    for section in data:
        if section not in _SECTIONS:
            raise TaskError(
                f"{path}: unknown section [{section}]; known sections: "
                f"{', '.join('[' + s + ']' for s in _SECTIONS)}"
            )
    tables = {s: _check_table(path, s, data.get(s, {})) for s in _SECTIONS}
    metric = tables["metric"]
    direction = metric.get("direction", "max")
    if direction not in ("max", "min"):
        raise TaskError(f"{path}: [metric] direction must be 'max' or 'min', got {direction!r}")
    if "key" in metric and not metric["key"].strip():
        raise TaskError(f"{path}: [metric] key is empty; name the score's key in results.json")
    limits = tables["limits"]
    for key, value in limits.items():
        if key == "gpu":
            if not value.strip():
                raise TaskError(f'{path}: [limits] gpu is empty; name a GPU (e.g. "H100")')
        elif value <= 0:
            raise TaskError(f"{path}: [limits] {key} must be positive, got {value}")
    validation = None
    selection_data = None
    if "view" in tables["validation"]:
        selection_data = _selection_data(path, tables["validation"])
    elif tables["validation"]:
        validation = _validation(path, tables["validation"], public_dir, private_dir)
    shards = None
    if tables["parallel"]:
        shards = _shards(path, tables["parallel"], validation, public_dir)
    known = {f.name for f in fields(TaskConfig)}
    return TaskConfig(
        name=tables["task"].get("name"),
        description=tables["task"].get("description", ""),
        metric=metric.get("key", "accuracy"),
        direction=direction,
        task_model=tables["model"].get("task_model"),
        validation=validation,
        selection_data=selection_data,
        shards=shards,
        **{k: v for k, v in limits.items() if k in known},
    )


def _validation(
    path: Path, table: dict[str, Any], public_dir: Path, private_dir: Path
) -> ValidationSplit:
    required = ["source", "inputs", "answers", "id_column", "label_column"]
    missing = [key for key in required if key not in table]
    if missing:
        raise TaskError(f"{path}: [validation] needs {', '.join(missing)}")
    split = ValidationSplit(**table)
    if not 0 < split.fraction < 1:
        raise TaskError(f"{path}: [validation] fraction must be between 0 and 1")
    for name, base in (("source", public_dir), ("inputs", public_dir), ("answers", private_dir)):
        target = base / getattr(split, name)
        if not target.is_file():
            raise TaskError(f"{path}: [validation] {name} = {target} does not exist")
        if target.suffix not in (".csv", ".jsonl"):
            raise TaskError(f"{path}: [validation] {name} must be a .csv or .jsonl file")
    return split


def _selection_data(path: Path, table: dict[str, Any]) -> str:
    view = table["view"]
    others = sorted(set(table) - {"view"})
    if others:
        raise TaskError(
            f"{path}: [validation] view names a ready selection split; drop "
            f"{', '.join(others)}, which describe carving one from rows"
        )
    root = path.parent.resolve()
    target = (root / view).resolve()
    if Path(view).is_absolute() or not target.is_relative_to(root) or target == root:
        raise TaskError(f"{path}: [validation] view must be a directory inside the task")
    if not target.is_dir() or not any((target / d).is_dir() for d in ("public", "private")):
        raise TaskError(
            f"{path}: [validation] view = {view!r} needs a directory there holding public/ "
            "and/or private/ (the files that differ in the selection split)"
        )
    return view


def _shards(
    path: Path, table: dict[str, Any], validation: ValidationSplit | None, public_dir: Path
) -> ShardSpec:
    inputs = table.get("inputs") or (validation.inputs if validation else None)
    if inputs is None:
        raise TaskError(
            f"{path}: [parallel] needs inputs (the public file the agent predicts on), "
            "or a [validation] section whose inputs it takes"
        )
    target = public_dir / inputs
    if not target.is_file() or target.suffix not in (".csv", ".jsonl"):
        raise TaskError(f"{path}: [parallel] inputs = {target} is not a .csv or .jsonl file")
    outputs = table.get("outputs")
    if not outputs or not all(isinstance(name, str) for name in outputs):
        raise TaskError(
            f"{path}: [parallel] outputs must list the row files the agent writes, e.g. "
            '["predictions.csv"]'
        )
    for name in outputs:
        parts = Path(name).parts
        if (
            Path(name).is_absolute()
            or ".." in parts
            or Path(name).suffix
            not in (
                ".csv",
                ".jsonl",
            )
        ):
            raise TaskError(
                f"{path}: [parallel] output {name!r} must be a .csv or .jsonl file in the "
                "agent's working directory (a relative path)"
            )
    return ShardSpec(inputs=inputs, outputs=tuple(outputs))


def load_task_dir(root: Path) -> Task:
    root = root.expanduser().resolve()
    if not root.is_dir():
        raise TaskError(f"task directory {root} does not exist")
    public = root / "data" / "public"
    task_md = public / "task.md"
    if not task_md.is_file():
        raise TaskError(
            f"{root} has no data/public/task.md; a task directory needs the task "
            "description there (see docs/tasks.md)"
        )
    evaluator = next(
        (p for p in (public / "evaluate.py", root / "evaluate.py") if p.is_file()), None
    )
    if evaluator is None:
        raise TaskError(
            f"{root} has no evaluator; put evaluate.py in data/public/ or the task root"
        )
    private = root / "data" / "private"
    toml_path = root / "task.toml"
    config = read_task_toml(toml_path, public, private) if toml_path.is_file() else TaskConfig()
    reference = root / "reference" / "reference_target_agent.py"
    samples = root / "reference" / "SAMPLE_TASK_DESCRIPTIONS.md"
    return Task(
        root=root,
        name=config.name or root.name,
        public_dir=public,
        private_dir=private,
        task_md=task_md,
        evaluator=evaluator,
        reference_agent=reference if reference.is_file() else None,
        samples=samples if samples.is_file() else None,
        config=config,
    )
