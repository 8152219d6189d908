"""One self-contained HTML page for a run: charts inline as SVG, no script, no outside
resource. Everything an agent wrote (code, trajectories, logs) is escaped, and the page's
Content-Security-Policy forbids scripts, so hostile output shows as text and nothing else.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sia_core.generation_record import GenerationRecord, ModelCalls
from sia_core.loop.run_dir import held_out
from sia_core.report import charts
from sia_core.report.run_view import GenerationView, RunView, Trajectory, full_reward
from sia_core.report.tables import cost_text
from sia_core.run_layout import gen_name

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
MAX_CELL = 1500
"""Characters of one message or response shown in a trajectory sample."""
LINKED_FILES = (
    "target_agent.py",
    "improvement.md",
    "decision.json",
    "feedback_context.json",
    "results.json",
    "agent_execution.json",
    "calls.jsonl",
    "adapter/training.json",
    "target_agent_stdout.log",
    "target_agent_stderr.log",
    "evaluation.log",
)

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 60px;
color:#1d1d1f}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px
solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.sub{color:#555}.banner{padding:8px 12px;border-radius:6px;margin:10px 0;background:#eef4ff}
.banner.warn{background:#fff4e5}.banner.bad{background:#fdecea}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid #ddd;
border-radius:8px;padding:8px 14px;min-width:150px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}td,th{border:1px solid #ddd;
padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f7}
tr.incumbent td{background:#f0f9f0}tr.failed td{color:#a61b1b}
figure.chart{margin:8px 0}figure.chart svg{max-width:100%;height:auto}
figcaption{font-size:12px;color:#555}.row{display:flex;gap:16px;flex-wrap:wrap;
align-items:flex-start}
pre{background:#f7f7f9;border:1px solid #e3e3e8;border-radius:6px;padding:8px;overflow:auto;
max-height:420px;font-size:12px;white-space:pre-wrap;word-break:break-word}
pre.diff .add{color:#116329;background:#e6ffec}pre.diff .del{color:#82071e;background:#ffebe9}
pre.diff .hunk{color:#6f42c1}details{margin:6px 0}summary{cursor:pointer;font-weight:600}
.traj{border-left:3px solid #d62728;padding-left:8px;margin:8px 0}.traj.ok{border-color:#2ca02c}
.files a{margin-right:10px}.muted{color:#777}
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:.{digits}f}"


def _cut(text: Any, limit: int = MAX_CELL) -> str:
    text = "" if text is None else text if isinstance(text, str) else json.dumps(text)
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more]"


def _figure(svg: str | None, name: str, caption: str) -> str:
    if svg is None:
        return ""
    return (
        f'<figure class="chart" data-chart="{e(name)}">{svg}'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def _table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _knob_trials(view: RunView) -> str:
    """The offline harness lever's search: every trial, its setting and its score."""
    if not view.knob_trials:
        return ""
    rows = [
        [
            str(t["trial"]),
            e(t["study"]),
            "-" if t["gen"] is None else str(t["gen"]),
            e(t["how"]),
            e(t["state"]),
            _num(t["score"]),
            e(_cut(", ".join(f"{k}={json.dumps(v)}" for k, v in (t["values"] or {}).items()))),
        ]
        for t in view.knob_trials
    ]
    header = ["trial", "study", "gen", "how", "state", "selection", "knob values"]
    return f"<h2>Knob trials</h2>{_table(header, rows)}"


def _status_banner(view: RunView) -> str:
    status = view.state.get("status", "?")
    if view.live:
        making = f"; generation {view.in_progress} in progress" if view.in_progress else ""
        note = "(this page shows every whole generation)"
        return f'<div class="banner">running{e(making)} {note}</div>'
    if status == "running":
        return (
            '<div class="banner warn">interrupted: run.json says running but its process is '
            "gone; <code>sia run --resume</code> goes on from the last whole generation</div>"
        )
    reason = view.state.get("stop_reason")
    cls = "banner bad" if status == "failed" else "banner"
    return f'<div class="{cls}">{e(status)}{e(f" ({reason})") if reason else ""}</div>'


