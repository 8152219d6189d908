"""Harness knobs: the `# sia-knob:` contract, read statically, rewritten line by line."""

from __future__ import annotations

import difflib

import pytest

from sia_core.harness.knobs import (
    MAX_CHOICES,
    MAX_DEMOS,
    MAX_KNOBS,
    KnobError,
    literal,
    parse_knobs,
    rewrite,
    skeleton_digest,
)

HARNESS = '''"""A harness. The docstring mentions # sia-knob: int 0..3 but is no knob."""
import os

SHOTS = 4               # sia-knob: int 0..16
TEMPERATURE = 0.0       # sia-knob: float 0.0..1.5
ORDER = "first"         # sia-knob: choice first|random|similar
VOTES = 1               # sia-knob: int 1..9
DEMO_IDS = []           # sia-knob: demos train.csv:id 0..8
OFFSET: int = -2  #sia-knob: int -5..5
NOTE = "# sia-knob: int 0..1"
PROMPT = """
X = 1  # sia-knob: int 0..3
"""


def main():
    return SHOTS, TEMPERATURE, ORDER, VOTES, DEMO_IDS, OFFSET
'''


def test_every_valid_form():
    knobs = {k.name: k for k in parse_knobs(HARNESS)}
    assert list(knobs) == ["SHOTS", "TEMPERATURE", "ORDER", "VOTES", "DEMO_IDS", "OFFSET"]
    shots = knobs["SHOTS"]
    assert (shots.kind, shots.value, shots.low, shots.high, shots.line) == ("int", 4, 0, 16, 4)
    temp = knobs["TEMPERATURE"]
    assert (temp.kind, temp.value, temp.low, temp.high) == ("float", 0.0, 0.0, 1.5)
    assert knobs["ORDER"].choices == ("first", "random", "similar")
    assert knobs["ORDER"].value == "first"
    demos = knobs["DEMO_IDS"]
    assert (demos.kind, demos.file, demos.column, demos.low, demos.high, demos.value) == (
        "demos",
        "train.csv",
        "id",
        0,
        8,
        [],
    )
    assert knobs["OFFSET"].value == -2 and knobs["OFFSET"].low == -5
    assert [k.spec for k in knobs.values()] == [
        "int 0..16",
        "float 0.0..1.5",
        "choice first|random|similar",
        "int 1..9",
        "demos train.csv:id 0..8",
        "int -5..5",
    ]


def test_markers_in_strings_and_docstrings_are_not_knobs():
    names = [k.name for k in parse_knobs(HARNESS)]
    assert "NOTE" not in names and "X" not in names and "PROMPT" not in names


def test_a_harness_without_markers_has_no_knobs():
    assert parse_knobs("import os\nX = 1  # an ordinary comment\n") == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("X = 1  # sia-knob: integer 0..3", "line 1: unknown knob kind 'integer'"),
        ("X = 1  # sia-knob: int 0-3", "line 1: int knob needs a range such as `int 0..8`"),
        ("X = 1  # sia-knob: int 5..3", "line 1: range 5..3 is empty"),
        ("X = 1.5  # sia-knob: float a..b", "line 1: float knob needs a range"),
        ("X = 'a'  # sia-knob: choice a", "line 1: choice knob needs two or more options"),
        ("X = 'a'  # sia-knob: choice a||b", "line 1: choice knob needs two or more options"),
        ("X = 'a'  # sia-knob: choice a|a", "line 1: choice knob lists an option twice"),
        ("X = 'a'  # sia-knob: choice a|b c", "line 1: choice option 'b c'"),
        ("X = []  # sia-knob: demos train.csv 0..3", "line 1: demos knob needs `demos FILE:COLUMN"),
        ("X = []  # sia-knob: demos ../x.csv:id 0..3", "line 1: demos file '../x.csv'"),
        ("X = []  # sia-knob: demos /etc/x.csv:id 0..3", "line 1: demos file '/etc/x.csv'"),
        ("X = []  # sia-knob: demos train.txt:id 0..3", "line 1: demos file 'train.txt'"),
        ("X = []  # sia-knob: demos t.csv:id 4..2", "line 1: demos range 4..2"),
        ("X = 20  # sia-knob: int 0..16", "line 1: X = 20 is outside its declaration `int 0..16`"),
        ("X = 2.0  # sia-knob: float 0.0..1.5", "outside its declaration `float 0.0..1.5`"),
        ("X = True  # sia-knob: int 0..3", "line 1: X = True is outside"),
        ("X = 1.0  # sia-knob: int 0..3", "line 1: X = 1.0 is outside"),
        ("X = 'c'  # sia-knob: choice a|b", "line 1: X = 'c' is outside"),
        ("X = [1, 2]  # sia-knob: demos t.csv:id 0..1", "line 1: X = [1, 2] is outside"),
        ("X = [None]  # sia-knob: demos t.csv:id 0..3", "line 1: X = [None] is outside"),
        ("X = int('3')  # sia-knob: int 0..3", "line 1: X's value is not a literal"),
        ("X = Y = 1  # sia-knob: int 0..3", "line 1: a sia-knob marker belongs at the end"),
        ("X, Y = 1, 2  # sia-knob: int 0..3", "line 1: a sia-knob marker belongs"),
        ("X = 1; Y = 2  # sia-knob: int 0..3", "line 1: a sia-knob marker belongs"),
        ("X += 1  # sia-knob: int 0..3", "line 1: a sia-knob marker belongs"),
        ("# sia-knob: int 0..3", "line 1: a sia-knob marker belongs"),
        ("def f():\n    X = 1  # sia-knob: int 0..3", "line 2: a sia-knob marker belongs"),
        ("if True:\n    X = 1  # sia-knob: int 0..3", "line 2: a sia-knob marker belongs"),
        (
            "def f():\n    X = 1  # sia-knob: int 0..3\n    return X",
            "line 2: a sia-knob marker belongs",
        ),
        (
            "X = 1  # sia-knob: int 0..3\nX = 2",
            "line 1: X is assigned again at module level (line 2)",
        ),
        (
            "X = 1  # sia-knob: int 0..3\nfor X in range(3):\n    pass",
            "line 1: X is assigned again",
        ),
        ("X = (  # sia-knob: int 0..3\n 1)", "line 1: a sia-knob marker belongs"),
        ("X = 1  # sia-knob: int 0..3\nX: int = 2  # sia-knob: int 0..3", "assigned again"),
        ("def f(:\n    pass\nX = 1  # sia-knob: int 0..3", "line 1: not valid Python"),
    ],
)
def test_each_malformed_form_says_what_and_where(line, message):
    with pytest.raises(KnobError) as info:
        parse_knobs(line + "\n")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_caps_on_agent_written_declarations():
    many = "".join(f"K{i} = 0  # sia-knob: int 0..1\n" for i in range(MAX_KNOBS + 1))
    with pytest.raises(KnobError, match=f"{MAX_KNOBS + 1} knobs declared; at most {MAX_KNOBS}"):
        parse_knobs(many)
    assert len(parse_knobs("".join(many.splitlines(True)[:MAX_KNOBS]))) == MAX_KNOBS
    options = "|".join(f"o{i}" for i in range(MAX_CHOICES + 1))
    with pytest.raises(KnobError, match=f"at most {MAX_CHOICES}"):
        parse_knobs(f"X = 'o0'  # sia-knob: choice {options}\n")
    with pytest.raises(KnobError, match="at most 64 characters"):
        parse_knobs(f"X = 'a'  # sia-knob: choice a|{'b' * 65}\n")
    with pytest.raises(KnobError, match=f"MIN <= MAX <= {MAX_DEMOS}"):
        parse_knobs(f"X = []  # sia-knob: demos t.csv:id 0..{MAX_DEMOS + 1}\n")
    with pytest.raises(KnobError, match="over 1000000 bytes"):
        parse_knobs("X = 1  # sia-knob: int 0..3\n" + "#" * 1_000_001)


