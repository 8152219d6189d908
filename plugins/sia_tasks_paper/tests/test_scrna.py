"""scrna-denoise: counts from the real file, thinning, the metrics by hand, the evaluator
on perfect, empty and malformed submissions, and harnesses through sia."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sia_tasks_paper.build import FILES, task_dir
from sia_tasks_paper.scrna_data import h5ad_bytes, read_counts, thin

from sia_core.tasks.task import load_task_dir
from sia_core.testing.cli import run_sia

REPLAY = Path(__file__).resolve().parents[3] / "examples" / "scrna-denoise-replay"
sys.path.insert(0, str(FILES / "scrna"))
from evaluate import cell_mse, controls, normalised, poisson, poisson_textbook  # noqa: E402


@pytest.fixture(scope="module")
def task() -> Path:
    return task_dir("scrna-denoise")


def test_counts_recovered_from_the_shipped_file_are_integers() -> None:
    data = read_counts(h5ad_bytes())
    assert data.counts.shape == (700, 765) and data.counts.dtype == np.int64
    assert data.near_integer > 0.9999  # 99.9994% measured
    assert data.counts.min() == 0 and 400 < data.counts.sum(axis=1).mean() < 1000
    assert len(set(data.cell_types)) == 10 and len(data.cells) == 700


def test_thinning_splits_every_molecule_once() -> None:
    counts = np.random.default_rng(1).poisson(3.0, size=(50, 40))
    train, test = thin(counts, 0.9, seed=0)
    assert (train + test == counts).all() and (train >= 0).all() and (test >= 0).all()
    assert abs(train.sum() / counts.sum() - 0.9) < 0.02
    again, _ = thin(counts, 0.9, seed=0)
    assert (again == train).all()


def test_the_metrics_by_hand_on_a_tiny_matrix() -> None:
    train = np.array([[2.0, 0.0], [1.0, 1.0]])
    test = np.array([[1.0, 1.0], [0.0, 2.0]])
    # no denoising: denoised = train. Each row to 10^4 in total, then log1p:
    # train rows -> [1e4, 0], [5e3, 5e3]; test rows -> [5e3, 5e3], [0, 1e4]
    a, b = math.log1p(1e4), math.log1p(5e3)
    expected = [((a - b) ** 2 + b**2) / 2, (b**2 + (b - a) ** 2) / 2]
    assert cell_mse(test, train) == pytest.approx(expected)
    # rate = train * (test total 4 / train total 4) = [[2, 0], [1, 1]]
    # textbook: mean(rate - test * log(rate + 1e-6))
    cells = [2 - math.log(2 + 1e-6), 0 - math.log(1e-6), 1 - 0.0, 1 - 2 * math.log(1 + 1e-6)]
    assert poisson_textbook(train, test, train) == pytest.approx(sum(cells) / 4)
    # official (OpenProblems' argument order): mean(test - rate * log(test + 1e-6))
    official = [
        1 - 2 * math.log(1 + 1e-6),
        1 - 0.0,
        0 - 1 * math.log(1e-6),
        2 - 1 * math.log(2 + 1e-6),
    ]
    assert poisson(train, test, train) == pytest.approx(sum(official) / 4)
    # The controls: no denoising scores 0, perfect 1, on both normalised metrics.
    base = controls(train, test)
    for metric in (poisson, lambda tr, te, d: float(cell_mse(te, d).mean())):
        none = metric(train, test, base["no_denoising"])
        best = metric(train, test, base["perfect"])
        assert normalised(none, none, best) == 0.0
        assert normalised(best, none, best) == pytest.approx(1.0)
        halfway = (none + best) / 2
        assert normalised(halfway, none, best) == pytest.approx(0.5)


def evaluate(task: Path, gen_dir: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(task / "data" / "public" / "evaluate.py"), "--gen-dir", str(gen_dir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return done.returncode, (done.stderr.strip().splitlines() or [""])[-1]


def test_perfect_empty_and_malformed_submissions(task: Path, tmp_path: Path) -> None:
    test = np.load(task / "data" / "private" / "test_counts.npz")["counts"]
    np.save(tmp_path / "denoised.npy", test.astype(np.float32))
    assert evaluate(task, tmp_path)[0] == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["mse"] == 0.0 and len(results["items"]) == 560
    assert results["summary"]["mse_norm"] == pytest.approx(1.0)
    # poisson is not scale-free: the perfect control is the test counts at the train
    # total of the scored (test-split) cells.
    train = np.load(task / "data" / "public" / "train_counts.npz")["counts"]
    scored = set((task / "data" / "private" / "scored_cells.txt").read_text().split())
    ids = (task / "data" / "public" / "cells.csv").read_text().splitlines()[1:]
    rows = [i for i, line in enumerate(ids) if line.split(",")[0] in scored]
    np.save(tmp_path / "denoised.npy", test * (train[rows].sum() / test[rows].sum()))
    assert evaluate(task, tmp_path)[0] == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["poisson_norm"] == pytest.approx(1.0, abs=1e-9)
    np.save(tmp_path / "denoised.npy", train.astype(np.float32))
    assert evaluate(task, tmp_path)[0] == 0
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["mse_norm"] == 0.0 and summary["poisson_norm"] == 0.0
    # The TTT-Discover gate, as a task option: no denoising (poisson_norm 0) is rejected.
    gated = tmp_path / "gated"
    shutil.copytree(task, gated)
    toml = gated / "task.toml"
    toml.write_text(toml.read_text() + "\n[evaluator]\npoisson_norm_gate = 0.97\n")
    assert load_task_dir(gated).name == "scrna-denoise"
    code, line = evaluate(gated, tmp_path)
    assert code != 0 and "rejected: poisson_norm 0.0000 is below the task's gate 0.97" in line
    np.save(tmp_path / "denoised.npy", test.astype(np.float32))
    assert {i["group"] for i in results["items"]} >= {"CD14+ Monocyte", "CD19+ B"}
    (tmp_path / "denoised.npy").unlink()
    assert "no denoised.npy" in evaluate(task, tmp_path)[1]
    np.save(tmp_path / "denoised.npy", test[:10].astype(np.float32))
    assert "expected (700, 765)" in evaluate(task, tmp_path)[1]
    (tmp_path / "denoised.npy").write_text("not numpy")
    assert "not a numpy array" in evaluate(task, tmp_path)[1]
    np.save(tmp_path / "denoised.npy", -np.ones(test.shape))
    assert "negative" in evaluate(task, tmp_path)[1]


def test_selection_scores_other_cells_than_test(task: Path, tmp_path: Path) -> None:
    from sia_core.tasks.splits import selection_view

    view = selection_view(load_task_dir(task), tmp_path / "views")
    assert view.root != task and not (view.public_dir / "scored_cells.txt").exists()
    train = np.load(task / "data" / "public" / "train_counts.npz")["counts"]
    np.save(tmp_path / "denoised.npy", train.astype(np.float32))
    scored: dict[str, set[str]] = {}
    for name, root in (("test", task), ("selection", view.root)):
        assert evaluate(root, tmp_path)[0] == 0
        results = json.loads((tmp_path / "results.json").read_text())
        scored[name] = {item["id"] for item in results["items"]}
        # each split is its own data set: its controls score 0 and 1 on it
        assert results["summary"]["mse_norm"] == 0.0
    assert len(scored["selection"]) == 140 and len(scored["test"]) == 560
    assert not scored["selection"] & scored["test"]
    # the agent's data is the same in both; only which cells are scored differs
    assert (view.public_dir / "cells.csv").read_bytes() == (
        task / "data" / "public" / "cells.csv"
    ).read_bytes()


def test_a_view_key_beside_carving_keys_is_one_line(tmp_path: Path) -> None:
    from sia_core.tasks.task import TaskError

    root = tmp_path / "t"
    (root / "data" / "public").mkdir(parents=True)
    (root / "data" / "public" / "task.md").write_text("x")
    (root / "data" / "public" / "evaluate.py").write_text("")
    (root / "task.toml").write_text('[validation]\nview = "sel"\n')
    with pytest.raises(TaskError, match="needs a directory there holding public/"):
        load_task_dir(root)
    (root / "sel" / "private").mkdir(parents=True)
    assert load_task_dir(root).config.selection_data == "sel"
    (root / "task.toml").write_text('[validation]\nview = "sel"\nfraction = 0.2\n')
    with pytest.raises(TaskError, match="drop fraction"):
        load_task_dir(root)
    (root / "task.toml").write_text('[validation]\nview = "../t"\n')
    with pytest.raises(TaskError, match="inside the task"):
        load_task_dir(root)


@pytest.mark.slow
def test_no_denoising_then_a_low_rank_denoiser_through_sia(task: Path, tmp_path: Path) -> None:
    result = run_sia("run", "--task", "scrna-denoise", "--backend", "scripted", "--backend-opt",
                     f"script={REPLAY}", "--max-gen", "2", "--run-id", "s", "--runs-dir",
                     str(tmp_path), timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    generations = json.loads((tmp_path / "run_s" / "run.json").read_text())["generations"]
    none, low_rank = generations
    assert low_rank["score"] < none["score"] * 0.9, generations  # MSE: lower is better
    assert low_rank["incumbent"]
    # selected on the 140 validation cells; the reported score is the other 560's
    assert low_rank["test_score"] is not None and low_rank["test_score"] != low_rank["score"]
    header = json.loads((tmp_path / "run_s" / "run.json").read_text())["task"]["selection"]
    assert header.startswith("validation: the task's own selection split")
