"""sia mlebench prepare: Kaggle zips in, task directories out, scored by the right metric."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import random
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sia_task_mlebench.prepare import holdout_indices, prepare

from sia_core.tasks.task import Task, load_task_dir
from sia_core.testing.cli import run_sia as sia

SHIP_COLUMNS = ["PassengerId", "HomePlanet", "CryoSleep", "Age", "Transported"]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def kaggle_zip(path: Path, train: str, sample: str, test: str | None = None) -> Path:
    """A zip in Kaggle's layout: train.csv, test.csv, sample_submission.csv at the top."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train.csv", train)
        zf.writestr("sample_submission.csv", sample)
        if test is not None:
            zf.writestr("test.csv", test)
    return path


def ship_zip(path: Path, n: int = 200) -> Path:
    rng = random.Random(1)
    rows = []
    for i in range(n):
        cryo = rng.random() < 0.4
        rows.append(
            [
                f"{i:04d}_01",
                rng.choice(["Earth", "Mars"]),
                str(cryo),
                str(rng.randint(1, 70)),
                str(cryo or rng.random() < 0.3),
            ]
        )
    sample = csv_text(["PassengerId", "Transported"], [["9999_01", "False"]])
    return kaggle_zip(path, csv_text(SHIP_COLUMNS, rows), sample, csv_text(SHIP_COLUMNS[:-1], []))


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def evaluate(task: Task, gen: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(task.evaluator), "--gen-dir", str(gen)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def submit(task: Task, gen: Path, header: list[str], rows: list[list[str]]) -> dict:
    gen.mkdir(parents=True, exist_ok=True)
    (gen / "submission.csv").write_text(csv_text(header, rows))
    done = evaluate(task, gen)
    assert done.returncode == 0, done.stderr
    return json.loads((gen / "results.json").read_text())


def test_holdout_matches_sklearn_train_test_split_arithmetic() -> None:
    train, test = holdout_indices(8693, 0.1, 0)
    assert (len(train), len(test)) == (7823, 870)  # spaceship-titanic's MLE-bench sizes
    assert sorted(train + test) == list(range(8693))
    assert holdout_indices(8693, 0.1, 0) == (train, test)


def test_prepare_spaceship_zip_splits_scores_and_runs(tmp_path: Path, cache: Path) -> None:
    zip_path = ship_zip(tmp_path / "spaceship-titanic.zip")
    done = sia(
        "mlebench",
        "prepare",
        "-c",
        "spaceship-titanic",
        "--zip",
        str(zip_path),
        env={"SIA_CACHE_DIR": str(cache)},
    )
    assert done.returncode == 0, done.stderr
    assert "sia run --task mlebench:spaceship-titanic" in done.stdout
    task = load_task_dir(cache / "tasks" / "mlebench" / "spaceship-titanic")
    public, private = read(task.public_dir / "train.csv"), read(task.private_dir / "test.csv")
    assert (len(public), len(private)) == (180, 20)
    assert not {r["PassengerId"] for r in public} & {r["PassengerId"] for r in private}
    assert "Transported" not in read(task.public_dir / "test.csv")[0]
    assert task.config.metric == "accuracy" and task.config.validation is not None
    provenance = json.loads((task.root / "provenance.json").read_text())
    assert provenance["split"] == "MLE-bench's (verified)"

    gold = [[r["PassengerId"], r["Transported"]] for r in private]
    results = submit(task, tmp_path / "perfect", ["PassengerId", "Transported"], gold)
    assert results["summary"]["accuracy"] == 1.0
    flipped = [[i, "False" if v == "True" else "True"] for i, v in gold[:5]] + gold[5:]
    half = submit(task, tmp_path / "five-wrong", ["PassengerId", "Transported"], flipped)
    assert half["summary"]["accuracy"] == pytest.approx(15 / 20)
    assert all(set(item) == {"id", "status"} for item in half["items"])

    listed = sia("tasks", env={"SIA_CACHE_DIR": str(cache)}).stdout
    line = next(x for x in listed.splitlines() if "mlebench:spaceship-titanic" in x)
    assert "ready" in line

    run = sia(
        "run",
        "--task",
        "mlebench:spaceship-titanic",
        "--backend",
        "scripted",
        "--max-gen",
        "1",
        "--run-id",
        "ml",
        "--runs-dir",
        str(tmp_path / "runs"),
        env={"SIA_CACHE_DIR": str(cache)},
    )
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "runs" / "run_ml" / "run.json").read_text())
    gen1 = next(g for g in record["generations"] if g["number"] == 1)
    majority = max(("True", "False"), key=lambda v: sum(r["Transported"] == v for r in public))
    expected = sum(r["Transported"] == majority for r in private) / len(private)
    assert gen1["test_score"] == pytest.approx(expected, abs=5e-6)


