"""The offline harness lever: new values for a harness's declared knobs, proposed by
Optuna's TPE sampler (ask/tell), one trial per candidate harness.

The study lives in the run directory (Optuna's journal file storage: append-only, so a
`kill -9` loses nothing written). A trial records which generation and candidate it
became; it is told its score from that candidate's generation.json the next time the
search runs, and a trial asked for a candidate that was killed before it was whole is
handed to the same candidate again on `--resume`, so no trial is lost or repeated.

One study per (adapter, harness skeleton): scores measured with another adapter or
another harness body say little about this one (the best demos and temperature move
with the adapter), so a weights gain or a code change starts a fresh study, seeded with
the parent's own setting and score.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core.errors import SiaError
from sia_core.harness.knobs import Knob
from sia_core.run_layout import find_record
from sia_core.tasks.splits import ids_in
from sia_core.tasks.task import Task

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

STUDY_FILE = "knob_study.journal"
"""RUN/knob_study.journal: every study of the run, in Optuna's journal format."""
POOL_MAX = 64
"""Demo ids a study chooses among: a seeded sample of the eligible rows, so the search
space (one categorical per demo slot) stays small enough for a few trials to inform."""
STARTUP_TRIALS = 3
"""Finished trials (the parent's setting included) before TPE models the scores: few,
since every trial costs a full selection run and a run makes only a handful. The first
trials are one-knob edits of the incumbent's setting (`_edit`), or random draws when the
study has no parent setting."""
MAX_ASKS = 20
MAX_EDITS = 6
"""One-knob edits before TPE takes over (see `edit_plan`), at most this many."""


class KnobSearchError(SiaError):
    pass


def _ids_in(path: Path, column: str | None) -> set[str]:
    """`splits.ids_in`, an unreadable file giving no ids."""
    return ids_in(path, column) or set()


def _answer_ids(task: Task, column: str | None) -> set[str]:
    """Every id that an answer file of the task lists: the items it scores."""
    ids: set[str] = set()
    for path in sorted(task.private_dir.rglob("*")):
        if path.suffix in (".csv", ".jsonl") and path.is_file():
            ids |= _ids_in(path, column)
    return ids


def _eligible(task: Task, selection: Task, source: Path, column: str | None) -> list[str]:
    """Ids of `source` that are neither selection nor test items (no id any answer file
    lists, nor any id in the inputs the agent predicts on), sorted."""
    candidates = _ids_in(source, column)
    id_column = task.config.validation.id_column if task.config.validation else column
    excluded = _answer_ids(task, id_column) | _answer_ids(selection, id_column)
    for view in (task, selection):
        if view.config.validation is not None:
            excluded |= _ids_in(view.public_dir / view.config.validation.inputs, id_column)
        if view.config.shards is not None:
            excluded |= _ids_in(view.public_dir / view.config.shards.inputs, id_column)
    return sorted(candidates - excluded)


def demo_pool(knob: Knob, task: Task, selection: Task, seed: int) -> list[str]:
    """The ids a demos knob may take: rows of its public file that are neither selection
    nor test items, a seeded sample of at most POOL_MAX of them."""
    assert knob.kind == "demos" and knob.file
    source = selection.public_dir / knob.file
    if not source.is_file():
        raise KnobSearchError(
            f"knob {knob.name}: demos file {knob.file!r} is not in the task's public data"
        )
    eligible = _eligible(task, selection, source, knob.column)
    random.Random(f"{seed}-{knob.name}").shuffle(eligible)
    return eligible[:POOL_MAX]


PROBE_ROWS = 8
"""Training rows every setting of a study is run on before its selection run, to see
whether it sends what an already-scored setting sent (see `request_digest`). Few, since
it runs once per trial; enough that a knob acting only on some rows (a parse rule, a
retry) shows on one of them."""


