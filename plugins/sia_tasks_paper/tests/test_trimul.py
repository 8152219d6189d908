"""trimul: the evaluator on a perfect, an empty, a malformed and a subtly wrong
submission; a Triton kernel under the interpreter; the reference harness through sia."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sia_tasks_paper.build import FILES, build_trimul

from sia_core.testing.cli import run_sia

# Every check starts torch (and Triton) in a process per shape: about 30 s a submission.
pytestmark = pytest.mark.slow

KERNEL = Path(__file__).resolve().parent / "kernels" / "triton_trimul.py"


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trimul")
    build_trimul(root)
    return root


def evaluate(task: Path, gen_dir: Path, submission: str | None) -> dict:
    if submission is not None:
        (gen_dir / "submission.py").write_text(submission)
    done = subprocess.run(
        [sys.executable, str(task / "data" / "public" / "evaluate.py"), "--gen-dir", str(gen_dir)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1]}
    return json.loads((gen_dir / "results.json").read_text())


def statuses(results: dict) -> dict[str, str]:
    return {item["id"]: item["status"] for item in results["items"]}


def test_the_reference_as_submission_is_correct_everywhere(task: Path, tmp_path: Path) -> None:
    reference = (FILES / "trimul" / "reference.py").read_text() + "\ncustom_kernel = ref_kernel\n"
    results = evaluate(task, tmp_path, reference)
    assert set(statuses(results).values()) == {"correct"}
    summary = results["summary"]
    assert summary["score"] == 1.0 and summary["speed_measured"] is False
    assert "speed was not measured" in summary["note"]


def test_leaderboard_timing_with_a_recheck_on_every_run(task: Path, tmp_path: Path) -> None:
    """GPU MODE's leaderboard protocol, run on CPU (`cpu_timing`) so it can be tested
    without a GPU: per shape, repeated runs on fresh seeds, each rechecked; means in µs."""
    timed = tmp_path / "timed"
    shutil.copytree(task, timed)
    toml = timed / "task.toml"
    toml.write_text(toml.read_text() + "\n[evaluator]\ncpu_timing = true\ntiming_budget_s = 0.05\n")
    reference = (FILES / "trimul" / "reference.py").read_text() + "\ncustom_kernel = ref_kernel\n"
    (tmp_path / "ref").mkdir()
    summary = evaluate(timed, tmp_path / "ref", reference)["summary"]
    assert summary["speed_measured"] is True and "not comparable" in summary["note"]
    shapes = summary["timing"]
    assert len(shapes) == 8 and all(s["runs"] >= 3 and s["submission_us"] > 0 for s in shapes)
    # the reference against itself: a speedup near 1 (timing noise on a shared CPU)
    assert 0.3 < summary["score"] < 3
    means = [s["submission_us"] for s in shapes]
    geomean = math.exp(sum(map(math.log, means)) / len(means))
    assert summary["geomean_us"] == pytest.approx(geomean)
    assert summary["score"] == pytest.approx(
        math.exp(sum(math.log(s["speedup"]) for s in shapes) / len(shapes))
    )
    # right on its first call in a process (what the per-shape check sees), wrong on the
    # fresh inputs of the timed runs: the recheck catches it
    cheat = reference + (
        "\nimport torch\n_calls = [0]\n"
        "def custom_kernel(data):\n"
        "    _calls[0] += 1\n"
        "    out = ref_kernel(data)\n"
        "    return out if _calls[0] < 3 else torch.zeros_like(out)\n"
    )
    (tmp_path / "cheat").mkdir()
    results = evaluate(timed, tmp_path / "cheat", cheat)
    assert set(statuses(results).values()) == {"correct"}
    assert results["summary"]["score"] == 0.0 and results["summary"]["speed_measured"] is False
    note = results["summary"]["note"]
    assert "submission: incorrect" in note and "(seed " in note, note


def test_cuda_runs_gpu_modes_18_test_shapes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "trimul_evaluate", FILES / "trimul" / "evaluate.py"
    )
    assert spec is not None and spec.loader is not None
    trimul_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trimul_eval)
    rows = trimul_eval.shapes(cuda=True)
    assert len(rows) == 18 and len({r["id"] for r in rows}) == 18
    assert sum(r["distribution"] == "cauchy" for r in rows) == 7
    assert {(int(r["seqlen"]), int(r["dim"])) for r in rows} >= {(1024, 768), (32, 128)}
    assert len(trimul_eval.shapes(cuda=False)) == 8


def test_no_submission_and_malformed_ones(task: Path, tmp_path: Path) -> None:
    assert "no submission.py" in evaluate(task, tmp_path, None)["error"]
    broken = evaluate(task, tmp_path, "def custom_kernel(data)\n    return 1\n")
    assert set(statuses(broken).values()) == {"error"} and broken["summary"]["score"] == 0.0
    assert "SyntaxError" in broken["items"][0]["detail"]
    shape = evaluate(task, tmp_path, "def custom_kernel(data):\n    return data[0][..., :1]\n")
    assert set(statuses(shape).values()) == {"error"}
    assert "expected" in shape["items"][0]["detail"]


def test_a_submission_cannot_print_its_own_verdict(task: Path, tmp_path: Path) -> None:
    # It shares the checking process: it prints what a passing check would print and
    # leaves before any check runs, or claims success with the wrong numbers.
    forged = (
        "import json, os\n"
        'print(json.dumps({"status": "correct", "max_abs_error": 0.0}), flush=True)\n'
        "os._exit(0)\n"
    )
    assert set(statuses(evaluate(task, tmp_path, forged)).values()) == {"error"}
    zeros = "import torch\ndef custom_kernel(data):\n    return torch.zeros_like(data[0])\n"
    results = evaluate(task, tmp_path, zeros)
    assert set(statuses(results).values()) == {"incorrect"} and results["summary"]["score"] == 0


def test_a_triton_kernel_passes_under_the_interpreter_and_ignoring_the_mask_fails(
    task: Path, tmp_path: Path
) -> None:
    source = KERNEL.read_text()
    (tmp_path / "right").mkdir()
    right = statuses(evaluate(task, tmp_path / "right", source))
    assert set(right.values()) == {"correct"}, right
    (tmp_path / "wrong").mkdir()
    wrong = statuses(
        evaluate(
            task, tmp_path / "wrong", source.replace("IGNORE_MASK = False", "IGNORE_MASK = True")
        )
    )
    for item, status in wrong.items():
        assert status == ("correct" if "nomask" in item else "incorrect"), wrong


def test_the_reference_harness_runs_through_sia(tmp_path: Path) -> None:
    result = run_sia("run", "--task", "trimul", "--backend", "scripted", "--max-gen", "1",
                     "--run-id", "t", "--runs-dir", str(tmp_path), timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((tmp_path / "run_t" / "gen_1" / "generation.json").read_text())
    assert record["score"] == 1.0
    assert (tmp_path / "run_t" / "gen_1" / "submission.py").is_file()


def test_the_generator_draws_gpu_modes_distributions() -> None:
    """GPU MODE's inputs: N(0, 1) LayerNorm weights and biases, projections / sqrt(hidden),
    the output projection / sqrt(dim), Cauchy scale 2, an int mask; seeded."""
    import torch

    sys.path.insert(0, str(FILES / "trimul"))
    from reference import generate_input

    x, mask, weights, config = generate_input(64, 2, 128, 64, 7, False, "normal")
    assert config == {"dim": 128, "hidden_dim": 64}
    assert x.dtype == torch.float32 and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) == {0, 1} and 0.45 < mask.float().mean() < 0.55
    assert abs(x.mean()) < 0.01 and 0.98 < x.std() < 1.02
    for name in ("norm.weight", "norm.bias", "to_out_norm.weight", "to_out_norm.bias"):
        w = weights[name]
        assert w.dtype == torch.float32 and 0.6 < w.std() < 1.4, name  # N(0, 1), not 1 + 0.1 N
    for name in ("left_proj.weight", "right_gate.weight", "out_gate.weight"):
        assert weights[name].std() * 64**0.5 == pytest.approx(1.0, abs=0.05), name
    assert weights["to_out.weight"].std() * 128**0.5 == pytest.approx(1.0, abs=0.05)
    cauchy, ones, _, _ = generate_input(64, 2, 128, 64, 7, True, "cauchy")
    assert ones.dtype == torch.float32 and bool((ones == 1).all())
    # Cauchy(0, 2): median |x| is the scale, 2.
    assert cauchy.abs().median() == pytest.approx(2.0, rel=0.03)
    again = generate_input(64, 2, 128, 64, 7, False, "normal")
    assert torch.equal(again[0], x) and torch.equal(again[1], mask)
    assert torch.equal(again[2]["to_out.weight"], weights["to_out.weight"])
