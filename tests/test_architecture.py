"""The shape of the code, checked: plugins come in through sia_core.api only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = ("sia_core.api", "sia_core.hookspecs", "sia_core.testing")


def _sia_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
            if node.module == "sia_core":
                modules = [f"sia_core.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.split(".")[0] == "sia_core"]
    return found


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED)


def test_bundled_plugins_import_sia_only_through_its_api() -> None:
    """A plugin's own code (not its tests, not the task files it ships) imports sia only
    from sia_core.api and its sub-namespaces, sia_core.hookspecs and sia_core.testing, so
    that moving a module inside the core never breaks a plugin."""
    sources = [
        path
        for path in (ROOT / "plugins").rglob("*.py")
        if "tests" not in path.relative_to(ROOT / "plugins").parts
    ]
    assert len(sources) > 40
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources
        for line, module in _sia_imports(path)
        if not _allowed(module)
    ]
    assert not offences, "\n".join(offences)


def test_the_check_sees_an_internal_import(tmp_path: Path) -> None:
    bad = tmp_path / "plugin.py"
    bad.write_text(
        "from sia_core.api import hookimpl\nfrom sia_core import plugins\n"
        "def f():\n    from sia_core.loop.generation_loop import Loop\n    import sia_core.envs\n"
    )
    modules = [m for _, m in _sia_imports(bad) if not _allowed(m)]
    assert modules == ["sia_core.plugins", "sia_core.loop.generation_loop", "sia_core.envs"]


def test_the_documented_plugin_examples_import_only_the_api() -> None:
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("from sia_core")]
    assert lines
    for line in lines:
        module = line.split()[1]
        assert _allowed(module), line


def test_the_plugin_guides_examples_are_excerpts_of_real_files() -> None:
    """A code block in docs/plugins.md introduced by a line naming a file under plugins/
    is that file's text (`...` lines mark what is left out)."""
    lines = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8").splitlines()
    checked = 0
    for i, line in enumerate(lines):
        if not line.startswith("```") or line == "```" or i < 2:
            continue
        intro = lines[i - 2]
        named = [w.strip("`,:") for w in intro.split() if w.strip("`,:").startswith("plugins/")]
        if not named:
            continue
        end = lines.index("```", i + 1)
        real = (ROOT / named[0]).read_text(encoding="utf-8")
        chunk: list[str] = []
        for body in [*lines[i + 1 : end], "..."]:
            if body.strip() == "...":
                assert "\n".join(chunk) in real, f"docs/plugins.md:{i + 1} is not {named[0]}"
                chunk = []
            else:
                chunk.append(body)
        checked += 1
    assert checked >= 3


def _import_graph() -> dict[str, set[str]]:
    """Every import of one sia_core module by another: module level, TYPE_CHECKING and
    inside functions alike (a lazy import still ties the two modules together)."""
    root = ROOT / "sia_core"
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("sia_core"):
                    deps.add(node.module)
                    deps.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("sia_core"))
    known = set(graph)
    return {k: {d for d in v if d in known and d != k} for k, v in graph.items()}


def test_the_core_has_no_import_cycles_not_even_through_function_level_imports() -> None:
    from graphlib import CycleError, TopologicalSorter

    graph = _import_graph()
    assert len(graph) > 80 and "sia_core.weights.training" in graph
    # the API re-exports everything, so it sits above every module it names
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(reversed(exc.args[1]))}") from None


def test_training_sits_below_the_loop() -> None:
    """Trainer loading and running import only the RL contract (and errors)."""
    graph = _import_graph()
    assert graph["sia_core.weights.training"] <= {"sia_core.weights.rl", "sia_core.errors"}
    assert "sia_core.levers.weights" not in _reachable(graph, "sia_core.policy.worker")


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _layer_table() -> dict[str, int]:
    """docs/architecture.md's layer table: `folder/` or `module` -> its layer."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text.split("<!-- layers -->")[1]
    layers: dict[str, int] = {}
    for number, units in re.findall(r"^\| (\d+) \| (.+?) \|", table, re.M):
        for unit in re.findall(r"`([a-z_]+)/?`", units):
            layers[unit] = int(number)
    return layers


def _unit(module: str) -> str:
    """The folder (or top-level module) of sia_core that `module` belongs to; a name
    that is no module of its own (`sia_core.__version__`) is sia_core/__init__.py's."""
    part = module.split(".")[1] if module.count(".") else "__init__"
    exists = (ROOT / "sia_core" / part).is_dir() or (ROOT / "sia_core" / f"{part}.py").is_file()
    return part if exists else "__init__"


