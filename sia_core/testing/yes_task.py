"""A tiny task for the weights lever, for sia's tests and plugins' tests: every answer is
'yes', which the tiny model built in memory (sia_core.testing.tiny) almost never says
before training."""

from __future__ import annotations

from pathlib import Path

from sia_core.testing.tiny import PROMPTS, tiny_model, tiny_tokenizer

AGENT = """
import argparse, csv, os
from concurrent.futures import ThreadPoolExecutor
from openai import OpenAI
p = argparse.ArgumentParser(); p.add_argument("--dataset_dir"); p.add_argument("--working_dir")
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])
rows = list(csv.DictReader(open(os.path.join(a.dataset_dir, "test.csv"))))

def answer(row):
    reply = client.chat.completions.create(
        model=os.environ["SIA_MODEL"], max_tokens=1, temperature=0,
        messages=[{"role": "user", "content": row["question"]}],
        extra_headers={"X-SIA-Item": row["id"]})
    return [row["id"], reply.choices[0].message.content.strip()]

with ThreadPoolExecutor(16) as pool:
    predictions = list(pool.map(answer, rows))
with open(os.path.join(a.working_dir, "predictions.csv"), "w", newline="") as fh:
    out = csv.writer(fh); out.writerow(["id", "answer"]); out.writerows(predictions)
"""

EVALUATE = """
import argparse, csv, json
from pathlib import Path
p = argparse.ArgumentParser(); p.add_argument("--gen-dir", type=Path); a = p.parse_args()
answers = Path(__file__).resolve().parent.parent / "private" / "answers.csv"
gold = {r["id"]: r["answer"] for r in csv.DictReader(open(answers))}
pred = {r["id"]: r["answer"] for r in csv.DictReader(open(a.gen_dir / "predictions.csv"))}
items = [{"id": i, "status": "correct" if pred.get(i) == g else "incorrect"}
         for i, g in gold.items()]
score = sum(x["status"] == "correct" for x in items) / len(items)
(a.gen_dir / "results.json").write_text(json.dumps({"summary": {"accuracy": score},
                                                     "items": items}))
"""

TOML = """
[limits]
agent_timeout_s = 120
[validation]
source = "train.csv"
inputs = "test.csv"
answers = "answers.csv"
id_column = "id"
label_column = "answer"
fraction = 0.25
[parallel]
outputs = ["predictions.csv"]
"""


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def write_yes_task(root: Path) -> Path:
    """A task whose every answer is 'yes', for the tiny model (which never says it)."""
    questions = [PROMPTS[i % 4] for i in range(48)]
    write_csv(
        root / "data" / "public" / "train.csv",
        "id,question,answer",
        [f"t{i},{q},yes" for i, q in enumerate(questions[:32])],
    )
    write_csv(
        root / "data" / "public" / "test.csv",
        "id,question",
        [f"q{i},{q}" for i, q in enumerate(questions[32:])],
    )
    write_csv(
        root / "data" / "private" / "answers.csv", "id,answer", [f"q{i},yes" for i in range(16)]
    )
    (root / "data" / "public" / "task.md").write_text("Answer every question with yes.\n")
    (root / "data" / "public" / "evaluate.py").write_text(EVALUATE)
    (root / "reference").mkdir()
    (root / "reference" / "reference_target_agent.py").write_text(AGENT)
    (root / "task.toml").write_text(TOML)
    return root


def write_tiny_model(path: Path) -> Path:
    tiny_model(0).save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return path
