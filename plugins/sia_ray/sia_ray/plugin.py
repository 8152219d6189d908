"""Registers the `ray` sandbox and policy host. Cheap: ray is imported on use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sia_core.api import PolicyConnection, PolicyHostSpec, Sandbox, SandboxSpec, SiaError, hookimpl

SANDBOX_OPTIONS = ("address", "cpu")
POLICY_OPTIONS = ("address", "num_gpus", "num_cpus", "memory_mb")


def _check(kind: str, options: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SiaError(f"{kind} 'ray' has no option {unknown[0]!r}; options: {', '.join(known)}")


def _sandbox(options: Mapping[str, str]) -> Sandbox:
    _check("sandbox", options, SANDBOX_OPTIONS)
    from sia_ray.sandbox import ray_sandbox

    return ray_sandbox(options)


def _policy(options: Mapping[str, str], worker: dict[str, Any]) -> PolicyConnection:
    _check("policy host", options, POLICY_OPTIONS)
    from sia_ray.policy import connect

    return connect(options, worker)


@hookimpl
def register_sandboxes(register: Callable[[SandboxSpec], None]) -> None:
    register(
        SandboxSpec(
            name="ray",
            summary="Each agent job in a bubblewrap box on a node of a Ray cluster (address= "
            "an existing cluster, default: RAY_ADDRESS or auto); data in and outputs out "
            "through Ray, the gateway stays with sia and is reached over the exec-stream "
            "relay, no keys leave sia's process.",
            factory=_sandbox,
        )
    )


@hookimpl
def register_policy_hosts(register: Callable[[PolicyHostSpec], None]) -> None:
    register(
        PolicyHostSpec(
            name="ray",
            summary="The open-weight task model served and trained by sia's policy worker in "
            "a Ray actor (num_gpus, num_cpus, memory_mb); adapters cross as files.",
            factory=_policy,
        )
    )
