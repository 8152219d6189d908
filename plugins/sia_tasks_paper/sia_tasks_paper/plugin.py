"""Entry point of sia-tasks-paper: registers the `paper` task loader. Cheap: a task is
built (and its data fetched) only when it is used."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.api import TaskLoaderSpec, hookimpl
from sia_core.api.tasks import lazy_loader

DESCRIPTIONS = {
    "trimul": "A fast TriMul (AlphaFold 3 triangle update) kernel in Triton; correctness "
    "under Triton's interpreter on CPU, speedup on CUDA",
    "scrna-denoise": "Denoise real 10x PBMC counts (700 cells); MSE by molecular "
    "cross-validation (data from the scanpy 1.11.5 wheel on first use)",
}


@hookimpl
def register_task_loaders(register: Callable[[TaskLoaderSpec], None]) -> None:
    register(
        lazy_loader(
            "paper",
            "trimul and scrna-denoise, the SIA paper's kernel and biology tasks",
            DESCRIPTIONS,
            "sia_tasks_paper.build",
        )
    )
