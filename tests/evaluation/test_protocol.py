"""The random-split protocol: a seeded held-out share that never enters the features."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from evaluation.protocol import SplitEvaluator, as_of_impression, held_out
from evaluation.run import EvalConfig, Log, labels_of
from evaluation.variants import BY_NAME, select
from models.refit import batch_logits
from models.spec import HISTORY_NAMES, MC_NAMES
from replay.simulate import WorldConfig, simulate

RULE = "fixed:9"


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Log:
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=200, courses=40, days=6, seed=5), out, progress=False)
    return Log.read(out)


def test_held_out_share_is_exact_and_fixed_by_the_seed():
    a, b, c = held_out(1000, 0.2, 1), held_out(1000, 0.2, 1), held_out(1000, 0.2, 2)
    assert a.sum() == 200 and (a == b).all() and (a != c).any()
    for fraction in (0.0, 1.0, 0.0001):
        with pytest.raises(ValueError, match="test fraction"):
            held_out(1000, fraction, 0)


def test_labels_are_final_at_their_impression_in_an_order_blind_to_the_label(log):
    labels = as_of_impression(labels_of(log.events, RULE))
    keys = [(lb.label_ts, lb.impression_event_id) for lb in labels]
    assert keys == sorted(keys) and all(lb.label_ts == lb.impression_ts for lb in labels)


def test_held_out_labels_change_no_feature(log):
    """Flipping every held-out label leaves every feature row as it was."""
    evaluator = SplitEvaluator(log, EvalConfig(rules=(RULE,), variants=select("lr")))
    labels = labels_of(log.events, RULE)
    train, test = evaluator.examples(labels)
    ordered = as_of_impression(labels)
    mask = held_out(len(ordered), 0.2, 0)
    by_id = {lb.impression_event_id for lb, t in zip(ordered, mask, strict=True) if t}
    flipped = [
        lb.model_copy(update={"label": 1 - lb.label}) if lb.impression_event_id in by_id else lb
        for lb in labels
    ]
    train2, test2 = evaluator.examples(flipped)
    assert np.array_equal(train.x_mc, train2.x_mc) and np.array_equal(train.y, train2.y)
    assert np.array_equal(test.x_mc, test2.x_mc) and np.array_equal(test.y, 1 - test2.y)


def test_the_global_row_knows_no_entity_and_no_history(log):
    """GDMix's global row: its logits are a function of the member's and course's own
    features and the history-free x_mc columns only. Scrambling the history columns
    moves the project's LR, not this one; the course table it is folded into is the same
    affine function of x_c for every course, so no course has an effect of its own."""
    evaluator = SplitEvaluator(log, EvalConfig(rules=(RULE,), variants=select("side-lr")))
    train, test = evaluator.examples(labels_of(log.events, RULE))
    history = [MC_NAMES.index(n) for n in HISTORY_NAMES]
    scrambled = test.x_mc.copy()
    scrambled[:, history] = np.random.default_rng(0).normal(size=(len(test), len(history)))
    models = {name: BY_NAME[name].fit(train, evaluator.spec) for name in ("side-lr", "lr")}
    moved = {
        name: np.abs(batch_logits(m, test) - batch_logits(m, replace(test, x_mc=scrambled))).max()
        for name, m in models.items()
    }
    assert moved["side-lr"] == 0.0 and moved["lr"] > 0.01, moved
    side = models["side-lr"]
    assert side.members.ids == [] and not side.w[history].any()
    rows = side.courses.matrix(train.course_ids)
    assert np.ptp(rows[:, 1:], axis=0).max() == 0.0  # one shared w_m
    x1 = np.hstack([train.x_c, np.ones((len(rows), 1))])
    residual = rows[:, 0] - x1 @ np.linalg.lstsq(x1, rows[:, 0], rcond=None)[0]
    assert np.abs(residual).max() < 1e-9


def test_random_split_from_the_command_line_reports_batch_variants(tmp_path):
    log_dir = tmp_path / "log"
    simulate(WorldConfig(members=100, courses=30, days=4, seed=1), log_dir, progress=False)
    out = tmp_path / "report"
    args = ["evaluate", str(log_dir), "--out", str(out), "--rule", RULE, "--quiet"]
    run = subprocess.run(
        [sys.executable, "-m", "nearline", *args, "--protocol", "random-split", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    report = json.loads((out / "report.json").read_text())
    assert set(metrics) == {v.name for v in select(None) if not v.incremental}
    assert report["config"]["protocol"] == "random-split" and report["config"]["seed"] == 3
    assert all(m["n"] == report["log"]["test_labels"] for m in metrics.values())
    assert "held out" in (out / "report.md").read_text() and (out / "roc.png").stat().st_size
