"""`nearline evaluate`: one log replayed in event time through the worker's core.

1. The log is labelled by `label_log` (the labeller the worker runs) for every rule.
2. Labels are featurised (the worker's feature state) as an online system serves them,
   as of their *impression*: from exactly the labels final before it (a click a second
   after its impression, a timeout negative when its window closes), each label learned
   into the state when it is final (`models.examples.as_of_impression`). Featurised when
   final instead, a negative would see the member's activity of its window and a positive
   would not: the label would leak into its own features.
3. The labels are split by impression time: every variant is batch-trained on the labels
   of the impressions of days 1..k (an offline system that waited for their windows to
   close), the test labels are those of later impressions. A split by label time would
   be biased by the label delay: the last training day would keep its early positives
   and lose its negatives to the test set (day-of-week weights learned backwards).
4. The test days are replayed one at a time, from the feature state at the day's start:
   each variant, as served (`evaluation.serving`), ranks candidates for the members who
   engage that day and assigns probabilities to the courses the logging policy put in
   first position; then the day runs in event time (`online_steps`): a test label is
   predicted at its impression, and incremental variants learn it when it is final, so
   each prediction comes from the test labels final before its impression only.
5. Every other rule's labels train a full GLMix too, scored on its own test labels and on
   the main rule's, for the Insight 9 comparison. With `jobs` > 1 these run in forked
   processes while steps 1-4 run.

Nothing here is random: the same log and options give the same figures, whatever `jobs`.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from evaluation import metrics
from evaluation.ips import DEFAULT_CLIP, ips
from evaluation.serving import Served, Slot, target_probabilities, top_lists
from evaluation.variants import (
    BY_NAME,
    VARIANTS,
    Variant,
    member_recovery,
    online_model,
    progressive_logits,
)
from labels import Labeller, label_log
from models.catalog import Catalog
from models.examples import (
    Examples,
    FeatureState,
    as_of_impression,
    event_ts,
    in_time_order,
    online_steps,
)
from models.features import Profile
from models.glmix import GLMixModel
from models.history import DAY_MS
from models.learner import ENGAGED
from models.posterior import L2_RANDOM_EFFECT
from models.refit import batch_logits
from models.spec import FeatureSpec
from replay.logs import TRUTH_FILE, read_courses, read_events, read_members, read_truth
from schemas import AnyActivity, Course, Dismissal, Label, Member
from scoring.candidates import Signals
from scoring.trending import Trends

PAPER_RULES = (
    "percentile:95:member",
    "fixed:9",
    "fixed:19",
    "fixed:29",
    "fraction:0.5",
    "fraction:0.9",
    "percentile:95:global",
    "percentile:95:video",
)
RECOVERY_LABELS = (20, 50, 100)


@dataclass(frozen=True)
class EvalConfig:
    """What to compare and how; `rules[0]` labels the main comparison."""

    rules: tuple[str, ...] = PAPER_RULES
    variants: tuple[Variant, ...] = VARIANTS
    train_days: int | None = None  # default: half of the log's days
    k: int = 10
    clip: float = DEFAULT_CLIP
    temperature: float = 1.0
    min_examples: int = 5
    l2: float = L2_RANDOM_EFFECT
    half_life_days: float = 60.0
    jobs: int = 1  # processes for the other rules (forked; the figures do not change)
    protocol: str = "progressive"  # or "random-split" (evaluation.protocol)
    test_fraction: float = 0.2  # random split: share of labels held out
    seed: int = 0  # random split: which labels

    @property
    def hyper(self) -> dict[str, Any]:
        """The batch trainer's hyper-parameters."""
        return {"min_examples": self.min_examples, "l2_member": self.l2, "l2_course": self.l2}


@dataclass
class Log:
    courses: list[Course]
    members: list[Member]
    events: list[AnyActivity]
    truth: dict[str, Any] | None

    @classmethod
    def read(cls, log_dir: str | Path) -> Log:
        log_dir = Path(log_dir)
        truth = read_truth(log_dir) if (log_dir / TRUTH_FILE).is_file() else None
        return cls(read_courses(log_dir), read_members(log_dir), list(read_events(log_dir)), truth)

    @property
    def first_day(self) -> int:
        return min(e.ts for e in self.events) // DAY_MS


