"""The local sandbox: limits, hidden paths, no secrets, gateway-only network."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sia_core.sandbox.api import SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import SandboxUnavailable, interpreter_paths
from sia_core.sandbox.local import LocalSandbox
from sia_core.sandbox.process import ProcessSandbox

HEADER = (
    "import argparse, json, os, sys, time\n"
    "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir'); "
    "p.add_argument('--working_dir'); a = p.parse_args()\n"
)


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    dataset = tmp_path / "task" / "data" / "public"
    private = tmp_path / "task" / "data" / "private"
    dataset.mkdir(parents=True)
    private.mkdir(parents=True)
    (dataset / "inputs.txt").write_text("public data\n")
    (private / "answers.txt").write_text("THE-GOLD-ANSWER\n")
    return {
        "root": tmp_path,
        "dataset": dataset,
        "private": private,
        "out": tmp_path / "out",
        "task": tmp_path / "task",
    }


def run_agent(
    layout: dict[str, Path], body: str, sandbox: object = None, **limits
) -> SandboxResult:
    agent = layout["root"] / "agent.py"
    agent.write_text(HEADER + body)
    job = SandboxJob(
        agent_file=agent,
        dataset_dir=layout["dataset"],
        output_dir=layout["out"],
        python=sys.executable,
        timeout_s=limits.get("timeout_s", 30),
        memory_mb=limits.get("memory_mb", 1024),
        max_processes=limits.get("max_processes", 64),
        hidden_paths=(layout["task"],),
    )
    return (sandbox or LocalSandbox()).run(job)


def test_agent_runs_with_a_copy_of_the_public_data(layout) -> None:
    result = run_agent(
        layout,
        (
            "data = open(os.path.join(a.dataset_dir, 'inputs.txt')).read()\n"
            "open(os.path.join(a.working_dir, 'out.txt'), 'w').write(data.upper())\n"
            "print('done')\n"
        ),
    )
    assert result.ok, result.stderr_tail
    assert (layout["out"] / "out.txt").read_text() == "PUBLIC DATA\n"
    assert (layout["out"] / "target_agent_stdout.log").read_text() == "done\n"
    assert result.stdout_tail == "done\n"


def test_sleeping_forever_is_killed_at_the_limit(layout) -> None:
    started = time.monotonic()
    result = run_agent(
        layout,
        (
            "import subprocess\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "time.sleep(600)\n"
        ),
        timeout_s=2,
    )
    elapsed = time.monotonic() - started
    assert result.timed_out and not result.ok
    assert 1.9 < elapsed < 15
    assert result.reason == "agent timed out after 2 s"


def test_allocating_past_the_memory_cap_dies(layout) -> None:
    result = run_agent(layout, "blob = bytearray(2 * 1024**3)\nprint('survived')\n", memory_mb=512)
    assert not result.ok and result.exit_code != 0
    assert "MemoryError" in result.stderr_tail
    assert "survived" not in result.stdout_tail


def test_private_data_and_parent_environment_are_out_of_reach(layout, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-parent-secret")
    answers = layout["private"] / "answers.txt"
    result = run_agent(
        layout,
        (
            "found = []\n"
            f"for path in [{str(answers)!r}, {str(layout['task'])!r} + '/data']:\n"
            "    try:\n"
            "        isfile = os.path.isfile(path)\n"
            "        found.append(open(path).read() if isfile else os.listdir(path))\n"
            "    except OSError as exc:\n"
            "        found.append(type(exc).__name__)\n"
            "leaks = []\n"
            "for pid in os.listdir('/proc'):\n"
            "    if pid.isdigit():\n"
            "        try: leaks.append(open(f'/proc/{pid}/environ', 'rb').read().decode())\n"
            "        except OSError: pass\n"
            f"try: leaks.append(open('/proc/{os.getpid()}/environ', 'rb').read().decode())\n"
            "except OSError: pass\n"
            "print(json.dumps({'found': found, 'env': dict(os.environ), 'proc': leaks}))\n"
        ),
    )
    assert result.ok, result.stderr_tail
    seen = json.loads(result.stdout_tail)
    text = result.stdout_tail
    assert "THE-GOLD-ANSWER" not in text and "parent-secret" not in text
    assert seen["found"][0] == "FileNotFoundError"
    assert "OPENAI_API_KEY" not in seen["env"] and "ANTHROPIC_API_KEY" not in seen["env"]
    assert "namespaces" in result.isolation[0]


def test_the_agent_cannot_undo_the_hiding_mounts(layout) -> None:
    result = run_agent(
        layout,
        (
            "import subprocess\n"
            f"r = subprocess.run(['umount', '-l', {str(layout['task'])!r}], capture_output=True)\n"
            f"print(r.returncode, os.path.exists({str(layout['private'] / 'answers.txt')!r}))\n"
        ),
    )
    assert result.stdout_tail.split()[-1] == "False"
    assert result.stdout_tail.split()[0] != "0"


def test_network_is_closed_except_the_gateway(layout) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[bool] = []
    threading.Thread(target=lambda: accepted.append(bool(server.accept())), daemon=True).start()
    result = run_agent(
        layout,
        (
            "import socket\n"
            "out = []\n"
            f"for host in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try: s.connect(host); out.append('connected')\n"
            "    except OSError as exc: out.append(type(exc).__name__)\n"
            "print(out)\n"
        ),
    )
    server.close()
    assert "connected" not in result.stdout_tail
    assert accepted == []


def test_process_cap_stops_a_fork_bomb(layout) -> None:
    result = run_agent(
        layout,
        (
            "import subprocess\n"
            "procs, error = [], None\n"
            "try:\n"
            "    for _ in range(40):\n"
            "        procs.append(subprocess.Popen(['sleep', '5']))\n"
            "except OSError as exc:\n"
            "    error = type(exc).__name__\n"
            "print(len(procs), error)\n"
            "for p in procs: p.kill()\n"
        ),
        max_processes=10,
    )
    # Two layers: RLIMIT_NPROC on the agent's own uid refuses the 10th process; where
    # it cannot bind (sia not root), the init ends the namespace past the cap.
    if result.ok:
        started, error = result.stdout_tail.split()
        assert int(started) < 10 and error == "BlockingIOError"
    else:
        assert result.violation is not None and "limit 10" in result.violation
        assert result.reason.startswith("agent stopped: process cap exceeded")


def test_symlinks_written_by_the_agent_are_not_copied_out(layout) -> None:
    result = run_agent(
        layout,
        (
            "os.symlink('/etc/passwd', os.path.join(a.working_dir, 'passwd'))\n"
            "os.makedirs(os.path.join(a.working_dir, 'results'))\n"
            "open(os.path.join(a.working_dir, 'results', 'r.json'), 'w').write('{}')\n"
        ),
    )
    assert result.ok, result.stderr_tail
    assert not (layout["out"] / "passwd").exists()
    assert (layout["out"] / "results" / "r.json").read_text() == "{}"


def test_without_bubblewrap_the_local_sandbox_refuses(monkeypatch) -> None:
    monkeypatch.setenv("SIA_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="--sandbox process"):
        LocalSandbox()


def test_a_bubblewrap_that_cannot_build_a_sandbox_is_refused_with_its_reason(
    tmp_path, monkeypatch
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SIA_BWRAP", str(fake))
    with pytest.raises(SandboxUnavailable, match="No permissions to create new namespace"):
        LocalSandbox()


def test_the_bubblewrap_probe_holds_while_other_sandboxes_come_and_go(tmp_path) -> None:
    """Two sandboxes on one machine (`sia ablate --jobs 2`, parallel shards): one mounts
    and drops its size-capped work tmpfs while the other checks that bubblewrap works.
    The check must not read that churn as "bubblewrap cannot create a sandbox here"."""
    from sia_core.sandbox import bwrap
    from sia_core.sandbox.stage import cap_work_dir, unmount

    probe = bwrap._probe.__wrapped__
    binary = bwrap.bwrap_binary()
    if binary is None or probe(binary) is not None:
        pytest.skip("bubblewrap is not usable here")
    if not cap_work_dir(tmp_path, None):
        pytest.skip("mounting a work tmpfs needs root")
    unmount(tmp_path)
    stop = threading.Event()

    def come_and_go(n: int) -> None:
        while not stop.is_set():
            stage = tmp_path / f"sia-sandbox-{n}-{time.monotonic_ns()}"
            (stage / "work").mkdir(parents=True)
            if cap_work_dir(stage / "work", None):
                time.sleep(0.002)
                unmount(stage / "work")
            shutil.rmtree(stage)

    churn = [threading.Thread(target=come_and_go, args=(n,)) for n in range(2)]
    for thread in churn:
        thread.start()
    try:
        # Probing with a bind of the host's / failed about one time in ten here.
        problems = [problem for _ in range(200) if (problem := probe(binary))]
    finally:
        stop.set()
        for thread in churn:
            thread.join()
    assert problems == []


def test_what_a_killed_sia_left_behind_is_removed_by_the_next_sandbox(layout, monkeypatch) -> None:
    """`kill -9` leaves a sandbox's stage, a box's mounted tmpfs and their cgroups. The
    next sandbox removes those named for a process of its pid namespace that no longer
    runs, and leaves alone its own, a live process's, another namespace's, and any
    younger than a minute."""
    import tempfile

    from sia_core.sandbox.cgroup import ROOT, _own_paths
    from sia_core.sandbox.stage import cap_work_dir

    gone = subprocess.Popen(["true"])
    gone.wait()
    ns = os.stat("/proc/self/ns/pid").st_ino
    dead = f"{gone.pid}-{ns}"
    old = time.time() - 600
    base = layout["root"] / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    kinds = ("box", "process", "remote", "worker")
    stale = {kind: base / f"sia-{kind}-{dead}-left" for kind in kinds}
    for leftover in stale.values():
        (leftover / "root").mkdir(parents=True)
    mounted = cap_work_dir(stale["box"] / "root", None)
    (stale["process"] / "root" / "public.csv").write_text("a copy of the data\n")
    kept = [
        base / f"sia-sandbox-{dead}-young",
        base / f"sia-sandbox-{os.getpid()}-{ns}-mine",
        base / f"sia-sandbox-{gone.pid}-{ns + 1}-elsewhere",
    ]
    for leftover in kept:
        leftover.mkdir()
    own = _own_paths()
    parents = (
        [ROOT / own.get("", "/").lstrip("/")]
        if (ROOT / "cgroup.controllers").is_file()
        else [ROOT / c / own[c].lstrip("/") for c in ("memory", "pids") if c in own]
    )
    groups = []
    for parent in parents:
        try:
            (parent / f"sia-sandbox-{dead}-left").mkdir()
        except OSError:
            continue
        groups.append(parent / f"sia-sandbox-{dead}-left")
    for leftover in [*stale.values(), *kept[1:], *groups]:
        os.utime(leftover, (old, old))
    try:
        assert run_agent(layout, "pass\n").exit_code == 0
        assert [p for p in stale.values() if p.exists()] == []
        assert [g for g in groups if g.exists()] == []
        assert all(p.is_dir() for p in kept)
        if mounted:
            mounts = Path("/proc/self/mounts").read_text()
            assert str(stale["box"]) not in mounts
    finally:
        for leftover in [*stale.values(), *kept]:
            if os.path.ismount(leftover / "root"):
                subprocess.run(["umount", "-l", str(leftover / "root")], check=False)
            shutil.rmtree(leftover, ignore_errors=True)
        for group in groups:
            if group.exists():
                group.rmdir()


def test_a_planted_leftover_cannot_make_the_sweep_unmount_or_delete_elsewhere(
    layout, monkeypatch
) -> None:
    """An agent that can write the host's temp dir (the unshielded process sandbox) plants
    names the sweep acts on: a stale-looking stage that is a symlink to a directory it
    wants emptied, and one whose `work` is a symlink to a live mount it wants dropped.
    The sweep follows neither: the target's files and the mount stay."""
    import tempfile

    from sia_core.sandbox.stage import cap_work_dir, sweep_stale_stages, unmount

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = f"{gone.pid}-{os.stat('/proc/self/ns/pid').st_ino}"
    base = layout["root"] / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    precious = layout["root"] / "precious"
    (precious / "work").mkdir(parents=True)
    (precious / "keep.txt").write_text("not sia's\n")
    mounted = cap_work_dir(precious / "work", None)
    (base / f"sia-sandbox-{dead}-link").symlink_to(precious)
    planted = base / f"sia-sandbox-{dead}-planted"
    planted.mkdir()
    (planted / "work").symlink_to(precious / "work")
    old = time.time() - 600
    for path in (base / f"sia-sandbox-{dead}-link", planted / "work", planted):
        os.utime(path, (old, old), follow_symlinks=False)
    try:
        sweep_stale_stages()
        assert (precious / "keep.txt").read_text() == "not sia's\n"
        assert not planted.exists()  # the planted stage itself goes, its link unfollowed
        if mounted:
            assert os.path.ismount(precious / "work")
    finally:
        if os.path.ismount(precious / "work"):
            unmount(precious / "work")


