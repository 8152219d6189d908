"""A local stand-in for Modal's Sandbox, for tests and for trying `--sandbox modal`
without an account (`--sandbox-opt transport=standin`): sia's bubblewrap box
(sia_core.api.sandboxes.BwrapBox) on this machine, driven over the same exec-with-stdio
as a Modal Sandbox. It is not Modal: no gVisor, no image build, no GPU."""

from __future__ import annotations

from sia_core.api.sandboxes import BoxSpec, BwrapBox


class StandInTransport:
    name = "standin"

    def create(self, spec: BoxSpec) -> BwrapBox:
        return BwrapBox(spec, "stand-in for a Modal sandbox")
