"""The contract checks of a Meta-/Feedback-Agent backend: a scripted coding agent (what
it does at each step, independent of the wire format), a task whose evaluator writes
gold answers (which no prompt may carry), a fake task model for its harnesses, and the
checks a backend's run must pass. A backend plugin serves the scripted steps through its
own wire format (see plugins/sia_backend_claude/tests for the Anthropic one)."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sia_core.run_layout import gen_dir, read_record

GOLD_MARK = "GOLD-ANSWER-"

HARNESS = '''\
#!/usr/bin/env python3
"""Harness version {version}: one call per review through the gateway."""
import argparse, csv, os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from openai import OpenAI

parser = argparse.ArgumentParser()
parser.add_argument("--dataset_dir", type=Path, required=True)
parser.add_argument("--working_dir", type=Path, required=True)
args = parser.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])
PROMPT = {prompt!r}

def label(row):
    reply = client.chat.completions.create(
        model=os.environ["SIA_MODEL"],
        messages=[{{"role": "user", "content": PROMPT + row["text"]}}],
        extra_headers={{"X-SIA-Item": row["id"]}},
    )
    return [row["id"], (reply.choices[0].message.content or "").strip()]

with (args.dataset_dir / "test.csv").open(newline="") as fh:
    rows = list(csv.DictReader(fh))
with ThreadPoolExecutor(8) as pool:
    predictions = list(pool.map(label, rows))
with (args.working_dir / "predictions.csv").open("w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["id", "label"])
    writer.writerows(predictions)
print("version {version}: labelled", len(predictions))
'''
PROMPTS = {
    1: "Review: ",
    2: "Answer with one word. Review: ",
    3: "Answer with one word, positive or negative. Review: ",
}
POSITIVE = {"love", "perfect", "great", "excellent", "good", "happy", "fast", "works"}


def harness(version: int) -> str:
    return HARNESS.format(version=version, prompt=PROMPTS[version])


def task_model_reply(messages: list[dict[str, Any]]) -> str:
    """The fake task model: reads words only when asked for one word."""
    text = str(messages[-1].get("content", ""))
    if not text.startswith("Answer with one word"):
        return "positive"
    words = set(re.findall(r"[a-z]+", text.split("Review:")[-1].lower()))
    return "positive" if words & POSITIVE else "negative"


GOLD_EVALUATOR = '''\
#!/usr/bin/env python3
"""Scores like the original SIA evaluators: gold answers next to every item."""
import argparse, csv, json
from pathlib import Path

ANSWERS = Path(__file__).resolve().parent.parent / "private" / "answers.csv"
parser = argparse.ArgumentParser()
parser.add_argument("--gen-dir", type=Path, required=True)
args = parser.parse_args()
with ANSWERS.open(newline="") as fh:
    gold = {r["id"]: r["label"] for r in csv.DictReader(fh)}
path = args.gen_dir / "predictions.csv"
if not path.is_file():
    raise SystemExit("no predictions.csv")
with path.open(newline="") as fh:
    guess = {r["id"]: r["label"] for r in csv.DictReader(fh)}
details = [
    {"id": i, "status": "correct" if guess.get(i) == g else "incorrect",
     "correct_answer": "GOLD-ANSWER-" + g, "expected": "GOLD-ANSWER-" + i}
    for i, g in gold.items()
]
correct = sum(d["status"] == "correct" for d in details)
json.dump({"accuracy": correct / len(details), "answer_key": "GOLD-ANSWER-KEY",
           "details": details}, (args.gen_dir / "results.json").open("w"))
'''


TASK_TOML = """\
[task]
name = "gold-reviews"
[limits]
agent_timeout_s = 60
[validation]
source = "train.csv"
inputs = "test.csv"
answers = "answers.csv"
id_column = "id"
label_column = "label"
fraction = 0.2
"""
NEGATIVE = ["broken", "awful", "hate", "flimsy", "slow", "refund", "noisy", "useless"]
NEUTRAL = ["the", "it", "arrived", "box", "color", "size", "price", "lamp", "after", "week"]


def _csv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(row) + "\n" for row in rows))


def gold_task(dest: Path, train: int = 80, test: int = 30, seed: int = 7) -> Path:
    """A review-labelling task written from code (no files outside this module), whose
    evaluator writes gold answers next to every item, as the original SIA's do."""
    rng = random.Random(seed)
    labels = ["positive"] * 6 + ["negative"] * 4
    rows = [(f"r{i:04d}", rng.choice(labels)) for i in range(train + test)]

    def review(label: str) -> str:
        cue = sorted(POSITIVE) if label == "positive" else NEGATIVE
        words = rng.sample(NEUTRAL, 5) + rng.sample(cue, 2)
        rng.shuffle(words)
        return " ".join(words)

    texts = {i: review(y) for i, y in rows}
    public, private = dest / "data" / "public", dest / "data" / "private"
    _csv(
        public / "train.csv",
        [["id", "text", "label"], *[[i, texts[i], y] for i, y in rows[:train]]],
    )
    _csv(public / "test.csv", [["id", "text"], *[[i, texts[i]] for i, _ in rows[train:]]])
    _csv(private / "answers.csv", [["id", "label"], *[[i, y] for i, y in rows[train:]]])
    (public / "task.md").write_text(
        "Label each review in test.csv positive or negative; write predictions.csv with "
        "columns id,label. train.csv holds labelled examples. Call the task model through "
        "SIA_BASE_URL.\n"
    )
    (public / "evaluate.py").write_text(GOLD_EVALUATOR)
    (dest / "reference").mkdir(parents=True, exist_ok=True)
    (dest / "reference" / "reference_target_agent.py").write_text(harness(1))
    (dest / "task.toml").write_text(TASK_TOML)
    return dest


