"""The evaluator end to end on a tiny simulated log: deterministic, labels from the
worker's labeller, a complete report."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from evaluation import run as run_module
from evaluation.report import run_evaluate_cli
from evaluation.run import EvalConfig, Evaluator, Log, fresh_state, labels_of
from evaluation.variants import select
from labels.offline import run_labels_cli
from models.examples import event_ts
from replay.logs import read_events, read_labels
from replay.simulate import WorldConfig, simulate
from replay.world import DAY_MS
from scoring.trending import HALF_LIFE_DAYS, Trends, cohort_key

RULES = ("percentile:95:member", "fixed:9")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=300, courses=60, days=8, seed=3), out, progress=False)
    return out


@pytest.fixture(scope="module")
def reports(log_dir, tmp_path_factory) -> list[Path]:
    """Two runs: one process, then the other rule in a forked one."""
    outs = [tmp_path_factory.mktemp(f"report{i}") for i in range(2)]
    for jobs, out in enumerate(outs, 1):
        run_evaluate_cli(log_dir, out, EvalConfig(rules=RULES, jobs=jobs), progress=False)
    return outs


def test_same_log_same_metrics_bytes_whatever_the_processes(reports):
    for name in ("metrics.json", "report.json"):
        assert (reports[0] / name).read_bytes() == (reports[1] / name).read_bytes()


def test_report_holds_every_variant_and_plot(reports):
    metrics = json.loads((reports[0] / "metrics.json").read_text())
    report = json.loads((reports[0] / "report.json").read_text())
    assert set(metrics) == {v.name for v in select(None)}
    for m in metrics.values():
        assert m["n"] == report["log"]["test_labels"] and 0.0 <= m["auc"] <= 1.0
        assert sum(ch["n"] for ch in m["channels"].values()) == m["n"]
        assert m["ips"]["n"] > 0 and m["top_k"]["lists"] > 0
    page = (reports[0] / "index.html").read_text()
    for png in ("roc.png", "auc_by_day.png", "calibration.png"):
        assert (reports[0] / png).stat().st_size > 0 and png in page
    assert "| GLMix full (incremental) |" in (reports[0] / "report.md").read_text()
    assert set(report["rules"]) == set(RULES) and report["recovery"]["full-batch"]


def test_evaluator_labels_equal_the_labellers(log_dir, reports, tmp_path):
    """The worker's labels equal `nearline labels` (tests/streams/test_labels.py); the
    evaluator labels through the same `label_log`, so its counts must match that file."""
    report = json.loads((reports[0] / "report.json").read_text())
    for rule in RULES:
        path = tmp_path / "labels.jsonl"
        run_labels_cli(log_dir, rule, path, progress=False, close_open=True)
        from_cli = read_labels(path)
        assert labels_of(read_events(log_dir), rule) == from_cli
        counts = report["rules"][rule]
        assert counts["labels"] == len(from_cli)
        assert counts["positives"] == sum(lb.label for lb in from_cli)


def test_rules_change_autoplay_positives(reports):
    rules = json.loads((reports[0] / "report.json").read_text())["rules"]
    # fixed:9 s passes nearly every preview of 30-180 s; the member's 95th percentile few
    assert rules["fixed:9"]["autoplay_positive"] > rules["percentile:95:member"].get(
        "autoplay_positive", 0
    )


def test_incremental_predicts_before_learning(log_dir):
    """Progressive validation: the first test label's logit is the batch model's."""
    config = EvalConfig(rules=RULES[:1], variants=select("full-batch,full-incremental"))
    ev = Evaluator(Log.read(log_dir), config).run()
    batch, online = ev.logits["full-batch"], ev.logits["full-incremental"]
    assert batch[0] == pytest.approx(online[0])
    assert not np.allclose(batch, online)


def test_train_days_must_leave_test_days(log_dir):
    with pytest.raises(ValueError, match=r"train days must be within 1\.\.7"):
        Evaluator(Log.read(log_dir), EvalConfig(train_days=8))


def test_split_keeps_every_label_with_its_impression_day(log_dir):
    """Training holds every label of the impressions before the split, also the timeout
    negatives that arrive a window after it; a split by label time kept only the early
    positives of the last training day (a biased day-of-week weight) and scored its
    negatives as test labels."""
    ev = Evaluator(Log.read(log_dir), EvalConfig(rules=RULES[:1]))
    labels = labels_of(read_events(log_dir), RULES[0])
    train, test = ev.split(ev._known(labels))
    assert len(train) + len(test) == len(labels)
    assert all(event_ts(lb) < ev.split_ms for lb in train)
    assert all(event_ts(lb) >= ev.split_ms for lb in test)
    last_day = [lb for lb in labels if ev.split_ms - DAY_MS <= event_ts(lb) < ev.split_ms]
    late = [lb for lb in train if lb.label_ts >= ev.split_ms]
    assert late and all(lb.source == "timeout" for lb in late)
    in_train = [lb for lb in train if event_ts(lb) >= ev.split_ms - DAY_MS]
    assert sorted(map(repr, in_train)) == sorted(map(repr, last_day))
    tr, te = ev.featurised(labels)
    assert (len(tr), len(te)) == (len(train), len(test))
    assert tr.y.sum() == sum(lb.label for lb in train)


def test_scored_labels_are_those_of_test_impressions(log_dir, reports):
    ev = Evaluator(Log.read(log_dir), EvalConfig(rules=RULES[:1]))
    _, test = ev.split(ev._known(labels_of(read_events(log_dir), RULES[0])))
    report = json.loads((reports[0] / "report.json").read_text())
    assert report["log"]["test_labels"] == len(test)
    assert report["log"]["test_positives"] == sum(lb.label for lb in test)


def test_evaluator_counts_cohort_positives_label_by_label(log_dir):
    """Offline lists draw trending candidates from every positive of the member's title
    cohort, faded from the label's event time: the sum, recomputed here label by label."""
    log = Log.read(log_dir)
    ev = Evaluator(log, EvalConfig(rules=RULES[:1]))
    known = ev._known(labels_of(log.events, RULES[0]))
    catalog = fresh_state(log, ev.spec).catalog
    members = {m.member_id: m for m in log.members}
    trends = Trends()
    ev._engage(defaultdict(list), trends, known, catalog, members)
    member = next(m for m in log.members if m.title)
    end = max(lb.label_ts for lb in known)
    expected = np.zeros(len(catalog))
    for lb in known:
        clicker = members.get(lb.member_id)
        if (
            lb.label
            and clicker
            and cohort_key("title", clicker.title) == cohort_key("title", member.title)
        ):
            age = (end - event_ts(lb)) / (HALF_LIFE_DAYS * DAY_MS)
            expected[catalog.row(lb.course_id)] += 0.5**age
    title, _ = trends.sources(member, catalog, end)
    assert expected.sum() > 1.0
    np.testing.assert_allclose(title, expected)


