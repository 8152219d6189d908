"""Conformance checks for a sandbox plugin: the attacks a task agent can make.

A sandbox keeps sia's promise only if an agent that wants the answers, the keys or a
higher score gets none of them. Each check here plays one attack against a sandbox and
raises AssertionError, naming what got through, if it succeeds. Run them all from a
plugin's tests:

    from sia_core.testing.sandbox_checks import CHECKS

    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_conformance(check, tmp_path):
        check(MySandbox(), tmp_path)

Canaries: every secret a check plants is a fresh random string, planted in places the
agent must not reach (private data, sia's environment, a host cache, another run); a
check fails if the string shows up in anything the agent produced or in the records.
`unshielded_checks` lists what a sandbox that declares `shielded = False` still owes.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sia_core.gateway.server import Gateway
from sia_core.policy.models import ModelReply, chat_completion
from sia_core.run_layout import RESERVED_NAMES, gen_dir
from sia_core.sandbox.api import Sandbox, SandboxJob, SandboxResult

HEADER = (
    "import argparse, json, os, sys, time\n"
    "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir'); "
    "p.add_argument('--working_dir'); a = p.parse_args()\n"
)
Check = Callable[[Sandbox, Path], None]


@dataclass
class Scene:
    """A task, a run and a host cache, each holding a canary the agent must not see."""

    root: Path
    canary: str
    public: Path
    task: Path
    other_run: Path
    host_cache: Path

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def canary_paths(self) -> list[Path]:
        return [
            self.task / "data" / "private" / "answers.txt",
            gen_dir(self.other_run, 1) / "results.json",
            self.host_cache / "tasks" / "other" / "data" / "private" / "answers.txt",
        ]


def make_scene(root: Path) -> Scene:
    canary = "CANARY-" + secrets.token_hex(12)
    scene = Scene(
        root=root,
        canary=canary,
        public=root / "task" / "data" / "public",
        task=root / "task",
        other_run=root / "runs" / "run_other",
        host_cache=root / "cache" / "sia",
    )
    scene.public.mkdir(parents=True)
    (scene.public / "inputs.txt").write_text("public data\n")
    for path in scene.canary_paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{canary}\n")
    return scene


def run(
    sandbox: Sandbox,
    scene: Scene,
    body: str,
    *,
    gateway: Gateway | None = None,
    timeout_s: float = 60,
    memory_mb: int = 1024,
    max_processes: int = 64,
) -> SandboxResult:
    agent = scene.root / "agent.py"
    agent.write_text(HEADER + body)
    job = SandboxJob(
        agent_file=agent,
        dataset_dir=scene.public,
        output_dir=scene.out,
        python=sys.executable,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        max_processes=max_processes,
        gateway=gateway.link() if gateway else None,
        hidden_paths=(scene.task, scene.other_run.parent),
        reserved_names=RESERVED_NAMES,
    )
    return sandbox.run(job)


def assert_no_canary(scene: Scene, result: SandboxResult) -> None:
    texts = [result.stdout_tail, result.stderr_tail]
    if scene.out.is_dir():
        for path in scene.out.rglob("*"):
            if path.is_file() and not path.is_symlink():
                texts.append(path.read_text("utf-8", errors="replace"))
    leaked = [t[:200] for t in texts if scene.canary in t]
    assert not leaked, f"the canary reached the agent's outputs: {leaked}"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@contextmanager
def _canary_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on the host's loopback that must receive nothing."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                received.append(conn.recv(65536) or b"(connected)")
            except OSError:
                received.append(b"(connected)")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join()
        server.close()


class EchoModel:
    """An in-process task model for the gateway: answers each call after a delay."""

    name = "echo"

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s

    def complete(self, request: dict) -> ModelReply:
        time.sleep(self.latency_s)
        text = str(request["messages"][-1].get("content"))[:50]
        return ModelReply(chat_completion(self.name, text, 3, 3), 3, 3, None)


# -- the checks ---------------------------------------------------------------------


def check_private_data_is_unreachable(sandbox: Sandbox, tmp: Path) -> None:
    """The agent walks the filesystem for the canary files and tries their host paths."""
    scene = make_scene(tmp)
    targets = [str(p) for p in scene.canary_paths]
    result = run(
        sandbox,
        scene,
        "found = []\n"
        f"for path in {targets!r}:\n"
        "    try: found.append(open(path).read())\n"
        "    except OSError: pass\n"
        "for top in ('/root', '/home', '/tmp', '/var', '/opt', '/srv', '/mnt', '/work'):\n"
        "    for d, dirs, files in os.walk(top):\n"
        "        for f in files:\n"
        "            if f in ('answers.txt', 'results.json'):\n"
        "                try: found.append(open(os.path.join(d, f)).read())\n"
        "                except OSError: pass\n"
        "print(json.dumps(found))\n",
        timeout_s=120,
    )
    assert result.exit_code == 0, result.stderr_tail
    assert_no_canary(scene, result)


def check_sia_environment_is_unreachable(sandbox: Sandbox, tmp: Path) -> None:
    """No provider key in the agent's environment, nor in any /proc/*/environ."""
    scene = make_scene(tmp)
    names = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: f"sk-{scene.canary}" for name in names})
    try:
        result = run(
            sandbox,
            scene,
            "leaks = [json.dumps(dict(os.environ))]\n"
            "for pid in os.listdir('/proc'):\n"
            "    if pid.isdigit():\n"
            "        try: leaks.append(open(f'/proc/{pid}/environ', 'rb').read().decode())\n"
            "        except OSError: pass\n"
            f"try: leaks.append(open('/proc/{os.getpid()}/environ', 'rb').read().decode())\n"
            "except OSError: pass\n"
            "print(json.dumps(leaks))\n",
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert result.exit_code == 0, result.stderr_tail
    assert_no_canary(scene, result)


def check_host_is_read_only(sandbox: Sandbox, tmp: Path) -> None:
    """Writes to /root, the standard library, /usr, /etc, the interpreter's packages, a
    host cache and the task all fail, and the host is unchanged afterwards."""
    scene = make_scene(tmp)
    marker = "sia-escape-" + secrets.token_hex(6)
    stdlib = os.path.dirname(os.__file__)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    targets = [
        f"/root/{marker}",
        f"{stdlib}/{marker}.py",
        f"{site}/{marker}.pth",
        f"/usr/local/bin/{marker}",
        f"/usr/{marker}",
        f"/etc/{marker}",
        f"/{marker}",
        str(scene.host_cache / marker),
        str(scene.task / marker),
        str(scene.root / marker),
        str(scene.out.parent / marker),
    ]
    before = _tree(scene.task)
    result = run(
        sandbox,
        scene,
        "wrote = []\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "        open(path, 'w').write('x'); wrote.append(path)\n"
        "    except OSError: pass\n"
        "print(json.dumps(wrote))\n",
    )
    assert result.exit_code == 0, result.stderr_tail
    escaped = [t for t in targets if os.path.exists(t)]
    for path in escaped:
        os.unlink(path)
    assert not escaped, f"the agent wrote on the host: {escaped}"
    assert _tree(scene.task) == before, "the task directory changed"


def check_network_reaches_only_the_gateway(sandbox: Sandbox, tmp: Path) -> None:
    """A server on the host's loopback gets no connection; the gateway answers."""
    scene = make_scene(tmp)
    with (
        _canary_server() as (port, received),
        Gateway(EchoModel(), scene.root / "calls.jsonl") as gateway,
    ):
        result = run(
            sandbox,
            scene,
            "import socket, urllib.request\n"
            "out = []\n"
            f"for host in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('10.0.2.2', 80)]:\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            "    try: s.connect(host); s.sendall(b'hello'); out.append('connected')\n"
            "    except OSError as exc: out.append(type(exc).__name__)\n"
            "req = urllib.request.Request(os.environ['SIA_BASE_URL'] + '/models',\n"
            "    headers={'Authorization': 'Bearer ' + os.environ['SIA_API_KEY']})\n"
            "out.append(json.load(urllib.request.urlopen(req, timeout=10))['data'][0]['id'])\n"
            "print(json.dumps(out))\n",
            gateway=gateway,
        )
    assert result.exit_code == 0, result.stderr_tail
    seen = json.loads(result.stdout_tail)
    assert "connected" not in seen[:3], f"the agent reached the network: {seen}"
    assert received == [], f"the canary server was reached: {received}"
    assert seen[3] == "echo", "the gateway was not reachable"


def check_links_are_never_followed(sandbox: Sandbox, tmp: Path) -> None:
    """Links to private data, to /, dangling links and fifos in the work dir: none is
    followed at copy-back, and the run ends normally."""
    scene = make_scene(tmp)
    private = str(scene.canary_paths[0])
    result = run(
        sandbox,
        scene,
        "w = a.working_dir\n"
        f"os.symlink({private!r}, os.path.join(w, 'predictions.csv'))\n"
        "os.symlink('/', os.path.join(w, 'root'))\n"
        "os.symlink('/nonexistent/x', os.path.join(w, 'dangling'))\n"
        "os.symlink('/etc/passwd', os.path.join(w, 'passwd'))\n"
        "os.mkfifo(os.path.join(w, 'fifo'))\n"
        "os.makedirs(os.path.join(w, 'sub'))\n"
        f"os.symlink({str(scene.task)!r}, os.path.join(w, 'sub', 'task'))\n"
        "open(os.path.join(w, 'sub', 'real.txt'), 'w').write('real')\n"
        "for name in ('stdout', 'stderr'):\n"
        "    for d in ('/tmp/sia', os.path.dirname(w)):\n"
        "        try: os.symlink(" + repr(private) + ", os.path.join(d, name + '.log'))\n"
        "        except OSError: pass\n",
    )
    assert result.exit_code == 0, result.stderr_tail
    links = [str(p) for p in scene.out.rglob("*") if p.is_symlink()]
    assert not links, f"links were copied back: {links}"
    assert (scene.out / "sub" / "real.txt").read_text() == "real"
    assert not (scene.out / "fifo").exists() and not (scene.out / "passwd").exists()
    assert_no_canary(scene, result)


def check_reserved_names_are_dropped(sandbox: Sandbox, tmp: Path) -> None:
    """An agent that writes every reserved name overwrites none of the records."""
    scene = make_scene(tmp)
    scene.out.mkdir()
    (scene.out / "decision.json").write_text('{"sia": true}')
    names = sorted(RESERVED_NAMES)
    result = run(
        sandbox,
        scene,
        f"for name in {names!r}:\n"
        "    open(os.path.join(a.working_dir, name), 'w').write('forged')\n"
        "open(os.path.join(a.working_dir, 'predictions.csv'), 'w').write('id,label')\n",
    )
    assert result.exit_code == 0, result.stderr_tail
    assert sorted(result.dropped) == names, result.dropped
    assert (scene.out / "decision.json").read_text() == '{"sia": true}'
    forged = [
        n for n in names if (scene.out / n).is_file() and (scene.out / n).read_text() == "forged"
    ]
    assert not forged, f"reserved names were copied back: {forged}"
    assert (scene.out / "predictions.csv").read_text() == "id,label"


def check_wall_clock_ends_everything(sandbox: Sandbox, tmp: Path) -> None:
    """A grandchild that ignores SIGTERM and sleeps forever is gone at the limit."""
    scene = make_scene(tmp)
    mark = f"time.sleep(600)  # {scene.canary}"
    started = time.monotonic()
    result = run(
        sandbox,
        scene,
        "import signal, subprocess\n"
        "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        f"signal.signal(signal.SIGTERM, signal.SIG_IGN); {mark}'], "
        "start_new_session=True)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(600)\n",
        timeout_s=2,
    )
    assert result.timed_out and time.monotonic() - started < 30
    deadline = time.monotonic() + 10  # a namespace's teardown is asynchronous
    while True:
        leftover = [p for p in os.listdir("/proc") if p.isdigit() and mark in _cmdline(p)]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not leftover, f"processes outlived the sandbox: {leftover}"


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def check_memory_cap_holds(sandbox: Sandbox, tmp: Path) -> None:
    scene = make_scene(tmp)
    result = run(
        sandbox,
        scene,
        "blob = bytearray(8 * 1024**3)\nprint('survived')\n",
        memory_mb=512,
    )
    assert not result.ok and "survived" not in result.stdout_tail


def check_process_cap_holds(sandbox: Sandbox, tmp: Path) -> None:
    scene = make_scene(tmp)
    result = run(
        sandbox,
        scene,
        "import subprocess\n"
        "procs = []\n"
        "for _ in range(200):\n"
        "    try: procs.append(subprocess.Popen(['sleep', '30']))\n"
        "    except OSError: pass\n"
        "print(len(procs))\n"
        "for p in procs: p.kill()\n",
        max_processes=16,
    )
    if result.violation:  # the namespace was ended past the cap
        assert "process cap" in result.violation, result.violation
        return
    assert result.exit_code == 0, result.stderr_tail  # a crash proves nothing
    started = int(result.stdout_tail.split()[-1])
    assert started < 16, f"{started} processes ran under a cap of 16"


def check_relay_serves_256_connections(sandbox: Sandbox, tmp: Path) -> None:
    """256 simultaneous calls from inside all reach the gateway and are logged."""
    scene = make_scene(tmp)
    log = scene.root / "calls.jsonl"
    with Gateway(EchoModel(latency_s=0.2), log, concurrency=64) as gateway:
        result = run(
            sandbox,
            scene,
            "import threading, urllib.request\n"
            "ok, errors = [], []\n"
            "def call(i):\n"
            "    body = json.dumps({'messages': [{'role': 'user', 'content': f'q{i}'}]}).encode()\n"
            "    req = urllib.request.Request(os.environ['SIA_BASE_URL'] + '/chat/completions',\n"
            "        data=body, headers={'Authorization': 'Bearer ' + os.environ['SIA_API_KEY'],\n"
            "        'Content-Type': 'application/json', 'X-SIA-Item': f'i{i}'})\n"
            "    try: urllib.request.urlopen(req, timeout=120).read(); ok.append(i)\n"
            "    except Exception as exc: errors.append(repr(exc))\n"
            "threads = [threading.Thread(target=call, args=(i,)) for i in range(256)]\n"
            "for t in threads: t.start()\n"
            "for t in threads: t.join()\n"
            "print(len(ok), errors[:3])\n",
            gateway=gateway,
            timeout_s=180,
            memory_mb=8192,  # 256 threads' stacks are address space
            max_processes=1024,  # and RLIMIT_NPROC counts threads
        )
    assert result.exit_code == 0, result.stderr_tail
    assert result.stdout_tail.startswith("256 "), f"calls lost: {result.stdout_tail}"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(calls) == 256 and {c["status"] for c in calls} == {"ok"}
    assert {c["item_id"] for c in calls} == {f"i{i}" for i in range(256)}


def check_memory_outside_the_address_space_is_capped(sandbox: Sandbox, tmp: Path) -> None:
    """RLIMIT_AS does not bound memfd contents or SysV shared memory: each is filled
    past the sandbox's memory cap, which must stop it (a process killed, or an error)."""
    scene = make_scene(tmp)
    for how in ("memfd", "shm"):
        result = run(
            sandbox,
            scene,
            "import ctypes, mmap\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "chunk, held = b'x' * 2**20, 0\n"
            f"if {how!r} == 'memfd':\n"
            "    fd = os.memfd_create('hold')\n"
            "    try:\n"
            "        for _ in range(768):\n"
            "            os.write(fd, chunk); held += 1\n"
            "    except OSError as exc: print('stopped', exc)\n"
            "else:\n"
            "    libc.shmget.restype = ctypes.c_int\n"
            "    libc.shmat.restype = ctypes.c_void_p\n"
            "    shm = libc.shmget(0, 768 * 2**20, 0o1600)  # IPC_PRIVATE, IPC_CREAT\n"
            "    addr = libc.shmat(shm, None, 0)\n"
            "    if addr in (None, ctypes.c_void_p(-1).value):\n"
            "        print('stopped shmat'); sys.exit(0)\n"
            "    libc.shmdt.argtypes = [ctypes.c_void_p]\n"
            "    for i in range(768):\n"
            "        ctypes.memset(addr + i * 2**20, 1, 2**20); held += 1\n"
            "    libc.shmdt(ctypes.c_void_p(addr))  # detached: no process maps it now\n"
            "print('held', held, 'MiB')\n",
            memory_mb=256,
        )
        assert "held 768 MiB" not in result.stdout_tail, (
            f"{how}: 768 MiB held under a 256 MiB cap ({result.stdout_tail[-200:]})"
        )


def check_disk_writes_are_capped(sandbox: Sandbox, tmp: Path) -> None:
    """The work dir and home are writable: filling them must stop well before the
    host's disk does (here at the sandbox's memory or size cap)."""
    scene = make_scene(tmp)
    result = run(
        sandbox,
        scene,
        "chunk, written = b'x' * 2**20, {}\n"
        "for name, where in (('work', a.working_dir), ('home', os.environ['HOME'])):\n"
        "    written[name] = 0\n"
        "    try:\n"
        "        with open(os.path.join(where, 'fill.bin'), 'wb') as fh:\n"
        "            for _ in range(3 * 1024):\n"
        "                fh.write(chunk); fh.flush(); written[name] += 1\n"
        "    except OSError as exc: pass\n"
        "    print(name, written[name], flush=True)\n",
        memory_mb=256,
    )
    numbers = [int(w) for w in result.stdout_tail.split() if w.isdigit()]
    assert all(n < 3 * 1024 for n in numbers), f"3 GiB written: {result.stdout_tail[-200:]}"
    fill = scene.out / "fill.bin"
    assert not fill.exists() or fill.stat().st_size < 3 * 2**30


def check_kernel_keyring_is_closed(sandbox: Sandbox, tmp: Path) -> None:
    """A key added to a kernel keyring outlives the sandbox: a later agent could read
    it. add_key, keyctl and request_key must fail inside."""
    scene = make_scene(tmp)
    result = run(
        sandbox,
        scene,
        "import ctypes, platform\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'x86_64': (248, 250), 'aarch64': (217, 219)}[platform.machine()]\n"
        "libc.syscall.restype = ctypes.c_long\n"
        "# add_key('user', desc, payload, len, KEY_SPEC_USER_KEYRING)\n"
        "added = libc.syscall(calls[0], b'user', b'sia-check', b'left-behind', 11, -4)\n"
        "# keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)\n"
        "ring = libc.syscall(calls[1], 0, -3, 0)\n"
        "print('keyring', added, ring)\n",
    )
    assert result.exit_code == 0, result.stderr_tail
    words = result.stdout_tail.split()
    assert words[-3:-2] == ["keyring"], result.stdout_tail
    assert words[-2:] == ["-1", "-1"], f"the kernel keyring is open inside: {result.stdout_tail}"


CHECKS: list[Check] = [
    check_private_data_is_unreachable,
    check_sia_environment_is_unreachable,
    check_host_is_read_only,
    check_network_reaches_only_the_gateway,
    check_links_are_never_followed,
    check_reserved_names_are_dropped,
    check_wall_clock_ends_everything,
    check_memory_cap_holds,
    check_process_cap_holds,
    check_relay_serves_256_connections,
    check_kernel_keyring_is_closed,
    check_memory_outside_the_address_space_is_capped,
    check_disk_writes_are_capped,
]
"""Every check; a shielded sandbox passes all of them."""

unshielded_checks: list[Check] = [
    check_links_are_never_followed,
    check_reserved_names_are_dropped,
    check_wall_clock_ends_everything,
    check_memory_cap_holds,
]
"""What a sandbox with `shielded = False` still owes."""