@dataclass
class Scored:
    """What one variant produced on the test days: logits per day of labels, top-k lists
    with the courses engaged later, target probabilities of the logged first slots."""

    logits: list[np.ndarray] = field(default_factory=list)
    top: list[list[str]] = field(default_factory=list)
    relevant: list[set[str]] = field(default_factory=list)
    target: list[float] = field(default_factory=list)


@dataclass
class Replay:
    """The main rule's labels featurised as of their impressions, split: the training
    labels, the test labels (in impression order) with their examples, and the feature
    state at the start of each test day (what serving sees)."""

    train: list[Label]
    train_ex: Examples
    test: list[Label]
    test_ex: Examples
    states: dict[int, FeatureState]


@dataclass
class Evaluation:
    """Everything the report shows: JSON-ready figures plus the arrays behind the plots."""

    metrics: dict[str, Any]
    report: dict[str, Any]
    y: np.ndarray
    logits: dict[str, np.ndarray]
    timings: dict[str, float]


def labels_of(events: Iterable[AnyActivity], rule: str) -> list[Label]:
    """The worker's labels of a whole log (windows open at its end closed as negatives)."""
    return [r for r in label_log(events, Labeller(rule), close_open=True) if isinstance(r, Label)]


def fresh_state(log: Log, spec: FeatureSpec) -> FeatureState:
    profiles = {m.member_id: Profile.of(spec, m) for m in log.members}
    return FeatureState(Catalog(spec, log.courses), profiles)


def rule_counts(labels: list[Label]) -> dict[str, int]:
    by = Counter(f"{lb.source}_{'positive' if lb.label else 'negative'}" for lb in labels)
    return {"labels": len(labels), "positives": sum(lb.label for lb in labels), **dict(by)}