def probe_rows(task: Task, selection: Task, pools: dict[str, list[str]], seed: int) -> list[str]:
    """The probe rows: labelled training rows no demos knob may show, the same for every
    trial of the run (a demo carved out as an item would change what a setting sends);
    [] when the task has no labelled training rows to spare."""
    split = task.config.validation
    if split is None or selection is task:
        return []
    source = selection.public_dir / split.source
    if not source.is_file():
        return []
    shown = {i for pool in pools.values() for i in pool}
    spare = [i for i in _eligible(task, selection, source, split.id_column) if i not in shown]
    random.Random(f"{seed}-probe").shuffle(spare)
    return spare[:PROBE_ROWS]


def _distributions(knobs: list[Knob], pools: dict[str, list[str]]) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for knob in knobs:
        if knob.kind == "int":
            out[knob.name] = IntDistribution(int(knob.low or 0), int(knob.high or 0))
        elif knob.kind == "float":
            out[knob.name] = FloatDistribution(float(knob.low or 0), float(knob.high or 0))
        elif knob.kind == "choice":
            out[knob.name] = CategoricalDistribution(knob.choices)
        else:
            pool = pools[knob.name]
            high = min(int(knob.high or 0), len(pool))
            if high < int(knob.low or 0):
                raise KnobSearchError(
                    f"knob {knob.name}: needs at least {int(knob.low or 0)} demo ids, but only "
                    f"{len(pool)} rows of {knob.file} are neither selection nor test items"
                )
            out[f"{knob.name}.n"] = IntDistribution(int(knob.low or 0), high)
            for slot in range(high):
                out[f"{knob.name}.{slot}"] = CategoricalDistribution(tuple(pool))
    return out


def _values(
    knobs: list[Knob], params: dict[str, Any], pools: dict[str, list[str]]
) -> dict[str, Any]:
    """Knob values from a trial's params: a demos knob takes the first `n` distinct ids
    of its slots (topped up from its pool when slots repeat)."""
    values: dict[str, Any] = {}
    for knob in knobs:
        if knob.kind == "float":
            # Three decimals: finer steps than a selection split can tell apart only
            # make the harness's diff noisy.
            values[knob.name] = round(float(params[knob.name]), 3)
            continue
        if knob.kind != "demos":
            values[knob.name] = params[knob.name]
            continue
        n = int(params.get(f"{knob.name}.n", 0))
        ids: list[str] = []
        for slot in range(n):
            item = params.get(f"{knob.name}.{slot}")
            if item is not None and item not in ids:
                ids.append(item)
        for item in pools[knob.name]:
            if len(ids) >= n:
                break
            if item not in ids:
                ids.append(item)
        values[knob.name] = ids
    return values


def _params(
    knobs: list[Knob], values: dict[str, Any], pools: dict[str, list[str]]
) -> dict[str, Any] | None:
    """A setting as trial params; None when it cannot be one (a demo id outside the pool,
    a value outside its declaration)."""
    params: dict[str, Any] = {}
    for knob in knobs:
        value = values.get(knob.name)
        if not knob.accepts(value):
            return None
        if knob.kind != "demos":
            params[knob.name] = value
            continue
        ids = [str(v) for v in value]
        if any(i not in pools[knob.name] for i in ids) or len(ids) > len(pools[knob.name]):
            return None
        params[f"{knob.name}.n"] = len(ids)
        params.update({f"{knob.name}.{slot}": item for slot, item in enumerate(ids)})
    return params


EDIT_ORDER = ("choice", "demos", "int", "float")
"""Which knobs the startup edits change first: a choice is a structural alternative
(another prompt format), demos decide what the model imitates; numbers fine-tune."""
CHOICE_EDITS = 3
"""Edits one choice knob may take: each is another of its options. One edit per choice
would leave the rest untried until TPE, and a choice's options are not ordered, so what
one option scored says nothing about the next (arithmetic's FORMAT: qa 1%, steps 2.5%,
equation 14% on selection; a run whose one edit drew steps never saw equation)."""
DEMO_EDITS = 2
"""Edits one demos knob takes in the plan: another subset each. Which rows a base model
imitates moves its score more than any number knob (DSPy's random search over demo
subsets is the peer to match), and one subset says little about the next."""
FOLLOW_UPS = 4
"""Edits after the plan, each of the knob whose edits moved the score most (hill
climbing on what worked) before TPE takes over; none when no edit gained."""