def test_offline_lists_draw_on_the_members_cohort_trends(log_dir, monkeypatch):
    """The day's signals handed to `top_lists` carry trending sources for members with a
    title, and none for members without one."""
    seen = {}

    def spy(served, state, signals, ts, k):
        seen.update(signals)
        return real(served, state, signals, ts, k)

    real = run_module.top_lists
    monkeypatch.setattr(run_module, "top_lists", spy)
    log = Log.read(log_dir)
    Evaluator(log, EvalConfig(rules=RULES[:1], variants=select("popularity"))).run()
    titled = {m.member_id for m in log.members if m.title}
    assert any(seen[m].trending_title is not None for m in seen if m in titled)
    assert all(seen[m].trending_title is None for m in seen if m not in titled)


def test_other_rules_run_in_forked_processes(log_dir):
    ev = Evaluator(Log.read(log_dir), EvalConfig(rules=RULES, jobs=2))
    with ev._rules_started() as started:
        assert set(started) == {RULES[1]}
        counts, own, _ = started[RULES[1]].get(timeout=120)
    assert (counts, own) == ev.fit_rule(RULES[1])[:2]


def test_aucs_of_the_simulated_world_stay_in_a_sane_range(reports):
    """The planted effects are learnable but noisy, and progressive validation gives the
    incremental model only labels final before each impression: it may gain on its batch
    twin, but not the leap a label leaking into its own prediction gives."""
    metrics = json.loads((reports[0] / "metrics.json").read_text())
    batch, online = metrics["full-batch"]["auc"], metrics["full-incremental"]["auc"]
    assert 0.6 <= batch <= 0.8
    assert batch - 0.02 <= online <= batch + 0.02
    assert metrics["popularity"]["auc"] < batch


def _flipped(labels, cut_ms: int):
    """Every label of an impression at or after `cut_ms` flipped, final when it would be:
    a click a second after its impression, a timeout negative a day after it."""
    out = []
    for lb in labels:
        if event_ts(lb) >= cut_ms:
            label = 1 - lb.label
            final = event_ts(lb) + (1000 if label else DAY_MS)
            lb = lb.model_copy(update={"label": label, "label_ts": final})
        out.append(lb)
    return out


def test_later_labels_change_no_earlier_prediction_or_feature(log_dir, monkeypatch):
    """Each label is featurised and predicted as of its impression, from the labels final
    before it: flipping every label of the impressions from the middle of the first test
    day on leaves every earlier impression's logit (batch and incremental) and feature
    row as it was. Featurised or predicted when final, a negative of the morning would see
    the afternoon's labels."""
    log = Log.read(log_dir)
    config = EvalConfig(rules=RULES[:1], variants=select("lr,full-batch,full-incremental"))
    labels = labels_of(log.events, RULES[0])
    cut = Evaluator(log, config).split_ms + DAY_MS // 2
    runs = []
    for given in (labels, _flipped(labels, cut)):
        monkeypatch.setattr(run_module, "labels_of", lambda events, rule, given=given: given)
        ev = Evaluator(log, config)
        replay = ev.replay(ev._known(given))
        runs.append((ev.run(), replay))
    (before, replay), (after, flipped) = runs
    earlier = int((replay.test_ex.ts < cut).sum())
    assert 0 < earlier < len(replay.test_ex)
    assert np.array_equal(before.y[:earlier], after.y[:earlier])
    assert not np.array_equal(before.y[earlier:], after.y[earlier:])
    for name, logits in before.logits.items():
        assert np.array_equal(logits[:earlier], after.logits[name][:earlier]), name
    assert not np.array_equal(before.logits["full-incremental"], after.logits["full-incremental"])
    assert np.array_equal(replay.train_ex.x_mc, flipped.train_ex.x_mc)
    assert np.array_equal(replay.test_ex.x_mc[:earlier], flipped.test_ex.x_mc[:earlier])
    assert not np.array_equal(replay.test_ex.x_mc, flipped.test_ex.x_mc)
