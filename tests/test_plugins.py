"""The plugin engine: every hook, the register callback's checks, and cheap loading."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sia_core import hookspecs, plugins
from sia_core.api import hookimpl
from sia_core.loop.generation_loop import RunConfig, resolve_task
from sia_core.specs import (
    AlgorithmInfo,
    BackendSpec,
    PolicyHostSpec,
    RewardClassifierSpec,
    RLAlgorithmSpec,
    SandboxSpec,
    ShapeReport,
    TaskInfo,
    TaskLoaderSpec,
)
from tests.conftest import REPO, sia

HOOKS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "sia_spec")
)


@pytest.fixture
def extra() -> Iterator:
    """Register plugin objects next to the installed ones, for one test."""
    plugins.reset()

    def add(obj: object, name: str) -> None:
        plugins.plugin_manager().register(obj, name=name)
        plugins.registered.cache_clear()

    yield add
    plugins.reset()


def test_every_hook_is_typed_documented_and_tested() -> None:
    assert HOOKS == [
        "register_backends",
        "register_commands",
        "register_policy_hosts",
        "register_reward_classifiers",
        "register_rl_algorithms",
        "register_sandboxes",
        "register_task_loaders",
    ]
    docs = (REPO / "docs" / "plugins.md").read_text()
    tests = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    for name in HOOKS:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and len(fn.__doc__.split()) > 15, f"{name} needs a contract docstring"
        hints = inspect.get_annotations(fn)
        assert set(hints) == {*inspect.signature(fn).parameters, "return"}, name
        assert re.search(rf"^### `{name}", docs, re.M), f"docs/plugins.md lacks {name}"
        assert f"def test_hook_{name}(" in tests, f"no test_hook_{name}"


def test_hook_register_backends(extra) -> None:
    spec = BackendSpec(name="toy-backend", summary="toy", factory=lambda opts: opts)

    class Toy:
        @hookimpl
        def register_backends(self, register):
            register(spec)

    extra(Toy(), "toy_plugin")
    assert plugins.backend("toy-backend") is spec
    assert plugins.registered("backends")["toy-backend"].plugin == "toy_plugin"
    assert {"scripted", "heuristic"} <= set(plugins.registered("backends"))
    report = {r.name: r for r in plugins.plugin_reports()}["toy_plugin"]
    assert report.registered == {"backends": ["toy-backend"]}


def test_hook_register_sandboxes(extra) -> None:
    spec = SandboxSpec(name="toy-sandbox", summary="toy", factory=lambda opts: opts)

    class Toy:
        @hookimpl
        def register_sandboxes(self, register):
            register(spec)

    extra(Toy(), "toy_plugin")
    assert plugins.sandbox("toy-sandbox") is spec
    assert plugins.sandbox("local").factory({}).name == "local"


def test_hook_register_policy_hosts(extra, tmp_path: Path) -> None:
    from sia_core.gateway.serving import TaskModel
    from sia_core.policy.models import chat_completion
    from sia_core.progress import QuietReporter

    calls: list[tuple[str, tuple]] = []
    started: list[tuple[dict, dict]] = []

    class Connection:
        def call(self, method: str, *args: object) -> object:
            calls.append((method, args))
            if method == "generate":
                response = chat_completion("toy", "from the host", 3, 2)
                return {
                    "response": response,
                    "prompt_tokens": 3,
                    "completion_tokens": 2,
                    "cost_usd": 0.0,
                    "extra": {},
                }
            return None

        def close(self) -> None:
            calls.append(("close", ()))

    def factory(options: dict, worker: dict) -> Connection:
        started.append((dict(options), worker))
        return Connection()

    spec = PolicyHostSpec(name="toy-host", summary="toy", factory=factory)

    class Toy:
        @hookimpl
        def register_policy_hosts(self, register):
            register(spec)

    extra(Toy(), "toy_plugin")
    assert plugins.policy_host("toy-host") is spec
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")  # an open-weight model, never loaded here
    (tmp_path / "run").mkdir()
    serving = TaskModel(
        str(model_dir),
        None,
        {"rank": 4},
        7,
        tmp_path / "run" / "sia.log",
        host="toy-host",
        host_options={"gpu": "T4"},
    )
    serving.serve(None, QuietReporter())
    assert started == [
        (
            {"gpu": "T4"},
            {"model": str(model_dir), "lora": {"rank": 4}, "seed": 7, "run": "run", "exact": False},
        )
    ]
    with serving.policy.sampling({"temperature": 1.0}):
        reply = serving.model.complete({"messages": [{"role": "user", "content": "hi"}]})
    assert reply.response["choices"][0]["message"]["content"] == "from the host"
    assert calls[0] == (
        "generate",
        ({"messages": [{"role": "user", "content": "hi"}]}, {"temperature": 1.0}),
    )
    serving.close()
    assert calls[-1] == ("close", ())


def test_hook_register_rl_algorithms(extra) -> None:
    info = AlgorithmInfo(
        name="toy-rl", summary="toy", reward_shapes=("sparse",), needs_value_model=False
    )
    other = AlgorithmInfo(
        name="toy-dense", summary="toy", reward_shapes=("dense",), needs_value_model=True
    )

    class Toy:
        @hookimpl
        def register_rl_algorithms(self, register):
            register(RLAlgorithmSpec(info=other, trainer="toy:train"))
            register(RLAlgorithmSpec(info=info, trainer="toy:train"))

    extra(Toy(), "toy_plugin")
    installed = {spec.name: spec.info for spec in plugins.rl_algorithms()}
    assert installed["toy-rl"] is info and installed["toy-dense"] is other
    assert plugins.registered("rl_algorithms")["toy-rl"].plugin == "toy_plugin"
    report = plugins.reward_classifier("stats").classify([0.0] * 19 + [1.0], [other, info])
    assert report.label == "sparse"
    assert report.ranking[0] == "toy-rl"


def test_hook_register_reward_classifiers(extra) -> None:
    def always_dense(rewards, algorithms) -> ShapeReport:
        return ShapeReport(
            label="dense",
            explanation="always",
            stats={"n": len(rewards)},
            ranking=[a.name for a in algorithms],
        )

    class Toy:
        @hookimpl
        def register_reward_classifiers(self, register):
            register(RewardClassifierSpec(name="always-dense", summary="t", classify=always_dense))

    extra(Toy(), "toy_plugin")
    assert plugins.reward_classifier("always-dense").classify([1, 0], []).stats == {"n": 2}
    assert "stats" in plugins.registered("reward_classifiers")


def test_hook_register_task_loaders(extra, task_dir: Path) -> None:
    class Toy:
        @hookimpl
        def register_task_loaders(self, register):
            register(
                TaskLoaderSpec(
                    name="toy-loader",
                    summary="t",
                    list_tasks=lambda: [TaskInfo(name="toy-task", description="d")],
                    resolve=lambda name: task_dir if name == "toy-task" else None,
                )
            )

    extra(Toy(), "toy_plugin")
    assert resolve_task(RunConfig(task="toy-task")).root == task_dir.resolve()
    with pytest.raises(plugins.SiaError, match="no task 'nope'; known tasks: .*toy-task") as err:
        resolve_task(RunConfig(task="nope"))
    assert all(name in str(err.value) for name in ("sentiment", "gpqa", "toy-task"))


def test_hook_register_commands(extra) -> None:
    class Toy:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def hello() -> None:
                click.echo("hello from a plugin")

    extra(Toy(), "toy_plugin")
    group = click.Group("sia")
    plugins.add_commands(group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.output == "hello from a plugin\n"


def test_a_factory_that_cannot_be_called_fails_at_registration(extra) -> None:
    class P:
        @hookimpl
        def register_backends(self, register):
            register(BackendSpec(name="no-args", summary="", factory=lambda: None))

    extra(P(), "hasty_plugin")
    with pytest.raises(plugins.SiaError) as info:
        plugins.backends()
    assert "plugin 'hasty_plugin' registered backend 'no-args' with a factory that cannot " in (
        str(info.value)
    )


def test_a_backend_or_sandbox_missing_a_method_fails_before_the_run_starts(
    extra, tmp_path: Path
) -> None:
    class HalfBackend:  # no feedback(): a run would only find out after generation 1
        name = "half"

        def initial(self, ctx):
            return None

    class NoRun:
        name, shielded = "norun", True

    class P:
        @hookimpl
        def register_backends(self, register):
            register(BackendSpec(name="half", summary="", factory=lambda opts: HalfBackend()))

        @hookimpl
        def register_sandboxes(self, register):
            register(SandboxSpec(name="norun", summary="", factory=lambda opts: NoRun()))

    extra(P(), "half_plugin")
    with pytest.raises(plugins.SiaError, match=r"backend 'half' \(plugin 'half_plugin'\) built "
                       r"a HalfBackend without feedback\(\)"):  # fmt: skip
        plugins.make_backend("half", {})
    with pytest.raises(plugins.SiaError, match=r"without run\(\)"):
        plugins.make_sandbox("norun", {})
    assert plugins.make_backend("heuristic", {}).name == "heuristic"
    from sia_core.loop.generation_loop import Loop

    config = RunConfig(task="sentiment", backend="half", runs_dir=str(tmp_path), run_id="h")
    with pytest.raises(plugins.SiaError, match="without feedback"):
        Loop(config)
    assert not list(tmp_path.rglob("gen_*"))


def test_duplicate_names_are_refused_naming_both_plugins(extra) -> None:
    def maker(summary: str):
        class P:
            @hookimpl
            def register_backends(self, register):
                register(BackendSpec(name="twin", summary=summary, factory=dict))

        return P()

    extra(maker("a"), "first_plugin")
    extra(maker("b"), "second_plugin")
    with pytest.raises(plugins.DuplicateName) as info:
        plugins.backend("twin")
    assert "first_plugin" in str(info.value) and "second_plugin" in str(info.value)


@pytest.mark.parametrize("bad", ["Bad Name", "", "1abc", "a/b"])
def test_bad_names_are_refused(extra, bad: str) -> None:
    class P:
        @hookimpl
        def register_backends(self, register):
            register(BackendSpec(name=bad, summary="", factory=dict))

    extra(P(), "bad_plugin")
    with pytest.raises(plugins.SiaError, match="bad_plugin"):
        plugins.backends()


def test_wrong_record_type_is_refused(extra) -> None:
    class P:
        @hookimpl
        def register_backends(self, register):
            register(SandboxSpec(name="x", summary="", factory=dict))

    extra(P(), "confused_plugin")
    with pytest.raises(plugins.SiaError, match="expected BackendSpec"):
        plugins.backends()


def test_unknown_name_lists_installed_and_what_to_install() -> None:
    plugins.reset()
    with pytest.raises(plugins.UnknownName) as info:
        plugins.backend("nope")
    message = str(info.value)
    assert message.startswith("no backend 'nope'; installed: claude, heuristic, scripted")
    # a package is suggested only when one that ships with sia registers that name
    assert "pip install" not in message
    assert message.endswith("no plugin that ships with sia registers a backend of that name")
    with pytest.raises(plugins.UnknownName) as info:
        plugins.rl_algorithm("kto")
    assert str(info.value) == (
        "no RL algorithm 'kto'; installed: bon, dpo, entropic, grpo, ppo, reinforce; "
        "no plugin that ships with sia registers a RL algorithm of that name"
    )
    for kind, names in plugins.KNOWN_PACKAGES.items():
        for package in names.values():
            assert (REPO / "plugins" / package / "pyproject.toml").is_file(), (kind, package)


def test_sia_plugins_json_shows_distribution_version_and_registrations() -> None:
    result = sia("plugins", "--json")
    assert result.returncode == 0, result.stderr
    reports = {r["name"]: r for r in json.loads(result.stdout)}
    assert reports["builtin_backends"]["distribution"] == "sia-core"
    assert reports["builtin_backends"]["version"] == "0.1.0"
    assert reports["builtin_backends"]["registered"] == {"backends": ["heuristic", "scripted"]}
    assert reports["builtin_sandboxes"]["registered"] == {"sandboxes": ["local", "process"]}
    assert reports["sia_rl_grpo"]["distribution"] == "sia-rl-grpo"
    assert reports["sia_rl_grpo"]["registered"] == {"rl_algorithms": ["grpo"]}
    assert reports["sia_backend_claude"]["registered"] == {"backends": ["claude"]}


def test_disabled_plugins_are_not_loaded() -> None:
    env = {"SIA_DISABLE_PLUGINS": "builtin_backends, sia_rl_grpo"}
    result = sia("plugins", "--json", env=env)
    names = {r["name"] for r in json.loads(result.stdout)}
    assert "builtin_backends" not in names and "sia_rl_grpo" not in names
    assert "builtin_sandboxes" in names
    run = sia(
        "run",
        "--task-dir",
        str(REPO / "examples" / "review-sentiment"),
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        env=env,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "error: no backend 'scripted'; installed: claude; no plugin that ships with sia "
        f"registers a backend of that name (SIA_DISABLE_PLUGINS={env['SIA_DISABLE_PLUGINS']} "
        "is set)"
    )


HEAVY = (
    "torch",
    "transformers",
    "litellm",
    "anthropic",
    "openai",
    "peft",
    "trl",
    "claude_agent_sdk",
    "matplotlib",
    "ray",
    "modal",
)


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["plugins", "--json"], ["tasks"]])
def test_cli_startup_imports_nothing_heavy(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from sia_core.cli.main import cli\n"
        f"try: cli.main({argv!r}, prog_name='sia')\n"
        "except SystemExit as e: assert e.code in (0, None), e.code\n"
        "from sia_core import plugins\n"
        "[plugins.registered(kind) for kind in plugins.KINDS]\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY=\n" in result.stdout


def test_a_misspelt_hook_fails_plugin_loading_naming_the_plugin(tmp_path) -> None:
    # A distribution on the path, as pip would leave it: one module, one entry point.
    (tmp_path / "misspelt_plugin.py").write_text(
        "from sia_core.api import hookimpl\n\n"
        "@hookimpl\n"
        "def register_rl_algorithm(register):\n"
        "    pass\n"
    )
    info = tmp_path / "misspelt_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: misspelt-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sia]\nmisspelt = misspelt_plugin\n")
    result = sia("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "plugin 'misspelt' implements 'register_rl_algorithm', not a sia hook" in result.stderr
    assert "SIA_DISABLE_PLUGINS=misspelt" in result.stderr
    disabled = sia("plugins", env={"PYTHONPATH": str(tmp_path), "SIA_DISABLE_PLUGINS": "misspelt"})
    assert disabled.returncode == 0, disabled.stderr
