"""Every call sia_modal.modal_calls makes into `modal`, bound against the installed
modal's signatures: the module runs against a recording stand-in of the modal package,
then each recorded call (its arguments as the module wrote them) is bound with
inspect.signature to the real function. An argument renamed or removed upstream fails
here, although Modal's servers are never reached. A live test runs with
MODAL_TOKEN_ID and MODAL_TOKEN_SECRET set."""

from __future__ import annotations

import inspect
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from sia_modal.modal_calls import ModalTransport

from sia_core.sandbox.api import SandboxJob
from sia_core.sandbox.remote import BoxSpec, RemoteSandbox

Calls = list[tuple[str, tuple[Any, ...], dict[str, Any]]]


def recording_modal(calls: Calls) -> types.ModuleType:
    """The part of `modal` that modal_calls uses, recording every call."""

    def record(name: str, result: Any = None) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            return result() if callable(result) else result

        return call

    class StreamWriter:
        write = record("StreamWriter.write")
        drain = record("StreamWriter.drain")
        write_eof = record("StreamWriter.write_eof")

    class StreamReader:
        def __iter__(self) -> Any:
            calls.append(("StreamReader.__iter__", (self,), {}))
            return iter([b"0"])

    class ContainerProcess:
        stdin = StreamWriter()
        stdout = StreamReader()
        stderr = StreamReader()
        poll = record("ContainerProcess.poll", 0)
        wait = record("ContainerProcess.wait", 0)

    class Sandbox:
        create = staticmethod(record("Sandbox.create", lambda: Sandbox()))
        exec = record("Sandbox.exec", ContainerProcess)
        terminate = record("Sandbox.terminate")

    class Image:
        debian_slim = staticmethod(record("Image.debian_slim", lambda: Image()))
        pip_install = record("Image.pip_install", lambda: Image())
        add_local_python_source = record("Image.add_local_python_source", lambda: Image())

    class Volume:
        from_name = staticmethod(record("Volume.from_name", lambda: Volume()))
        commit = record("Volume.commit")

    class Running:
        def __enter__(self) -> Running:
            calls.append(("App.run.__enter__", (), {}))
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append(("App.run.__exit__", (), {}))

    class Remote:
        def __init__(self, worker: Any) -> None:
            self.worker = worker

        def remote(self, method: str, args: tuple[Any, ...]) -> Any:
            calls.append(("Function.remote", (method, args), {}))
            return self.worker.call(method, args)

    def deploy(cls: type) -> Any:
        def instantiate(**parameters: Any) -> Any:
            calls.append(("Cls.__call__", (), parameters))
            instance = cls()
            for name, value in parameters.items():
                setattr(instance, name, value)
            instance.call = Remote(instance)  # type: ignore[attr-defined]
            return instance

        return instantiate

    class App:
        lookup = staticmethod(record("App.lookup", object))

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append(("App.__init__", (self, *args), kwargs))

        def cls(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(("App.cls", (self, *args), kwargs))
            return deploy

        def run(self, *args: Any, **kwargs: Any) -> Running:
            calls.append(("App.run", (self, *args), kwargs))
            return Running()

    def decorator(name: str) -> Any:
        def make(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            return lambda target: target

        return make

    module = types.ModuleType("modal")
    module.App, module.Image, module.Sandbox = App, Image, Sandbox  # type: ignore[attr-defined]
    module.Volume = Volume  # type: ignore[attr-defined]
    module.parameter = record("modal.parameter")  # type: ignore[attr-defined]
    module.enter = decorator("modal.enter")  # type: ignore[attr-defined]
    module.method = decorator("modal.method")  # type: ignore[attr-defined]
    module.concurrent = decorator("modal.concurrent")  # type: ignore[attr-defined]
    return module


def real_function(name: str) -> Any:
    import modal
    from modal.container_process import ContainerProcess
    from modal.io_streams import StreamReader, StreamWriter

    if name.startswith("modal."):
        return getattr(modal, name.removeprefix("modal."))
    owners = {
        "App": modal.App,
        "Volume": modal.Volume,
        "Image": modal.Image,
        "Sandbox": modal.Sandbox,
        "ContainerProcess": ContainerProcess,
        "StreamWriter": StreamWriter,
        "StreamReader": StreamReader,
    }
    owner, attribute = name.split(".")
    return getattr(owners[owner], attribute)


UNBOUND = {"App.run.__enter__", "App.run.__exit__", "Cls.__call__", "Function.remote"}
"""Calls on objects modal builds at run time (the running app, the class's instance and
its method): checked by the live test only."""


def test_every_modal_call_binds_to_the_installed_signatures(monkeypatch) -> None:
    calls: Calls = []
    monkeypatch.setitem(sys.modules, "modal", recording_modal(calls))
    transport = ModalTransport(app_name="sia-test", python_version="3.11")
    box = transport.create(BoxSpec(timeout_s=300, memory_mb=2048, cpu=2.0, gpu="H100"))
    process = box.exec(["python", "-c", "print(1)"], {"A": "1"})
    process.write(b"data")
    process.close_stdin()
    assert process.read(10) == b"0"
    assert process.read_stderr(10) == b"0"
    assert process.wait(5) == 0 and process.wait() == 0
    box.terminate()
    made = {name for name, _, _ in calls}
    assert made == {
        "App.lookup",
        "Image.debian_slim",
        "Image.pip_install",
        "Sandbox.create",
        "Sandbox.exec",
        "Sandbox.terminate",
        "StreamWriter.write",
        "StreamWriter.drain",
        "StreamWriter.write_eof",
        "StreamReader.__iter__",
        "ContainerProcess.poll",
        "ContainerProcess.wait",
    }
    monkeypatch.delitem(sys.modules, "modal")
    for name, args, kwargs in calls:
        # Methods were recorded with their instance as the first argument, as bound.
        inspect.signature(real_function(name)).bind(*args, **kwargs)  # TypeError on drift
    create = next(kwargs for name, _, kwargs in calls if name == "Sandbox.create")
    assert create["block_network"] is True  # the whole containment story rests on this
    assert create["gpu"] == "H100" and create["memory"] == 2048 and create["cpu"] == 2.0
    execs = [kwargs for name, _, kwargs in calls if name == "Sandbox.exec"]
    assert all(kwargs["text"] is False for kwargs in execs)  # bytes: tar streams, frames


def job_in(tmp_path: Path, **limits: Any) -> SandboxJob:
    """A job on tmp_path's data/ and agent.py; `limits` override the small defaults."""
    (tmp_path / "data").mkdir(exist_ok=True)
    settings = {"timeout_s": 60.0, "memory_mb": 1024, "max_processes": 64, **limits}
    return SandboxJob(
        agent_file=tmp_path / "agent.py",
        dataset_dir=tmp_path / "data",
        output_dir=tmp_path / "out",
        python=sys.executable,
        **settings,
    )


@pytest.mark.skipif(
    not (os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET")),
    reason="live Modal test: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET to run it",
)
def test_live_modal_sandbox_reaches_the_gateway(tmp_path: Path) -> None:
    from sia_core.gateway.server import Gateway
    from sia_core.testing.sandbox_checks import EchoModel

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "inputs.txt").write_text("public\n")
    agent = tmp_path / "agent.py"
    agent.write_text(
        "import argparse, os, urllib.request, json\n"
        "p = argparse.ArgumentParser(); p.add_argument('--dataset_dir')\n"
        "p.add_argument('--working_dir'); a = p.parse_args()\n"
        "req = urllib.request.Request(os.environ['SIA_BASE_URL'] + '/models',\n"
        "    headers={'Authorization': 'Bearer ' + os.environ['SIA_API_KEY']})\n"
        "model = json.load(urllib.request.urlopen(req, timeout=30))['data'][0]['id']\n"
        "open(os.path.join(a.working_dir, 'out.txt'), 'w').write(model)\n"
    )
    with Gateway(EchoModel(), tmp_path / "calls.jsonl") as gateway:
        job = job_in(tmp_path, timeout_s=300, gateway=gateway.link())
        result = RemoteSandbox(ModalTransport()).run(job)
    assert result.ok, result.stderr_tail
    assert (tmp_path / "out" / "out.txt").read_text() == "echo"


class Refused(Exception):
    pass


class SpecRecorder:
    name = "recorder"

    def __init__(self) -> None:
        self.specs: list[BoxSpec] = []

    def create(self, spec: BoxSpec) -> Any:
        self.specs.append(spec)
        raise Refused


def test_the_box_gets_the_jobs_limits_and_the_options_override_them(tmp_path: Path) -> None:
    # The gpu as task.toml's [limits] gives it.
    job = job_in(tmp_path, timeout_s=600, memory_mb=3000, gpu="A100")
    from sia_core.sandbox.bwrap import SandboxUnavailable

    recorder = SpecRecorder()
    for sandbox in (RemoteSandbox(recorder), RemoteSandbox(recorder, cpu=4.0, gpu="H100")):
        with pytest.raises(SandboxUnavailable):  # the recorder refuses after recording
            sandbox.run(job)
    first, second = recorder.specs
    assert (first.gpu, first.memory_mb, first.cpu) == ("A100", 3000, None)
    assert first.timeout_s > 600  # the box outlives the agent, to hand its outputs back
    assert (second.gpu, second.cpu) == ("H100", 4.0)


def test_the_policy_host_calls_bind_too(monkeypatch) -> None:
    from sia_modal.modal_calls import modal_policy

    calls: Calls = []
    monkeypatch.setitem(sys.modules, "modal", recording_modal(calls))
    worker = {"model": "gemma-3-270m", "lora": {"rank": 8}, "seed": 1, "run": "run_x"}
    worker["exact"] = True
    connection = modal_policy(worker, "H100", "sia-test", "3.11", "sia-adapters")
    made = {name for name, _, _ in calls}
    assert {
        "App.__init__",
        "App.cls",
        "App.run",
        "Volume.from_name",
        "Image.add_local_python_source",
        "modal.parameter",
        "modal.enter",
        "modal.method",
        "modal.concurrent",
        "Cls.__call__",
    } <= made
    options = next(kwargs for name, _, kwargs in calls if name == "App.cls")
    assert options["gpu"] == "H100" and "/adapters" in options["volumes"]
    sources = next(args for name, args, _ in calls if name == "Image.add_local_python_source")
    assert "sia_core" in sources and "sia_rl_entropic" in sources  # trainers ship as source
    made_with = next(kwargs for name, _, kwargs in calls if name == "Cls.__call__")
    assert json.loads(made_with["settings"]) == {
        "lora": {"rank": 8},
        "seed": 1,
        "run": "run_x",
        "exact": True,
    }  # the worker samples greedy calls alone (--exact) on the GPU too
    connection.close()
    monkeypatch.delitem(sys.modules, "modal")
    for name, args, kwargs in calls:
        if name not in UNBOUND:
            inspect.signature(real_function(name)).bind(*args, **kwargs)


class Unreachable:
    name = "unreachable"

    def create(self, spec: BoxSpec) -> Any:
        raise ConnectionError("api.modal.com: name or service not known")


def test_a_service_that_cannot_start_a_box_is_one_clear_error(tmp_path: Path) -> None:
    from sia_core.sandbox.bwrap import SandboxUnavailable

    job = job_in(tmp_path)
    with pytest.raises(SandboxUnavailable) as error:
        RemoteSandbox(Unreachable(), name="modal").run(job)
    assert str(error.value) == (
        "sandbox 'modal' could not start a box: ConnectionError: "
        "api.modal.com: name or service not known"
    )
