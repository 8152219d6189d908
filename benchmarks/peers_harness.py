"""The harness half of benchmarks/peers.py: sia's offline harness lever against DSPy's
few-shot optimizers and a fixed 8-random-demo prompt, on one of sia's generated tasks,
the embedded Gemma 3 270M served to every arm through one sia gateway.

What is held equal: the model and its serving path (OpenAI chat requests through sia's
gateway, greedy, the harness's stop and token cap), the prompt format (the reference
harness's default: sentiment's plain question, arithmetic's Q/A lines), the demo
rendering, the answer parsing, the selection split (the rows sia carves) and the
held-out test split. DSPy gets a completion-style adapter that renders its demos exactly
as the harness does (its ChatAdapter gets 0% from a base model). Its random search is
given as many selection evaluations as sia's run used.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SIA = Path(sys.executable).with_name("sia")


@dataclass(frozen=True)
class PromptSpec:
    """The reference harness's default prompt, as functions of a row."""

    field: str
    demo: Callable[[str, str], str]
    query: Callable[[str], str]
    parse: Callable[[str], str]
    max_tokens: int


def _sentiment_parse(text: str) -> str:
    words = text.strip().lower().split()
    first = words[0] if words else ""
    if first.startswith("pos"):
        return "positive"
    return "negative" if first.startswith("neg") else "unknown"


def _first_number(text: str) -> str:
    numbers = re.findall(r"-?\d+", text)
    return numbers[0] if numbers else ""


ASK = "Is this review positive or negative?"


def sentiment_spec(ask: str = ASK) -> PromptSpec:
    """The sentiment harness's prompt with `ask` as its question (its QUESTION knob)."""
    return PromptSpec(
        "review",
        lambda x, y: f"Review: {x}\n{ask}\nAnswer: {y}\n\n",
        lambda x: f"Review: {x}\n{ask}\nAnswer:",
        _sentiment_parse,
        3,
    )


SPECS = {
    "sentiment": sentiment_spec(),
    "arithmetic": PromptSpec(
        "problem",
        lambda x, y: f"Q: {x} = ?\nA: {y}\n\n",
        lambda x: f"Q: {x} = ?\nA:",
        _first_number,
        4,
    ),
}


@dataclass
class Splits:
    train: list[dict[str, str]]
    """Rows neither selection nor test: what demos may come from."""
    selection: list[dict[str, str]]
    test: list[dict[str, str]]


def _rows(path: Path) -> list[dict[str, str]]:
    from sia_core.tasks.splits import read_rows

    return read_rows(path)[1]


def _labelled(inputs: Path, answers: Path) -> list[dict[str, str]]:
    truth = {r["id"]: r["answer"] for r in _rows(answers)}
    return [{**r, "answer": truth[r["id"]]} for r in _rows(inputs)]


def task_path(task_name: str) -> Path:
    """The directory of a task the installed loaders know."""
    from sia_core import plugins

    return next(p for loader in plugins.task_loaders() if (p := loader.resolve(task_name)))


def splits(task_name: str, scratch: Path) -> Splits:
    """The splits a sia run of the task uses: the selection rows sia carves, the rows it
    leaves for demos, the held-out test rows."""
    from sia_core.tasks.splits import selection_view
    from sia_core.tasks.task import load_task_dir

    task = load_task_dir(task_path(task_name))
    view = selection_view(task, scratch)
    return Splits(
        train=_rows(view.public_dir / "train.csv"),
        selection=_labelled(view.public_dir / "test.csv", view.private_dir / "answers.csv"),
        test=_labelled(task.public_dir / "test.csv", task.private_dir / "answers.csv"),
    )


class Served:
    """The embedded model behind a sia gateway: the URL and token every arm calls."""

    def __init__(self, scratch: Path) -> None:
        from sia_core.gateway.server import Gateway
        from sia_core.policy.local import LocalPolicy

        self.policy = LocalPolicy.load("gemma3-270m")
        self.gateway = Gateway(self.policy, scratch / "calls.jsonl", concurrency=64).start()
        self.url = f"http://127.0.0.1:{self.gateway.port}/v1"
        self.token = self.gateway.token

    def close(self) -> None:
        self.gateway.stop()


