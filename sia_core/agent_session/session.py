"""Driving one Meta-Agent or Feedback-Agent session: the part both coding-agent backends
share. A backend supplies `start`, which opens a conversation (its agent loop, tools and
provider) in a workspace; this module prepares the workspace, sends the prompts, checks
the decision (sending it back once with the error), falls back when it must, copies the
agent's files into the generation and records the session's usage."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sia_core.agent_session import briefing, decisions, workspace
from sia_core.agent_session.settings import Settings
from sia_core.agent_session.usage import SessionUsage
from sia_core.backends.contract import Decision, FeedbackContext, MetaContext, Trial
from sia_core.errors import SiaError
from sia_core.run_layout import write_agent_sessions


class SessionLimit(SiaError):
    """The agent hit its turn or wall-clock cap: what it wrote so far is still used."""


class ProviderFailure(SiaError):
    """The model provider kept failing after the retries: the generation fails."""


@dataclass(frozen=True)
class SessionSpec:
    role: str
    workspace: Path
    model: str
    trial: Trial | None
    metric: str
    max_turns: int
    timeout_s: float
    trial_items: int
    transcript: Path
    """JSON lines of the conversation, kept with the generation."""


class AgentSession(Protocol):
    usage: SessionUsage

    def send(self, prompt: str) -> str:
        """Run the agent on `prompt` until it ends its turn; return its last text.
        Raises SessionLimit or ProviderFailure."""
        ...

    def close(self) -> None: ...


Start = Callable[[SessionSpec], AgentSession]


def _spec(
    settings: Settings, role: str, root: Path, out_dir: Path, trial: Trial | None, metric: str
) -> SessionSpec:
    return SessionSpec(
        role=role,
        workspace=root,
        model=settings.model,
        trial=trial,
        metric=metric,
        max_turns=settings.max_turns,
        timeout_s=settings.timeout_s,
        trial_items=settings.trial_items,
        transcript=out_dir / f"{role}_agent_transcript.jsonl",
    )


def _send(session: AgentSession, prompt: str) -> tuple[str, str | None]:
    session.usage.attempts.append(prompt.splitlines()[0][:200])
    try:
        return session.send(prompt), None
    except SessionLimit as exc:
        return "", str(exc)


def _finish(out_dir: Path, root: Path, session: AgentSession | None, started: float) -> None:
    if session is not None:
        session.usage.duration_s = round(time.monotonic() - started, 3)
        write_agent_sessions(out_dir, [session.usage.as_dict()])
        session.close()
    shutil.rmtree(root, ignore_errors=True)


def run_meta(ctx: MetaContext, start: Start, settings: Settings) -> Decision:
    root = workspace.meta_workspace(ctx, ctx.out_dir / ".agent_workspace")
    started, session = time.monotonic(), None
    try:
        session = start(
            _spec(settings, "meta", root, ctx.out_dir, ctx.trial, ctx.task.config.metric)
        )
        reply, limit = _send(session, briefing.meta_prompt(ctx, settings))
        if not (root / "target_agent.py").is_file() and limit is None:
            reply, limit = _send(
                session, "target_agent.py is not in your working directory yet. Write it now."
            )
        if not (root / "target_agent.py").is_file():
            raise SiaError(
                "the Meta-Agent wrote no target_agent.py" + (f" ({limit})" if limit else "")
            )
        workspace.collect(root, ctx.out_dir, workspace.HARNESS_FILES)
        summary = " ".join(reply.split())[:600] or "written by the Meta-Agent"
        return Decision(lever="harness", rationale=summary, source=f"backend: {settings.backend}")
    finally:
        _finish(ctx.out_dir, root, session, started)


def run_feedback(ctx: FeedbackContext, start: Start, settings: Settings) -> Decision:
    evidence = briefing.evidence_files(ctx, settings.evidence_tokens)
    root = workspace.feedback_workspace(ctx, ctx.out_dir / ".agent_workspace", evidence)
    started, session = time.monotonic(), None
    try:
        session = start(
            _spec(settings, "feedback", root, ctx.out_dir, ctx.trial, ctx.task.config.metric)
        )
        _, limit = _send(session, briefing.feedback_prompt(ctx, settings))
        try:
            decision = decisions.check(root, ctx)
        except decisions.DecisionError as first:
            if limit is not None:
                decision = decisions.fallback(ctx, f"{limit}; {first}")
            else:
                _, limit = _send(session, briefing.retry_prompt(str(first)))
                try:
                    decision = decisions.check(root, ctx)
                except decisions.DecisionError as second:
                    decision = decisions.fallback(ctx, f"decision.json failed twice: {second}")
        fell_back = decision.source.startswith("fallback")
        if fell_back or decision.lever == "weights":
            workspace.collect(root, ctx.out_dir, ("improvement.md",))  # the parent's harness
        else:
            workspace.collect(root, ctx.out_dir, workspace.HARNESS_FILES)
        if not fell_back:
            decision.source = f"backend: {settings.backend}"
        # What the agent was shown, kept with the generation for audit.
        shown = ctx.out_dir / "feedback_evidence"
        shown.mkdir(exist_ok=True)
        for name, text in evidence.items():
            (shown / name).write_text(text, encoding="utf-8")
        return decision
    finally:
        _finish(ctx.out_dir, root, session, started)
