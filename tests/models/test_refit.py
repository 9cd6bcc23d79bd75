import numpy as np
import pytest

from models.history import DAY_MS
from models.refit import batch_logits, daily_refit_logits
from models.synthetic import planted
from models.train import quality, train


@pytest.fixture(scope="module")
def data():
    # one example a minute: 20,000 examples span ~14 days
    return planted(n_members=100, n_courses=40, n=20_000, seed=7)


def test_warm_start_converges_to_the_cold_fit(data):
    ex, spec, _ = data
    cold = train(ex, spec, sweeps=4)
    earlier = train(ex.subset(np.arange(len(ex) // 2)), spec)
    warm = train(ex, spec, init=earlier, sweeps=4)
    gap = batch_logits(warm, ex) - batch_logits(cold, ex)
    assert np.abs(gap).mean() < 0.01 and np.abs(gap).max() < 0.1
    assert warm.meta["metrics"]["log_loss"] == pytest.approx(
        cold.meta["metrics"]["log_loss"], abs=1e-4
    )


def test_daily_refit_never_sees_labels_unsettled_at_the_start_of_the_day(data):
    ex, spec, _ = data
    first = int(np.searchsorted(ex.label_ts, (ex.label_ts[0] // DAY_MS + 10) * DAY_MS))
    window = DAY_MS // 4
    logits = daily_refit_logits(ex, spec, first, window_ms=window)
    first_day = ex.label_ts[first:] // DAY_MS == ex.label_ts[first] // DAY_MS
    # rewrite every label of an impression younger than the window at the first test day
    unsettled = ex.ts + window > (ex.label_ts[first] // DAY_MS) * DAY_MS
    flipped = daily_refit_logits(
        _with_labels(ex, unsettled),
        spec,
        first,
        window_ms=window,
    )
    assert np.array_equal(logits[first_day], flipped[first_day])
    assert not np.allclose(logits[~first_day], flipped[~first_day])


def _with_labels(ex, flip):
    out = ex.subset(np.arange(len(ex)))
    out.y = np.where(flip, 1.0 - ex.y, ex.y)
    return out


def test_daily_refit_learns_the_planted_effects_progressively(data):
    ex, spec, _ = data
    first = len(ex) // 2
    refit = quality(ex.y[first:], daily_refit_logits(ex, spec, first))
    frozen_global = train(ex.subset(np.arange(first)), spec, random_effects=())
    baseline = quality(
        ex.y[first:], batch_logits(frozen_global, ex.subset(np.arange(first, len(ex))))
    )
    assert refit["auc"] > baseline["auc"] + 0.02
