"""The agent-session core shared by the coding-agent backends: workspace confinement,
evidence sampling, decision checking and fallback, prompts (snapshots), the driver."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sia_core.agent_session import briefing, decisions, evidence, session, workspace
from sia_core.agent_session.usage import SessionUsage, price
from sia_core.backends.contract import Decision, FeedbackContext, GenerationView, MetaContext
from sia_core.options import option
from sia_core.specs import AlgorithmInfo, ShapeReport
from sia_core.tasks.splits import sample_view
from sia_core.tasks.task import Task, load_task_dir
from tests.conftest import make_task

SNAPSHOTS = Path(__file__).parent / "snapshots"
ALGORITHMS = [
    AlgorithmInfo("grpo", "group-relative policy optimisation", ("binary", "dense"), False),
    AlgorithmInfo("ppo", "PPO with GAE and a value head", ("dense",), True),
]


@pytest.fixture
def task(tmp_path: Path) -> Task:
    return load_task_dir(make_task(tmp_path / "task", train=40, test=20))


def generation(tmp_path: Path, number: int, summary: dict, status: str = "ok") -> GenerationView:
    gen = tmp_path / "run" / f"gen_{number}"
    gen.mkdir(parents=True)
    (gen / "target_agent.py").write_text(f"# harness {number}\n")
    (gen / "generation.json").write_text(json.dumps({"number": number, "summary": summary}))
    (gen / "results.json").write_text(json.dumps({"details": [{"correct_answer": "GOLD-X"}]}))
    execution = {
        "sandbox": {
            "exit_code": 0,
            "duration_s": 1.0,
            "timed_out": False,
            "stdout_tail": "labelled 20",
            "stderr_tail": "",
        },
        "trajectories": [
            {
                "item_id": f"r{i}",
                "status": "correct" if i % 3 else "incorrect",
                "group": "long" if i % 2 else "short",
                "reward": float(i % 3 != 0),
                "calls": [
                    {
                        "request": {"messages": [{"role": "user", "content": f"Review {i}"}]},
                        "response": [{"role": "assistant", "content": "positive"}],
                    }
                ],
            }
            for i in range(12)
        ],
    }
    (gen / "agent_execution.json").write_text(json.dumps(execution))
    decision = {"lever": "harness", "rationale": "first", "algorithm": None}
    return GenerationView(number, gen, status, summary.get("accuracy"), None, decision)


def feedback_ctx(task: Task, tmp_path: Path, weights: bool = False) -> FeedbackContext:
    view = generation(tmp_path, 1, {"accuracy": 0.5, "correct": 10, "answer_key": "GOLD-KEY"})
    out = tmp_path / "run" / "gen_2"
    out.mkdir()
    (out / "target_agent.py").write_text("# harness 1\n")
    report = ShapeReport(
        "binary",
        "rewards are 0 or 1",
        {"n": 12.0, "mean": 0.67},
        ["grpo", "ppo"],
        {"grpo": "suits binary"},
    )
    return FeedbackContext(
        task=task,
        out_dir=out,
        number=2,
        history=[view],
        parent=view,
        reward_report=report,
        algorithms=ALGORITHMS,
        weights_available=weights,
        meta_model="m",
        task_model="openai/x",
    )


def test_confine_keeps_paths_inside_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("s")
    (root / "link").symlink_to(tmp_path / "secret.txt")
    assert workspace.confine(root, "sub/a.py") == (root / "sub" / "a.py").resolve()
    assert workspace.confine(root, str(root / "x")) == (root / "x").resolve()
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "link", "sub/../../secret.txt"):
        with pytest.raises(workspace.OutsideWorkspace, match="outside the workspace"):
            workspace.confine(root, bad)


def test_workspace_has_public_files_only(task: Task, tmp_path: Path) -> None:
    big = task.public_dir / "big.csv"
    big.write_text("id,text\n" + "".join(f"{i},{'x' * 100}\n" for i in range(12_000)))
    root = workspace.meta_workspace(
        MetaContext(task, tmp_path / "out", None, None), tmp_path / "ws"
    )
    names = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {
        "task/task.md",
        "task/train.csv",
        "task/test.csv",
        "reference/reference_target_agent.py",
    } <= names
    assert "task/big.csv.head" in names and "task/big.csv" not in names
    assert not any("private" in n or "answers" in n for n in names)


def test_feedback_workspace_shows_scalar_metrics_and_no_results(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path)
    root = workspace.feedback_workspace(ctx, tmp_path / "ws", {"trajectories.md": "t"})
    text = "".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert "GOLD" not in text  # neither results.json nor a string in the summary
    report = (root / "history" / "gen_1" / "report.md").read_text()
    assert "- correct: 10" in report and "stdout tail" in report
    assert (root / "target_agent.py").read_text() == "# harness 1\n"
    assert "| 1 | ok | 0.5000 | harness |" in (root / "history" / "metrics.md").read_text()


def test_evidence_puts_failures_first_spreads_groups_and_fits_the_budget() -> None:
    trajectories = [
        {
            "item_id": f"i{n}",
            "status": status,
            "group": group,
            "reward": float(status == "correct"),
            "calls": [
                {
                    "request": {"messages": [{"role": "user", "content": "x" * 3000}]},
                    "response": [{"content": "y"}],
                }
            ],
        }
        for n, (status, group) in enumerate(
            [("correct", "a")] * 20
            + [("incorrect", "a")] * 5
            + [("incorrect", "b")] * 5
            + [("missing", "a")] * 2
        )
    ]
    text, chosen = evidence.sample({"trajectories": trajectories}, budget_tokens=2000)
    assert len(text) <= 2000 * evidence.CHARS_PER_TOKEN + 400
    statuses = {t["item_id"]: (t["status"], t["group"]) for t in trajectories}
    first = [statuses[i] for i in chosen[:3]]
    assert all(s != "correct" for s, _ in first)  # failures first
    assert {("incorrect", "a"), ("incorrect", "b"), ("missing", "a")} == set(first)
    assert "characters cut" in text  # long prompts are cut, so several items fit
    assert chosen != sorted(chosen)  # not by name
    assert evidence.sample({}, 100)[1] == []


def test_decision_check_and_fallback(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "target_agent.py").write_text("x")
    cases = {
        "{not json": "not valid JSON",
        '["harness"]': "must be a JSON object",
        '{"lever": "magic"}': "lever must be one of",
        '{"lever": "weights", "algorithm": "dpo"}': "'dpo' is not installed; installed: grpo, ppo",
        '{"lever": "weights", "algorithm": "grpo"}': "weights lever is not available",
    }
    for text, message in cases.items():
        (ws / "decision.json").write_text(text)
        with pytest.raises(decisions.DecisionError, match=message):
            decisions.check(ws, ctx)
    (ws / "decision.json").write_text('{"lever": "harness", "rationale": "r", "source": "me"}')
    good = decisions.check(ws, ctx)
    assert (good.lever, good.source) == ("harness", "backend")
    assert decisions.fallback(ctx, "why").lever == "harness"
    weighted = decisions.fallback(feedback_ctx(task, tmp_path / "w", weights=True), "why")
    assert (weighted.lever, weighted.algorithm, weighted.source) == (
        "weights",
        "grpo",
        "fallback: why",
    )


@dataclass
class ToyConfig:
    beta: float = option(0.1, "strength", min=0.0, max=1.0)


def test_weights_hyperparameters_are_checked_and_sent_back(task: Task, tmp_path: Path) -> None:
    ctx = replace(feedback_ctx(task, tmp_path, weights=True), algorithm_configs={"grpo": ToyConfig})
    ws = tmp_path / "ws"
    ws.mkdir()
    cases = {
        '{"rollout": {"rounds": 2.0}}': "rollout: rounds must be int, got 2.0",
        '{"algorithm": {"betta": 1}}': "grpo has no option 'betta'; known: beta",
        '{"algorithm": {"beta": 5}}': "grpo: beta must be ≤ 1.0, got 5",
        '{"k": 8}': "'k' is neither",
    }
    for hyperparameters, message in cases.items():
        (ws / "decision.json").write_text(
            f'{{"lever": "weights", "algorithm": "grpo", "hyperparameters": {hyperparameters}}}'
        )
        with pytest.raises(decisions.DecisionError, match=re.escape(message)):
            decisions.check(ws, ctx)
    (ws / "decision.json").write_text(
        '{"lever": "weights", "algorithm": "grpo", "hyperparameters": '
        '{"rollout": {"k": 4}, "algorithm": {"beta": 0.5}}}'
    )
    assert decisions.check(ws, ctx).hyperparameters["algorithm"] == {"beta": 0.5}
    algorithms_md = briefing.evidence_files(ctx, 6000)["algorithms.md"]
    assert "beta (float, default 0.1; 0.0 ≤ beta ≤ 1.0): strength" in algorithms_md
    assert "k (int, default 8; 2 ≤ k ≤ 64)" in algorithms_md  # the rollout part
    assert "`ppo`" in algorithms_md and "(no options)" in algorithms_md


def snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("SIA_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.is_file(), f"{path} missing: run with SIA_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"{name} changed: review, then SIA_UPDATE_SNAPSHOTS=1"


def test_prompt_snapshots(task: Task, tmp_path: Path) -> None:
    tools = session.Settings(
        backend="test", model="m", read_tool="Read", write_tool="Write", trial_tool="run_sample"
    )
    meta = MetaContext(task, tmp_path / "out", "haiku", "openai/gpt-4o-mini")
    snapshot("meta_prompt.md", briefing.meta_prompt(meta, tools))
    snapshot("feedback_prompt.md", briefing.feedback_prompt(feedback_ctx(task, tmp_path), tools))
    weights = feedback_ctx(task, tmp_path / "w", weights=True)
    snapshot("feedback_prompt_weights.md", briefing.feedback_prompt(weights, tools))
    snapshot("retry_prompt.md", briefing.retry_prompt("decision.json is not valid JSON (x)"))
    # The third of three candidates is told what the first two chose.
    siblings = [
        Decision(lever="weights", algorithm="grpo", rationale="binary rewards: group baselines"),
        Decision(lever="harness", rationale="few-shot examples from train.csv"),
    ]
    third = dataclasses.replace(
        feedback_ctx(task, tmp_path / "c", weights=True),
        candidate=3,
        candidates=3,
        siblings=siblings,
    )
    snapshot("feedback_prompt_candidate.md", briefing.feedback_prompt(third, tools))


def test_sample_view_cuts_the_item_file_only(tmp_path: Path) -> None:
    public = tmp_path / "task" / "data" / "public"
    public.mkdir(parents=True)
    (public / "questions.json").write_text(json.dumps([{"id": i} for i in range(50)]))
    (public / "train.csv").write_text("id,x\n" + "".join(f"{i},1\n" for i in range(80)))
    (public / "task.md").write_text("# t")
    (public / "evaluate.py").write_text("")
    (tmp_path / "task" / "data" / "private").mkdir()
    view = sample_view(load_task_dir(tmp_path / "task"), tmp_path / "view", 3)
    assert len(json.loads((view / "questions.json").read_text())) == 3
    assert len((view / "train.csv").read_text().splitlines()) == 81


class ScriptedSession:
    """Stands in for an agent runtime: each send runs the next step on the workspace."""

    def __init__(self, spec: session.SessionSpec, steps: list) -> None:
        self.spec, self.steps = spec, steps
        self.usage = SessionUsage(role=spec.role, backend="test", model=spec.model)
        self.prompts: list[str] = []

    def send(self, prompt: str) -> str:
        self.prompts.append(prompt)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        for name, text in step.items():
            (self.spec.workspace / name).write_text(text)
        self.usage.add(100, 10)
        return "done"

    def close(self) -> None:
        pass


def drive(ctx: FeedbackContext, steps: list) -> tuple[object, list[ScriptedSession]]:
    started: list[ScriptedSession] = []

    def start(spec: session.SessionSpec) -> ScriptedSession:
        started.append(ScriptedSession(spec, steps))
        return started[-1]

    settings = session.Settings(backend="test", model="m")
    return session.run_feedback(ctx, start, settings), started


def test_driver_sends_back_once_then_falls_back(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path, weights=True)
    bad = {
        "decision.json": '{"lever": "weights", "algorithm": "dpo"}',
        "target_agent.py": "# new harness",
    }
    decision, started = drive(ctx, [bad, bad])
    assert decision.source.startswith("fallback: decision.json failed twice")
    assert (decision.lever, decision.algorithm) == ("weights", "grpo")
    assert "algorithm 'dpo' is not installed" in started[0].prompts[1]
    assert (ctx.out_dir / "target_agent.py").read_text() == "# harness 1\n"  # parent's kept
    usage = json.loads((ctx.out_dir / "agent_session.json").read_text())
    assert usage[0]["input_tokens"] == 200 and usage[0]["cost_usd"] == "unknown"
    assert not (ctx.out_dir / ".agent_workspace").exists()


def test_driver_takes_a_fixed_decision_and_the_new_harness(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path)
    first = {"decision.json": "{oops", "target_agent.py": "# new harness"}
    fixed = {
        "decision.json": '{"lever": "harness", "rationale": "better prompt"}',
        "improvement.md": "changed the prompt",
    }
    decision, _ = drive(ctx, [first, fixed])
    assert (decision.source, decision.rationale) == ("backend: test", "better prompt")
    assert (ctx.out_dir / "target_agent.py").read_text() == "# new harness"
    assert (ctx.out_dir / "improvement.md").read_text() == "changed the prompt"
    assert (ctx.out_dir / "feedback_evidence" / "trajectories.md").is_file()


def test_driver_weights_decision_keeps_the_parent_harness(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path, weights=True)
    step = {
        "decision.json": '{"lever": "weights", "algorithm": "grpo", "rationale": "r"}',
        "target_agent.py": "# ignored",
        "improvement.md": "train it",
    }
    decision, _ = drive(ctx, [step])
    assert (decision.lever, decision.algorithm, decision.source) == (
        "weights",
        "grpo",
        "backend: test",
    )
    assert (ctx.out_dir / "target_agent.py").read_text() == "# harness 1\n"
    assert (ctx.out_dir / "improvement.md").read_text() == "train it"


def test_driver_uses_what_was_written_before_a_cap(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path)
    decision, started = drive(ctx, [session.SessionLimit("turn cap of 40 reached")])
    assert (
        decision.source
        == "fallback: turn cap of 40 reached; no decision.json was written in the working directory"
    )
    assert len(started[0].prompts) == 1  # a capped agent is not sent back


def test_provider_failure_fails_the_generation(task: Task, tmp_path: Path) -> None:
    ctx = feedback_ctx(task, tmp_path)
    with pytest.raises(session.ProviderFailure):
        drive(ctx, [session.ProviderFailure("HTTP 500")])
    assert (ctx.out_dir / "agent_session.json").is_file()  # its usage is still recorded


def test_price_from_litellm_or_unknown() -> None:
    assert price("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15, rel=0.5)
    assert price("openai/fake-coder", 1000, 1000) is None


UNTAGGED_HARNESS = """\
import argparse, csv, os
from pathlib import Path
from openai import OpenAI
p = argparse.ArgumentParser()
p.add_argument("--dataset_dir", type=Path)
p.add_argument("--working_dir", type=Path)
a = p.parse_args()
client = OpenAI(base_url=os.environ["SIA_BASE_URL"], api_key=os.environ["SIA_API_KEY"])
rows = list(csv.DictReader((a.dataset_dir / "test.csv").open()))
with (a.working_dir / "predictions.csv").open("w") as fh:
    fh.write("id,label\\n")
    for row in rows:
        reply = client.chat.completions.create(
            model=os.environ["SIA_MODEL"], messages=[{"role": "user", "content": row["text"]}])
        fh.write(row["id"] + "," + reply.choices[0].message.content.strip() + "\\n")