def regression_task(tmp_path: Path) -> Task:
    rows = [[str(i), str(i % 7), f"{(i % 7) * 1.5 + 2:.2f}"] for i in range(60)]
    zip_path = kaggle_zip(
        tmp_path / "reg.zip",
        csv_text(["id", "x", "y"], rows),
        csv_text(["id", "y"], [["1000", "0"]]),
    )
    return load_task_dir(prepare("toy-regression", zip_path, tmp_path / "reg", metric="rmse"))


def test_rmse_scores_and_refuses_incomplete_submissions(tmp_path: Path) -> None:
    task = regression_task(tmp_path)
    assert task.config.direction == "min"
    gold = read(task.private_dir / "test.csv")
    perfect = submit(task, tmp_path / "p", ["id", "y"], [[r["id"], r["y"]] for r in gold])
    assert perfect["summary"]["rmse"] == 0.0
    off = submit(
        task, tmp_path / "o", ["id", "y"], [[r["id"], str(float(r["y"]) + 2)] for r in gold]
    )
    assert off["summary"]["rmse"] == pytest.approx(2.0)
    assert all(item["reward"] == pytest.approx(-2.0) for item in off["items"])
    short = tmp_path / "short"
    short.mkdir()
    (short / "submission.csv").write_text(csv_text(["id", "y"], [[gold[0]["id"], "1"]]))
    done = evaluate(task, short)
    assert done.returncode != 0 and "lacks" in done.stderr and "Traceback" not in done.stderr
    words = tmp_path / "words"
    words.mkdir()
    (words / "submission.csv").write_text(csv_text(["id", "y"], [[r["id"], "high"] for r in gold]))
    done = evaluate(task, words)
    assert done.returncode != 0 and "is not a number" in done.stderr