def test_process_sandbox_limits_and_says_plainly_what_is_not_shielded(layout, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    result = run_agent(
        layout, "print(sorted(os.environ))\ntime.sleep(60)\n", ProcessSandbox(), timeout_s=1
    )
    assert result.timed_out
    assert "OPENAI_API_KEY" not in result.stdout_tail
    text = " ".join(result.isolation)
    assert result.isolation[0].startswith("NOT SHIELDED")
    assert "/proc/<pid>/environ" in text and "provider keys" in text
    assert 'environment: no provider keys"' not in repr(result.isolation)


def test_interpreter_under_tmp_stays_usable_and_hidden_paths_stay_hidden(layout) -> None:
    # A venv under /tmp whose sys.path also holds an ancestor of the task directory: the
    # sandbox must re-expose the interpreter, yet keep the task's private data covered.
    venv = layout["root"] / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "extra.pth").write_text(str(layout["root"]) + "\n")
    interpreter_paths.cache_clear()
    agent = layout["root"] / "agent.py"
    answers = layout["private"] / "answers.txt"
    agent.write_text(
        HEADER
        + (
            f"print(sys.prefix == {str(venv)!r}, os.path.exists({str(answers)!r}))\n"
            f"open({str(layout['root'] / 'escape.txt')!r}, 'w')\n"
        )
    )
    result = LocalSandbox().run(
        SandboxJob(
            agent_file=agent,
            dataset_dir=layout["dataset"],
            output_dir=layout["out"],
            python=str(venv / "bin" / "python"),
            timeout_s=30,
            memory_mb=1024,
            max_processes=64,
            hidden_paths=(layout["task"],),
        )
    )
    assert result.stdout_tail.split() == ["True", "False"], result.stderr_tail
    # The .pth's directory is not an interpreter path: it is not mounted at all.
    assert re.search(r"PermissionError|FileNotFoundError", result.stderr_tail)
    assert not (layout["root"] / "escape.txt").exists()


