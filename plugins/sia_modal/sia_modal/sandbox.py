"""The `modal` sandbox: sia_core's remote sandbox over Modal (or the local stand-in)."""

from __future__ import annotations

from collections.abc import Mapping

from sia_core.api import SandboxJob, SandboxResult, SiaError
from sia_core.api.sandboxes import RemoteSandbox, Transport, requirements_of


class ModalSandbox(RemoteSandbox):
    def run(self, job: SandboxJob) -> SandboxResult:
        # The harness's requirements.txt becomes the image's; the local environment
        # that sia built for it names them.
        self.requirements = requirements_of(job.python)
        return super().run(job)


def modal_sandbox(options: Mapping[str, str]) -> ModalSandbox:
    try:
        cpu = float(options["cpu"]) if "cpu" in options else None
    except ValueError:
        raise SiaError(f"sandbox 'modal': cpu must be a number, not {options['cpu']!r}") from None
    kind = options.get("transport", "modal")
    transport: Transport
    if kind == "modal":
        from sia_modal.modal_calls import ModalTransport, require_token

        require_token()
        transport = ModalTransport(
            app_name=options.get("app", "sia"), python_version=options.get("python", "3.11")
        )
    elif kind == "standin":
        from sia_modal.standin import StandInTransport

        transport = StandInTransport()
    else:
        raise SiaError(f"sandbox 'modal': transport must be modal or standin, not {kind!r}")
    return ModalSandbox(transport=transport, cpu=cpu, gpu=options.get("gpu"), name="modal")