@dataclass(frozen=True)
class Step:
    kind: str  # read | write | trial | text | read_outside | list_outside
    path: str = ""
    content: str = ""


def decision(lever: str = "harness", algorithm: str | None = None, why: str = "") -> str:
    return json.dumps(
        {"lever": lever, "algorithm": algorithm, "hyperparameters": {}, "rationale": why or lever}
    )


def happy_script(role: str, generation: int, retries: int) -> list[Step]:
    """Meta: read, write v1, trial. Feedback: read evidence, write vN, trial, decide."""
    if role == "meta":
        return [
            Step("read", "task/task.md"),
            Step("read_outside", "../../../data/private/answers.csv"),
            Step("list_outside", "/etc"),
            Step("write", "target_agent.py", harness(1)),
            Step("trial"),
            Step("text", content="Version 1 asks the model about each review."),
        ]
    steps = [
        Step("read", "evidence/trajectories.md"),
        Step("write", "target_agent.py", harness(min(generation, 3))),
        Step("write", "improvement.md", f"Version {generation}: a stricter prompt."),
        Step("trial"),
        Step("write", "decision.json", decision(why=f"generation {generation}")),
    ]
    return steps + [Step("text", content="Decided.")]


def unknown_algorithm_script(role: str, generation: int, retries: int) -> list[Step]:
    """Gen 2 names an unknown algorithm, then fixes it; gen 3 names it twice."""
    if role == "meta":
        return happy_script(role, generation, retries)
    bad = Step("write", "decision.json", decision("weights", "dpo-magic", "train it"))
    fixed = Step("write", "decision.json", decision(why="fixed after the error"))
    if retries == 0:
        return [Step("write", "target_agent.py", harness(2)), bad, Step("text", content="Done.")]
    if generation == 2:
        return [fixed, Step("text", content="Fixed.")]
    return [bad, Step("text", content="Still that.")]


def role_of(conversation: str) -> tuple[str, int, int]:
    """(role, generation, retries so far) from the text of a whole conversation."""
    if "You are the Meta-Agent" in conversation:
        role, generation = "meta", 1
    else:
        found = re.search(r"You are producing generation (\d+)", conversation)
        role, generation = "feedback", int(found.group(1)) if found else 0
    retries = conversation.count("Your decision.json could not be used")
    return role, generation, retries


def workspace_of(conversation: str) -> str:
    found = re.search(r"(/[^\s\"'`]*?\.agent_workspace)", conversation)
    return found.group(1) if found else ""