def _cards(view: RunView) -> str:
    task = view.state.get("task", {})
    metric = task.get("metric", "score")
    best = view.state.get("best") or {}
    held = "held-out test" if held_out(task) else "test (also selects)"
    tokens = view.state.get("tokens") or {}
    agent = view.state.get("agent_usage") or {}
    cost = (
        "local model"
        if (view.state.get("task_model") or {}).get("local")
        else f"${float(view.state.get('cost_usd') or 0.0):.4f}"
    )
    cards = [
        ("incumbent", f"gen {best['generation']}" if best else "none yet"),
        (f"selection {metric}", _num(best.get("selection_score"))),
        (f"{held} {metric}", _num(best.get("test_score"))),
        ("generations", str(len(view.generations))),
        ("task-model tokens", f"{tokens.get('prompt', 0) + tokens.get('completion', 0):,}"),
        ("task-model cost", cost),
    ]
    calls = ModelCalls.summed(p for g in view.generations for p in g.record.usage.values())
    if calls.failed:
        total = calls.failed + calls.served
        cards.append(("task-model calls failed", f"{calls.failed} of {total}"))
    if agent.get("sessions"):
        cards.append(
            (
                "agent sessions",
                f"{agent['sessions']} · ${float(agent.get('cost_usd') or 0.0):.4f}"
                + (" + unknown" if agent.get("sessions_without_price") else ""),
            )
        )
    return (
        '<div class="cards">'
        + "".join(f'<div class="card">{e(k)}<b>{e(v)}</b></div>' for k, v in cards)
        + "</div>"
    )


def _failed_calls(r: GenerationRecord) -> str | None:
    """The failed-calls line of a generation whose error does not already say it."""
    text = r.model_calls().text()
    return text if text and "model calls failed" not in (r.error or "") else None


def _generations_table(view: RunView) -> str:
    rows, classes = [], []
    for g in view.generations:
        r = g.record
        lever = (r.lever or "-") + (f" ({r.algorithm})" if r.algorithm else "")
        note = r.error or _failed_calls(r) or (r.decision or {}).get("rationale", "")
        keep = r.keep or {}
        versus = "-"
        if keep.get("difference") is not None:
            interval = keep.get("interval") or []
            versus = f"{keep['difference']:+.4f}" + (
                f" [{interval[0]:+.3f}, {interval[1]:+.3f}]" if len(interval) == 2 else ""
            )
        rows.append(
            [
                f'<a href="#gen-{r.number}">{r.number}</a>',
                e(r.status),
                e(lever),
                e(g.parent if g.parent is not None else "-"),
                _num(r.score),
                _num(r.test_score),
                e(versus),
                "yes" if r.incumbent else "",
                f"{r.totals().tokens:,}",
                e(cost_text(view.state, r.totals())),
                e(_cut(note, 160)),
            ]
        )
        classes.append("incumbent" if r.incumbent else "failed" if r.status != "ok" else "")
    header = ["gen", "status", "lever", "parent", "selection", "test", "vs incumbent [95%]"]
    header += ["incumbent", "tokens"]
    return _table([*header, "cost $", "why / error"], rows, classes)


def _groups_section(view: RunView) -> str:
    if not view.has_groups:
        return ""
    names = sorted({n for g in view.generations for n in g.groups})
    rows = []
    for name in names:
        cells = [e(name)]
        for g in view.generations:
            mean, count = g.groups.get(name, (None, 0))
            cells.append(f"{_num(mean, 3)} <span class=muted>({count})</span>" if count else "-")
        rows.append(cells)
    header = ["group"] + [f"gen {g.number}" for g in view.generations]
    chart = _figure(charts.groups(view), "groups", "mean selection reward per item group")
    return f"<h2>By group</h2>{chart}{_table(header, rows)}"


def _sessions_table(view: RunView) -> str:
    rows = []
    for g in view.generations:
        for s in g.record.agent_sessions or []:
            if not isinstance(s, dict):
                continue
            cost = s.get("cost_usd")
            rows.append(
                [
                    str(g.number),
                    e(s.get("role")),
                    e(s.get("backend")),
                    e(s.get("model")),
                    e(s.get("turns")),
                    e(s.get("input_tokens")),
                    e(s.get("output_tokens")),
                    e(f"${cost:.4f}" if isinstance(cost, (int, float)) else cost),
                    e(_num(s.get("duration_s"), 1)),
                ]
            )
    if not rows:
        return "<p class=muted>No agent sessions: this run's backend used no coding agent.</p>"
    header = ["gen", "role", "backend", "model", "turns", "input", "output", "cost", "seconds"]
    return "<h3>Agent sessions</h3>" + _table(header, rows)


def _files(g: GenerationView, link_base: str | None) -> str:
    if link_base is None:
        return ""
    links = [
        f'<a href="{e(link_base + quote(f"{gen_name(g.number)}/{name}"))}">{e(name)}</a>'
        for name in LINKED_FILES
        if (g.dir / name).is_file() and not (g.dir / name).is_symlink()
    ]
    return f"<p class=files>files: {' '.join(links)}</p>" if links else ""