def test_copy_back_refuses_a_stage_that_looks_wrong(tmp_path) -> None:
    from sia_core.sandbox.copyback import MAX_DEPTH, CopyBackError, copy_back

    many = tmp_path / "many"
    many.mkdir()
    for i in range(6):
        (many / f"f{i}").write_text("x" * 10)
    with pytest.raises(CopyBackError, match="more than 5 files"):
        copy_back(many, tmp_path / "out1", max_files=5)
    with pytest.raises(CopyBackError, match="exceed"):
        copy_back(many, tmp_path / "out2", max_bytes=25)
    deep = tmp_path / "deep"
    (deep / "/".join(["d"] * (MAX_DEPTH + 2))).mkdir(parents=True)
    with pytest.raises(CopyBackError, match="deeper than"):
        copy_back(deep, tmp_path / "out3")
    assert copy_back(many, tmp_path / "out4").files == 6


def test_an_agent_that_nests_its_outputs_too_deep_fails_with_the_reason(layout) -> None:
    result = run_agent(
        layout,
        "os.makedirs(os.path.join(a.working_dir, *['d'] * 40))\n"
        "open(os.path.join(a.working_dir, 'predictions.csv'), 'w').write('id,label')\n",
    )
    assert result.exit_code == 0 and not result.ok
    assert result.outputs_refused and "deeper than 32" in result.violation
    assert not (layout["out"] / "predictions.csv").exists()


