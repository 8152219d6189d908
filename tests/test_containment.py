"""Containment, attacked end to end: harnesses replayed by the scripted backend try to get
the keys, the answers, the host or sia's records. Each test plants canaries (provider
keys in sia's environment, strings in private data, a server on the host's loopback),
runs generation 1 (the reference harness), snapshots it, then resumes with the attack
as generation 2, and asserts that nothing leaked, nothing on the host changed, the run
finished and generation 1 is byte-identical.

The sandbox-level attacks (the filesystem walk, /proc, writes to the host, links, reserved
names, limits, 256 connections through the relay) are the conformance kit in
sia_core.testing.sandbox_checks, run here against the built-in sandboxes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from sia_core.gateway.admission import worst_case_tokens
from sia_core.gateway.server import Budget, Gateway
from sia_core.gateway.upstream import passthrough_model
from sia_core.policy.models import LiteLLMModel
from sia_core.run_layout import RESERVED_NAMES
from sia_core.sandbox.local import LocalSandbox
from sia_core.sandbox.process import ProcessSandbox
from sia_core.testing.fakes import FakeOpenAI
from sia_core.testing.sandbox_checks import CHECKS, unshielded_checks
from tests.conftest import make_task, sia


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_local_sandbox_conformance(check, tmp_path) -> None:
    check(LocalSandbox(), tmp_path)


@pytest.mark.parametrize("check", unshielded_checks, ids=lambda c: c.__name__)
def test_process_sandbox_conformance(check, tmp_path) -> None:
    check(ProcessSandbox(), tmp_path)


# -- end to end ----------------------------------------------------------------------


class CanaryServer:
    """An HTTP server on 127.0.0.1 that records every byte it is sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                self.received.append(conn.recv(65536) or b"(connected)")
                conn.sendall(b"HTTP/1.1 500 x\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                self.received.append(b"(connected)")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def canary_server() -> Iterator[CanaryServer]:
    server = CanaryServer()
    yield server
    server.close()


def digest(path: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return h.hexdigest()


def all_text(path: Path) -> str:
    return "\n".join(
        p.read_text("utf-8", errors="replace")
        for p in path.rglob("*")
        if p.is_file() and not p.is_symlink()
    )


class Scene:
    """A task with a canary in its private data, a host cache holding another task's
    canary answers, provider keys with canary values, and a script dir for gen 2."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.canary = "CANARY" + secrets.token_hex(10)
        self.task = make_task(tmp / "task")
        (self.task / "data" / "private" / "canary.txt").write_text(self.canary)
        self.cache = tmp / "cache"
        other = self.cache / "tasks" / "other" / "data" / "private"
        other.mkdir(parents=True)
        (other / "answers.csv").write_text(f"id,label\n1,{self.canary}\n")
        self.script = tmp / "script"
        (self.script / "gen_2").mkdir(parents=True)
        self.runs = tmp / "runs"
        self.env = {
            "SIA_CACHE_DIR": str(self.cache),
            "OPENAI_API_KEY": f"sk-{self.canary}-openai",
            "ANTHROPIC_API_KEY": f"sk-ant-{self.canary}",
        }

    @property
    def run_dir(self) -> Path:
        return self.runs / "run_attack"

    def harness(self, body: str, requirements: str | None = None) -> None:
        head = (
            "import argparse, json, os, sys\n"
            "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir');"
            " p.add_argument('--working_dir'); a = p.parse_args()\n"
        )
        (self.script / "gen_2" / "target_agent.py").write_text(head + body)
        if requirements is not None:
            (self.script / "gen_2" / "requirements.txt").write_text(requirements)

    def run(self, *extra: str, env: dict[str, str] | None = None) -> dict:
        """Gen 1 (reference), snapshot, then gen 2 (the attack) on --resume."""
        common = [
            "--backend",
            "scripted",
            "--backend-opt",
            f"script={self.script}",
            "--run-id",
            "attack",
            "--runs-dir",
            str(self.runs),
            *extra,
        ]
        env = {**self.env, **(env or {})}
        first = sia("run", "--task-dir", str(self.task), "--max-gen", "1", *common, env=env)
        assert first.returncode == 0, first.stderr
        gen1 = digest(self.run_dir / "gen_1")
        second = sia(
            "run", "--task-dir", str(self.task), "--resume", "--max-gen", "2", *common, env=env
        )
        assert second.returncode == 0, second.stderr
        assert digest(self.run_dir / "gen_1") == gen1, "generation 1 changed"
        state = json.loads((self.run_dir / "run.json").read_text())
        assert state["status"] == "finished"
        # views/ is sia's own copy of the task (private data included, by design).
        records = [p for p in self.run_dir.iterdir() if p.name != "views"]
        text = "".join(all_text(p) if p.is_dir() else p.read_text() for p in records)
        assert self.canary not in text + second.stdout + second.stderr, "a canary leaked"
        return json.loads((self.run_dir / "gen_2" / "generation.json").read_text())

    def gen2(self, name: str) -> Path:
        return self.run_dir / "gen_2" / name


@pytest.fixture
def scene(tmp_path) -> Scene:
    return Scene(tmp_path)


@pytest.mark.slow  # a whole `sia run`, twice
def test_request_fields_that_steer_litellm_are_refused(scene, canary_server) -> None:
    attacks = {
        "base_url": {"base_url": canary_server.url},
        "api_base": {"api_base": canary_server.url},
        "api_key": {"api_key": "sk-mine"},
        "custom_llm_provider": {"custom_llm_provider": "anthropic"},
        "extra_headers": {"extra_headers": {"x": "y"}},
        "mock_response": {"mock_response": "forged"},
        "image link": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": canary_server.url + "/img.png"}}
                    ],
                }
            ]
        },
    }
    scene.harness(
        "import urllib.request, urllib.error\n"
        f"attacks = {attacks!r}\n"
        "seen = {}\n"
        "for name, extra in attacks.items():\n"
        "    body = {'model': 'x', 'messages': [{'role': 'user', 'content': 'hi'}], **extra}\n"
        "    req = urllib.request.Request(os.environ['SIA_BASE_URL'] + '/chat/completions',\n"
        "        data=json.dumps(body).encode(), headers={'Content-Type': 'application/json',\n"
        "        'Authorization': 'Bearer ' + os.environ['SIA_API_KEY']})\n"
        "    try: seen[name] = [200, urllib.request.urlopen(req).read().decode()]\n"
        "    except urllib.error.HTTPError as e: seen[name] = [e.code, e.read().decode()]\n"
        "open(os.path.join(a.working_dir, 'seen.json'), 'w').write(json.dumps(seen))\n"
    )
    with FakeOpenAI() as provider:
        scene.run("--task-model", "openai/fake", "--task-model-base", provider.url)
        assert provider.requests == []
    seen = json.loads(scene.gen2("seen.json").read_text())
    for name, (status, body) in seen.items():
        assert status == 400, (name, body)
        field = name if name != "image link" else "images must be inline data: URLs"
        assert field in body
    assert canary_server.received == []


@pytest.mark.parametrize("path", ["litellm", "passthrough"])
def test_provider_errors_reach_the_agent_without_keys(path, tmp_path, monkeypatch) -> None:
    secret = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with FakeOpenAI(always=401) as provider:
        provider.error_message = f"Incorrect API key provided: {secret}. Bearer {secret}"
        model = (
            LiteLLMModel("openai/fake", api_base=provider.url, max_retries=0)
            if path == "litellm"
            else passthrough_model("openai/fake", provider.url, max_retries=0)
        )
        with Gateway(model, tmp_path / "calls.jsonl") as gateway:
            client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token, max_retries=0)
            with pytest.raises(openai.APIStatusError) as err:
                client.chat.completions.create(
                    model="x", messages=[{"role": "user", "content": "hi"}]
                )
    assert secret not in str(err.value.body) and secret not in err.value.message
    assert secret not in (tmp_path / "calls.jsonl").read_text()
    assert "[redacted]" in (tmp_path / "calls.jsonl").read_text()


@pytest.mark.slow  # a whole `sia run`, twice
def test_host_and_other_tasks_stay_out_of_reach(scene) -> None:
    stdlib = os.path.dirname(os.__file__)
    marker = "sia-escape-" + secrets.token_hex(4)
    targets = [
        f"/root/{marker}",
        f"{stdlib}/{marker}.py",
        f"{scene.cache}/{marker}",
        f"/usr/local/bin/{marker}",
        f"{scene.runs}/{marker}",
    ]
    other = scene.cache / "tasks" / "other" / "data" / "private" / "answers.csv"
    scene.harness(
        "out = {}\n"
        f"for path in {targets!r}:\n"
        "    try: open(path, 'w').write('x'); out[path] = 'wrote'\n"
        "    except OSError as exc: out[path] = type(exc).__name__\n"
        f"for path in [{str(other)!r}, {str(scene.task / 'data/private/canary.txt')!r}]:\n"
        "    try: out[path] = open(path).read()\n"
        "    except OSError as exc: out[path] = type(exc).__name__\n"
        "mounts = open('/proc/self/mountinfo').read()\n"
        "out['mountinfo mentions the cache'] = " + repr(str(scene.cache)) + " in mounts\n"
        "open(os.path.join(a.working_dir, 'out.json'), 'w').write(json.dumps(out))\n"
    )
    scene.run()
    out = json.loads(scene.gen2("out.json").read_text())
    assert "wrote" not in out.values(), out
    assert not any(os.path.exists(t) for t in targets)
    assert out["mountinfo mentions the cache"] is False


@pytest.mark.slow  # a whole `sia run`, twice
def test_links_in_the_work_dir_never_lead_outside(scene) -> None:
    private = scene.task / "data" / "private"
    scene.harness(
        "import shutil\n"
        "w = a.working_dir\n"
        f"os.symlink({str(private / 'answers.csv')!r}, os.path.join(w, 'predictions.csv'))\n"
        f"os.symlink({str(private / 'canary.txt')!r}, os.path.join(w, 'notes.txt'))\n"
        "os.symlink('/nonexistent/path', os.path.join(w, 'dangling'))\n"
        f"os.symlink({str(scene.run_dir / 'gen_1')!r}, os.path.join(w, 'gen1'))\n"
        "for attempt in (lambda: shutil.rmtree(w), lambda: os.rename(w, w + '.old')):\n"
        "    try: attempt()\n"
        "    except OSError: pass\n"
        "try: os.symlink('" + str(private) + "', w)\n"
        "except OSError: pass\n"
    )
    record = scene.run()
    gen2 = scene.run_dir / "gen_2"
    assert not [p for p in gen2.rglob("*") if p.is_symlink()]
    assert not (gen2 / "notes.txt").exists() and not (gen2 / "dangling").exists()
    # predictions.csv was a link: nothing to score, and no answer was read through it.
    assert record["status"] == "failed" or record["score"] == 0.0


@pytest.mark.slow  # a whole `sia run`, twice
def test_reserved_names_written_by_the_agent_are_dropped(scene) -> None:
    names = sorted(RESERVED_NAMES)
    scene.harness(
        f"for name in {names!r}:\n"
        "    open(os.path.join(a.working_dir, name), 'w').write('forged by the agent')\n"
        "import csv, shutil\n"
        "rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, 'test.csv'))))\n"
        "with open(os.path.join(a.working_dir, 'predictions.csv'), 'w') as fh:\n"
        "    fh.write('id,label\\n' + ''.join(f\"{r['id']},positive\\n\" for r in rows))\n"
    )
    record = scene.run()
    gen2 = scene.run_dir / "gen_2"
    forged = [
        n for n in names if (gen2 / n).is_file() and (gen2 / n).read_text() == "forged by the agent"
    ]
    assert forged == []
    assert record["status"] == "ok" and record["agent"]["dropped_outputs"] == names
    execution = json.loads((gen2 / "agent_execution.json").read_text())
    assert execution["sandbox"]["dropped_outputs"] == names
    assert json.loads((gen2 / "decision.json").read_text())["lever"] == "harness"
    assert (gen2 / "target_agent.py").read_bytes() == (
        scene.script / "gen_2" / "target_agent.py"
    ).read_bytes()


def _wheel(dest: Path, name: str, body: str) -> Path:
    """A pure-Python wheel, written by hand (a wheel is a zip with dist-info)."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        sha = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={sha.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    wheel = dest / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
        zf.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return wheel


def _sdist(dest: Path, name: str, marker: Path) -> Path:
    import io
    import tarfile

    setup = (
        "import os\n"
        "from setuptools import setup\n"
        f"open({str(marker)!r}, 'w').write(str(dict(os.environ)))\n"
        f"setup(name={name!r}, version='1.0', py_modules=[])\n"
    )
    path = dest / f"{name}-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = setup.encode()
        info = tarfile.TarInfo(f"{name}-1.0/setup.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.slow  # a whole `sia run`, twice
def test_requirements_come_from_the_backend_and_install_from_wheels_only(scene) -> None:
    index = scene.tmp / "index"
    index.mkdir()
    marker = scene.tmp / "build-code-ran"
    _sdist(index, "evilpkg", marker)
    # The agent ships its own requirements.txt and a package among its outputs.
    scene.harness(
        "w = a.working_dir\n"
        "open(os.path.join(w, 'requirements.txt'), 'w').write("
        f"'--find-links {index}\\nevilpkg\\n')\n"
    )
    scene.run(env={"PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1"})
    assert not scene.gen2("requirements.txt").exists()  # dropped: reserved
    # The next generation inherits only what the backend wrote: no install happens.
    (scene.script / "gen_3").mkdir()
    (scene.script / "gen_3" / "target_agent.py").write_text(
        scene.gen2("target_agent.py").read_text()
    )
    result = sia(
        "run",
        "--task-dir",
        str(scene.task),
        "--resume",
        "--max-gen",
        "3",
        "--backend",
        "scripted",
        "--backend-opt",
        f"script={scene.script}",
        "--run-id",
        "attack",
        "--runs-dir",
        str(scene.runs),
        env={**scene.env, "PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


@pytest.mark.slow  # a whole `sia run`, twice
@pytest.mark.parametrize(
    "requirements, expected",
    [
        ("--find-links {index}\nevilpkg\n", "pip options are not accepted"),
        ("{index}/evilpkg-1.0.tar.gz\n", "paths are not accepted"),
        ("evilpkg @ file://{index}/evilpkg-1.0.tar.gz\n", "not accepted"),
        ("evilpkg\n", "wheels only"),
    ],
)
def test_backend_requirements_refuse_options_paths_and_sdists(
    scene, requirements, expected
) -> None:
    index = scene.tmp / "index"
    index.mkdir()
    marker = scene.tmp / "build-code-ran"
    _sdist(index, "evilpkg", marker)
    scene.harness("print('never runs')\n", requirements.format(index=index))
    record = scene.run(env={"PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1"})
    assert record["status"] == "failed" and expected in record["error"]
    assert "\n" not in record["error"]
    assert not marker.exists()


@pytest.mark.slow  # a whole `sia run`, twice
def test_a_harness_with_requirements_still_imports_sias_packages(scene) -> None:
    index = scene.tmp / "index"
    index.mkdir()
    _wheel(index, "siatoy", "ANSWER = 'positive'\n")
    scene.harness(
        "import csv, openai, siatoy\n"
        "rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, 'test.csv'))))\n"
        "with open(os.path.join(a.working_dir, 'predictions.csv'), 'w') as fh:\n"
        "    fh.write('id,label\\n' + ''.join(f\"{r['id']},{siatoy.ANSWER}\\n\" for r in rows))\n",
        requirements="siatoy==1.0\n",
    )
    record = scene.run(env={"PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1"})
    assert record["status"] == "ok", record.get("error")


@pytest.mark.slow  # a whole `sia run`, twice
def test_evaluator_is_sandboxed(scene, canary_server) -> None:
    evaluate = scene.task / "data" / "public" / "evaluate.py"
    original = evaluate.read_text()
    escape = Path("/root") / f"evaluator-escape-{secrets.token_hex(6)}"
    evaluate.write_text(
        original.replace(
            'if __name__ == "__main__":',
            "def _probe(gen_dir):\n"
            "    import os, socket\n"
            "    out = {}\n"
            f"    for path in [{str(escape)!r}, os.path.join(gen_dir, 'extra.txt'),\n"
            f"                 {str(scene.task / 'data/private/answers.csv')!r},\n"
            f"                 {str(scene.task / 'data/public/evaluate.py')!r}]:\n"
            "        try: open(path, 'a').write('x'); out[path] = 'wrote'\n"
            "        except OSError as exc: out[path] = type(exc).__name__\n"
            "    s = socket.socket(); s.settimeout(2)\n"
            f"    try: s.connect(('127.0.0.1', {canary_server.port})); out['net'] = 'open'\n"
            "    except OSError as exc: out['net'] = type(exc).__name__\n"
            "    out['keys'] = sorted(k for k in os.environ if k.endswith('_KEY'))\n"
            "    print('PROBE', out)\n"
            "    return out\n\n\n"
            'if __name__ == "__main__":',
        ).replace(
            "args = parser.parse_args()",
            "args = parser.parse_args()\n    _probe(str(args.gen_dir))",
        )
    )
    assert "_probe(str(args.gen_dir))" in evaluate.read_text()
    scene.harness("print('nothing')\n")
    scene.run()
    log = (scene.run_dir / "gen_1" / "evaluation.log").read_text()
    assert "PROBE" in log and "'wrote'" not in log and "'open'" not in log
    assert "'keys': []" in log
    assert not escape.exists() and canary_server.received == []
    assert not (scene.run_dir / "gen_1" / "extra.txt").exists()


@pytest.mark.slow  # a whole `sia run`, twice
def test_without_bubblewrap_sia_refuses_unless_asked_for_process(tmp_path) -> None:
    task = make_task(tmp_path / "task")
    args = [
        "run",
        "--task-dir",
        str(task),
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    refused = sia(*args, "--run-id", "a", env={"SIA_BWRAP": "/nonexistent/bwrap"})
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--sandbox process" in refused.stderr
    assert "Traceback" not in refused.stderr
    unshielded = sia(
        *args, "--run-id", "b", "--sandbox", "process", env={"SIA_BWRAP": "/nonexistent/bwrap"}
    )
    assert unshielded.returncode == 0, unshielded.stderr
    gen = json.loads((tmp_path / "runs" / "run_b" / "gen_1" / "generation.json").read_text())
    isolation = " ".join(gen["agent"]["isolation"])
    assert "NOT SHIELDED" in isolation and "provider keys" in isolation
    assert "NOT SHIELDED" in unshielded.stdout + unshielded.stderr


def test_concurrent_calls_cannot_overshoot_the_budget(tmp_path) -> None:
    request = {"messages": [{"role": "user", "content": "question"}], "max_tokens": 20}
    worst = worst_case_tokens(request)
    limit = 5 * worst  # at most five calls may be in flight or done at once
    # The provider answers slowly enough that all 40 calls arrive while the first are in
    # flight: an answered call gives back the unused part of its worst case, so a call
    # that started after one ended (0.3 s was too short on 2 loaded cores: 9 got through,
    # within the budget) would test the refund, not the overshoot.
    with FakeOpenAI(latency_s=3.0) as provider:
        model = LiteLLMModel("openai/fake", api_base=provider.url, api_key="sk-x")
        with Gateway(
            model, tmp_path / "calls.jsonl", budget=Budget(max_tokens=limit), concurrency=64
        ) as gateway:
            client = openai.OpenAI(base_url=gateway.url, api_key=gateway.token, max_retries=0)
            results: list[str] = []

            def call() -> None:
                try:
                    client.chat.completions.create(model="x", **request)
                    results.append("ok")
                except openai.APIStatusError as exc:
                    results.append(str(exc.status_code))

            threads = [threading.Thread(target=call) for _ in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            usage = gateway.usage.as_dict()
    assert results.count("ok") + results.count("402") == 40
    assert 1 <= results.count("ok") <= 5
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= limit
    assert len(provider.requests) == results.count("ok")


if sys.platform != "linux":  # pragma: no cover - the shielded sandbox is Linux-only
    pytestmark = pytest.mark.skip("bubblewrap sandboxes need Linux")
