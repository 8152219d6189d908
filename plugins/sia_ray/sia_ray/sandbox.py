"""`--sandbox ray`: sia's remote sandbox over a Ray cluster. Each job's box is a Ray actor
that starts sia's bubblewrap box (BwrapBox) on the node Ray places it on, and carries the
box's exec-with-stdio: data goes in and outputs come back as the bytes of those streams,
and the agent's model calls reach the gateway, which stays in sia's process, through the
relay over the same streams. An actor is given only the box's spec, argv, the agent's
environment (sia_core's agent_env: no provider key) and stream bytes."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import asdict
from functools import cache
from typing import Any

from sia_core.api import SiaError
from sia_core.api.sandboxes import BoxSpec, RemoteSandbox, Transport
from sia_ray.cluster import connect

LOST = "sia: the Ray node running this box was lost"


@cache
def _box_actor() -> Any:
    """The actor class, made once, on first use, so that importing this module needs no
    ray."""
    import ray

    @ray.remote(max_concurrency=64)
    class BoxActor:
        """One bubblewrap box on this node, and the processes running in it."""

        def __init__(self, spec: dict[str, Any]) -> None:
            from sia_core.api.sandboxes import BwrapBox

            node = ray.get_runtime_context().get_node_id()
            self.box = BwrapBox(BoxSpec(**spec), f"a box on Ray node {node[:12]}")
            self.node = node
            self.procs: dict[int, Any] = {}
            self.ids = itertools.count(1)
            self.lock = threading.Lock()

        def describe(self) -> dict[str, Any]:
            return {"python": self.box.python, "root": self.box.root,
                    "isolation": self.box.isolation, "node": self.node}  # fmt: skip

        def exec(self, argv: list[str], env: dict[str, str] | None) -> int:
            with self.lock:
                pid = next(self.ids)
            self.procs[pid] = self.box.exec(argv, env)
            return pid

        def call(self, pid: int, method: str, *args: Any) -> Any:
            return getattr(self.procs[pid], method)(*args)

        def terminate(self) -> None:
            self.box.terminate()

    return BoxActor


class RayProcess:
    def __init__(self, box: RayBox, pid: int) -> None:
        self._box, self._pid = box, pid
        self._lost_said = False

    def _call(self, method: str, *args: Any) -> Any:
        return self._box.remote(self._box.actor.call, self._pid, method, *args)

    def write(self, data: bytes) -> None:
        if self._box.lost is None:
            self._call("write", data)

    def close_stdin(self) -> None:
        if self._box.lost is None:
            self._call("close_stdin")

    def read(self, size: int) -> bytes:
        return b"" if self._box.lost else self._call("read", size) or b""

    def read_stderr(self, size: int) -> bytes:
        if self._box.lost is None:
            data = self._call("read_stderr", size)
            if data is not None:
                return data
        if self._lost_said:
            return b""
        self._lost_said = True  # the reason, once, at the end of the job's stderr
        return f"{LOST} ({self._box.lost})\n".encode()

    def wait(self, timeout: float | None = None) -> int | None:
        code = self._call("wait", timeout)
        return 137 if self._box.lost else code

    def kill(self) -> None:
        if self._box.lost is None:
            self._call("kill")


class RayBox:
    def __init__(self, spec: BoxSpec) -> None:
        import ray

        options: dict[str, Any] = {"num_cpus": spec.cpu or 1, "scheduling_strategy": "SPREAD"}
        if spec.gpu:
            options["num_gpus"] = 1
        self.actor = _box_actor().options(**options).remote(asdict(spec))
        self.lost: str | None = None
        self._ray = ray
        info = self.remote(self.actor.describe)
        if info is None:
            raise RuntimeError(f"the box did not start: {self.lost}")
        self.python, self.root = info["python"], info["root"]
        self.node: str = info["node"]
        self.isolation = [*info["isolation"], "placed by Ray (SPREAD over the cluster's nodes)"]

    def remote(self, method: Any, *args: Any) -> Any:
        """One call on the box's actor; a lost node or actor is remembered and turned into
        a failed job (None), never an exception in the middle of sia's sandbox logic."""
        if self.lost is not None:
            return None
        try:
            return self._ray.get(method.remote(*args))
        except self._ray.exceptions.RayError as exc:
            self.lost = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return None

    def exec(self, argv: list[str], env: dict[str, str] | None = None) -> RayProcess:
        pid = self.remote(self.actor.exec, argv, env)
        return RayProcess(self, pid if pid is not None else -1)

    def terminate(self) -> None:
        self.remote(self.actor.terminate)
        self._ray.kill(self.actor, no_restart=True)


class RayTransport:
    name = "ray"

    def __init__(self) -> None:
        self.nodes: set[str] = set()
        """The nodes this transport's boxes ran on (for the record and the tests)."""

    def create(self, spec: BoxSpec) -> RayBox:
        box = RayBox(spec)
        self.nodes.add(box.node)
        return box


def ray_sandbox(options: Mapping[str, str]) -> RemoteSandbox:
    try:
        cpu = float(options["cpu"]) if "cpu" in options else None
    except ValueError:
        raise SiaError(f"sandbox 'ray': cpu must be a number, not {options['cpu']!r}") from None
    connect(options)
    transport: Transport = RayTransport()
    return RemoteSandbox(transport=transport, cpu=cpu, name="ray")