def _diff(g: GenerationView) -> str:
    if g.diff_against is None:
        return ""
    if not g.diff:
        return f"<p class=muted>Harness unchanged from generation {g.diff_against}.</p>"
    lines = []
    for line in g.diff:
        cls = (
            "add"
            if line.startswith("+") and not line.startswith("+++")
            else "del"
            if line.startswith("-") and not line.startswith("---")
            else "hunk"
            if line.startswith("@@")
            else ""
        )
        lines.append(f'<span class="{cls}">{e(line)}</span>' if cls else e(line))
    added = sum(1 for x in g.diff if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in g.diff if x.startswith("-") and not x.startswith("---"))
    return (
        f"<details><summary>harness diff against generation {g.diff_against} "
        f"(+{added} −{removed})</summary><pre class=diff>{chr(10).join(lines)}</pre></details>"
    )


def _candidates(g: GenerationView) -> str:
    listed = g.record.candidates or []
    if not listed:
        return ""
    rows = []
    for c in listed:
        lever = (c.get("lever") or "-") + (f" ({c['algorithm']})" if c.get("algorithm") else "")
        rows.append(
            [
                e(c.get("candidate"))
                + (" ← chosen" if c.get("candidate") == g.record.candidate else ""),
                e(c.get("status")),
                e(lever),
                _num(c.get("score")),
                e(c.get("tokens")),
                e(_cut(c.get("error") or "", 160)),
            ]
        )
    keep = g.record.keep or {}
    verdict = f"<p>keep rule: {e(keep.get('reason'))}</p>" if keep.get("reason") else ""
    header = ["candidate", "status", "lever", "selection", "tokens", "error"]
    return f"<h3>Candidates</h3>{_table(header, rows)}{verdict}"


def _decision(g: GenerationView) -> str:
    d = g.record.decision
    if not isinstance(d, dict):
        return ""
    parts = [
        f"<p><b>decision</b>: {e(d.get('lever'))}"
        + (f" · algorithm <b>{e(d.get('algorithm'))}</b>" if d.get("algorithm") else "")
        + (f" · <span class=muted>{e(d.get('source'))}</span>" if d.get("source") else "")
        + "</p>",
        f"<p>{e(d.get('rationale'))}</p>" if d.get("rationale") else "",
    ]
    if d.get("hyperparameters"):
        parts.append(f"<pre>{e(json.dumps(d['hyperparameters'], indent=1))}</pre>")
    return "".join(parts)


def _shape(g: GenerationView) -> str:
    shape = g.chose_from
    if not shape or g.record.lever != "weights":
        return ""
    stats = shape.get("stats") if isinstance(shape.get("stats"), dict) else {}
    ranking = shape.get("ranking") if isinstance(shape.get("ranking"), list) else []
    reasons = shape.get("reasons") if isinstance(shape.get("reasons"), dict) else {}
    rank_rows = [[str(i), e(name), e(reasons.get(name, ""))] for i, name in enumerate(ranking, 1)]
    stat_rows = [[e(k), e(v)] for k, v in stats.items()]
    chart = _figure(
        charts.rewards(g.parent_rewards, f"gen {g.parent} selection rewards"),
        "rewards",
        "the rewards the algorithm was chosen from",
    )
    return (
        f"<h3>Reward shape: {e(shape.get('label'))}</h3><p>{e(shape.get('explanation'))}</p>"
        f'<div class="row">{chart}<div>{_table(["stat", "value"], stat_rows)}</div>'
        f"<div>{_table(['rank', 'algorithm', 'why'], rank_rows)}</div></div>"
    )


def _training(g: GenerationView) -> str:
    t = g.record.training
    if not isinstance(t, dict):
        return ""
    chart = _figure(charts.training(t), "training", "per training round (training.json)")
    config = {k: t.get(k) for k in ("algorithm", "plan", "config", "started_from_gen")}
    return (
        f"<h3>Training</h3>{chart}<details><summary>configuration</summary>"
        f"<pre>{e(json.dumps(config, indent=1))}</pre></details>"
    )


def _sandbox(g: GenerationView) -> str:
    s = g.sandbox or g.record.agent or {}
    if not s:
        return ""
    facts = (
        f"exit {e(s.get('exit_code'))} · {_num(s.get('duration_s'), 1)} s"
        + (" · timed out" if s.get("timed_out") else "")
        + (f" · violation: {e(s.get('violation'))}" if s.get("violation") else "")
    )
    isolation = "".join(f"<li>{e(x)}</li>" for x in s.get("isolation") or [])
    dropped = s.get("dropped_outputs") or []
    tail = s.get("stderr_tail") or ""
    return (
        f"<details><summary>sandbox: {facts}</summary><ul>{isolation}</ul>"
        + (f"<p>dropped outputs: {e(', '.join(map(str, dropped)))}</p>" if dropped else "")
        + (f"<p>stderr (tail)</p><pre>{e(_cut(tail, 4000))}</pre>" if tail else "")
        + "</details>"
    )


