"""A generation of several candidates (`--candidates N`): each finished candidate is kept
whole in the generation's staging directory (run_layout.staging_dir), outside its
temporary directory, so a killed run resumes after the last finished one; the best
becomes gen_N (its files copied up, every candidate moved under gen_N/candidates/ once
gen_N is whole), and only it meets the keep rule."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

from sia_core import run_layout
from sia_core.backends.contract import BackendCannotAct, Decision
from sia_core.generation_record import GenerationRecord
from sia_core.loop import steps
from sia_core.loop.run_dir import RunDir
from sia_core.loop.wiring import Wiring
from sia_core.store import atomic_dir, atomic_write_json, clean_partial, read_json


def adopt_candidates(rundir: RunDir) -> None:
    """Move the candidates of every whole generation into it (a kill can fall between
    gen_N's rename and this move)."""
    for number, staging in run_layout.staged_numbers(rundir.path):
        final = rundir.gen_dir(number)
        if run_layout.record_path(final).is_file():
            if run_layout.candidates_dir(final).exists():
                shutil.rmtree(staging)
            else:
                os.replace(staging, run_layout.candidates_dir(final))


def candidate_summary(record: GenerationRecord) -> dict[str, Any]:
    """One candidate as generation.json lists it."""
    totals = record.totals()
    return {
        "candidate": record.candidate,
        "status": record.status,
        "score": record.score,
        "lever": record.lever,
        "algorithm": record.algorithm,
        "error": record.error,
        "tokens": totals.tokens,
        "cost_usd": round(totals.cost_usd, 6),
        "agent_cost_usd": round(
            sum(
                s["cost_usd"]
                for s in record.agent_sessions or []
                if isinstance(s, dict) and isinstance(s.get("cost_usd"), (int, float))
            ),
            6,
        ),
    }


def candidates(
    w: Wiring,
    number: int,
    records: list[GenerationRecord],
    parent: GenerationRecord | None,
    say: Any,
) -> GenerationRecord:
    """Generation `number` from `--candidates` children of `parent`."""
    staging = run_layout.staging_dir(w.rundir.path, number)
    clean_partial(staging)
    done: list[GenerationRecord] = []
    total = w.config.candidates
    for k in range(1, total + 1):
        kept_dir = staging / str(k)
        if run_layout.record_path(kept_dir).is_file():
            done.append(GenerationRecord.from_dict(read_json(run_layout.record_path(kept_dir))))
            continue
        siblings = [Decision.from_dict(r.decision) for r in done if r.decision]

        def announce(k: int = k) -> None:
            w.reporter.info(f"generation {number} · candidate {k}/{total}")

        with atomic_dir(kept_dir) as tmp:
            try:
                record, _ = steps.child(
                    w, number, tmp, records, parent, k, siblings, False, announce
                )
            except BackendCannotAct as exc:
                if k == 1:
                    raise
                record = GenerationRecord(number=number, started=time.time(), candidate=k)
                record.error, record.finished = f"candidate {k}: {exc}", time.time()
            atomic_write_json(run_layout.record_path(tmp), record.as_dict())
        done.append(record)
        say(record, f"generation {number} · candidate {k}")
    return choose(w, number, done, staging, records)


def choose(
    w: Wiring,
    number: int,
    done: list[GenerationRecord],
    staging: Path,
    records: list[GenerationRecord],
) -> GenerationRecord:
    """gen_N from the best candidate (its files copied up, every candidate under
    candidates/), then the keep rule against the incumbent."""
    scored = [r for r in done if r.status == "ok" and r.score is not None]
    best = None
    for r in scored:
        if best is None or w.task.better(r.score, best.score):  # type: ignore[arg-type]
            best = r
    with atomic_dir(w.rundir.gen_dir(number)) as tmp:
        if best is None:
            record = GenerationRecord(number=number, started=done[0].started)
            record.error = "every candidate failed: " + "; ".join(
                f"{r.candidate}: {r.error}" for r in done
            )
            record.parent = done[0].parent
        else:
            chosen = staging / str(best.candidate)
            for entry in chosen.iterdir():
                if entry.name == run_layout.RECORD:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, tmp / entry.name, symlinks=True)
                else:
                    shutil.copy2(entry, tmp / entry.name, follow_symlinks=False)
            if best.adapter_gen == number:
                # Candidates after the chosen one trained adapters of their own.
                w.serving.serve(run_layout.adapter_dir(tmp), w.reporter)
            kept = steps.keep(w, number, tmp, best.score, records, best.adapter_gen, best.training)
            record = GenerationRecord.from_dict(best.as_dict())
            record.keep, record.incumbent = kept.verdict, kept.incumbent
            record.test_score, record.test_error = kept.test_score, kept.test_error
            for name, usage in kept.usage.items():
                record.add_usage(name, usage)
        record.candidates = [candidate_summary(r) for r in done]
        # What every other candidate spent counts too (run.json's totals, the report).
        sessions = []
        for other in done:
            if best is None or other.candidate != best.candidate:
                for usage in other.usage.values():
                    record.add_usage("candidates", usage)
            sessions += [
                {**s, "candidate": other.candidate}
                for s in other.agent_sessions or []
                if isinstance(s, dict)
            ]
        record.agent_sessions = sessions or None
        record.finished = time.time()
        atomic_write_json(run_layout.record_path(tmp), record.as_dict())
    # Moved in only once gen_N is whole: a kill before this leaves the candidates in
    # staging, and the next start moves them (adopt_candidates).
    adopt_candidates(w.rundir)
    return record
