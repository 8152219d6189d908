"""Typed options: a dataclass whose fields carry a help text, a default and bounds.

RL algorithm configs and the rollout plan are such dataclasses (the shape of TRL's
configs, `field(metadata={"help": ...})`). `parse` builds one from a decision's JSON and
refuses, in one line naming the field, an unknown key, a wrong type (`"rounds": 2.0`
is not an integer) or a value out of bounds; `describe` lists the fields for the
Feedback-Agent and for `sia plugins`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class OptionError(ValueError):
    """A value a typed config refuses; the message names the field."""


def option(
    default: Any,
    help: str,  # noqa: A002 - the name TRL and argparse use
    *,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
) -> Any:
    """A dataclass field with its help text and inclusive bounds."""
    return dataclasses.field(default=default, metadata={"help": help, "min": min, "max": max})


@dataclass(frozen=True)
class OptionInfo:
    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None

    def line(self) -> str:
        bounds = ""
        if self.min is not None or self.max is not None:
            low = "" if self.min is None else f"{self.min} ≤ "
            high = "" if self.max is None else f" ≤ {self.max}"
            bounds = f"; {low}{self.name}{high}"
        return f"{self.name} ({self.type}, default {json.dumps(self.default)}{bounds}): {self.help}"


def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _type_name(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and _is_optional(hint):
        return f"{_type_name(args[0])} or null"
    return getattr(hint, "__name__", str(hint))


def _is_optional(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def describe(cls: type) -> list[OptionInfo]:
    hints = _types(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        out.append(
            OptionInfo(
                name=f.name,
                type=_type_name(hints[f.name]),
                default=f.default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
            )
        )
    return out


def _check_type(name: str, hint: Any, value: Any, owner: str) -> Any:
    if value is None:
        if _is_optional(hint):
            return None
        raise OptionError(f"{owner}: {name} may not be null")
    if _is_optional(hint):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    else:
        ok = True  # a structured option: the config's own checks apply
    if not ok:
        raise OptionError(f"{owner}: {name} must be {_type_name(hint)}, got {value!r}")
    return value


def parse(cls: type[T], data: Mapping[str, Any] | None, owner: str) -> T:
    """An instance of the options dataclass `cls` from JSON data, checked field by field."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OptionError(f"{owner}: options must be an object, got {data!r}")
    hints = _types(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise OptionError(f"{owner} has no option {key!r}; known: {', '.join(sorted(known))}")
        value = _check_type(key, hints[key], value, owner)
        meta = known[key].metadata
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if meta.get("min") is not None and value < meta["min"]:
                raise OptionError(f"{owner}: {key} must be ≥ {meta['min']}, got {value}")
            if meta.get("max") is not None and value > meta["max"]:
                raise OptionError(f"{owner}: {key} must be ≤ {meta['max']}, got {value}")
        values[key] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"{owner}: {exc}") from None