def answers(served: Served, spec: PromptSpec, demos: list[dict[str, str]],
            rows: list[dict[str, str]]) -> list[str]:  # fmt: skip
    """One fixed prompt's (demos + query) parsed answer to each of `rows`, called as the
    harness calls: one chat request per row, 32 at a time."""
    from openai import OpenAI

    client = OpenAI(base_url=served.url, api_key=served.token)
    prefix = "".join(spec.demo(d[spec.field], d["answer"]) for d in demos)

    def one(row: dict[str, str]) -> str:
        reply = client.chat.completions.create(
            model="gemma3-270m",
            messages=[{"role": "user", "content": prefix + spec.query(row[spec.field])}],
            max_tokens=spec.max_tokens,
            temperature=0.0,
            stop=["\n"],
        )
        return spec.parse(reply.choices[0].message.content or "")

    with ThreadPoolExecutor(32) as pool:
        return list(pool.map(one, rows))


def answer_all(served: Served, spec: PromptSpec, demos: list[dict[str, str]],
               rows: list[dict[str, str]]) -> dict[str, bool]:  # fmt: skip
    """Whether one fixed prompt answers each of `rows` right, by id."""
    given = answers(served, spec, demos, rows)
    return {r["id"]: a == r["answer"] for r, a in zip(rows, given, strict=True)}


def _result(hits: dict[str, bool], evals: int, seconds: float) -> dict[str, Any]:
    return {"test": sum(hits.values()) / len(hits), "evals": evals, "seconds": seconds,
            "hits": hits}  # fmt: skip


def fixed_draw(data: Splits, seed: int) -> list[dict[str, str]]:
    """The baseline's demos for `seed`: 8 rows drawn from those neither selection nor test."""
    return random.Random(f"fixed-{seed}").sample(data.train, 8)


def fixed_demos(served: Served, spec: PromptSpec, data: Splits, seed: int) -> dict[str, Any]:
    start = time.perf_counter()
    demos = fixed_draw(data, seed)
    hits = answer_all(served, spec, demos, data.test)
    return _result(hits, 0, time.perf_counter() - start)