def pairwise_auc(labels: list[int], scores: list[float]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_auc_and_binary_logloss(tmp_path: Path) -> None:
    rows = [[str(i), str(i % 5), str(int(i % 5 >= 3))] for i in range(100)]
    train = csv_text(["id", "f", "target"], rows)
    sample = csv_text(["id", "target"], [["0", "0.5"]])
    auc_task = load_task_dir(
        prepare(
            "toy-auc", kaggle_zip(tmp_path / "a.zip", train, sample), tmp_path / "auc", metric="auc"
        )
    )
    gold = read(auc_task.private_dir / "test.csv")
    rng = random.Random(3)
    scores = [min(1.0, max(0.0, int(r["target"]) * 0.4 + rng.random() * 0.6)) for r in gold]
    results = submit(
        auc_task,
        tmp_path / "g1",
        ["id", "target"],
        [[r["id"], f"{s:.3f}"] for r, s in zip(gold, scores, strict=True)],
    )
    labels = [int(r["target"]) for r in gold]
    rounded = [float(f"{s:.3f}") for s in scores]
    assert results["summary"]["auc"] == pytest.approx(pairwise_auc(labels, rounded), abs=5e-6)

    ll_task = load_task_dir(
        prepare(
            "toy-ll",
            kaggle_zip(tmp_path / "l.zip", train, sample),
            tmp_path / "ll",
            metric="logloss",
        )
    )
    gold = read(ll_task.private_dir / "test.csv")
    results = submit(ll_task, tmp_path / "g2", ["id", "target"], [[r["id"], "0.8"] for r in gold])
    expected = -sum(math.log(0.8 if r["target"] == "1" else 0.2) for r in gold) / len(gold)
    assert results["summary"]["logloss"] == pytest.approx(
        expected, abs=5e-6
    )  # rounded to 5 decimals


def test_multiclass_logloss_with_a_label_column(tmp_path: Path) -> None:
    classes = ["oak", "elm", "ash"]
    rows = [[str(i), str(i % 3), classes[i % 3]] for i in range(90)]
    zip_path = kaggle_zip(
        tmp_path / "leaf.zip",
        csv_text(["id", "f", "species"], rows),
        csv_text(["id", *classes], [["0", "0.33", "0.33", "0.34"]]),
    )
    task = load_task_dir(
        prepare("toy-leaf", zip_path, tmp_path / "leaf", metric="logloss", label_column="species")
    )
    assert task.config.validation is None  # several answer columns: selection runs on test
    assert task.config.shards is not None and task.config.shards.inputs == "test.csv"
    gold = read(task.private_dir / "test.csv")
    # Unnormalised rows are normalised, as sklearn does: 2:1:1 -> 0.5 for the first class.
    body = [[r["id"], *("2" if c == r["species"] else "1" for c in classes)] for r in gold]
    results = submit(task, tmp_path / "g", ["id", *classes], body)
    assert results["summary"]["logloss"] == round(-math.log(0.5), 5)  # MLE-bench rounds


def test_prepare_errors_are_one_clear_line(tmp_path: Path, cache: Path) -> None:
    env = {"SIA_CACHE_DIR": str(cache)}
    good = ship_zip(tmp_path / "s.zip")
    cases = [
        (["-c", "some-comp", "--zip", str(good)], "give its metric with --metric"),
        (["-c", "spaceship-titanic", "--zip", str(good), "--metric", "rmse"], "scored by accuracy"),
    ]
    no_train = kaggle_zip(tmp_path / "n.zip", "", "id,y\n1,2\n")
    with zipfile.ZipFile(no_train, "w") as zf:
        zf.writestr("sample_submission.csv", "id,y\n1,2\n")
    cases.append((["-c", "x", "--zip", str(no_train), "--metric", "rmse"], "has no train.csv"))
    text = kaggle_zip(tmp_path / "t.zip", "id,y\n1,a\n2,b\n3,c\n", "id,y\n9,0\n")
    cases.append((["-c", "x", "--zip", str(text), "--metric", "rmse"], "needs numeric 'y'"))
    for args, message in cases:
        done = sia("mlebench", "prepare", *args, env=env)
        assert done.returncode == 2, done.stdout
        assert done.stderr.startswith("error:") and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1
    assert (
        sia(
            "mlebench", "prepare", "-c", "spaceship-titanic", "--zip", str(good), env=env
        ).returncode
        == 0
    )
    again = sia("mlebench", "prepare", "-c", "spaceship-titanic", "--zip", str(good), env=env)
    assert again.returncode == 2 and "--force" in again.stderr
    unprepared = sia("run", "--task", "mlebench:other", "--backend", "scripted", env=env)
    assert unprepared.returncode == 2 and "sia mlebench prepare -c other" in unprepared.stderr


class FakeKaggle:
    """Kaggle's download-all endpoint on 127.0.0.1, with basic auth."""

    def __init__(self, payload: bytes, user: str, key: str) -> None:
        expected = "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                if not self.path.endswith("/competitions/data/download-all/spaceship-titanic"):
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def __enter__(self) -> FakeKaggle:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


@pytest.fixture
def fake_kaggle(tmp_path: Path) -> Iterator[FakeKaggle]:
    payload = ship_zip(tmp_path / "served.zip").read_bytes()
    with FakeKaggle(payload, "ada", "k3y") as server:
        yield server


def test_prepare_downloads_through_the_kaggle_api(
    fake_kaggle: FakeKaggle, tmp_path: Path, cache: Path
) -> None:
    config = tmp_path / "kaggle-config"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": "ada", "key": "k3y"}))
    env = {
        "SIA_CACHE_DIR": str(cache),
        "SIA_KAGGLE_API": fake_kaggle.url,
        "KAGGLE_CONFIG_DIR": str(config),
        "KAGGLE_USERNAME": "",
        "KAGGLE_KEY": "",
    }
    done = sia("mlebench", "prepare", "-c", "spaceship-titanic", env=env)
    assert done.returncode == 0, done.stderr
    assert (cache / "downloads" / "mlebench" / "spaceship-titanic.zip").is_file()
    assert (
        load_task_dir(cache / "tasks" / "mlebench" / "spaceship-titanic").config.metric
        == "accuracy"
    )

    wrong = {**env, "KAGGLE_USERNAME": "ada", "KAGGLE_KEY": "nope"}
    denied = sia(
        "mlebench",
        "prepare",
        "-c",
        "spaceship-titanic",
        "--force",
        "--out",
        str(tmp_path / "o"),
        env={**wrong, "SIA_CACHE_DIR": str(tmp_path / "c2")},
    )
    assert denied.returncode == 2 and "HTTP 401" in denied.stderr and "--zip PATH" in denied.stderr
    no_creds = {
        **env,
        "KAGGLE_CONFIG_DIR": str(tmp_path / "none"),
        "SIA_CACHE_DIR": str(tmp_path / "c3"),
    }
    missing = sia("mlebench", "prepare", "-c", "spaceship-titanic", env=no_creds)
    assert missing.returncode == 2 and "no Kaggle credentials" in missing.stderr


@pytest.mark.slow
def test_spaceship_split_equals_the_one_the_original_sia_ships(tmp_path: Path, cache: Path) -> None:
    """Rebuild Kaggle's train.csv from the original SIA's split, prepare it, get that split back."""
    pytest.importorskip("sia_tasks_original")
    from sia_tasks_original import source as sources

    try:
        original = sources.default_source()
    except sources.DataError as exc:
        pytest.skip(f"the package index cannot be reached to fetch sia-agent 0.6.0: {exc}")
    base = "spaceship-titanic/data/"
    train = list(csv.reader(io.StringIO(original.read(base + "public/train.csv").decode())))
    test = list(csv.reader(io.StringIO(original.read(base + "private/test.csv").decode())))
    assert train[0] == test[0]
    kaggle_rows = sorted(train[1:] + test[1:], key=lambda r: r[0])  # Kaggle's order: by id
    zip_path = kaggle_zip(
        tmp_path / "spaceship-titanic.zip",
        csv_text(train[0], kaggle_rows),
        csv_text(["PassengerId", "Transported"], [["0013_01", "False"]]),
    )
    task = load_task_dir(prepare("spaceship-titanic", zip_path, tmp_path / "ship"))
    ours = list(csv.reader((task.private_dir / "test.csv").open(newline="")))
    assert ours == test
    ours_train = list(csv.reader((task.public_dir / "train.csv").open(newline="")))
    assert ours_train == train


def _bomb(path: Path, megabytes: int, inner_zip: bool = False) -> Path:
    """A zip whose train.csv declares `megabytes` MiB (zeros compress ~1000:1)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("train.csv.zip" if inner_zip else "train.csv", "w") as fh:
            if inner_zip:
                inner = io.BytesIO()
                with (
                    zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as iz,
                    iz.open("train.csv", "w") as ifh,
                ):
                    _zeros(ifh, megabytes)
                fh.write(inner.getvalue())
            else:
                _zeros(fh, megabytes)
        zf.writestr("sample_submission.csv", "id,y\n1,2\n")
    return path


def _zeros(fh, megabytes: int) -> None:
    fh.write(b"id,y\n")
    block = b"0" * (1 << 20)
    for _ in range(megabytes):
        fh.write(block)


def test_a_hostile_archive_is_refused_before_it_is_read(tmp_path: Path, cache: Path) -> None:
    """Before: a small zip declaring a 3 GiB train.csv was read into memory whole."""
    env = {"SIA_CACHE_DIR": str(cache), "SIA_MLEBENCH_MAX_MEMBER_MB": "64"}
    for inner in (False, True):
        bomb = _bomb(tmp_path / f"bomb-{inner}.zip", 200, inner)
        assert bomb.stat().st_size < 2 * 2**20
        done = subprocess.run(
            [
                sys.executable, "-c",
                "import sys\n"
                "from sia_core.cli.main import main\n"
                "sys.argv = ['sia', 'mlebench', 'prepare', '-c', 'x', '--zip', sys.argv[1],"
                " '--metric', 'rmse']\n"
                "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
                "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
                "print(int(hwm.split()[1]) // 1024, code)\n",
                str(bomb),
            ],
            capture_output=True, text=True, timeout=120, env={**__import__("os").environ, **env},
        )  # fmt: skip
        peak_mib, code = done.stdout.split()
        assert code == "2", done.stderr
        assert "over 64 MiB uncompressed" in done.stderr and done.stderr.count("\n") == 1
        assert int(peak_mib) < 400  # 200 MiB would have been read (and parsed) whole


def test_column_names_are_escaped_into_task_toml(tmp_path: Path, cache: Path) -> None:
    odd = 'y"] = 1\nx\\'
    train = csv_text(["id", odd], [[str(i), str(i % 3)] for i in range(40)])
    zip_path = kaggle_zip(tmp_path / "q.zip", train, csv_text(["id", odd], [["99", "0"]]))
    task_dir = prepare("quoted", zip_path, tmp_path / "quoted", metric="rmse")
    task = load_task_dir(task_dir)
    assert task.config.validation is not None
    assert task.config.validation.label_column == odd and task.name == "quoted"


def test_mlebench_rule_refuses_a_submission_missing_a_row(tmp_path: Path, cache: Path) -> None:
    """MLE-bench's grader: a submission missing a row is invalid (no score, with the
    reason), and the score is rounded to 5 decimals; --lenient counts it as wrong."""
    zip_path = ship_zip(tmp_path / "spaceship-titanic.zip", n=230)
    strict = load_task_dir(prepare("spaceship-titanic", zip_path, tmp_path / "strict"))
    lenient = load_task_dir(
        prepare("spaceship-titanic", zip_path, tmp_path / "lenient", mlebench_rule=False)
    )
    gold = [[r["PassengerId"], r["Transported"]] for r in read(strict.private_dir / "test.csv")]
    assert len(gold) == 23
    short = tmp_path / "short"
    short.mkdir()
    (short / "submission.csv").write_text(csv_text(["PassengerId", "Transported"], gold[1:]))
    done = evaluate(strict, short)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert (
        "invalid submission (MLE-bench's rule): submission.csv lacks 1 of 23 test ids "
        f"(first: {gold[0][0]})" in done.stderr
    )
    assert "invalid and gets no score" in (strict.public_dir / "task.md").read_text()
    scored = submit(lenient, tmp_path / "lenient-run", ["PassengerId", "Transported"], gold[1:])
    assert scored["summary"]["accuracy"] == pytest.approx(22 / 23)  # not rounded
    full = submit(
        strict,
        tmp_path / "full",
        ["PassengerId", "Transported"],
        gold[:-1] + [[gold[-1][0], "False" if gold[-1][1] == "True" else "True"]],
    )
    assert full["summary"]["accuracy"] == round(22 / 23, 5)