PROMPT_MARKERS = ("-Agent of sia", "Your decision.json could not be used", "is not in your working")
Script = Callable[[str, int, int], list[Step]]


def _tool_results(message: dict[str, Any]) -> int:
    if message.get("role") == "tool":  # OpenAI chat completions
        return 1
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def next_step(script: Script, messages: list[dict[str, Any]]) -> Step | None:
    """The scripted agent's next step in this conversation (either wire format), counting
    tool results since the engine's last prompt; None for a request that is not the
    agent's conversation (an agent runtime's side request)."""
    conversation = json.dumps(messages, ensure_ascii=False)
    if "-Agent of sia" not in conversation:
        return None
    role, generation, retries = role_of(conversation)
    last = 0
    for index, message in enumerate(messages):
        text = json.dumps(message.get("content"), ensure_ascii=False)
        if message.get("role") == "user" and any(m in text for m in PROMPT_MARKERS):
            last = index
    done = sum(_tool_results(m) for m in messages[last:])
    steps = script(role, generation, retries)
    return steps[done] if done < len(steps) else Step("text", content="Done.")


# --- what every coding-agent backend must show, checked the same way for each ----------


def check_three_generations(run: Path, backend: str, sent: str) -> dict[str, Any]:
    """After `happy_script` over three generations; `sent` is every request the agent's
    provider received. Returns run.json for the backend's own checks."""
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished"
    assert [g["status"] for g in record["generations"]] == ["ok", "ok", "ok"]
    code = [(gen_dir(run, n) / "target_agent.py").read_text() for n in (1, 2, 3)]
    assert "version 1" in code[0] and "version 2" in code[1] and "version 3" in code[2]
    scores = [g["score"] for g in record["generations"]]
    assert scores[1] > scores[0]  # the stricter prompt makes the fake model read the words
    for n in (2, 3):
        decision = json.loads((gen_dir(run, n) / "decision.json").read_text())
        assert decision["source"] == f"backend: {backend}" and decision["lever"] == "harness"
        assert (gen_dir(run, n) / "improvement.md").read_text().startswith(f"Version {n}")
        assert (gen_dir(run, n) / "feedback_evidence" / "trajectories.md").is_file()
    # The agent's trial ran through the sandbox and the gateway, on training items.
    trial_calls = (gen_dir(run, 1) / "trials" / "trial_1" / "out" / "calls.jsonl").read_text()
    assert len(trial_calls.splitlines()) == 3 and '"item_id": "r0' in trial_calls
    first = read_record(gen_dir(run, 1)) or {}
    assert first["usage"]["trials"]["calls"] == 3
    assert "ran on 3 items: ok" in sent and "accuracy on these items" in sent
    assert "### item" in sent  # it read the trajectory sample
    assert GOLD_MARK not in sent  # the evaluator's gold answers reached no prompt
    sessions = record["agent_sessions"]
    assert [s["role"] for s in sessions] == ["meta", "feedback", "feedback"]
    assert all(s["input_tokens"] > 0 for s in sessions)
    assert record["agent_usage"]["sessions"] == 3
    assert (gen_dir(run, 2) / "feedback_agent_transcript.jsonl").stat().st_size > 0
    assert not list(run.rglob(".agent_workspace"))
    return record


def check_unknown_algorithm(run: Path, backend: str, sent: str) -> None:
    """After `unknown_algorithm_script`: gen 2 recovers on the send-back, gen 3 falls back."""
    assert sent.count("algorithm 'dpo-magic' is not installed; installed:") >= 2
    recovered = json.loads((gen_dir(run, 2) / "decision.json").read_text())
    assert recovered["source"] == f"backend: {backend}"
    assert recovered["rationale"] == "fixed after the error"
    fell_back = json.loads((gen_dir(run, 3) / "decision.json").read_text())
    assert fell_back["source"].startswith("fallback: decision.json failed twice")
    assert "dpo-magic" in fell_back["source"] and fell_back["lever"] == "harness"


def check_failed_generations(run: Path, status: str = "500") -> None:
    """After a provider that always fails: failed generations, a finished run."""
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "finished"
    assert [g["status"] for g in record["generations"]] == ["failed", "failed"]
    assert status in record["generations"][0]["error"]