def test_the_agent_holds_none_of_the_descriptors_the_spec_names(layout) -> None:
    """The spec (readable inside) names the init's log and violation descriptors. An agent
    that wants to forge a verdict or rewrite its logs tries them through its own table,
    /proc/self/fd, and every process's /proc/PID/fd: none is open to it or writable."""
    result = run_agent(
        layout,
        (
            "spec = json.load(open('/tmp/sia/spec.json'))\n"
            "own = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
            "reached = []\n"
            "for name, fd in spec['fds'].items():\n"
            "    try:\n"
            "        os.write(fd, b'FORGED')\n"
            "        reached.append(name)\n"
            "    except OSError:\n"
            "        pass\n"
            "    for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
            "        try:\n"
            "            with open(f'/proc/{pid}/fd/{fd}', 'wb') as fh:\n"
            "                fh.write(b'FORGED')\n"
            "            reached.append(f'{name} via {pid}')\n"
            "        except OSError:\n"
            "            pass\n"
            "print(json.dumps({'own': own, 'reached': reached}), flush=True)\n"
        ),
    )
    assert result.ok, result.stderr_tail
    seen = json.loads(result.stdout_tail.strip().splitlines()[-1])
    assert seen["reached"] == [], seen
    # stdin, stdout, stderr and the directory listing itself: nothing inherited.
    assert len(seen["own"]) <= 4 and set(seen["own"]) >= {0, 1, 2}, seen
    assert "FORGED" not in (layout["out"] / "target_agent_stdout.log").read_text()
    assert not result.violation