def _upward_imports(layers: dict[str, int]) -> list[str]:
    found = []
    for path in sorted((ROOT / "sia_core").rglob("*.py")):
        inner = path.relative_to(ROOT / "sia_core").parts
        unit = (
            inner[0].removesuffix(".py")
            if len(inner) > 1 or inner[0] != "__init__.py"
            else "__init__"
        )
        for line, module in _sia_imports(path):
            target = _unit(module)
            if target != unit and layers[target] > layers[unit]:
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append(f"{where} imports {module} (layer {layers[target]} > {layers[unit]})")
    return found


def test_no_module_imports_from_a_higher_layer() -> None:
    """The layer table in docs/architecture.md holds: every folder and top-level module
    of sia_core is in it, and no import (module-level, inside a function, or under
    TYPE_CHECKING: ast.walk sees them all) reaches a higher layer."""
    layers = _layer_table()
    units = {p.name.removesuffix(".py") for p in (ROOT / "sia_core").iterdir()
             if p.suffix == ".py" or (p / "__init__.py").is_file()}  # fmt: skip
    assert units - set(layers) == set(), "missing from the layer table"
    assert set(layers) - units == set(), "in the layer table, not in sia_core"
    assert _upward_imports(layers) == []


def test_the_layer_check_sees_climbs_inside_functions_and_type_checking() -> None:
    layers = _layer_table()
    assert layers["run_layout"] == 0 and layers["loop"] > layers["execution"]
    # cli/task.py imports the full task check inside its command function
    found = _upward_imports({**layers, "cli": 0})
    assert any(f.startswith("sia_core/cli/task.py") and "loop.task_check" in f for f in found)
    # execution/executor.py names SharedRound under TYPE_CHECKING only
    found = _upward_imports({**layers, "weights": 99})
    assert any(
        f.startswith("sia_core/execution/executor.py") and "shared_rollouts" in f for f in found
    )


def test_one_table_maps_sia_run_options_to_the_stored_config() -> None:
    """`sia run`'s options are built from one table; with none given, the parsed config
    is RunConfig's defaults (written once, in the dataclass)."""
    from dataclasses import fields

    from sia_core.cli.run import run
    from sia_core.loop.run_config import OPTIONS, RunConfig, config_from_options

    assert {o.field for o in OPTIONS} == {f.name for f in fields(RunConfig)}
    assert {p.name for p in run.params} == {o.param for o in OPTIONS} | {"resume"}
    ctx = run.make_context("run", ["--task", "x"])
    assert config_from_options(ctx.params, resume=False) == RunConfig(
        task="x", runs_dir=str(Path("runs").resolve())
    )
    ctx = run.make_context(
        "run",
        ["--task", "x", "--lora-rank", "8", "--backend-opt", "a=1", "--budget-usd", "2"],
    )
    config = config_from_options(ctx.params, resume=False)
    assert config.lora == {"rank": 8, "alpha": 4} and config.backend_options == {"a": "1"}
    assert config.budget_cost_usd == 2.0


def test_the_architecture_page_names_every_folder_and_module_that_exists() -> None:
    """docs/architecture.md stays true: every package of sia_core is on the page, and
    every `folder/module.py` the page names exists."""
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = [p.name for p in (ROOT / "sia_core").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) >= 15
    for package in packages:
        assert f"{package}/" in text, package
    # `loop/steps.py`, `loop/steps.propose`, `sia_core/plugins.py`: a module of sia_core
    named = set(re.findall(r"\b([a-z_]+)/([a-z_]+)(?=\.(?:py\b|[a-z_]))", text))
    assert len(named) > 10
    for folder, module in named - {("tests", "test_architecture")}:
        path = ROOT / "sia_core" / (module if folder == "sia_core" else f"{folder}/{module}")
        assert path.with_suffix(".py").is_file(), f"{folder}/{module}"


