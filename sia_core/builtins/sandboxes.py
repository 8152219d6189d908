"""Built-in sandboxes: `local` (bubblewrap) and `process` (unshielded, by explicit choice)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sia_core.api import hookimpl
from sia_core.errors import SiaError
from sia_core.specs import SandboxSpec


def _local(options: Mapping[str, str]):  # noqa: ANN202 - imported on use
    from sia_core.sandbox.local import LocalSandbox

    return LocalSandbox.from_options(options)


def _process(options: Mapping[str, str]):  # noqa: ANN202 - imported on use
    from sia_core.sandbox.process import ProcessSandbox

    if options:
        raise SiaError(f"sandbox 'process' takes no options; got {sorted(options)[0]!r}")
    return ProcessSandbox()


@hookimpl
def register_sandboxes(register: Callable[[SandboxSpec], None]) -> None:
    register(
        SandboxSpec(
            name="local",
            summary="bubblewrap on this machine: an unprivileged uid, a read-only "
            "allow-listed filesystem, pid/mount/net namespaces, time, memory and process "
            "limits, no keys, gateway-only network. Refuses to run without bwrap.",
            factory=_local,
        )
    )
    register(
        SandboxSpec(
            name="process",
            summary="A plain subprocess, for machines without bubblewrap: NOT shielded "
            "(keys readable through /proc, private data and network reachable); "
            "every record says so.",
            factory=_process,
        )
    )
