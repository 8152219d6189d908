"""Registers the `modal` sandbox and policy host. Cheap: modal, torch and the
transports load on use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sia_core.api import PolicyConnection, PolicyHostSpec, SandboxSpec, SiaError, hookimpl

OPTIONS = ("transport", "cpu", "gpu", "app", "python")


def _modal(options: Mapping[str, str]):  # noqa: ANN202 - imported on use
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise SiaError(
            f"sandbox 'modal' has no option {unknown[0]!r}; options: {', '.join(OPTIONS)}"
        )
    from sia_modal.sandbox import modal_sandbox

    return modal_sandbox(options)


def _policy(options: Mapping[str, str], worker: dict[str, Any]) -> PolicyConnection:
    from sia_modal.policy import connect

    return connect(options, worker)


@hookimpl
def register_policy_hosts(register: Callable[[PolicyHostSpec], None]) -> None:
    register(
        PolicyHostSpec(
            name="modal",
            summary="The open-weight task model served and trained on a Modal GPU "
            "(gpu=H100 by default); adapters kept in a Modal Volume and copied into "
            "gen_N/adapter/ (transport=standin: a worker in this process).",
            factory=_policy,
        )
    )


@hookimpl
def register_sandboxes(register: Callable[[SandboxSpec], None]) -> None:
    register(
        SandboxSpec(
            name="modal",
            summary="A Modal Sandbox per agent job: no network inside, the gateway "
            "through a relay over the exec stream, no keys in the box; cpu, memory, "
            "gpu and the wall clock from task.toml or --sandbox-opt "
            "(transport=standin: a local bubblewrap stand-in, no account needed).",
            factory=_modal,
        )
    )
