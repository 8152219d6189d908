"""A scripted coding agent for backend tests: what it does at each step, independent of
the wire format, plus a task whose evaluator writes gold answers (which no prompt may
carry) and a fake task model for its harnesses."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import make_task

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


def gold_task(dest: Path) -> Path:
    """The review-sentiment example with an evaluator that writes gold answers."""
    task = make_task(dest, train=80, test=30)
    (task / "data" / "public" / "evaluate.py").write_text(GOLD_EVALUATOR)
    toml = task / "task.toml"
    toml.write_text(toml.read_text().replace("agent_timeout_s = 120", "agent_timeout_s = 60"))
    return task


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
