"""Built-in sandbox: `local` (a subprocess in Linux namespaces where available)."""

from __future__ import annotations

from collections.abc import Callable

from sia_core.hookspecs import hookimpl
from sia_core.specs import SandboxSpec


def _local():  # noqa: ANN202 - imported on use
    from sia_core.sandbox.local import LocalSandbox

    return LocalSandbox()


@hookimpl
def register_sandboxes(register: Callable[[SandboxSpec], None]) -> None:
    register(
        SandboxSpec(
            name="local",
            summary="Subprocess on this machine: user/pid/mount/net namespaces where the kernel "
            "allows, time, memory and process limits, no keys, gateway-only network.",
            factory=_local,
        )
    )
