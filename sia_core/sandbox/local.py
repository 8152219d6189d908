"""The built-in `local` sandbox: a subprocess in Linux namespaces where the machine allows.

With namespaces (util-linux `unshare`, a user namespace so no root is needed):
  - pid namespace with its own /proc: the agent sees no process of the parent, so it
    cannot read the parent's environment through /proc/<pid>/environ;
  - network namespace with loopback only; 127.0.0.1:PORT is relayed to the gateway's
    Unix socket, so the gateway is the only reachable service;
  - mount namespace: the task directory (and so data/private), the run directory
    (other generations), credential files in $HOME, and the host's /tmp, /var/tmp and
    /dev/shm are covered; the agent sees its stage at /tmp/sia (dataset read-only);
  - the agent process has no capabilities, so it cannot undo those mounts.
Always: a fresh environment with no provider keys, a wall-clock limit that kills the
whole process tree, an address-space cap (RLIMIT_AS) and a process cap (RLIMIT_NPROC).
Without namespaces (no `unshare`, or user namespaces disabled) it falls back to a plain
subprocess with the same environment and limits, and says so in `isolation`.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

from sia_core.sandbox import inside
from sia_core.sandbox.api import SandboxJob, SandboxResult

_UNSHARE_FLAGS = [
    "--user",
    "--map-root-user",
    "--net",
    "--pid",
    "--mount",
    "--ipc",
    "--uts",
    "--fork",
    "--kill-child=SIGKILL",
    "--mount-proc",
]
PR_SET_PDEATHSIG = 1
TAIL_CHARS = 4000
CREDENTIAL_PATHS = (
    ".ssh",
    ".aws",
    ".config",
    ".netrc",
    ".kaggle",
    ".claude",
    ".claude.json",
    ".docker",
    ".git-credentials",
    ".pypirc",
    ".gnupg",
    ".bash_history",
    ".anthropic",
    ".openai",
    ".azure",
    ".modal.toml",
)


@cache
def interpreter_paths(python: str) -> tuple[str, ...]:
    """Directories an interpreter needs: its prefixes and its sys.path."""
    probe = subprocess.run(
        [
            python,
            "-c",
            "import json, sys; print(json.dumps("
            "[sys.prefix, sys.exec_prefix, sys.base_prefix, *sys.path]))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    paths = json.loads(probe.stdout) if probe.returncode == 0 else []
    paths.append(str(Path(python).parent))
    return tuple(sorted({os.path.realpath(p) for p in paths if p} | set(paths) - {""}))


@cache
def namespaces_available() -> bool:
    forced = os.environ.get("SIA_SANDBOX_ISOLATION")
    if forced in ("process", "namespaces"):
        return forced == "namespaces"
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        [unshare, *_UNSHARE_FLAGS, "true"], capture_output=True, timeout=30, check=False
    )
    return probe.returncode == 0


def _die_with_parent() -> None:
    # If sia is killed (even with SIGKILL) the sandbox goes with it.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _tail(path: Path) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL_CHARS))
        return fh.read().decode("utf-8", errors="replace")


def _copy_outputs(src: Path, dest: Path) -> None:
    """Copy regular files and directories only: a symlink the agent planted must not
    lead the evaluator or the Feedback-Agent to files outside the sandbox."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(src):
        target = dest / entry.name
        if entry.is_symlink():
            continue
        if entry.is_dir():
            _copy_outputs(Path(entry.path), target)
        elif entry.is_file():
            shutil.copy2(entry.path, target)


def agent_env(home: str, job: SandboxJob, base_url: str | None) -> dict[str, str]:
    bin_dir = str(Path(job.python).parent)
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(job.env)
    if job.gateway is not None and base_url is not None:
        env.update(
            SIA_BASE_URL=base_url,
            SIA_MODEL=job.gateway.model,
            SIA_API_KEY=job.gateway.token,
            OPENAI_BASE_URL=base_url,
            OPENAI_API_KEY=job.gateway.token,
        )
    return env


