"""The plugin manager: the only module that calls `pm.hook.*`.

Everything else asks the typed functions here (`backend("claude")`, `rl_algorithms()`,
...). Registrations are collected once per process and cached.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pluggy

from sia_core import hookspecs
from sia_core.errors import SiaError
from sia_core.specs import (
    BackendSpec,
    PolicyHostSpec,
    Registered,
    RewardClassifierSpec,
    RLAlgorithmSpec,
    SandboxSpec,
    TaskLoaderSpec,
)

if TYPE_CHECKING:
    import click

    from sia_core.backends.contract import Backend
    from sia_core.sandbox.api import Sandbox

ENTRY_POINT_GROUP = "sia"
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class Kind:
    hook: str
    spec_type: type
    noun: str
    """How an error message names one of these: "no {noun} 'x'"."""


KINDS: dict[str, Kind] = {
    "backends": Kind("register_backends", BackendSpec, "backend"),
    "sandboxes": Kind("register_sandboxes", SandboxSpec, "sandbox"),
    "policy_hosts": Kind("register_policy_hosts", PolicyHostSpec, "policy host"),
    "rl_algorithms": Kind("register_rl_algorithms", RLAlgorithmSpec, "RL algorithm"),
    "reward_classifiers": Kind(
        "register_reward_classifiers", RewardClassifierSpec, "reward classifier"
    ),
    "task_loaders": Kind("register_task_loaders", TaskLoaderSpec, "task loader"),
}


KIND_HOOKS = frozenset(kind.hook for kind in KINDS.values())


class DuplicateName(SiaError):
    pass


class UnknownName(SiaError):
    pass


def disabled_plugins() -> set[str]:
    raw = os.environ.get("SIA_DISABLE_PLUGINS", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


@cache
def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("sia")
    pm.add_hookspecs(hookspecs)
    for name in disabled_plugins():
        pm.set_blocked(name)
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        # A misspelt hook (register_rl_algorithm) would otherwise be silently ignored.
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or str(exc.plugin)
        unknown = [c.name for c in pm.get_hookcallers(exc.plugin) or [] if not c.has_spec()]
        what = f"implements {', '.join(map(repr, unknown))}, not a sia hook" if unknown else exc
        known = ", ".join(sorted(KIND_HOOKS | {"register_commands"}))
        raise SiaError(
            f"plugin {name!r} {what}; sia's hooks: {known}; fix the plugin or disable it "
            f"with SIA_DISABLE_PLUGINS={name}"
        ) from None
    return pm


def _collect(kind_key: str) -> dict[str, Registered]:
    kind = KINDS[kind_key]
    pm = plugin_manager()
    found: dict[str, Registered] = {}
    caller = getattr(pm.hook, kind.hook)
    # Call each implementation ourselves so that every registration is attributed
    # to the plugin that made it.
    for impl in reversed(caller.get_hookimpls()):
        plugin = impl.plugin_name

        def register(spec: Any, _plugin: str = plugin) -> None:
            if not isinstance(spec, kind.spec_type):
                raise SiaError(
                    f"plugin {_plugin!r} registered a {type(spec).__name__} through "
                    f"{kind.hook}; expected {kind.spec_type.__name__}"
                )
            name = spec.name
            if not isinstance(name, str) or not _NAME.match(name):
                raise SiaError(
                    f"plugin {_plugin!r} registered {kind.noun} name {name!r}: names are "
                    "lower-case letters, digits, '-' and '_', starting with a letter"
                )
            if name in found:
                raise DuplicateName(
                    f"{kind.noun} {name!r} is registered by both plugin "
                    f"{found[name].plugin!r} and plugin {_plugin!r}; uninstall one, or "
                    f"disable one with SIA_DISABLE_PLUGINS={_plugin}"
                )
            _check_factory(kind, spec, _plugin)
            found[name] = Registered(kind=kind_key, name=name, plugin=_plugin, spec=spec)

        impl.function(register=register)
    return found


_FACTORY_ARGS = {"backends": 1, "sandboxes": 1, "policy_hosts": 2}


def _check_factory(kind: Kind, spec: Any, plugin: str) -> None:
    """A factory that cannot be called as the contract calls it fails here, when the
    plugin registers, not when a run reaches it."""
    args = _FACTORY_ARGS.get(next(k for k, v in KINDS.items() if v is kind))
    if args is None:
        return
    factory = getattr(spec, "factory", None)
    try:
        if not callable(factory):
            raise TypeError("not callable")
        inspect.signature(factory).bind(*range(args))
    except ValueError:
        return  # a builtin without a signature to inspect: checked when it builds
    except TypeError:
        raise SiaError(
            f"plugin {plugin!r} registered {kind.noun} {spec.name!r} with a factory that "
            f"cannot be called with {args} argument{'s' if args > 1 else ''} "
            "(see docs/plugins.md); fix the plugin or disable it with "
            f"SIA_DISABLE_PLUGINS={plugin}"
        ) from None


_CONTRACTS = {
    "backends": (("name",), ("initial", "feedback")),
    "sandboxes": (("name", "shielded"), ("run",)),
}


def _checked(kind_key: str, name: str, built: Any) -> Any:
    """What a factory built, with every member its contract needs; checked before the
    run does anything with it."""
    attributes, methods = _CONTRACTS[kind_key]
    missing = [a for a in attributes if not hasattr(built, a)]
    missing += [f"{m}()" for m in methods if not callable(getattr(built, m, None))]
    if missing:
        entry = registered(kind_key)[name]
        raise SiaError(
            f"{KINDS[kind_key].noun} {name!r} (plugin {entry.plugin!r}) built a "
            f"{type(built).__name__} without {', '.join(missing)}; fix the plugin or "
            f"disable it with SIA_DISABLE_PLUGINS={entry.plugin}"
        )
    return built


def make_backend(name: str, options: Mapping[str, str]) -> Backend:
    """The backend `name`, built with the run's options and checked against the
    Backend contract."""
    return _checked("backends", name, backend(name).factory(options))


def make_sandbox(name: str, options: Mapping[str, str]) -> Sandbox:
    return _checked("sandboxes", name, sandbox(name).factory(options))


@cache
def registered(kind_key: str) -> dict[str, Registered]:
    return _collect(kind_key)


def reset() -> None:
    """Forget loaded plugins and registrations; the next lookup loads them again."""
    registered.cache_clear()
    plugin_manager.cache_clear()


KNOWN_PACKAGES: dict[str, dict[str, str]] = {
    "backends": {"claude": "sia_backend_claude", "openhands": "sia_backend_openhands"},
    "sandboxes": {"modal": "sia_modal", "ray": "sia_ray"},
    "policy_hosts": {"modal": "sia_modal", "ray": "sia_ray"},
    "rl_algorithms": {
        name: f"sia_rl_{name}" for name in ("bon", "dpo", "entropic", "grpo", "ppo", "reinforce")
    },
    "task_loaders": {
        "mlebench": "sia_task_mlebench",
        "offline": "sia_tasks_offline",
        "original": "sia_tasks_original",
        "paper": "sia_tasks_paper",
    },
}
"""The plugins that ship with sia (under plugins/ in its repository, not on PyPI): the
only packages an unknown name is told to install."""


def _lookup(kind_key: str, name: str) -> Any:
    entries = registered(kind_key)
    if name in entries:
        return entries[name].spec
    kind = KINDS[kind_key]
    installed = ", ".join(sorted(entries)) or "none"
    package = KNOWN_PACKAGES.get(kind_key, {}).get(name)
    hint = (
        f"; `pip install ./plugins/{package}` in a sia checkout adds it"
        if package
        else f"; no plugin that ships with sia registers a {kind.noun} of that name"
    )
    if disabled_plugins():
        hint += f" (SIA_DISABLE_PLUGINS={os.environ['SIA_DISABLE_PLUGINS']} is set)"
    raise UnknownName(f"no {kind.noun} {name!r}; installed: {installed}{hint}")


def backend(name: str) -> BackendSpec:
    return _lookup("backends", name)


def sandbox(name: str) -> SandboxSpec:
    return _lookup("sandboxes", name)


def policy_host(name: str) -> PolicyHostSpec:
    return _lookup("policy_hosts", name)


def rl_algorithm(name: str) -> RLAlgorithmSpec:
    return _lookup("rl_algorithms", name)


def reward_classifier(name: str) -> RewardClassifierSpec:
    return _lookup("reward_classifiers", name)


def rl_algorithms() -> list[RLAlgorithmSpec]:
    return [entry.spec for entry in registered("rl_algorithms").values()]


def reward_classifiers() -> list[RewardClassifierSpec]:
    return [entry.spec for entry in registered("reward_classifiers").values()]


def task_loaders() -> list[TaskLoaderSpec]:
    return [entry.spec for entry in registered("task_loaders").values()]


def backends() -> list[BackendSpec]:
    return [entry.spec for entry in registered("backends").values()]


def add_commands(cli: click.Group) -> None:
    plugin_manager().hook.register_commands(cli=cli)


@dataclass(frozen=True)
class PluginReport:
    name: str
    distribution: str | None
    version: str | None
    registered: dict[str, list[str]]
    hooks: list[str]
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """The typed options of each RL algorithm this plugin registered."""


def plugin_reports() -> list[PluginReport]:
    """One report per loaded plugin: where it comes from and what it registered."""
    pm = plugin_manager()
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    by_plugin: dict[str, dict[str, list[str]]] = {}
    for kind_key in KINDS:
        for entry in registered(kind_key).values():
            by_plugin.setdefault(entry.plugin, {}).setdefault(kind_key, []).append(entry.name)
    reports = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [] if caller.name)
        reports.append(
            PluginReport(
                name=name,
                distribution=dist.project_name if dist else None,
                version=dist.version if dist else None,
                registered={k: sorted(v) for k, v in by_plugin.get(name, {}).items()},
                hooks=hooks,
                options={
                    spec.name: [asdict(o) for o in spec.options()]
                    for spec in rl_algorithms()
                    if registered("rl_algorithms")[spec.name].plugin == name
                },
            )
        )
    return sorted(reports, key=lambda r: r.name)
