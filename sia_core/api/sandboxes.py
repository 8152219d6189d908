"""For sandbox plugins: the bubblewrap mount plan and namespaces, the cgroup and seccomp
caps, the local sandbox's work-dir cap, and the remote sandbox that drives a box over an
exec-with-stdio transport (the gateway reached through the relay)."""

from __future__ import annotations

from sia_core.envs import requirements_of
from sia_core.sandbox.api import GatewayLink, Sandbox, SandboxJob, SandboxResult
from sia_core.sandbox.box import BoxProcess, BwrapBox
from sia_core.sandbox.bwrap import MountPlan, SandboxUnavailable, namespace_flags, require_bwrap
from sia_core.sandbox.cgroup import SandboxCgroup
from sia_core.sandbox.remote import BoxSpec, RemoteSandbox, Transport
from sia_core.sandbox.seccomp import program as seccomp_program
from sia_core.sandbox.seccomp import supported as seccomp_supported
from sia_core.sandbox.stage import WORK_MB, cap_work_dir, die_with_parent, unmount

__all__ = [
    "WORK_MB",
    "BoxProcess",
    "BoxSpec",
    "BwrapBox",
    "GatewayLink",
    "MountPlan",
    "RemoteSandbox",
    "Sandbox",
    "SandboxCgroup",
    "SandboxJob",
    "SandboxResult",
    "SandboxUnavailable",
    "Transport",
    "cap_work_dir",
    "die_with_parent",
    "namespace_flags",
    "require_bwrap",
    "requirements_of",
    "seccomp_program",
    "seccomp_supported",
    "unmount",
]