def test_sia_run_refuses_contradictory_options_before_any_work() -> None:
    import pytest

    from sia_core.cli.run import run
    from sia_core.errors import SiaError
    from sia_core.loop.run_config import check_scripted, config_from_options

    def parse(*argv: str) -> object:
        return config_from_options(run.make_context("run", list(argv)).params, resume=False)

    with pytest.raises(SiaError, match="name two tasks; give one of them"):
        parse("--task", "sentiment", "--task-dir", "somewhere")
    with pytest.raises(SiaError, match="add --backend-opt script=DIR, or --max-gen 1"):
        check_scripted(parse("--task", "sentiment", "--backend", "scripted"))  # type: ignore[arg-type]
    check_scripted(parse("--task", "sentiment", "--backend", "scripted", "--max-gen", "1"))  # type: ignore[arg-type]
    check_scripted(parse("--task", "x", "--backend", "scripted", "--backend-opt", "script=/s"))  # type: ignore[arg-type]


def test_every_package_declares_its_license_as_an_spdx_string() -> None:
    import tomllib

    projects = [ROOT / "pyproject.toml", *(ROOT / "plugins").glob("*/pyproject.toml")]
    assert len(projects) > 10
    for path in projects:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        assert project["license"] == "MIT", path  # PEP 639, not the deprecated table


def test_hookimpl_has_one_import_path_the_public_one() -> None:
    """Plugins, built-ins, docs and tests mark hooks with `sia_core.api.hookimpl`; only
    the API itself takes it from hookspecs."""
    files = [
        *(ROOT / "sia_core").rglob("*.py"),
        *(ROOT / "plugins").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "docs").rglob("*.md"),
    ]
    internal = "from sia_core.hookspecs import " + "hookimpl"  # this file is scanned too
    found = [str(p.relative_to(ROOT)) for p in files if internal in p.read_text(encoding="utf-8")]
    assert found == ["sia_core/api/__init__.py"]


def test_the_test_kits_reach_any_plugins_tests_through_pytest11() -> None:
    """An installed sia-core registers its fixtures with pytest; loading them imports
    nothing heavy (pytest loads them in every session on the machine)."""
    import subprocess
    import sys
    from importlib.metadata import entry_points

    (point,) = [e for e in entry_points(group="pytest11") if e.name == "sia"]
    assert point.value == "sia_core.testing.pytest_plugin"
    heavy = ("torch", "transformers", "litellm", "anthropic", "aiohttp", "optuna")
    probe = (
        f"import sys, {point.value} as m; "
        f"assert all(callable(getattr(m, f)) for f in ('sia_yes_task', 'sia_scene')); "
        f"print([x for x in {heavy!r} if x in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_module_knows_the_run_directory_layout() -> None:
    """Only sia_core/run_layout.py spells gen_N, candidate and staging directories or
    names generation.json; everything else asks it."""
    import re

    spelled = re.compile(r'f"gen_\{|"gen_\d|"generation\.json"|candidates_gen_|/ "candidates"')
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "sia_core").rglob("*.py")
        if path.name != "run_layout.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if spelled.search(line)
    ]
    assert found == []


def test_derived_seeds_never_share_a_salt() -> None:
    from sia_core.run_layout import Salt, derived_seed, round_salt

    rounds = [round_salt(k) for k in range(10)]  # a plan allows 10 rounds
    assert rounds[:7] == list(range(7))  # what runs on disk drew: resumes redraw the same
    assert len(set(rounds)) == 10 and not set(rounds) & {int(s) for s in Salt}
    assert max(rounds) < 101  # below the step between generations
    seeds = {derived_seed(3, n, s) for n in range(1, 50) for s in [*rounds, *Salt]}
    assert len(seeds) == 49 * (10 + len(Salt))