def _dspy_setup(served: Served, spec: PromptSpec) -> Any:
    import dspy
    from dspy.adapters.base import Adapter

    class CompletionAdapter(Adapter):
        """One user message: the demos rendered as the harness renders them, then the
        query; the reply parsed as the harness parses it."""

        def format(self, signature: Any, demos: list[dict[str, Any]],
                   inputs: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
            shots = "".join(spec.demo(d["x"], d["y"]) for d in demos if d.get("x") and d.get("y"))
            return [{"role": "user", "content": shots + spec.query(inputs["x"])}]

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            return {"y": spec.parse(completion)}

    lm = dspy.LM(
        "openai/gemma3-270m", api_base=served.url, api_key=served.token, model_type="chat",
        temperature=0.0, max_tokens=spec.max_tokens, stop=["\n"], cache=False, num_retries=0,
    )  # fmt: skip
    dspy.configure(lm=lm, adapter=CompletionAdapter())
    return dspy


def dspy_arm(served: Served, spec: PromptSpec, data: Splits, seed: int, optimizer: str,
             candidates: int) -> dict[str, Any]:  # fmt: skip
    """One DSPy optimizer compiled on the training rows (random search: also scored on
    the selection rows), then scored on the held-out rows."""
    dspy = _dspy_setup(served, spec)

    def example(row: dict[str, str]) -> Any:
        return dspy.Example(x=row[spec.field], y=row["answer"]).with_inputs("x")

    train = [example(r) for r in data.train]
    random.Random(f"dspy-{seed}").shuffle(train)
    valset = [example(r) for r in data.selection]

    def metric(gold: Any, pred: Any, trace: Any = None) -> bool:
        return gold.y == pred.y

    student = dspy.Predict("x -> y")
    start = time.perf_counter()
    evals = 0
    # DSPy prints its progress to stdout: keep stdout for the benchmark's tables.
    with contextlib.redirect_stdout(sys.stderr):
        program = _compile(dspy, student, optimizer, metric, train, valset, candidates)
    if optimizer == "random":
        evals = max(candidates - 3, 1) + 3
    with ThreadPoolExecutor(32) as pool:
        right = pool.map(lambda r: program(x=r[spec.field]).y == r["answer"], data.test)
        hits = dict(zip([r["id"] for r in data.test], right, strict=True))
    return _result(hits, evals, time.perf_counter() - start)


def _compile(dspy: Any, student: Any, optimizer: str, metric: Callable[..., bool],
             train: list[Any], valset: list[Any], candidates: int) -> Any:  # fmt: skip
    from dspy.teleprompt import (
        BootstrapFewShot,
        BootstrapFewShotWithRandomSearch,
        LabeledFewShot,
    )

    if optimizer == "labeled":
        return LabeledFewShot(k=8).compile(student, trainset=train)
    if optimizer == "bootstrap":
        bootstrap = BootstrapFewShot(metric=metric, max_bootstrapped_demos=4, max_labeled_demos=8)
        return bootstrap.compile(student, trainset=train)
    # DSPy scores seeds -3..candidates-4 on the valset: zero-shot, labeled, unshuffled
    # bootstrap, then shuffled ones; `candidates` evaluations in all.
    search = BootstrapFewShotWithRandomSearch(
        metric=metric, max_bootstrapped_demos=4, max_labeled_demos=8,
        num_candidate_programs=max(candidates - 3, 1), num_threads=16,
    )  # fmt: skip
    return search.compile(student, trainset=train, valset=valset)


def sia_arm(task: str, seed: int, max_gen: int, runs: Path, trials: int) -> dict[str, Any]:
    """`sia run --backend heuristic --backend-opt levers=harness trials=N`: its final
    incumbent's held-out score, and how many harnesses it scored on the selection split.
    A fixed trial count fixes the budget at 1 + (MAX_GEN - 1) * N selection evaluations
    (with `trials=auto` it depends on how fast the machine ran generation 1). A
    generation of several trials also runs its chosen harness again as its own
    selection run: not counted (the same harness, greedy), but in sia's seconds."""
    from sia_core.harness.knob_search import KnobSearch

    run_id = f"{task}-s{seed}"
    start = time.perf_counter()
    subprocess.run(
        [str(SIA), "run", "--task", task, "--backend", "heuristic", "--backend-opt",
         "levers=harness", "--backend-opt", f"trials={trials}", "--max-gen", str(max_gen),
         "--seed", str(seed),
         "--runs-dir", str(runs), "--run-id", run_id],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    run = runs / f"run_{run_id}"
    state = json.loads((run / "run.json").read_text())
    table = KnobSearch(run, "max", seed).table() if (run / "knob_study.journal").is_file() else []
    scored = [t for t in table if t["how"] in ("edit", "random", "tpe")
              and t["state"] in ("complete", "fail")]  # fmt: skip
    # The held-out items of the generation the run ended on, for the paired comparison.
    graded = json.loads((run / f"gen_{state['best']['generation']}" / "test" / "results.json")
                        .read_text())["items"]  # fmt: skip
    hits = {item["id"]: item["status"] == "correct" for item in graded}
    if abs(sum(hits.values()) / len(hits) - state["best"]["test_score"]) > 1e-9:
        raise RuntimeError(f"{run}: per-item held-out results disagree with run.json")
    return _result(hits, 1 + len(scored), seconds)


def _brief(result: dict[str, Any]) -> str:
    test, evals, seconds = result["test"], result["evals"], result["seconds"]
    return f"held-out {test:.2f}, {evals} evaluations, {seconds:.0f} s"


ARMS = ("sia", "dspy-random-search", "dspy-bootstrap", "dspy-labeled", "fixed-8-demos")


def run_task(task: str, seeds: list[int], max_gen: int, log: Callable[[str], None],
             trials: int) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Every arm on every seed; sia first, so random search gets its evaluation count."""
    out: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
    spec = SPECS[task]
    with tempfile.TemporaryDirectory(prefix="sia-peers-") as tmp:
        scratch = Path(tmp)
        data = splits(task, scratch / "views")
        for seed in seeds:
            result = sia_arm(task, seed, max_gen, scratch / "runs", trials)
            out["sia"].append(result)
            log(f"{task} seed {seed} sia: {_brief(result)}")
        served = Served(scratch)
        try:
            for k, seed in enumerate(seeds):
                budget = out["sia"][k]["evals"]
                for arm in ARMS[1:]:
                    if arm == "fixed-8-demos":
                        result = fixed_demos(served, spec, data, seed)
                    else:
                        optimizer = arm.removeprefix("dspy-").split("-")[0]
                        result = dspy_arm(served, spec, data, seed, optimizer, budget)
                    out[arm].append(result)
                    log(f"{task} seed {seed} {arm}: {_brief(result)}")
        finally:
            served.close()
    return out
