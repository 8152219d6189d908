"""Every task sia ships, and a researcher's CSV, improves offline: searchable reference
harnesses (a classical path beside the model path, as knobs whose defaults reproduce
the reference), `sia task new` writing one for tabular and text data, and several knob
trials in one harness generation that survive `kill -9` with no trial lost or run twice."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sia_core.harness.knobs import parse_knobs, rewrite
from tests.conftest import sia

ORIGINAL = Path(__file__).resolve().parent.parent / "plugins/sia_tasks_original/sia_tasks_original"
PAPER = Path(__file__).resolve().parent.parent / "plugins/sia_tasks_paper/sia_tasks_paper"
HARNESSES = {
    "spaceship-titanic": ORIGINAL / "files/spaceship-titanic/agent.py",
    "lawbench": ORIGINAL / "files/lawbench/agent.py",
    "scrna-denoise": PAPER / "files/scrna/agent.py",
}


# -- the reference harnesses declare what a researcher would sweep ------------------------


@pytest.mark.parametrize(("task", "method", "classical"), [
    ("spaceship-titanic", "METHOD", {"gbm", "forest", "logreg"}),
    ("lawbench", "METHOD", {"tfidf_svm", "tfidf_logreg"}),
    ("scrna-denoise", "DENOISER", {"knn", "magic", "lowrank"}),
])  # fmt: skip
def test_a_real_task_declares_its_method_as_a_choice_whose_default_is_the_reference(
    task: str, method: str, classical: set[str]
) -> None:
    knobs = {k.name: k for k in parse_knobs(HARNESSES[task].read_text())}
    choice = knobs[method]
    assert choice.kind == "choice" and classical <= set(choice.choices)
    # the default is the original reference: the model path (or no denoising)
    assert choice.value == ("none" if task == "scrna-denoise" else "llm")
    assert len(knobs) >= 5, "the method's hyperparameters and feature choices are knobs too"


def _run_harness(source: str, dataset: Path, out: Path, python: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "target_agent.py").write_text(source)
    argv = [python, str(out / "target_agent.py"), "--dataset_dir", str(dataset),
            "--working_dir", str(out)]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=600)


def _scrna_score(root: Path, out: Path) -> dict:
    subprocess.run([sys.executable, str(root / "data/public/evaluate.py"), "--gen-dir", str(out)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    return json.loads((out / "results.json").read_text())["summary"]


@pytest.mark.slow
def test_scrna_knob_defaults_reproduce_the_reference_and_magic_with_rounding_beats_it(
    tmp_path: Path,
) -> None:
    """The default setting writes the train counts as they are (mse_norm 0, as the
    original reference); MAGIC-style diffusion, rounded, reaches the paper's range."""
    from sia_core.loop.run_config import RunConfig
    from sia_core.loop.wiring import resolve_task

    root = resolve_task(RunConfig(task="scrna-denoise")).root
    source = HARNESSES["scrna-denoise"].read_text()
    assert (root / "reference/reference_target_agent.py").read_text() == source
    _run_harness(source, root / "data/public", tmp_path / "default", sys.executable)
    assert _scrna_score(root, tmp_path / "default")["mse_norm"] == pytest.approx(0.0, abs=1e-9)
    tuned = rewrite(source, {"DENOISER": "magic", "ROUND": "counts", "DEPTH": "median"})
    _run_harness(tuned, root / "data/public", tmp_path / "magic", sys.executable)
    assert _scrna_score(root, tmp_path / "magic")["mse_norm"] > 0.2


# -- sia task new: a classical path chosen by the data -------------------------------------


def tabular_csv(path: Path, rows: int = 300, seed: int = 0) -> Path:
    """64 numeric columns, the label decided by three of them: a model reading the
    numbers as text has little to go on, gradient boosting finds the rule."""
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", *[f"f{i}" for i in range(64)], "label"])
        for i in range(rows):
            x = [round(rng.gauss(0, 1), 3) for _ in range(64)]
            label = "high" if x[3] + 0.8 * x[17] - 0.6 * x[40] > 0 else "low"
            writer.writerow([f"r{i}", *x, label])
    return path


def text_csv(path: Path, rows: int = 300, seed: int = 0) -> Path:
    rng = random.Random(seed)
    good = ["superb", "lovely", "reliable", "delightful", "sturdy"]
    bad = ["broken", "awful", "flimsy", "useless", "faulty"]
    filler = ["the", "item", "arrived", "today", "and", "it", "seems", "quite", "box", "was"]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "review", "label"])
        for i in range(rows):
            positive = rng.random() < 0.5
            words = rng.sample(filler, 6) + [rng.choice(good if positive else bad)]
            rng.shuffle(words)
            writer.writerow([f"t{i}", " ".join(words), "pos" if positive else "neg"])
    return path