def _message_text(call: dict[str, Any]) -> tuple[str, str]:
    request = call.get("request") if isinstance(call.get("request"), dict) else {}
    messages = request.get("messages") if isinstance(request.get("messages"), list) else []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    response = call.get("response")
    if isinstance(response, list):
        response = "\n".join(
            str(m.get("content")) if isinstance(m, dict) else str(m) for m in response
        )
    return _cut(last.get("content")), _cut(response if response is not None else call.get("error"))


def _trajectory(t: Trajectory, failed: bool) -> str:
    calls = []
    for i, call in enumerate(t.calls[:4], 1):
        prompt, answer = _message_text(call)
        calls.append(
            f"<p class=muted>call {i} · {e(call.get('status'))}</p>"
            f"<pre>{e(prompt)}</pre><pre>{e(answer)}</pre>"
        )
    more = f"<p class=muted>+{len(t.calls) - 4} more calls</p>" if len(t.calls) > 4 else ""
    head = (
        f"item {e(t.item_id)} · {e(t.status)} · reward {_num(t.reward, 3)}"
        + (f" · group {e(t.group)}" if t.group else "")
        + f" · {len(t.calls)} call(s)"
    )
    return (
        f'<div class="traj{"" if failed else " ok"}"><details><summary>{head}</summary>'
        f"{''.join(calls) or '<p class=muted>no model calls</p>'}{more}</details></div>"
    )


def _trajectories(g: GenerationView) -> str:
    if not g.sample:
        return ""
    shown_failures = min(g.failures, len(g.sample))
    items = [_trajectory(t, i < shown_failures) for i, t in enumerate(g.sample)]
    below = "the full reward" if full_reward(g.rewards) == 1.0 else "the best reward"
    return (
        f"<h3>Trajectories ({g.failures} of {len(g.rewards) or '?'} items below {below}; "
        f"a sample, failures first)</h3>{''.join(items)}"
    )


def _generation(g: GenerationView, link_base: str | None) -> str:
    r = g.record
    title = (
        f"Generation {r.number} · {e(r.lever or '-')}"
        + (f" ({e(r.algorithm)})" if r.algorithm else "")
        + f" · selection {_num(r.score)} · {e(r.status)}"
        + (" · incumbent" if r.incumbent else "")
    )
    error = f'<div class="banner bad">{e(r.error)}</div>' if r.error else ""
    calls = _failed_calls(r)
    if calls:
        error += f'<div class="banner warn">{e(calls)}</div>'
    test_error = f'<div class="banner warn">test: {e(r.test_error)}</div>' if r.test_error else ""
    improvement = (
        f"<details><summary>improvement.md</summary><pre>{e(g.improvement)}</pre></details>"
        if g.improvement
        else ""
    )
    return (
        f'<section id="gen-{r.number}"><h2>{title}</h2>{error}{test_error}'
        f"{_decision(g)}{_candidates(g)}{_files(g, link_base)}{_shape(g)}{_training(g)}"
        f"{improvement}{_diff(g)}{_sandbox(g)}{_trajectories(g)}</section>"
    )


def render(view: RunView, link_base: str | None = None, refresh_s: int | None = None) -> str:
    """The page. `link_base`: URL prefix of the run directory for links to its files (None:
    no links); `refresh_s`: reload every so many seconds (for a live run in `sia web`)."""
    task = view.state.get("task", {})
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s else ""
    generated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    body = [
        f"<h1>sia run {e(view.run_id)} · {e(task.get('name'))}</h1>",
        f'<p class="sub">task model {e((view.state.get("task_model") or {}).get("name"))} · '
        f"backend {e((view.state.get('config') or {}).get('backend'))} · selection "
        f"{e(task.get('selection'))} · report made {e(generated)}</p>",
        _status_banner(view),
        _cards(view),
        "<h2>Scores</h2>",
        _figure(
            charts.scores(view),
            "scores",
            "selection score per generation, held-out test where it was run (new incumbents)",
        )
        or "<p class=muted>No generation has finished yet.</p>",
        _generations_table(view),
        _groups_section(view),
        "<h2>Tokens and cost</h2>",
        _figure(charts.usage(view), "usage", "task-model tokens per generation, by part"),
        _sessions_table(view),
        _knob_trials(view),
        *(_generation(g, link_base) for g in reversed(view.generations)),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">{refresh}'
        f"<title>sia · {e(view.run_id)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def write(view: RunView, out: Path) -> Path:
    """Write the report for `view` to `out`, linking the run's files relative to it."""
    from sia_core.store import atomic_write_text

    base = Path(os.path.relpath(view.path, out.parent.resolve())).as_posix() + "/"
    atomic_write_text(out, render(view, link_base="" if base == "./" else base))
    return out
