"""The `modal` policy host: the open-weight task model served and trained on a Modal GPU
(sia run --policy-host modal), or, with transport=standin, by a worker in this process
behind the same calls (every argument and result pickled both ways, as Modal would)."""

from __future__ import annotations

import pickle
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sia_core.api import PolicyConnection, SiaError

OPTIONS = ("transport", "gpu", "app", "python", "volume")
DEFAULT_GPU = "H100"


class StandInConnection:
    """A PolicyWorker in this process; its store (Modal: the Volume) a local folder,
    `volume` if given (kept), else a temporary one."""

    def __init__(self, worker: dict[str, Any], volume: str | None = None) -> None:
        from sia_core.api.policy import PolicyWorker

        self.kept = volume is not None
        self.volume = Path(volume) if volume else Path(tempfile.mkdtemp(prefix="sia-volume-"))
        self.worker = PolicyWorker(
            worker["model"],
            worker["lora"],
            worker["seed"],
            store=self.volume / worker["run"],
            exact=worker.get("exact", False),
        )

    def call(self, method: str, *args: Any) -> Any:
        sent = pickle.loads(pickle.dumps(args))
        return pickle.loads(pickle.dumps(getattr(self.worker, method)(*sent)))

    def close(self) -> None:
        self.worker.close()
        if not self.kept:
            shutil.rmtree(self.volume, ignore_errors=True)


def connect(options: Mapping[str, str], worker: dict[str, Any]) -> PolicyConnection:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SiaError(
            f"policy host 'modal' has no option {unknown[0]!r}; options: {', '.join(OPTIONS)}"
        )
    kind = options.get("transport", "modal")
    if kind == "standin":
        return StandInConnection(worker, options.get("volume"))
    if kind != "modal":
        raise SiaError(f"policy host 'modal': transport must be modal or standin, not {kind!r}")
    from sia_modal.modal_calls import modal_policy, require_token

    require_token()
    return modal_policy(
        worker,
        gpu=options.get("gpu", DEFAULT_GPU),
        app_name=options.get("app", "sia"),
        python_version=options.get("python", "3.11"),
        volume_name=options.get("volume", "sia-adapters"),
    )
