#!/usr/bin/env python3
"""Score submission.py for TriMul: correctness on every test shape, then speed on GPU
MODE's benchmark shapes, timed the way its leaderboard times them.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)

Each shape runs in a process of its own (a crash or a hang costs that shape only):
correct, incorrect (outside the tolerance, or not finite), error (raised, wrong shape)
or timeout. On CUDA the test shapes are GPU MODE's 18 (test_cuda.csv); without CUDA,
Triton kernels run under its interpreter (TRITON_INTERPRET=1) on the small shapes of
test.csv, the score is the fraction of shapes correct and speed is not measured.

Timing (CUDA, or CPU when task.toml sets `[evaluator] cpu_timing = true`): per benchmark
shape, one correctness check, then up to 100 runs, each on fresh inputs (seed + 13 each
time) and each checked again, until the standard error of the mean is under 0.1% of it,
the runs add up to the time budget (`[evaluator] timing_budget_s`, 30 s as on the
leaderboard) or 120 s have passed. results.json records each shape's mean in µs for the
submission and the reference; GPU MODE ranks on the geometric mean of the submission's
means (`geomean_us`). The score is the geometric mean of reference mean / submission
mean (0 if any shape is not correct).
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTOL = ATOL = 2e-2
PER_SHAPE_TIMEOUT_S = 180
TIMING_TIMEOUT_S = 300  # two kernels under the leaderboard's 120 s cap each
MAX_RUNS = 100
MAX_WALL_S = 120.0
SEED_STEP = 13
# GPU MODE's TriMul benchmark shapes, with its seeds
BENCHMARK_COLUMNS = ("seqlen", "bs", "dim", "hiddendim", "nomask", "distribution", "seed")
BENCHMARK = [
    (256, 2, 128, 128, True, "normal", 9371),
    (768, 1, 128, 128, True, "cauchy", 381),
    (256, 2, 384, 128, False, "normal", 2301),
    (512, 1, 128, 128, True, "normal", 12819),
    (1024, 1, 128, 128, True, "cauchy", 381),
    (768, 1, 384, 128, False, "normal", 481),
    (1024, 1, 384, 128, True, "normal", 23291),
]


def shapes(cuda: bool) -> list[dict]:
    with (HERE / ("test_cuda.csv" if cuda else "test.csv")).open(newline="") as fh:
        return list(csv.DictReader(fh))


def evaluator_options() -> dict:
    toml = HERE.parent.parent / "task.toml"
    if not toml.is_file():
        return {}
    with toml.open("rb") as fh:
        return tomllib.load(fh).get("evaluator", {})


def load_submission(gen_dir: Path):  # noqa: ANN201
    import importlib.util

    spec = importlib.util.spec_from_file_location("submission", gen_dir / "submission.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.custom_kernel


def inputs(row: dict, device: str):  # noqa: ANN201
    sys.path.insert(0, str(HERE))
    from reference import generate_input

    return generate_input(int(row["seqlen"]), int(row["bs"]), int(row["dim"]),
                          int(row["hiddendim"]), int(row["seed"]), row["nomask"] == "true",
                          row["distribution"], device=device)  # fmt: skip


def run_one(gen_dir: Path, row: dict, device: str) -> dict:
    """Runs in the child, beside the agent's code: the submission's output, raw. The
    child's word is never taken for a verdict (the submission shares its process and
    could print one): the parent compares the numbers against its own reference."""
    import base64

    import torch

    try:
        kernel = load_submission(gen_dir)
        got = kernel(inputs(row, device))
    except Exception as exc:  # noqa: BLE001 - the agent's code may raise anything
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    if not isinstance(got, torch.Tensor):
        return {"status": "error", "detail": f"returned {type(got).__name__}, not a tensor"}
    values = got.detach().float().cpu().contiguous().numpy()
    return {"status": "ran", "shape": list(values.shape),
            "output": base64.b64encode(values.tobytes()).decode()}  # fmt: skip


def verdict(row: dict, result: dict, device: str) -> dict:
    """Runs in the parent: the child's output against the reference."""
    import base64

    import numpy as np
    import torch

    sys.path.insert(0, str(HERE))
    from reference import ref_kernel

    if result.get("status") != "ran":
        status = result.get("status") if result.get("status") in ("error", "timeout") else "error"
        return {"status": status, "detail": str(result.get("detail", ""))[:300]}
    expected = ref_kernel(inputs(row, device)).float().cpu()
    try:
        raw = np.frombuffer(base64.b64decode(result["output"]), dtype=np.float32)
        got = torch.from_numpy(raw.copy()).reshape(result["shape"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        return {"status": "error", "detail": f"unreadable output: {exc}"[:300]}
    return compare(got, expected)


def compare(got, expected) -> dict:  # noqa: ANN001
    """GPU MODE's check: every value within atol + rtol * |expected|, all finite."""
    import torch

    if not isinstance(got, torch.Tensor):
        return {"status": "error", "detail": f"returned {type(got).__name__}, not a tensor"}
    got = got.detach().float().to(expected.device)
    if tuple(got.shape) != tuple(expected.shape):
        return {"status": "error", "detail": f"returned {tuple(got.shape)}, expected "
                f"{tuple(expected.shape)}"}  # fmt: skip
    if not torch.isfinite(got).all():
        return {"status": "incorrect", "detail": "output has NaN or inf"}
    error = (got - expected).abs()
    allowed = ATOL + RTOL * expected.abs()
    bad = int((error > allowed).sum())
    if bad:
        return {"status": "incorrect", "detail": f"{bad} of {got.numel()} values off; max "
                f"abs error {float(error.max()):.3g}"}  # fmt: skip
    return {"status": "correct", "max_abs_error": float(error.max())}


def leaderboard_stats(kernel, row: dict, device: str, recheck: bool, budget_s: float) -> dict:  # noqa: ANN001
    """GPU MODE's leaderboard protocol for one kernel on one shape: a checked first call,
    then timed runs on fresh inputs (each checked again when `recheck`)."""
    import torch

    sys.path.insert(0, str(HERE))
    from reference import ref_kernel

    cuda = device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    args = dict(row)
    first = kernel(inputs(args, device))
    checked = compare(first, ref_kernel(inputs(args, device)).float())
    if checked["status"] != "correct":
        checked["detail"] = f"first call (seed {args['seed']}): " + checked.get("detail", "")
        return checked
    durations_us: list[float] = []
    started = time.perf_counter()
    for run in range(MAX_RUNS):
        args["seed"] = int(args["seed"]) + SEED_STEP
        data = inputs(args, device)
        sync()
        if cuda:
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            out = kernel(data)
            end.record()
            sync()
            durations_us.append(begin.elapsed_time(end) * 1e3)
        else:
            tick = time.perf_counter_ns()
            out = kernel(data)
            durations_us.append((time.perf_counter_ns() - tick) / 1e3)
        if recheck:
            checked = compare(out, ref_kernel(inputs(args, device)).float())
            if checked["status"] != "correct":
                checked["detail"] = f"run {run + 1} (seed {args['seed']}): " + checked.get(
                    "detail", checked["status"]
                )
                return checked
        del out
        if run > 1:
            stats = _stats(durations_us)
            if (
                stats["err_us"] / stats["mean_us"] < 0.001
                or stats["mean_us"] * stats["runs"] > budget_s * 1e6
                or time.perf_counter() - started > MAX_WALL_S
            ):
                break
    return {"status": "correct", **_stats(durations_us)}


def _stats(durations_us: list[float]) -> dict:
    runs = len(durations_us)
    mean = sum(durations_us) / runs
    std = math.sqrt(sum((d - mean) ** 2 for d in durations_us) / (runs - 1)) if runs > 1 else 0.0
    return {"runs": runs, "mean_us": mean, "std_us": std, "err_us": std / math.sqrt(runs),
            "best_us": min(durations_us), "worst_us": max(durations_us)}  # fmt: skip


def time_one(gen_dir: Path, payload: dict, device: str) -> dict:
    """Runs in a child: one kernel's leaderboard statistics on one shape. The reference
    is timed in a child of its own, which never loads the submission (so nothing the
    submission does to torch can slow the reference down)."""
    sys.path.insert(0, str(HERE))
    from reference import ref_kernel

    row, budget_s = payload["row"], float(payload["budget_s"])
    if payload["kernel"] == "reference":
        leaderboard_stats(ref_kernel, row, device, False, min(budget_s, 0.01))
        return leaderboard_stats(ref_kernel, row, device, False, budget_s)
    try:
        kernel = load_submission(gen_dir)
        # GPU MODE warms up before timing anything
        leaderboard_stats(kernel, row, device, False, min(budget_s, 0.01))
        return leaderboard_stats(kernel, row, device, True, budget_s)
    except Exception as exc:  # noqa: BLE001 - the agent's code may raise anything
        return {"status": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]}


def timing(gen_dir: Path, rows: list[dict], device: str, env: dict, budget_s: float) -> dict:
    """The speed part of the summary: per-shape means in µs and their geometric means."""
    per_shape = []
    for row in rows:
        timed = {}
        for kernel in ("submission", "reference"):
            payload = json.dumps({"row": row, "budget_s": budget_s, "kernel": kernel})
            timed[kernel] = child("time", gen_dir, payload, env, TIMING_TIMEOUT_S)
            if timed[kernel].get("status") != "correct":
                shape = {k: row[k] for k in BENCHMARK_COLUMNS if k in row}
                return {"score": 0.0, "speed_measured": False,
                        "note": f"benchmark shape {shape}, {kernel}: {timed[kernel].get('status')} "
                        f"{timed[kernel].get('detail', '')}".strip()}  # fmt: skip
        sub, ref = timed["submission"], timed["reference"]
        per_shape.append({**{k: row[k] for k in BENCHMARK_COLUMNS if k in row},
                          "submission_us": sub["mean_us"], "reference_us": ref["mean_us"],
                          "submission_err_us": sub["err_us"], "runs": sub["runs"],
                          "speedup": ref["mean_us"] / sub["mean_us"]})  # fmt: skip

    def geomean(values: list[float]) -> float:
        return math.exp(sum(map(math.log, values)) / len(values))

    return {
        "score": geomean([s["speedup"] for s in per_shape]),
        "speed_measured": True,
        "geomean_us": geomean([s["submission_us"] for s in per_shape]),
        "reference_geomean_us": geomean([s["reference_us"] for s in per_shape]),
        "timing": per_shape,
    }


def child(
    mode: str, gen_dir: Path, payload: str, env: dict, timeout_s: float = PER_SHAPE_TIMEOUT_S
) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--gen-dir", str(gen_dir), f"--{mode}", payload],
            capture_output=True, text=True, timeout=timeout_s, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "detail": f"over {timeout_s:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "error", "detail": f"the shape's process died: {tail}"[:300]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen-dir", type=Path, required=True)
    parser.add_argument("--check", help=argparse.SUPPRESS)
    parser.add_argument("--time", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    if args.check:
        print(json.dumps(run_one(args.gen_dir, json.loads(args.check), device)))
        return
    if args.time:
        print(json.dumps(time_one(args.gen_dir, json.loads(args.time), device)))
        return
    if not (args.gen_dir / "submission.py").is_file():
        raise SystemExit("no submission.py in the working directory")
    options = evaluator_options()
    env = dict(os.environ)
    if not cuda:
        env["TRITON_INTERPRET"] = "1"
    rows = shapes(cuda)
    items = []
    for row in rows:
        result = verdict(row, child("check", args.gen_dir, json.dumps(row), env), device)
        group = "mask" if row["nomask"] == "false" else "nomask"
        items.append({"id": row["id"], "status": result["status"], "group": group,
                      "detail": result.get("detail", "")})  # fmt: skip
    correct = sum(item["status"] == "correct" for item in items)
    summary = {"correct": correct, "total": len(items), "device": device}
    timed_on_cpu = not cuda and bool(options.get("cpu_timing"))
    if not cuda and not timed_on_cpu:
        summary.update(score=correct / len(items), speed_measured=False,
                       note="no CUDA device: correctness only, under TRITON_INTERPRET=1; "
                       "score = fraction of shapes correct, speed was not measured")  # fmt: skip
    elif correct < len(items):
        summary.update(score=0.0, speed_measured=False, note="a shape is not correct: no timing")
    else:
        budget_s = float(options.get("timing_budget_s", 30.0))
        bench = [dict(zip(BENCHMARK_COLUMNS, shape, strict=True)) for shape in BENCHMARK]
        for shape in bench:
            shape["nomask"] = "true" if shape["nomask"] else "false"
        summary.update(timing(args.gen_dir, rows if timed_on_cpu else bench, device, env, budget_s))
        if timed_on_cpu and summary["speed_measured"]:
            summary["note"] = ("timed on CPU ([evaluator] cpu_timing) on the small shapes: "
                               "not comparable with GPU MODE's numbers")  # fmt: skip
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"score {summary['score']:.4f} ({correct}/{len(items)} shapes correct on {device})")


if __name__ == "__main__":
    main()
