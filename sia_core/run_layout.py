"""The one place that knows how a run directory is laid out, and how a run's seeds are
derived. Everything else asks here instead of spelling `gen_N`, candidate or staging
paths, or reading generation.json itself:

    RUN/run.json                      the index (rebuilt from the records)
    RUN/gen_N/generation.json         generation N's record (the truth)
    RUN/gen_N/candidates/K/           candidate K of a several-candidate generation
    RUN/candidates_gen_N/K/           the same while generation N is being made

This module sits at the bottom of the core: it imports nothing of sia but `store`.
"""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path
from typing import Any

from sia_core.store import atomic_write_json

RECORD = "generation.json"
AGENT_SESSIONS = "agent_session.json"
GEN_DIR = re.compile(r"^gen_(\d+)$")
STAGING_PREFIX = "candidates_gen_"
CANDIDATES = "candidates"
ADAPTER = "adapter"
SECOND_LOOK = "keep_rule"
"""gen_N/keep_rule/: the keep rule's second look (incumbent/, candidate/)."""

RESERVED_NAMES = frozenset(
    {
        # sia's records in gen_N/ (and in every evaluation's output directory)
        RECORD,
        "decision.json",
        "target_agent.py",
        "requirements.txt",
        "improvement.md",
        "calls.jsonl",
        "results.json",
        "agent_execution.json",
        "evaluation.log",
        "target_agent_stdout.log",
        "target_agent_stderr.log",
        "feedback_context.json",
        "feedback_evidence",
        AGENT_SESSIONS,
        "meta_agent_transcript.jsonl",
        "feedback_agent_transcript.jsonl",
        ".agent_workspace",
        "training.json",
        # sia's subdirectories
        ADAPTER,
        SECOND_LOOK,
        "test",
        "rollouts",
        "trials",
        CANDIDATES,
        "views",
    }
)
"""Names an agent's outputs may not take: they are dropped at copy-back (and listed in
agent_execution.json), so what sia wrote is never overwritten by the agent."""


def gen_name(number: int) -> str:
    """gen_N, the name of generation N's directory (in links and diff labels too)."""
    return f"gen_{number}"


def gen_dir(run: Path, number: int) -> Path:
    """RUN/gen_N: generation N once it is whole."""
    return run / gen_name(number)


def gen_number(path: Path) -> int | None:
    """N for a directory named gen_N, else None."""
    match = GEN_DIR.match(path.name)
    return int(match.group(1)) if match else None


def staging_dir(run: Path, number: int) -> Path:
    """RUN/candidates_gen_N: generation N's finished candidates while it is being made."""
    return run / f"{STAGING_PREFIX}{number}"


def staged_numbers(run: Path) -> list[tuple[int, Path]]:
    """(N, RUN/candidates_gen_N) for every staging directory in the run."""
    found = []
    for path in run.glob(f"{STAGING_PREFIX}*") if run.is_dir() else []:
        number = path.name.removeprefix(STAGING_PREFIX)
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


def candidates_dir(gen: Path) -> Path:
    """gen_N/candidates: where a whole generation keeps its candidates."""
    return gen / CANDIDATES


def adapter_dir(gen: Path) -> Path:
    """gen_N/adapter (or a candidate's or staged generation's): the LoRA adapter that a
    weights generation trained."""
    return gen / ADAPTER


def candidate_dir(gen: Path, candidate: int) -> Path:
    """gen_N/candidates/K: candidate K of a whole generation."""
    return candidates_dir(gen) / str(candidate)


def record_path(directory: Path) -> Path:
    """The generation record inside a generation's (or a candidate's) directory."""
    return directory / RECORD


def find_record(run: Path, number: int, candidate: int | None = None) -> dict[str, Any] | None:
    """The record of generation N (of its candidate K when it had several), or None while
    it is not whole. A candidate is looked for in its whole generation first, then in the
    staging directory of one being made."""
    if candidate is None:
        places = [gen_dir(run, number)]
    else:
        places = [
            candidate_dir(gen_dir(run, number), candidate),
            staging_dir(run, number) / str(candidate),
        ]
    for place in places:
        if record_path(place).is_file():
            return read_record(place)
    return None


def read_record(directory: Path) -> dict[str, Any] | None:
    """The generation record in `directory` as stored, or None when there is none or it is
    cut short (a record is written atomically, so a partial one means a foreign file)."""
    path = record_path(directory)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_agent_sessions(out_dir: Path, sessions: list[dict[str, Any]]) -> None:
    """An agent backend's side of the handshake: the usage of the coding-agent sessions
    it ran for this generation (tokens, cost, turns), left in the generation's directory
    for the loop to fold into the record."""
    atomic_write_json(out_dir / AGENT_SESSIONS, sessions)


def read_agent_sessions(out_dir: Path) -> list[dict[str, Any]] | None:
    """The loop's side: what an agent backend left (None when it ran no session, or left
    something that is not a list of sessions)."""
    try:
        data = json.loads((out_dir / AGENT_SESSIONS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [s for s in data if isinstance(s, dict)] if isinstance(data, list) else None


class Salt(enum.IntEnum):
    """What a derived seed is for. The values are the bare numbers runs were written with
    before they had names: a resumed run must redraw exactly what it drew before."""

    TRIAL = 7
    """A knob trial's sample of training rows."""
    KEEP_RULE = 11
    """The paired keep rule's bootstrap."""
    ARCHIVE_PARENT = 13
    """`--parent archive`'s draw of the generation to build on."""
    SECOND_LOOK = 17
    """The keep rule's draw of training rows for a second look at a close call."""


def round_salt(round_no: int) -> int:
    """The salt of training round `round_no` (0-based) in a generation: the round_no-th
    whole number that no Salt takes. Rounds below every Salt keep the salt they always
    had (= round_no); an eighth round no longer shares the trial's seed."""
    taken = {int(salt) for salt in Salt}
    return [n for n in range(round_no + len(taken) + 1) if n not in taken][round_no]


def derived_seed(run_seed: int, number: int, salt: int) -> int:
    """The seed of one random draw in generation `number` (a Salt, or a round_salt),
    from the run's --seed: distinct per generation and per salt (salts stay below 101,
    the step between generations), the same on resume."""
    return run_seed * 1_000_003 + number * 101 + int(salt)
