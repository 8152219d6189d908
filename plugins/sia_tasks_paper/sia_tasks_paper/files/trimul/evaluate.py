#!/usr/bin/env python3
"""Score submission.py for TriMul: correctness on every shape of test.csv, then, on CUDA
only, speed on the benchmark shapes.

Usage: python evaluate.py --gen-dir DIR   (writes DIR/results.json)

Each shape runs in a process of its own (a crash or a hang costs that shape only):
correct, incorrect (outside the tolerance, or not finite), error (raised, wrong shape)
or timeout. Without CUDA, Triton kernels run under its interpreter (TRITON_INTERPRET=1)
and the score is the fraction of shapes correct; speed is not measured, and results.json
says so. On CUDA the score is the geometric mean over the benchmark shapes of the
reference's median time over the submission's (0 if any shape is not correct).
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RTOL = ATOL = 2e-2
PER_SHAPE_TIMEOUT_S = 180
# GPU MODE's TriMul benchmark shapes (seqlen, bs, dim, hiddendim, nomask, distribution)
BENCHMARK = [
    (256, 2, 128, 128, True, "normal"),
    (768, 1, 128, 128, True, "cauchy"),
    (256, 2, 384, 128, False, "normal"),
    (512, 1, 128, 128, True, "normal"),
    (1024, 1, 128, 128, True, "cauchy"),
    (768, 1, 384, 128, False, "normal"),
    (1024, 1, 384, 128, True, "normal"),
]


def shapes() -> list[dict]:
    with (HERE / "test.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


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


def time_one(gen_dir: Path, shape: tuple) -> dict:
    """Runs in the child, on CUDA: median times of the reference and the submission."""
    import torch

    sys.path.insert(0, str(HERE))
    from reference import generate_input, ref_kernel

    kernel = load_submission(gen_dir)
    data = generate_input(*shape[:2], *shape[2:4], 1234, shape[4], shape[5], device="cuda")
    expected = ref_kernel(data)
    got = kernel(data)
    if not torch.allclose(got.float(), expected, rtol=RTOL, atol=ATOL):
        return {"status": "incorrect"}

    def median_ms(fn) -> float:  # noqa: ANN001
        for _ in range(3):
            fn(data)
        torch.cuda.synchronize()
        times = []
        for _ in range(20):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn(data)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return sorted(times)[len(times) // 2]

    return {
        "status": "correct",
        "reference_ms": median_ms(ref_kernel),
        "submission_ms": median_ms(kernel),
    }


def child(mode: str, gen_dir: Path, payload: str, env: dict) -> dict:
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--gen-dir", str(gen_dir), f"--{mode}", payload],
            capture_output=True, text=True, timeout=PER_SHAPE_TIMEOUT_S, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "detail": f"over {PER_SHAPE_TIMEOUT_S} s"}
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
        print(json.dumps(time_one(args.gen_dir, tuple(json.loads(args.time)))))
        return
    if not (args.gen_dir / "submission.py").is_file():
        raise SystemExit("no submission.py in the working directory")
    env = dict(os.environ)
    if not cuda:
        env["TRITON_INTERPRET"] = "1"
    items = []
    for row in shapes():
        result = verdict(row, child("check", args.gen_dir, json.dumps(row), env), device)
        group = "mask" if row["nomask"] == "false" else "nomask"
        items.append({"id": row["id"], "status": result["status"], "group": group,
                      "detail": result.get("detail", "")})  # fmt: skip
    correct = sum(item["status"] == "correct" for item in items)
    summary = {"correct": correct, "total": len(items), "device": device}
    if not cuda:
        summary.update(score=correct / len(items), speed_measured=False,
                       note="no CUDA device: correctness only, under TRITON_INTERPRET=1; "
                       "score = fraction of shapes correct, speed was not measured")  # fmt: skip
    elif correct < len(items):
        summary.update(score=0.0, speed_measured=False, note="a shape is not correct: no timing")
    else:
        ratios = []
        for shape in BENCHMARK:
            timed = child("time", args.gen_dir, json.dumps(shape), env)
            if timed.get("status") != "correct":
                ratios = []
                summary["note"] = f"benchmark shape {shape}: {timed.get('status')}"
                break
            ratios.append(timed["reference_ms"] / timed["submission_ms"])
        speedup = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 0.0
        summary.update(score=speedup, speed_measured=bool(ratios), speedups=ratios)
    (args.gen_dir / "results.json").write_text(json.dumps({"summary": summary, "items": items}))
    print(f"score {summary['score']:.4f} ({correct}/{len(items)} shapes correct on {device})")


if __name__ == "__main__":
    main()