class Evaluator:
    """One evaluation run over a loaded log (see the module docstring for the steps)."""

    def __init__(self, log: Log, config: EvalConfig, progress: bool = False):
        if not log.events:
            raise ValueError("the log has no events")
        self.log, self.config, self.progress = log, config, progress
        self.spec = FeatureSpec.for_courses(log.courses)
        self.day0 = log.first_day
        last_day = max(e.ts for e in log.events) // DAY_MS
        self.days = last_day - self.day0 + 1
        self.train_days = config.train_days or max(self.days // 2, 1)
        if not 1 <= self.train_days < self.days:
            raise ValueError(
                f"train days must be within 1..{self.days - 1} for a {self.days}-day log, "
                f"got {self.train_days}"
            )
        self.split_ms = (self.day0 + self.train_days) * DAY_MS
        self.hyper = config.hyper
        self.timings: Counter[str] = Counter()

    def _known(self, labels: list[Label]) -> list[Label]:
        index = {c.course_id for c in self.log.courses}
        return in_time_order([lb for lb in labels if lb.course_id in index])

    def split(self, known: list[Label]) -> tuple[list[Label], list[Label]]:
        """(training, test) of labels (of known courses, order kept): the labels of the
        impressions before the split and after it (step 2 of the module docstring)."""
        return (
            [lb for lb in known if event_ts(lb) < self.split_ms],
            [lb for lb in known if event_ts(lb) >= self.split_ms],
        )

    def featurised(self, labels: list[Label]) -> tuple[Examples, Examples]:
        """(training, test) examples of `split`, featurised as of their impressions from
        one fresh state."""
        replay = self.replay(self._known(labels))
        return replay.train_ex, replay.test_ex

    def test_days(self, known: list[Label]) -> list[int]:
        """The days replayed after the split: those of a test impression or of a label
        final after the split."""
        late = (lb.label_ts for lb in known if lb.label_ts >= self.split_ms)
        tested = (event_ts(lb) for lb in known if event_ts(lb) >= self.split_ms)
        return sorted({t // DAY_MS for t in (*late, *tested)})

    def replay(self, known: list[Label]) -> Replay:
        """The labels (of known courses, in label-time order) featurised in one pass as
        of their impressions, split, with the state at the start of each test day."""
        train, test = self.split(known)
        test = sorted(test, key=event_ts)  # stable: a test day's labels are contiguous
        days = self.test_days(known)
        ex, states = as_of_impression(
            train + test, fresh_state(self.log, self.spec), [d * DAY_MS for d in days]
        )
        n = len(train)
        return Replay(
            train,
            ex.subset(np.arange(n)),
            test,
            ex.subset(np.arange(n, len(ex))),
            {d: states[d * DAY_MS] for d in days},
        )

    def _timed(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[stage] += now - started
        return now

    def run(self) -> Evaluation:
        with self._rules_started() as started:
            return self._run(started)

    def _run(self, started: dict[str, AsyncResult]) -> Evaluation:
        t = time.perf_counter()
        rules = self.config.rules
        events = tqdm(self.log.events, desc=f"labels {rules[0]}", disable=not self.progress)
        labels = labels_of(events, rules[0])
        t = self._timed("labelling", t)
        known = self._known(labels)
        replay = self.replay(known)
        if not replay.test:
            raise ValueError("no labels after the training days")
        train_ex = replay.train_ex
        t = self._timed("features", t)
        variants = self.config.variants
        models: dict[tuple, GLMixModel] = {}
        for v in tqdm(variants, desc="batch training", disable=not self.progress):
            if v.batch_key not in models:
                models[v.batch_key] = v.fit(train_ex, self.spec, **self.hyper)
        onlines = {
            v.name: online_model(models[v.batch_key], self.config.half_life_days)
            for v in variants
            if v.incremental
        }
        t = self._timed("batch training", t)
        scored, y, channels, days = self._replay_test(known, replay, models, onlines)
        out = self._figures(scored, y, channels, days)
        t = time.perf_counter()
        full = models.get(BY_NAME["full-batch"].batch_key) or BY_NAME["full-batch"].fit(
            train_ex, self.spec, **self.hyper
        )
        test_logits = {name: np.concatenate(s.logits) for name, s in scored.items()}
        out.report["recovery"] = self._recovery(full, onlines, replay.train, known)
        out.report["rules"] = self._rules(labels, full, test_logits, y, started)
        out.y, out.logits, out.timings = y, test_logits, dict(self.timings)
        return out

    def _replay_test(self, known, replay, models, onlines):
        """Day by day from the split: serve from the state at the day's start, then run
        the day's steps (`online_steps`): each test label is predicted at its impression,
        and learned by the incremental variants when it is final."""
        config = self.config
        titles = {c.course_id: c.title for c in self.log.courses}
        members = {m.member_id: m for m in self.log.members}
        engaged: dict[str, list[int]] = defaultdict(list)
        trends = Trends()  # the worker's cohort counts, from the labels learned so far
        catalog = next(iter(replay.states.values())).catalog
        by_label_day = defaultdict(list)
        for lb in known:
            if lb.label_ts >= self.split_ms:
                by_label_day[lb.label_ts // DAY_MS].append(lb)
        before = [lb for lb in known if lb.label_ts < self.split_ms]
        self._engage(engaged, trends, before, catalog, members)
        dismissed = [e for e in self.log.events if isinstance(e, Dismissal)]
        test, test_ex = replay.test, replay.test_ex
        rows, learns, times = online_steps(test_ex.ts, test_ex.label_ts)
        scored = {v.name: Scored() for v in config.variants}
        y, channels, days = [], [], []
        self._chunks, self._logged = [], []
        frozen = {  # batch models do not change during the replay
            v.name: Served.batch(models[v.batch_key], replay.states[min(replay.states)])
            for v in config.variants
            if not v.incremental
        }
        for day, state in tqdm(replay.states.items(), desc="test days", disable=not self.progress):
            t = time.perf_counter()
            served = {
                v.name: Served.online(onlines[v.name], state) if v.incremental else frozen[v.name]
                for v in config.variants
            }
            start = day * DAY_MS
            lo, hi = np.searchsorted(test_ex.ts, [start, start + DAY_MS]).tolist()
            gone = defaultdict(set)
            for d in dismissed:
                if d.ts < start and d.course_id in catalog.index:
                    gone[d.member_id].add(catalog.row(d.course_id))
            shown = test[lo:hi]
            relevant = defaultdict(set)
            for lb in shown:
                if lb.label:
                    relevant[lb.member_id].add(lb.course_id)
            signals = {}
            for m in sorted(relevant):
                title, industry = trends.sources(members.get(m), catalog, start)
                signals[m] = Signals(
                    skills=members[m].skills if m in members else {},
                    followed=members[m].followed_skills if m in members else (),
                    engaged=tuple((r, titles[catalog.ids[r]]) for r in engaged[m][::-1]),
                    dismissed=tuple(sorted(gone[m])),
                    trending_title=title,
                    trending_industry=industry,
                )
            lists = top_lists(served, state, signals, start, config.k)
            for name, s in scored.items():
                s.top += lists[name]
                s.relevant += [relevant[m] for m in signals]
            t = self._timed("top-k lists", t)
            self._off_policy(served, state, shown, gone, start, scored)
            t = self._timed("off-policy", t)
            ex = test_ex.subset(np.arange(lo, hi))
            first, last = np.searchsorted(times, [start, start + DAY_MS]).tolist()
            for v in config.variants:
                logits = (
                    progressive_logits(
                        onlines[v.name], test_ex, rows[first:last], learns[first:last]
                    )
                    if v.incremental
                    else batch_logits(models[v.batch_key], ex)
                )
                scored[v.name].logits.append(logits)
            t = self._timed("scoring and online learning", t)
            self._engage(engaged, trends, by_label_day.get(day, []), catalog, members)
            self._chunks.append(ex)
            y.append(ex.y)
            channels += [lb.channel for lb in shown]
            days += (ex.ts // DAY_MS - self.day0).tolist()  # impression day
        return scored, np.concatenate(y), np.array(channels), np.array(days)

    @staticmethod
    def _engage(
        engaged: dict[str, list[int]],
        trends: Trends,
        labels: list[Label],
        catalog: Catalog,
        members: dict[str, Member],
    ) -> None:
        """Learn what serving draws candidates from: each member's recent positives, and
        the positives of their cohorts at the label's event time. (The worker counts a
        click when it arrives, at its own time, also one no impression claims; offline
        counts leave those out.)"""
        for lb in labels:
            trends.learn(members.get(lb.member_id), lb.course_id, lb.label, event_ts(lb))
            if lb.label:
                rows = engaged[lb.member_id]
                row = catalog.row(lb.course_id)
                if row in rows:
                    rows.remove(row)
                rows.append(row)
                del rows[:-ENGAGED]  # as many as serving keeps (models.learner)

    def _off_policy(self, served, state, shown, gone, start, scored) -> None:
        """Target probabilities of the logged first-slot courses of the day's impressions."""
        catalog = state.catalog
        base = (catalog.released_at <= start) & ~catalog.retired
        slots = []
        for lb in shown:
            if lb.position != 0 or lb.propensity is None:
                continue
            allowed = base.copy()
            allowed[list(gone[lb.member_id])] = False
            slots.append(Slot(lb.member_id, event_ts(lb), allowed, catalog.row(lb.course_id)))
            self._logged.append((lb.label, lb.propensity))
        probs = target_probabilities(served, state, slots, self.config.temperature)
        for name, p in probs.items():
            scored[name].target += p.tolist()

    def _figures(self, scored, y, channels, days) -> Evaluation:
        rewards, propensity = np.array(self._logged, float).reshape(-1, 2).T
        out: dict[str, Any] = {}
        for name, s in scored.items():
            logits = np.concatenate(s.logits)
            q = metrics.quality(y, logits)
            table, _ = metrics.calibration(y, 1.0 / (1.0 + np.exp(-logits)))
            out[name] = {
                "title": BY_NAME[name].title,
                **q,
                "calibration": table,
                "channels": {
                    ch: metrics.quality(y[channels == ch], logits[channels == ch])
                    for ch in sorted(set(channels.tolist()))
                },
                "by_day": [
                    {"day": int(d), **metrics.quality(y[days == d], logits[days == d])}
                    for d in sorted(set(days.tolist()))
                ],
                "top_k": metrics.top_k(s.top, s.relevant, self.config.k),
                "ips": ips(rewards, np.array(s.target), propensity, self.config.clip),
            }
        report = {
            "log": {
                "events": len(self.log.events),
                "courses": len(self.log.courses),
                "members": len(self.log.members),
                "days": self.days,
                "train_days": self.train_days,
                "train_labels_until_ms": self.split_ms,
                "test_labels": len(y),
                "test_positives": int(y.sum()),
            },
            "config": {
                "rule": self.config.rules[0],
                "k": self.config.k,
                "ips_clip": self.config.clip,
                "ips_temperature": self.config.temperature,
                **self.hyper,
                "half_life_days": self.config.half_life_days,
            },
        }
        return Evaluation(out, report, y, {}, {})

    def _recovery(self, full, onlines, train, known) -> dict[str, Any] | None:
        truth = self.log.truth
        if truth is None or "member_taste" not in truth:
            return None
        args = (self.log.courses, self.spec, truth)
        batch = dict(zip(full.members.ids, full.members.mean, strict=True))
        train_counts = Counter(lb.member_id for lb in train)
        out = {
            "full-batch": [member_recovery(batch, train_counts, *args, n) for n in RECOVERY_LABELS]
        }
        online = onlines.get("full-incremental")
        if online is not None:
            fitted = {**batch, **{m: p.mean for m, p in online.members.items()}}
            counts = Counter(lb.member_id for lb in known)
            out["full-incremental"] = [
                member_recovery(fitted, counts, *args, n) for n in RECOVERY_LABELS
            ]
        return out

    def _main_logits(self, model: GLMixModel) -> np.ndarray:
        """A frozen model's logits on the main rule's test labels."""
        return np.concatenate([batch_logits(model, ex) for ex in self._chunks])

    def fit_rule(self, rule: str) -> tuple[dict[str, int], dict[str, Any], GLMixModel]:
        """Another rule's label counts, a full GLMix trained on its labels and that
        model's quality on the rule's own test labels."""
        rule_labels = labels_of(self.log.events, rule)
        tr, te = self.featurised(rule_labels)
        model = BY_NAME["full-batch"].fit(tr, self.spec, **self.hyper)
        return rule_counts(rule_labels), metrics.quality(te.y, batch_logits(model, te)), model

    @contextmanager
    def _rules_started(self) -> Iterator[dict[str, AsyncResult]]:
        """The other rules' fits in `jobs` forked processes, which read this evaluator
        (the log included) from the fork instead of a pickled copy, stopped when the
        block ends (an error or SIGTERM too); nothing with one job, one rule, or no fork
        on this platform (the rules run in turn then)."""
        global _FORKED
        others = self.config.rules[1:]
        if self.config.jobs <= 1 or not others or "fork" not in get_all_start_methods():
            yield {}
            return
        _FORKED = self
        try:
            pool = get_context("fork").Pool(min(self.config.jobs, len(others)))
        finally:
            _FORKED = None  # the workers hold their copy from the fork
        with pool:  # terminates the workers on the way out
            yield {rule: pool.apply_async(_fit_forked, (rule,)) for rule in others}

    def _rules(self, labels, full, test_logits, y, started) -> dict[str, Any]:
        """Insight 9: counts per rule and a full GLMix trained on each rule's labels,
        scored on its own test labels and on the main rule's ('common')."""
        t = time.perf_counter()
        rules = self.config.rules
        out: dict[str, Any] = {}
        for rule in tqdm(rules, desc="label rules", disable=not self.progress):
            if rule == rules[0]:
                main = test_logits.get("full-batch")
                own = metrics.quality(y, self._main_logits(full) if main is None else main)
                out[rule] = {**rule_counts(labels), "own": own, "common": own}
                continue
            counts, own, model = started[rule].get() if rule in started else self.fit_rule(rule)
            out[rule] = {
                **counts,
                "own": own,
                "common": metrics.quality(y, self._main_logits(model)),
            }
        self._timed("other rules", t)
        return out


_FORKED: Evaluator | None = None  # what forked rule processes evaluate


def _fit_forked(rule: str) -> tuple[dict[str, int], dict[str, Any], GLMixModel]:
    if _FORKED is None:
        raise RuntimeError("rule processes must be forked from a running evaluation")
    return _FORKED.fit_rule(rule)