@pytest.mark.parametrize(("maker", "id_column", "methods"), [
    (tabular_csv, "row", {"llm", "gbm", "logreg", "forest"}),
    (text_csv, "id", {"llm", "tfidf_logreg", "tfidf_svm"}),
])  # fmt: skip
def test_task_new_writes_the_classical_path_the_data_calls_for(
    tmp_path: Path, maker, id_column: str, methods: set[str]
) -> None:
    source = maker(tmp_path / "data.csv")
    result = sia("task", "new", str(tmp_path / "t"), "--from-csv", str(source),
                 "--id-column", id_column)  # fmt: skip
    assert result.returncode == 0, result.stderr
    harness = tmp_path / "t/reference/reference_target_agent.py"
    knobs = {k.name: k for k in parse_knobs(harness.read_text())}
    assert set(knobs["METHOD"].choices) == methods and knobs["METHOD"].value == "llm"
    assert {"SHOTS", "TEMPERATURE", "C"} <= set(knobs)
    requirements = (tmp_path / "t/reference/requirements.txt").read_text()
    assert "scikit-learn==" in requirements


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize(("maker", "id_column"), [(tabular_csv, "row"), (text_csv, "id")])
def test_a_researchers_csv_improves_offline_by_its_classical_path(
    tmp_path: Path, tiny_dir: Path, maker, id_column: str
) -> None:
    """Generation 1 is the few-shot model path (here a tiny model that knows nothing);
    the heuristic backend's knob trials move METHOD to the classical path, and the
    held-out test score rises above generation 1's."""
    source = maker(tmp_path / "data.csv")
    assert sia("task", "new", str(tmp_path / "t"), "--from-csv", str(source),
               "--id-column", id_column).returncode == 0  # fmt: skip
    result = sia(
        "run", "--task-dir", str(tmp_path / "t"), "--task-model", str(tiny_dir),
        "--backend", "heuristic", "--backend-opt", "trials=3", "--max-gen", "2",
        "--run-id", "csv", "--runs-dir", str(tmp_path / "runs"), timeout=1200,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    gens = [json.loads((tmp_path / f"runs/run_csv/gen_{n}/generation.json").read_text())
            for n in (1, 2)]  # fmt: skip
    assert gens[1]["incumbent"], gens[1].get("keep")
    assert gens[1]["decision"]["hyperparameters"]["knobs"]["METHOD"] != "llm"
    assert gens[1]["test_score"] > gens[0]["test_score"] + 0.2
    assert len(gens[1]["decision"]["hyperparameters"]["trials"]) == 3
    # scikit-learn came through the harness's requirements.txt, from wheels, into the
    # harness's own environment: sia's interpreter still has none
    import importlib.util

    from sia_core.envs import python_for

    assert importlib.util.find_spec("sklearn") is None
    python = Path(python_for(tmp_path / "runs/run_csv/gen_2/requirements.txt"))
    installed = (python.parent.parent / "sia-requirements.txt").read_text()
    assert "scikit-learn==" in installed


# -- several trials in one generation, and kill -9 ------------------------------------------


def _journal_trials(run: Path) -> list[dict]:
    from sia_core.harness.knob_search import KnobSearch

    # The parent's setting and a "repeat" (a setting already scored, told its known score
    # and never run) are the study's bookkeeping, not trials that ran.
    trials = KnobSearch(run, "max", 0).table()
    return [t for t in trials if t["how"] not in ("parent", "repeat")]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_inner_trials_survive_kill_9_with_none_lost_or_run_twice(tmp_path: Path) -> None:
    """A generation of 4 knob trials, killed after its second trial was told: on
    --resume the two told trials are not run again, the rest run once, and the journal
    holds exactly 4 trials for the generation, each scored once."""
    from tests.conftest import make_task

    task = make_task(tmp_path / "task", train=80, test=20)
    agent = task / "reference/reference_target_agent.py"
    source = agent.read_text()
    # A harness with knobs whose runs are slow enough to kill between two of them.
    agent.write_text(
        source.replace(
            "import argparse",
            "import argparse, time\n"
            "WAIT = 2  # sia-knob: int 2..9\n"
            "MODE = \"a\"  # sia-knob: choice a|b|c|d\n",
            1,
        )
        + "\ntime.sleep(WAIT)\n"
    )
    runs = tmp_path / "runs"
    args = [
        str(Path(sys.executable).parent / "sia"), "run", "--task-dir", str(task),
        "--backend", "heuristic", "--backend-opt", "levers=harness",
        "--backend-opt", "trials=4", "--max-gen", "2", "--run-id", "k",
        "--runs-dir", str(runs),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # fmt: skip
    deadline = time.time() + 600
    while time.time() < deadline:
        told = [t for t in _safe_trials(runs / "run_k") if t["state"] == "complete"]
        if len(told) >= 2:
            break
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t["trial"]: t for t in _safe_trials(runs / "run_k")}
    told_before = {n for n, t in before.items() if t["state"] == "complete"}
    assert len(told_before) >= 2
    resumed = sia("run", "--resume", "--run-id", "k", "--runs-dir", str(runs), "--max-gen", "2",
                  timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = _journal_trials(runs / "run_k")
    inner = [t for t in after if t["gen"] == 2]
    assert len(inner) == 4 and all(t["state"] == "complete" for t in inner), inner
    assert len({json.dumps(t["values"], sort_keys=True) for t in inner}) == 4  # none run twice
    for number in told_before:  # told before the kill: the same score, never asked again
        again = next(t for t in after if t["trial"] == number)
        assert again["score"] == before[number]["score"]
    record = json.loads((runs / "run_k/gen_2/generation.json").read_text())
    assert len(record["decision"]["hyperparameters"]["trials"]) == 4


def _safe_trials(run: Path) -> list[dict]:
    try:
        return _journal_trials(run)
    except Exception:  # the journal is being written by the run
        return []


# -- the knob defaults send the original reference's requests --------------------------------


def _requests(task: str, tmp_path: Path, rows: int = 6) -> tuple[list[dict], Path]:
    """The model requests the task's reference harness (its knobs at their defaults)
    sends for the first `rows` test items, against a fake provider."""
    import shutil

    from sia_core.loop.run_config import RunConfig
    from sia_core.loop.wiring import resolve_task
    from sia_core.testing.fakes.openai_api import FakeOpenAI

    root = resolve_task(RunConfig(task=task)).root
    data = tmp_path / "data"
    shutil.copytree(root / "data/public", data)
    test = data / "test.csv"
    if test.is_file():
        lines = test.read_text(encoding="utf-8").splitlines(keepends=True)
        test.write_text("".join(lines[: rows + 1]), encoding="utf-8")
    for name in ("diamond_questions.json", "chess_hard.json"):
        if (data / name).is_file():
            items = json.loads((data / name).read_text("utf-8"))
            (data / name).write_text(json.dumps(items[:rows]), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    with FakeOpenAI(reply=lambda messages: "Answer: A") as fake:
        env = {**os.environ, "SIA_BASE_URL": fake.url, "SIA_API_KEY": "sia-test",
               "SIA_MODEL": "fake"}  # fmt: skip
        argv = [sys.executable, str(root / "reference/reference_target_agent.py"),
                "--dataset_dir", str(data), "--working_dir", str(out)]  # fmt: skip
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)
        return list(fake.requests), data


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_spaceship_defaults_send_the_original_prompt(tmp_path: Path) -> None:
    requests, data = _requests("spaceship-titanic", tmp_path)
    train = _read_csv(data / "train.csv")

    def describe(row: dict[str, str]) -> str:
        return ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("Transported", "Name"))

    examples = "\n".join(
        f"{describe(r)} -> {r['Transported']}" for r in random.Random(0).sample(train, 8)
    )
    expected = {
        "Passengers of the Spaceship Titanic and whether each was transported to another "
        f"dimension:\n{examples}\n{describe(row)} ->\nAnswer True or False."
        for row in _read_csv(data / "test.csv")
    }
    assert {r["messages"][0]["content"] for r in requests} == expected
    assert all(r["temperature"] == 0 and r["max_tokens"] == 5 for r in requests)


@pytest.mark.slow
def test_lawbench_gpqa_and_chess_defaults_send_the_original_prompts(tmp_path: Path) -> None:
    law, data = _requests("lawbench", tmp_path / "law")
    charges = "、".join(json.loads((data / "classes.json").read_text("utf-8")))
    assert {r["messages"][0]["content"] for r in law} == {
        f"以下是一个刑事案件的事实描述：\n{case['text']}\n\n请从下列罪名中选择一个最合适的：{charges}\n只输出罪名。"
        for case in _read_csv(data / "test.csv")
    }
    assert all(r["temperature"] == 0 and r["max_tokens"] == 64 for r in law)
    gpqa, data = _requests("gpqa", tmp_path / "gpqa")
    questions = json.loads((data / "diamond_questions.json").read_text("utf-8"))
    assert len(gpqa) == len(questions)  # one call a question: VOTES = 1
    q = questions[0]
    options = "\n".join(f"{k}) {v}" for k, v in sorted(q["options"].items()))
    assert any(r["messages"][0]["content"] == f"{q['Question'].strip()}\n\n{options}\n\n"
               "Think briefly, then end with a line 'Answer: X' where X is A, B, C or D."
               for r in gpqa)  # fmt: skip
    assert all(r["temperature"] == 0 and "max_tokens" not in r for r in gpqa)
    chess, data = _requests("longcot-chess", tmp_path / "chess")
    prompts = {q["prompt"] for q in json.loads((data / "chess_hard.json").read_text("utf-8"))}
    assert {r["messages"][0]["content"] for r in chess} == prompts
    assert all(r["temperature"] == 0 for r in chess)
