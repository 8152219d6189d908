"""A seccomp filter for the local sandbox, handed to bubblewrap (`--seccomp FD`).

Denied with EPERM: the kernel keyring (`add_key`, `keyctl`, `request_key`: a key added
by one agent outlives its sandbox and a later agent could read it), and the other calls
a task agent has no use for and that reach state outside its namespaces or widen the
kernel's attack surface, as Flatpak's and Docker's default profiles do: mounts and
namespaces, modules, kexec, reboot, swap, clocks, ptrace, BPF, perf, userfaultfd,
io_uring, NUMA memory policy, open_by_handle_at. A syscall of another ABI than the
native one (i386 or x32 entry points on x86_64) is denied too, since its numbers differ
and would slip past the list.

The program is classic BPF, built here from the tables below (no libseccomp needed).
"""

from __future__ import annotations

import platform
import struct

# Linux syscall numbers, from arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h (arm64).
DENIED: dict[str, dict[str, int]] = {
    "x86_64": {
        "add_key": 248, "request_key": 249, "keyctl": 250,
        "ptrace": 101, "syslog": 103, "uselib": 134, "modify_ldt": 154, "vhangup": 153,
        "pivot_root": 155, "adjtimex": 159, "acct": 163, "settimeofday": 164,
        "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169,
        "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176,
        "quotactl": 179, "lookup_dcookie": 212, "clock_settime": 227, "mbind": 237,
        "set_mempolicy": 238, "get_mempolicy": 239, "kexec_load": 246,
        "migrate_pages": 256, "unshare": 272, "move_pages": 279, "perf_event_open": 298,
        "fanotify_init": 300, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "clock_adjtime": 305, "setns": 308, "finit_module": 313, "kexec_file_load": 320,
        "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433,
    },
    "aarch64": {
        "add_key": 217, "request_key": 218, "keyctl": 219,
        "ptrace": 117, "syslog": 116, "vhangup": 58, "pivot_root": 41, "adjtimex": 171,
        "acct": 89, "settimeofday": 170, "mount": 40, "umount2": 39, "swapon": 224,
        "swapoff": 225, "reboot": 142, "init_module": 105, "delete_module": 106,
        "quotactl": 60, "lookup_dcookie": 18, "clock_settime": 112, "mbind": 235,
        "set_mempolicy": 237, "get_mempolicy": 236, "kexec_load": 104,
        "migrate_pages": 238, "unshare": 97, "move_pages": 239, "perf_event_open": 241,
        "fanotify_init": 262, "name_to_handle_at": 264, "open_by_handle_at": 265,
        "clock_adjtime": 266, "setns": 268, "finit_module": 273, "kexec_file_load": 294,
        "bpf": 280, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433,
    },
}  # fmt: skip
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
EPERM = 1

# BPF opcodes (linux/filter.h, linux/seccomp.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data


def machine() -> str:
    return platform.machine()


def supported() -> bool:
    return machine() in DENIED


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(arch: str | None = None) -> bytes:
    """The filter as the kernel takes it: an array of struct sock_filter."""
    arch = arch or machine()
    numbers = sorted(set(DENIED[arch].values()))
    deny = _insn(_RET_K, 0, 0, _RET_ERRNO | EPERM)
    body = [_insn(_LD_W_ABS, 0, 0, _ARCH)]
    # Another ABI: skip to the deny at the end.
    rest = 1 + (1 if arch == "x86_64" else 0) + len(numbers) + 1
    body.append(_insn(_JEQ_K, 0, rest, AUDIT_ARCH[arch]))
    body.append(_insn(_LD_W_ABS, 0, 0, _NR))
    if arch == "x86_64":
        body.append(_insn(_JGE_K, len(numbers) + 1, 0, X32_SYSCALL_BIT))
    for i, number in enumerate(numbers):
        # Equal: jump over the remaining tests and the allow, onto the deny.
        body.append(_insn(_JEQ_K, len(numbers) - i, 0, number))
    body.append(_insn(_RET_K, 0, 0, _RET_ALLOW))
    body.append(deny)
    return b"".join(body)


def denied_names(arch: str | None = None) -> list[str]:
    return sorted(DENIED[arch or machine()])
