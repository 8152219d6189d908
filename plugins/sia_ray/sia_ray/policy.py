"""`--policy-host ray`: sia's PolicyWorker in a Ray actor with the resources asked for.
Adapters cross as their files ({name: bytes}), as with any policy host."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from sia_core.api import SiaError
from sia_ray.cluster import connect as join_cluster


class RayPolicyConnection:
    def __init__(self, actor: Any) -> None:
        import ray

        self._ray, self._actor = ray, actor

    def call(self, method: str, *args: Any) -> Any:
        try:
            return self._ray.get(self._actor.call.remote(method, *args))
        except self._ray.exceptions.RayActorError as exc:
            raise SiaError(
                f"the Ray actor serving the task model is gone ({str(exc).splitlines()[0]}); "
                "continue with sia run --resume"
            ) from None

    def close(self) -> None:
        # The worker removes its scratch (adapters) itself; a kill alone left it on the node.
        with contextlib.suppress(self._ray.exceptions.RayError):
            self._ray.get(self._actor.call.remote("close"), timeout=60)
        self._ray.kill(self._actor, no_restart=True)


def _number(options: Mapping[str, str], key: str) -> float | None:
    if key not in options:
        return None
    try:
        return float(options[key])
    except ValueError:
        raise SiaError(f"policy host 'ray': {key} must be a number, not {options[key]!r}") from None


def connect(options: Mapping[str, str], worker: dict[str, Any]) -> RayPolicyConnection:
    import ray

    join_cluster(options)

    @ray.remote(max_concurrency=64)
    class PolicyActor:
        def __init__(self, arguments: dict[str, Any]) -> None:
            from sia_core.api.policy import PolicyWorker

            self.worker = PolicyWorker(
                arguments["model"], arguments["lora"], arguments["seed"],
                exact=arguments.get("exact", False),
            )  # fmt: skip

        def call(self, method: str, *args: Any) -> Any:
            return getattr(self.worker, method)(*args)

    resources: dict[str, Any] = {"num_cpus": _number(options, "num_cpus") or 1}
    if (gpus := _number(options, "num_gpus")) is not None:
        resources["num_gpus"] = gpus
    if (memory := _number(options, "memory_mb")) is not None:
        resources["memory"] = int(memory * 1024 * 1024)
    arguments = {k: worker[k] for k in ("model", "lora", "seed", "exact") if k in worker}
    actor = PolicyActor.options(**resources).remote(arguments)
    connection = RayPolicyConnection(actor)
    connection.call("use_adapter", None)  # started, or one line saying why not
    return connection