class LocalSandbox:
    name = "local"

    def run(self, job: SandboxJob) -> SandboxResult:
        stage = Path(tempfile.mkdtemp(prefix="sia-sandbox-"))
        stop_unix = None
        try:
            shutil.copytree(job.dataset_dir, stage / "dataset", symlinks=False)
            for sub in ("work", "home", "agent"):
                (stage / sub).mkdir()
            shutil.copy2(job.agent_file, stage / "agent" / "target_agent.py")
            if namespaces_available():
                if job.gateway is not None:
                    stop_unix = job.gateway.listen_unix(stage / "gateway.sock")
                proc, isolation = self._start_namespaced(job, stage)
            else:
                proc, isolation = self._start_plain(job, stage)
            started = time.monotonic()
            timed_out = False
            try:
                code: int | None = proc.wait(timeout=job.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
            duration = time.monotonic() - started
            if code is not None and code < 0:
                code = 128 - code
            _copy_outputs(stage / "work", job.output_dir)
            for name in ("stdout", "stderr"):
                log = stage / f"{name}.log"
                if log.is_file():
                    shutil.copy2(log, job.output_dir / f"target_agent_{name}.log")
            stderr = _tail(stage / "stderr.log") or _tail(stage / "init.log")
            violation = stage / "violation.txt"
            return SandboxResult(
                exit_code=code,
                timed_out=timed_out,
                duration_s=duration,
                stdout_tail=_tail(stage / "stdout.log"),
                stderr_tail=stderr,
                isolation=isolation,
                violation=violation.read_text("utf-8") if violation.is_file() else None,
            )
        finally:
            if stop_unix is not None:
                stop_unix()
            shutil.rmtree(stage, ignore_errors=True)

    def _hidden(self, job: SandboxJob) -> list[str]:
        home = Path.home()
        paths = [str(p) for p in job.hidden_paths]
        paths += [str(home / name) for name in CREDENTIAL_PATHS if (home / name).exists()]
        # Deepest first, so a covered parent does not hide a path still to be covered.
        return sorted(set(paths), key=lambda p: -p.count("/"))

    def _start_namespaced(
        self, job: SandboxJob, stage: Path
    ) -> tuple[subprocess.Popen[bytes], list[str]]:
        root = inside.INSIDE_ROOT
        port = job.gateway.port if job.gateway else 0
        base_url = f"http://127.0.0.1:{port}/v1" if port else None
        argv = [
            job.python,
            f"{root}/agent/target_agent.py",
            "--dataset_dir",
            f"{root}/dataset",
            "--working_dir",
            f"{root}/work",
            *job.extra_args,
        ]
        spec = {
            "stage": str(stage),
            "hide": self._hidden(job),
            "keep": list(interpreter_paths(job.python)),
            "port": port,
            "argv": argv,
            "env": agent_env(f"{root}/home", job, base_url),
            "memory_mb": job.memory_mb,
            "max_processes": job.max_processes,
        }
        (stage / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        with (stage / "init.log").open("wb") as init_log:
            proc = subprocess.Popen(
                [
                    shutil.which("unshare") or "unshare",
                    *_UNSHARE_FLAGS,
                    sys.executable,
                    "-I",
                    inside.__file__,
                    str(stage / "spec.json"),
                ],
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
                stdin=subprocess.DEVNULL,
                stdout=init_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        isolation = [
            "user+pid+mount+net+ipc+uts namespaces",
            "network: loopback only, gateway relayed",
            "hidden: task dir, run dir, credential files, host /tmp",
            "no capabilities",
            f"wall clock {job.timeout_s:.0f} s",
            f"address space {job.memory_mb} MiB",
            f"processes {job.max_processes} (namespace ended past the cap)",
            "environment: no provider keys",
        ]
        return proc, isolation

    def _start_plain(
        self, job: SandboxJob, stage: Path
    ) -> tuple[subprocess.Popen[bytes], list[str]]:
        base_url = f"http://127.0.0.1:{job.gateway.port}/v1" if job.gateway else None
        memory = job.memory_mb * 1024 * 1024

        def limits() -> None:
            _die_with_parent()
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            resource.setrlimit(resource.RLIMIT_NPROC, (job.max_processes, job.max_processes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        with (stage / "stdout.log").open("wb") as out, (stage / "stderr.log").open("wb") as err:
            proc = subprocess.Popen(
                [
                    job.python,
                    str(stage / "agent" / "target_agent.py"),
                    "--dataset_dir",
                    str(stage / "dataset"),
                    "--working_dir",
                    str(stage / "work"),
                    *job.extra_args,
                ],
                cwd=stage / "work",
                env=agent_env(str(stage / "home"), job, base_url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=limits,
            )
        isolation = [
            "process only (no namespaces on this machine): private data and the network "
            "are NOT shielded",
            f"wall clock {job.timeout_s:.0f} s",
            f"address space {job.memory_mb} MiB",
            f"processes {job.max_processes} (not enforced for root)",
            "environment: no provider keys",
        ]
        return proc, isolation
