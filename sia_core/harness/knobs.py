"""Harness knobs: module-level constants a harness marks as tunable.

    SHOTS = 4               # sia-knob: int 0..16
    TEMPERATURE = 0.0       # sia-knob: float 0.0..1.5
    ORDER = "first"         # sia-knob: choice first|random|similar
    DEMO_IDS = []           # sia-knob: demos train.csv:id 0..8

The harness is agent-written input, so it is read statically (tokenize for the markers,
ast for the assignments), never imported or run, and everything it declares is capped.
`rewrite` changes only the value of each knob's own line(s), so a generation that only
retunes knobs has a diff of exactly those lines.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import math
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.errors import SiaError

MARKER = re.compile(r"#\s*sia-knob:(.*)$")
KINDS = ("int", "float", "choice", "demos")
MAX_KNOBS = 32
MAX_CHOICES = 32
MAX_CHOICE_CHARS = 64
MAX_DEMOS = 32
MAX_SOURCE_BYTES = 1_000_000
FORMS = "`int LO..HI`, `float LO..HI`, `choice a|b|c` or `demos FILE:COLUMN MIN..MAX`"
_INT = r"-?\d+"
_FLOAT = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CHOICE_WORD = re.compile(r"[A-Za-z0-9_.+\-]+")


class KnobError(SiaError):
    """A malformed knob declaration; the message names the file and line."""


@dataclass(frozen=True)
class Knob:
    name: str
    kind: str
    line: int
    """The line the marker is on (the assignment's last line)."""
    value: Any
    low: float | None = None
    high: float | None = None
    """For demos: how many ids, at least `low` and at most `high`."""
    choices: tuple[str, ...] = ()
    file: str | None = None
    """For demos: the public file (relative to the dataset dir) the ids come from."""
    column: str | None = None

    @property
    def spec(self) -> str:
        """The declaration in its canonical form, as it is written after `sia-knob:`."""
        if self.kind == "choice":
            return "choice " + "|".join(self.choices)
        if self.kind == "demos":
            return f"demos {self.file}:{self.column} {int(self.low or 0)}..{int(self.high or 0)}"
        if self.kind == "int":
            return f"int {int(self.low or 0)}..{int(self.high or 0)}"
        return f"float {self.low}..{self.high}"

    def accepts(self, value: Any) -> bool:
        if self.kind == "int":
            return (
                isinstance(value, int)
                and not isinstance(value, bool)
                and self.low <= value <= self.high  # type: ignore[operator]
            )
        if self.kind == "float":
            return (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and math.isfinite(value)
                and self.low <= value <= self.high  # type: ignore[operator]
            )
        if self.kind == "choice":
            return value in self.choices
        return (
            isinstance(value, list)
            and self.low <= len(value) <= self.high  # type: ignore[operator]
            and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value)
        )


def _fail(filename: str, line: int, what: str) -> KnobError:
    return KnobError(f"{filename} line {line}: {what}")


def _parse_spec(text: str, filename: str, line: int) -> dict[str, Any]:
    kind, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if kind not in KINDS:
        raise _fail(filename, line, f"unknown knob kind {kind!r}; write {FORMS}")
    if kind in ("int", "float"):
        number = _INT if kind == "int" else _FLOAT
        match = re.fullmatch(rf"({number})\s*\.\.\s*({number})", rest)
        if not match:
            raise _fail(filename, line, f"{kind} knob needs a range such as `{kind} 0..8`")
        low, high = (int(g) if kind == "int" else float(g) for g in match.groups())
        if low > high:
            raise _fail(filename, line, f"range {rest} is empty: the low end is above the high")
        return {"low": low, "high": high}
    if kind == "choice":
        options = tuple(o.strip() for o in rest.split("|"))
        if len(options) < 2 or not all(options):
            raise _fail(filename, line, "choice knob needs two or more options: `choice a|b`")
        if len(options) > MAX_CHOICES:
            raise _fail(
                filename, line, f"choice knob has {len(options)} options; at most {MAX_CHOICES}"
            )
        for option in options:
            if len(option) > MAX_CHOICE_CHARS or not _CHOICE_WORD.fullmatch(option):
                raise _fail(
                    filename,
                    line,
                    f"choice option {option[:40]!r}: use letters, digits, _ . + - "
                    f"(at most {MAX_CHOICE_CHARS} characters)",
                )
        if len(set(options)) != len(options):
            raise _fail(filename, line, "choice knob lists an option twice")
        return {"choices": options}
    match = re.fullmatch(r"([^\s:]+):([^\s:]+)\s+(\d+)\s*\.\.\s*(\d+)", rest)
    if not match:
        raise _fail(filename, line, "demos knob needs `demos FILE:COLUMN MIN..MAX`")
    file, column, low, high = (
        match.group(1),
        match.group(2),
        int(match.group(3)),
        int(match.group(4)),
    )
    parts = Path(file).parts
    if Path(file).is_absolute() or ".." in parts or not file.endswith((".csv", ".jsonl")):
        raise _fail(
            filename, line, f"demos file {file!r}: a .csv or .jsonl path inside the dataset dir"
        )
    if low > high or high > MAX_DEMOS:
        raise _fail(filename, line, f"demos range {low}..{high}: MIN <= MAX <= {MAX_DEMOS}")
    return {"file": file, "column": column, "low": low, "high": high}