def test_a_value_spanning_lines_ends_on_its_marker():
    source = 'IDS = [\n    "a",\n    "b",\n]  # sia-knob: demos train.csv:id 0..4\n'
    (knob,) = parse_knobs(source)
    assert knob.value == ["a", "b"] and knob.line == 4
    assert rewrite(source, {"IDS": ["c"]}) == 'IDS = ["c"]  # sia-knob: demos train.csv:id 0..4\n'


def test_a_proposal_changes_only_knob_lines():
    new = rewrite(
        HARNESS,
        {"SHOTS": 8, "TEMPERATURE": 0.7, "ORDER": "similar", "DEMO_IDS": ["12", "40"], "OFFSET": 3},
    )
    old_lines, new_lines = HARNESS.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    moved = [n + 1 for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert moved == [4, 5, 6, 8, 9]  # SHOTS, TEMPERATURE, ORDER, DEMO_IDS, OFFSET; not VOTES
    assert new_lines[3] == "SHOTS = 8               # sia-knob: int 0..16"
    assert new_lines[7] == 'DEMO_IDS = ["12", "40"]           # sia-knob: demos train.csv:id 0..8'
    assert new_lines[8] == "OFFSET: int = 3  #sia-knob: int -5..5"
    diff = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=0))
    assert sum(line.startswith("-") and not line.startswith("---") for line in diff) == 5
    knobs = {k.name: k.value for k in parse_knobs(new)}
    assert knobs["DEMO_IDS"] == ["12", "40"] and knobs["VOTES"] == 1
    # Same body, other values: the same skeleton (trials of one inform the other).
    assert skeleton_digest(new, parse_knobs(new)) == skeleton_digest(HARNESS, parse_knobs(HARNESS))
    other = HARNESS.replace("return SHOTS", "return 1 + SHOTS")
    assert skeleton_digest(other, parse_knobs(other)) != skeleton_digest(
        HARNESS, parse_knobs(HARNESS)
    )


def test_rewrite_refuses_values_outside_the_declaration():
    with pytest.raises(KnobError, match="SHOTS = 99 is outside"):
        rewrite(HARNESS, {"SHOTS": 99})
    with pytest.raises(KnobError, match="no knob 'NOPE'"):
        rewrite(HARNESS, {"NOPE": 1})


def test_rewrite_keeps_non_ascii_text_around_the_value():
    source = 'ÉTIQUETTE = "é"  # sia-knob: choice a|b\n'.replace('"é"', '"a"')
    source = "# café\n" + source
    assert (
        rewrite(source, {"ÉTIQUETTE": "b"}) == '# café\nÉTIQUETTE = "b"  # sia-knob: choice a|b\n'
    )


def test_literals():
    assert literal("a") == '"a"'
    assert literal(0.30000000000000004) == "0.3"
    assert literal(["1", 2]) == '["1", 2]'
