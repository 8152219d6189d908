"""Entry point of sia-tasks-paper: registers the `paper` task loader. Cheap: a task is
built (and its data fetched) only when it is used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sia_core.hookspecs import hookimpl
from sia_core.specs import TaskInfo, TaskLoaderSpec

DESCRIPTIONS = {
    "trimul": "A fast TriMul (AlphaFold 3 triangle update) kernel in Triton; correctness "
    "under Triton's interpreter on CPU, speedup on CUDA",
    "scrna-denoise": "Denoise real 10x PBMC counts (700 cells); MSE by molecular "
    "cross-validation (data from the scanpy 1.11.5 wheel on first use)",
}


def _resolve(name: str) -> Path | None:
    if name not in DESCRIPTIONS:
        return None
    from sia_tasks_paper.build import task_dir

    return task_dir(name)


def _list() -> list[TaskInfo]:
    from sia_tasks_paper.build import is_built

    return [TaskInfo(name=n, description=d, available=is_built(n)) for n, d in DESCRIPTIONS.items()]


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        TaskLoaderSpec(
            name="paper",
            summary="trimul and scrna-denoise, the SIA paper's kernel and biology tasks",
            list_tasks=_list,
            resolve=_resolve,
        )
    )