def _markers(source: str, filename: str) -> dict[int, str]:
    """Line number → the text after `sia-knob:`, from comment tokens only: a marker
    inside a string or docstring is not a comment, so not a knob."""
    found: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                match = MARKER.search(token.string)
                if match:
                    found[token.start[0]] = match.group(1)
    except (tokenize.TokenError, SyntaxError) as exc:
        try:
            ast.parse(source, filename)
        except SyntaxError as bad:
            raise KnobError(f"{filename} line {bad.lineno}: not valid Python ({bad.msg})") from None
        raise KnobError(f"{filename}: cannot read it for knobs ({exc})") from None
    return found


def _target(stmt: ast.stmt) -> tuple[str, ast.expr] | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            return target.id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
        return stmt.target.id, stmt.value
    return None


def parse_knobs(source: str, filename: str = "target_agent.py") -> list[Knob]:
    """Every knob the source declares, in file order; KnobError names the first bad line."""
    if len(source.encode("utf-8", "replace")) > MAX_SOURCE_BYTES:
        raise KnobError(f"{filename}: over {MAX_SOURCE_BYTES} bytes; not read for knobs")
    markers = _markers(source, filename)
    if not markers:
        return []
    if len(markers) > MAX_KNOBS:
        raise KnobError(f"{filename}: {len(markers)} knobs declared; at most {MAX_KNOBS}")
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as exc:
        raise KnobError(f"{filename} line {exc.lineno}: not valid Python ({exc.msg})") from None
    ending: dict[int, list[ast.stmt]] = {}
    assigned: dict[str, list[int]] = {}
    for stmt in tree.body:
        ending.setdefault(stmt.end_lineno or stmt.lineno, []).append(stmt)
        for node in ast.walk(stmt) if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) else ():
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                assigned.setdefault(node.id, []).append(node.lineno)
    knobs: list[Knob] = []
    for line, text in sorted(markers.items()):
        stmts = ending.get(line, [])
        target = _target(stmts[0]) if len(stmts) == 1 else None
        if target is None:
            raise _fail(
                filename,
                line,
                "a sia-knob marker belongs at the end of a simple module-level assignment "
                "(`NAME = literal  # sia-knob: ...`), one per line",
            )
        name, value_node = target
        try:
            value = ast.literal_eval(value_node)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise _fail(filename, line, f"{name}'s value is not a literal") from None
        fields = _parse_spec(text, filename, line)
        knob = Knob(name=name, kind=text.split()[0], line=line, value=value, **fields)
        if not knob.accepts(value):
            raise _fail(
                filename, line, f"{name} = {value!r} is outside its declaration `{knob.spec}`"
            )
        if len(assigned.get(name, [])) > 1:
            again = [n for n in assigned[name] if n != value_node.lineno][:1] or assigned[name][1:2]
            raise _fail(
                filename,
                line,
                f"{name} is assigned again at module level (line {again[0]}); a knob is set once",
            )
        if any(k.name == name for k in knobs):
            raise _fail(filename, line, f"{name} is declared as a knob twice")
        knobs.append(knob)
    return knobs


def read_knobs(path: Path) -> list[Knob]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnobError(f"{path.name}: cannot read it for knobs ({exc})") from None
    return parse_knobs(source, path.name)


def literal(value: Any) -> str:
    """A knob value as Python source: strings in double quotes, floats short."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return repr(value)


def _value_spans(source: str) -> dict[str, tuple[int, int]]:
    """Character offsets of each module-level assignment's value, by name (one parse;
    ast gives UTF-8 byte columns, turned into character offsets here)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text))

    def offset(line: int, col_bytes: int) -> int:
        text = lines[line - 1]
        return starts[line - 1] + len(text.encode("utf-8")[:col_bytes].decode("utf-8"))

    spans: dict[str, tuple[int, int]] = {}
    for stmt in ast.parse(source).body:
        target = _target(stmt)
        if target and target[0] not in spans:
            node = target[1]
            spans[target[0]] = (
                offset(node.lineno, node.col_offset),
                offset(node.end_lineno or node.lineno, node.end_col_offset or 0),
            )
    return spans


def _replace_values(source: str, texts: dict[str, str]) -> str:
    """The source with each named assignment's value replaced by its text, bottom up so
    that earlier offsets stay valid."""
    spans = _value_spans(source)
    missing = [name for name in texts if name not in spans]
    if missing:
        raise KnobError(f"no knob {missing[0]!r} to rewrite")
    for name in sorted(texts, key=lambda n: spans[n], reverse=True):
        start, end = spans[name]
        source = source[:start] + texts[name] + source[end:]
    return source


def rewrite(source: str, values: dict[str, Any]) -> str:
    """The source with each named knob's value replaced; nothing else changes. Values
    are checked against the declarations first."""
    knobs = {k.name: k for k in parse_knobs(source)}
    for name, value in values.items():
        knob = knobs.get(name)
        if knob is None:
            raise KnobError(f"no knob {name!r} in the harness")
        if not knob.accepts(value):
            raise KnobError(f"{name} = {value!r} is outside its declaration `{knob.spec}`")
    return _replace_values(source, {name: literal(value) for name, value in values.items()})


def skeleton_digest(source: str, knobs: list[Knob]) -> str:
    """A digest of the harness with its knob values blanked: two harnesses that differ
    only in knob values have the same skeleton, so trials of one inform the other."""
    blank = _replace_values(source, {k.name: "..." for k in knobs})
    specs = "\n".join(f"{k.name}:{k.spec}" for k in knobs)
    return hashlib.sha256((blank + "\0" + specs).encode()).hexdigest()[:16]