def edit_plan(knobs: list[Knob]) -> list[Knob]:
    """The knob each startup edit changes, in order: choices first (one edit for each
    other option, at most CHOICE_EDITS), demos (DEMO_EDITS subsets), then one edit for
    every other knob."""
    plan: list[Knob] = []
    for knob in sorted(knobs, key=lambda k: EDIT_ORDER.index(k.kind)):
        if knob.kind == "choice":
            repeat = min(len(knob.choices) - 1, CHOICE_EDITS)
        else:
            repeat = DEMO_EDITS if knob.kind == "demos" else 1
        plan += [knob] * repeat
    return plan[:MAX_EDITS]


def edit_effects(trials: list[FrozenTrial], maximize: bool) -> dict[str, list[float]]:
    """What each knob's finished edits did to the score, against the setting each started
    from (positive: better, whatever the metric's direction)."""
    from optuna.trial import TrialState

    effects: dict[str, list[float]] = {}
    for t in trials:
        attrs = t.user_attrs
        if t.state != TrialState.COMPLETE or "edit_knob" not in attrs or t.value is None:
            continue
        start = attrs.get("edit_from")
        if not isinstance(start, (int, float)):
            continue
        gain = (t.value - start) if maximize else (start - t.value)
        effects.setdefault(str(attrs["edit_knob"]), []).append(gain)
    return effects


def next_edits(plan: list[Knob], trials: list[FrozenTrial], maximize: bool) -> list[Knob]:
    """The knobs the walk may edit next, best first: the plan's entries not yet taken
    (a knob whose every edit left the score exactly as it was is dropped: it cannot move
    this model, as VOTES at temperature 0 or a question wording a base model ignores),
    then FOLLOW_UPS edits of the knobs whose edits gained, largest gain first."""
    taken: dict[str, int] = {}
    for t in trials:
        name = t.user_attrs.get("edit_knob")
        if name is None and "edit" in t.user_attrs and int(t.user_attrs["edit"]) < len(plan):
            name = plan[int(t.user_attrs["edit"])].name  # journals before edit_knob
        if name is not None:
            taken[str(name)] = taken.get(str(name), 0) + 1
    effects = edit_effects(trials, maximize)
    dead = {name for name, gains in effects.items() if gains and all(g == 0 for g in gains)}
    seen: dict[str, int] = {}
    todo: list[Knob] = []
    for knob in plan:
        seen[knob.name] = seen.get(knob.name, 0) + 1
        if seen[knob.name] > taken.get(knob.name, 0) and knob.name not in dead:
            todo.append(knob)
    done = sum(taken.values())
    if todo or done >= len(plan) + FOLLOW_UPS:
        return todo
    by_name = {k.name: k for k in plan}
    gained = sorted(
        (n for n, gains in effects.items() if n in by_name and max(gains) > 0),
        key=lambda n: -max(effects[n]),
    )
    return [by_name[n] for n in gained]


def _edit(
    knob: Knob,
    knobs: list[Knob],
    base: dict[str, Any],
    pools: dict[str, list[str]],
    tried: set[Any],
    rng: random.Random,
    preferred: list[list[str]] | None = None,
) -> dict[str, Any] | None:
    """A startup trial as one knob changed from the parent's setting (GrIPS-style edit
    search): in a handful of trials, one change at a time finds more than fully random
    settings, which move every knob at once, and each trial's diff says what it tried.
    A choice takes an option no trial of the study has tried (`tried`: the knob's values
    so far); None when there is none left or the knob cannot move. A demos knob draws
    from the `preferred` groups first (bootstrapped demos: one group per label), one
    from each group in turn, in a seeded order."""
    new = dict(base)
    old = base.get(knob.name)
    if knob.kind == "choice":
        options = [c for c in knob.choices if c != old and c not in tried]
        if not options:
            return None
        new[knob.name] = rng.choice(options)
    elif knob.kind == "int":
        options = [v for v in range(int(knob.low or 0), int(knob.high or 0) + 1) if v != old]
        if not options:
            return None
        new[knob.name] = rng.choice(options)
    elif knob.kind == "float":
        new[knob.name] = round(rng.uniform(float(knob.low or 0), float(knob.high or 0)), 3)
    else:
        pool = pools[knob.name]
        high = min(int(knob.high or 0), len(pool))
        if high < 1:
            return None
        # Up to the most demos first (a base model imitates what it is shown: 8 rows
        # beat fewer on sentiment and arithmetic), then other subsets near that count.
        current = len(old) if isinstance(old, list) else 0
        low = max(int(knob.low or 0), 1)
        size = high if current < high else rng.randint(max(low, high - 2), high)
        good = _interleaved([[i for i in g if i in pool] for g in preferred or []], rng)
        if len(good) >= size:
            new[knob.name] = good[:size]
        else:
            rest = rng.sample([i for i in pool if i not in good], size - len(good))
            new[knob.name] = rng.sample(good + rest, size)
    return _params(knobs, new, pools)