"""


@pytest.mark.parametrize("validation", [True, False])
def test_trial_runs_a_harness_on_a_few_items(
    tmp_path: Path, validation: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sia_core.execution.trials import TrialRunner
    from sia_core.loop.generation_loop import Loop, RunConfig
    from sia_core.tasks.splits import selection_view
    from sia_core.testing.fakes import FakeOpenAI

    task_dir = make_task(tmp_path / "task", train=40, test=20, validation=validation)
    harness = tmp_path / "target_agent.py"
    harness.write_text(UNTAGGED_HARNESS)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    with FakeOpenAI(reply=lambda messages: "positive") as provider:
        loop = Loop(
            RunConfig(
                task_dir=str(task_dir),
                backend="scripted",
                task_model="openai/fake",
                task_model_base=provider.url,
                runs_dir=str(tmp_path / "runs"),
            ),
        )
        usage: dict = {}
        selection = selection_view(loop.task, tmp_path / "views")
        runner = TrialRunner(loop.executor, selection, 1, tmp_path, usage)
        report = runner.run(tmp_path / "trial", harness, 3)
    assert report.ok and report.items == 3 and report.calls == 3
    assert report.files == ["predictions.csv"]
    assert "3 model call(s) carried no item id" in report.note
    if validation:
        assert report.score is not None and sum(report.statuses.values()) == 3
        assert "accuracy on these items" in report.as_text("accuracy")
    else:
        assert report.score is None and "not scored" in report.note
    assert not (tmp_path / "trial" / "view").exists()  # the data copy is not kept
    assert usage["trials"]["calls"] == 3