def _interleaved(groups: list[list[str]], rng: random.Random) -> list[str]:
    """One id from each group in turn (groups and their ids in a seeded order), so that
    the first N hold every group as evenly as N allows."""
    groups = [rng.sample(g, len(g)) for g in groups if g]
    rng.shuffle(groups)
    out: list[str] = []
    for k in range(max(map(len, groups), default=0)):
        out += [g[k] for g in groups if k < len(g)]
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass(frozen=True)
class KnobProposal:
    values: dict[str, Any]
    study: str
    trial: int
    """Optuna's trial number within the study."""
    reused: bool
    """An unfinished trial of this same candidate, handed to it again after a kill."""
    how: str
    """How the setting was chosen, for improvement.md and the study's record: "parent"
    (the parent's own setting, scored first), "random" (a startup trial), "edit" (a
    one-knob edit of the best so far, from the edit plan), "tpe" (Optuna's sampler),
    or "repeat" (a setting already scored, told its score without running)."""
    finished: int
    """Finished trials in the study before this one."""
    best: dict[str, Any] | None = None
    """The best finished trial so far: values, score, generation."""
    repeats: list[int] = field(default_factory=list)
    """Trials the sampler asked for again that had a known score: told without running."""


class KnobSearch:
    """The run's knob studies. `direction`: the task metric's ("max" or "min")."""

    def __init__(self, run_dir: Path, direction: str, seed: int) -> None:
        self.run_dir = run_dir
        self.direction = direction
        self.seed = seed
        self._storage: Any = None

    @property
    def path(self) -> Path:
        return self.run_dir / STUDY_FILE

    def storage(self) -> Any:
        if self._storage is None:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._storage = JournalStorage(JournalFileBackend(str(self.path)))
        return self._storage

    def study(self, name: str, sampler_seed: int = 0) -> optuna.Study:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna.create_study(
            study_name=name,
            storage=self.storage(),
            direction="maximize" if self.direction == "max" else "minimize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(
                seed=sampler_seed, n_startup_trials=STARTUP_TRIALS, multivariate=True
            ),
        )

    def studies(self) -> list[str]:
        if not self.path.is_file():
            return []
        return [s.study_name for s in self.storage().get_all_studies()]

    def settle(self, current: tuple[int, int | None] | None = None) -> None:
        """Tell every running trial its candidate's selection score, once that candidate
        is whole; a failed candidate's trial fails. `current`: the candidate being made
        now, whose trial (if any) stays open for it."""
        from optuna.trial import TrialState

        for name in self.studies():
            study = self.study(name)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                gen, cand = trial.user_attrs.get("gen"), trial.user_attrs.get("candidate")
                if (gen, cand) == current or gen is None or "inner" in trial.user_attrs:
                    # An inner trial is told by the generation that runs it; one left
                    # running by a kill is run again when that generation is made again.
                    continue
                record = find_record(self.run_dir, int(gen), cand)
                if record is None:
                    continue  # not whole yet: its candidate is made again on --resume
                score = record.get("score")
                if record.get("status") == "ok" and isinstance(score, (int, float)):
                    study.tell(trial.number, float(score))
                else:
                    study.tell(trial.number, state=TrialState.FAIL)

    def propose(
        self,
        name: str,
        knobs: list[Knob],
        pools: dict[str, list[str]],
        number: int,
        candidate: int | None,
        baseline: tuple[dict[str, Any], float, int] | None,
        inner: int | None = None,
        base: dict[str, Any] | None = None,
        preferred: dict[str, list[list[str]]] | None = None,
        probe: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> KnobProposal:
        """Knob values for generation `number`'s candidate. `baseline`: the parent's own
        setting, score and generation, entered as a finished trial when the study is new,
        so that the sampler knows what it has to beat and does not propose it again.
        `inner`: the index of this trial among the several one generation runs itself
        (it tells their scores with `tell`); `base`: the setting the one-knob edits start
        from (default the parent's: a generation's later trials start from its best);
        `preferred`: per demos knob, the groups of ids its edits draw from first;
        `probe`: what a setting sends on the probe rows (a digest, see `request_digest`):
        a setting that sends what a finished trial sent is told that trial's score, as a
        repeat, and the next is asked for."""
        import optuna
        from optuna.trial import TrialState

        self.settle((number, candidate))
        distributions = _distributions(knobs, pools)
        study = self.study(name, sampler_seed=hash((self.seed, number, candidate or 1)) % 2**31)
        trials = study.get_trials(deepcopy=False)
        for trial in trials:
            attrs = trial.user_attrs
            if trial.state == TrialState.RUNNING and (attrs.get("gen"), attrs.get("candidate")) == (
                number,
                candidate,
            ):
                return KnobProposal(
                    values=_values(knobs, trial.params, pools),
                    study=name,
                    trial=trial.number,
                    reused=True,
                    how=str(attrs.get("how", "tpe")),
                    finished=sum(t.state == TrialState.COMPLETE for t in trials),
                    best=self._best(study),
                )
        if not trials and baseline is not None:
            values, score, gen = baseline
            params = _params(knobs, values, pools)
            if params is not None:
                used = {k: v for k, v in distributions.items() if k in params}
                study.add_trial(
                    optuna.trial.create_trial(
                        params=params,
                        distributions=used,
                        value=score,
                        user_attrs={
                            "gen": gen,
                            "candidate": None,
                            "how": "parent",
                            "values": values,
                        },
                    )
                )
        repeats: list[int] = []
        plan = edit_plan(knobs)
        for _ in range(MAX_ASKS):
            trials = study.get_trials(deepcopy=False)
            finished = [t for t in trials if t.state == TrialState.COMPLETE]
            how = "random" if len(finished) < STARTUP_TRIALS else "tpe"
            # The first trials walk one knob at a time from the setting this generation
            # builds on (the incumbent's), down `edit_plan`; then TPE models the scores.
            parent = next((t for t in finished if t.user_attrs.get("how") == "parent"), None)
            start = base or (baseline[0] if baseline else None)
            start = start or (parent.user_attrs.get("values") if parent else None)
            step = self._next_edit(trials)
            edit, knob, origin = None, None, None
            for knob in next_edits(plan, trials, self.direction == "max") if start else []:
                tried = {
                    (t.user_attrs.get("values") or {}).get(knob.name)
                    for t in trials
                    if knob.kind == "choice"
                }
                # Drawn from the run's seed too: two seeds of a benchmark try different
                # edits, so their spread is real.
                rng = random.Random(f"{self.seed}-{name}-{step}-{knob.name}")
                edit = _edit(
                    knob, knobs, start, pools, tried, rng, (preferred or {}).get(knob.name)
                )
                if edit is not None:
                    break
            if edit is not None:
                study.enqueue_trial(edit, skip_if_exists=False)
                how = "edit"
            trial = study.ask(distributions)
            if edit is not None and knob is not None:
                trial.set_user_attr("edit", step)
                trial.set_user_attr("edit_knob", knob.name)
                origin = next(
                    (t for t in finished
                     if _same(t.user_attrs.get("values") or {}, start or {})),
                    None,
                )  # fmt: skip
                if origin is not None and origin.value is not None:
                    trial.set_user_attr("edit_from", origin.value)
            values = _values(knobs, trial.params, pools)
            seen = next(
                (t for t in finished if _same(t.user_attrs.get("values") or {}, values)), None
            )
            if seen is None and probe is not None:
                seen = self._same_requests(name, knobs, trial.number, values, finished,
                                           origin if edit is not None else None, probe)  # fmt: skip
                if seen is not None:
                    trial.set_user_attr("same_requests_as", seen.number)
            if seen is not None and seen.value is not None:
                # The same setting again: its score is known, so tell it and ask anew.
                trial.set_user_attr("how", "repeat")
                trial.set_user_attr("values", values)
                trial.set_user_attr("gen", seen.user_attrs.get("gen"))
                study.tell(trial, seen.value)
                repeats.append(trial.number)
                continue
            trial.set_user_attr("gen", number)
            trial.set_user_attr("candidate", candidate)
            trial.set_user_attr("how", how)
            trial.set_user_attr("values", values)
            if inner is not None:
                trial.set_user_attr("inner", inner)
            return KnobProposal(
                values, name, trial.number, False, how, len(finished), self._best(study), repeats
            )
        raise KnobSearchError(
            f"the knob search asked {MAX_ASKS} times and got only settings it had tried: "
            "the knobs' space looks exhausted"
        )

    def bootstrapped(self, name: str) -> dict[str, Any]:
        """The study's bootstrapped demos, per demos knob: {"ids": rows the harness
        answered right, "groups": what its edits draw from (one group per label),
        "asked": how many rows it was run on, "scored": how many came back scored}. Kept
        in the journal, so a resumed run does not ask again."""
        if name not in self.studies():
            return {}
        attrs = self.study(name).user_attrs
        return {k.removeprefix("bootstrap:"): v for k, v in attrs.items()
                if k.startswith("bootstrap:")}  # fmt: skip

    def record_bootstrap(self, name: str, knob: str, found: dict[str, Any]) -> None:
        self.study(name).set_user_attr(f"bootstrap:{knob}", found)

    def digests(self, name: str) -> dict[int, str]:
        """What each trial of the study sent on the probe rows (trial -> digest), for
        the trials that were probed."""
        if name not in self.studies():
            return {}
        attrs = self.study(name).user_attrs
        return {int(k.removeprefix("requests:")): str(v) for k, v in attrs.items()
                if k.startswith("requests:")}  # fmt: skip

    def record_digest(self, name: str, trial: int, digest: str) -> None:
        # On the study, not the trial: a finished trial's attributes cannot change, and
        # the parent's setting is probed only once an edit of it needs comparing.
        self.study(name).set_user_attr(f"requests:{trial}", digest)

    def _same_requests(
        self,
        name: str,
        knobs: list[Knob],
        number: int,
        values: dict[str, Any],
        finished: list[FrozenTrial],
        origin: FrozenTrial | None,
        probe: Callable[[dict[str, Any]], str | None],
    ) -> FrozenTrial | None:
        """A finished trial that sent on the probe rows what `values` sends. Only trials
        with the same choices and demos are candidates (a choice switches between declared
        alternatives and a demos knob changes the rows shown: both exist to change what
        the model sees), so an edit of one is never probed — arithmetic's edits are all
        of that kind, and probing them cost a fifth of a run for nothing. The edit's
        origin is probed first when it never was (the parent's setting): an edit that
        changes nothing the model sees ties with it."""
        shape = [k.name for k in knobs if k.kind in ("choice", "demos")]

        def fixed(v: dict[str, Any]) -> str:
            return json.dumps([v.get(n) for n in shape])

        peers = {t.number: t for t in finished if t.value is not None
                 and fixed(t.user_attrs.get("values") or {}) == fixed(values)}  # fmt: skip
        if not peers:
            return None
        digests = self.digests(name)
        if origin is not None and origin.number in peers and origin.number not in digests:
            found = probe(dict(origin.user_attrs.get("values") or {}))
            if found is not None:
                self.record_digest(name, origin.number, found)
                digests[origin.number] = found
        mine = probe(values)
        if mine is None:
            return None
        self.record_digest(name, number, mine)
        return next(
            (peers[n] for n, d in sorted(digests.items()) if d == mine and n in peers), None
        )

    def tell(self, name: str, trial: int, score: float | None) -> None:
        """The score of an inner trial (None: it failed), told as soon as it is known: a
        kill after this loses nothing, and the trial is never run again."""
        from optuna.trial import TrialState

        study = self.study(name)
        if score is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, score)

    def inner_trials(
        self, name: str, number: int, candidate: int | None
    ) -> list[tuple[int, dict[str, Any], float | None]]:
        """The inner trials generation `number`'s candidate has finished: (trial number,
        values, score or None when it failed), in the order they ran."""
        from optuna.trial import TrialState

        if name not in self.studies():
            return []
        done = []
        for t in self.study(name).get_trials(deepcopy=False):
            attrs = t.user_attrs
            if "inner" not in attrs or (attrs.get("gen"), attrs.get("candidate")) != (
                number,
                candidate,
            ):
                continue
            if t.state == TrialState.COMPLETE:
                done.append((t.number, dict(attrs.get("values") or {}), t.value))
            elif t.state == TrialState.FAIL:
                done.append((t.number, dict(attrs.get("values") or {}), None))
        return done

    @staticmethod
    def _next_edit(trials: list[FrozenTrial]) -> int:
        """Where the edit walk goes on: after the last step a trial took (a step that
        repeated a scored setting counts too, or the walk would ask it again)."""
        steps = [int(t.user_attrs["edit"]) for t in trials if "edit" in t.user_attrs]
        if steps:
            return max(steps) + 1
        # Journals written before trials recorded their step: one step per edit.
        return sum(t.user_attrs.get("how") == "edit" for t in trials)

    @staticmethod
    def _best(study: optuna.Study) -> dict[str, Any] | None:
        from optuna.trial import TrialState

        done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if not done:
            return None
        pick = max if study.direction.name == "MAXIMIZE" else min
        best = pick(done, key=lambda t: t.value)
        return {"trial": best.number, "score": best.value, "gen": best.user_attrs.get("gen")}

    def completed(self, name: str) -> int:
        """Finished trials of a study, the parent's baseline included. Trials whose
        candidates are whole are told their scores first: the latest generation's trial
        is otherwise still open when the next one is being chosen."""
        from optuna.trial import TrialState

        if name not in self.studies():
            return 0
        self.settle()
        return sum(
            t.state == TrialState.COMPLETE and t.user_attrs.get("how") != "repeat"
            for t in self.study(name).get_trials(deepcopy=False)
        )

    def table(self) -> list[dict[str, Any]]:
        """Every trial of every study, for `sia report`. A trial not yet told (the last
        generation's: it is told when the next one is proposed) shows its candidate's
        score as the run recorded it, without writing to the study."""
        rows: list[dict[str, Any]] = []
        for name in self.studies():
            for t in self.study(name).get_trials(deepcopy=False):
                state, score = t.state.name.lower(), t.value
                gen, cand = t.user_attrs.get("gen"), t.user_attrs.get("candidate")
                if state == "running" and gen is not None:
                    record = find_record(self.run_dir, int(gen), cand)
                    if record is not None:
                        ok = record.get("status") == "ok"
                        state = "complete" if ok else "fail"
                        score = record.get("score") if ok else None
                rows.append(
                    {
                        "study": name,
                        "trial": t.number,
                        "state": state,
                        "score": score,
                        "gen": t.user_attrs.get("gen"),
                        "candidate": t.user_attrs.get("candidate"),
                        "how": t.user_attrs.get("how", "repeat"),
                        "values": t.user_attrs.get("values"),
                    }
                )
        return rows


def changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [name for name in new if not _same({"v": old.get(name)}, {"v": new[name]})]


def describe_values(values: dict[str, Any], names: Iterable[str] | None = None) -> str:
    names = list(values) if names is None else list(names)
    return ", ".join(f"{n}={json.dumps(values[n])}" for n in names)
