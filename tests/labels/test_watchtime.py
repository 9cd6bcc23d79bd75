"""Watch-time histograms: percentile error against numpy, windows, merging, bytes."""

from __future__ import annotations

import numpy as np
import pytest

from labels.watchtime import ABSOLUTE_ERROR_S, DAY_MS, RELATIVE_ERROR, WatchStats

DAY = 20_000  # an arbitrary UTC day number
PERCENTILES = [0.5, 5, 25, 50, 75, 90, 95, 99, 100]


def _stats(values: np.ndarray, day: int = DAY - 1) -> WatchStats:
    stats = WatchStats()
    for v in values.tolist():
        stats.add(v, day * DAY_MS + 1)
    return stats


def _samples(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 5000
    return {
        "lognormal": rng.lognormal(mean=3.0, sigma=1.0, size=n),
        "wide lognormal": rng.lognormal(mean=1.0, sigma=2.5, size=n),
        "exponential": rng.exponential(20.0, size=n),
        "uniform": rng.uniform(0.0, 600.0, size=n),
        "zeros and full watches": np.concatenate(
            [np.zeros(1000), np.full(1000, 30.0), rng.uniform(0.0, 30.0, 500)]
        ),
        "tiny sample": rng.lognormal(2.0, 1.0, size=3),
    }


def test_percentile_error_is_within_the_stated_bound_against_numpy():
    rng = np.random.default_rng(7)
    worst = 0.0
    for name, values in _samples(rng).items():
        stats = _stats(values)
        for p in PERCENTILES:
            truth = float(np.percentile(values, p))
            estimate = stats.percentile(p, DAY, 30)
            bound = ABSOLUTE_ERROR_S + RELATIVE_ERROR * truth
            assert abs(estimate - truth) <= bound, (name, p, estimate, truth)
            if truth > 1.0:
                worst = max(worst, abs(estimate - truth) / truth)
    assert 0.0 < worst < RELATIVE_ERROR


def test_single_view_percentile_is_that_view_within_its_bin():
    stats = _stats(np.array([42.0]))
    for p in (1, 50, 100):
        assert stats.percentile(p, DAY, 30) == pytest.approx(42.0, rel=RELATIVE_ERROR)


def test_window_is_the_complete_days_before_the_given_day():
    stats = WatchStats()
    for day, value in [(DAY - 31, 1.0), (DAY - 30, 2.0), (DAY - 1, 3.0), (DAY, 4.0)]:
        stats.add(value, day * DAY_MS + 12 * 3_600_000)
    assert stats.views(DAY, 30) == 2
    assert stats.percentile(0.0001, DAY, 30) == pytest.approx(2.0, rel=RELATIVE_ERROR)
    assert stats.percentile(100, DAY, 30) == pytest.approx(3.0, rel=RELATIVE_ERROR)
    assert stats.views(DAY, 1) == 1
    assert stats.percentile(50, DAY - 40, 5) is None


def test_adding_to_a_cached_window_day_changes_the_answer():
    stats = _stats(np.full(10, 5.0))
    assert stats.percentile(50, DAY, 30) == pytest.approx(5.0, rel=RELATIVE_ERROR)
    for _ in range(30):
        stats.add(50.0, (DAY - 2) * DAY_MS)
    assert stats.percentile(50, DAY, 30) == pytest.approx(50.0, rel=RELATIVE_ERROR)


def test_cached_windows_slid_over_days_equal_windows_summed_from_scratch():
    """Views, prunes and questions interleaved at random days: every answer of the one
    statistic (whose window slides from the last one asked) equals a fresh copy's."""
    rng = np.random.default_rng(11)
    stats = WatchStats()
    for _ in range(3000):
        day = DAY + int(rng.integers(-8, 8))
        action = rng.random()
        if action < 0.6:
            stats.add(float(rng.lognormal(2.0, 1.5)), day * DAY_MS + 1)
        elif action < 0.62:
            stats.prune(day - 6)
        else:
            window = int(rng.choice([1, 3, 7]))
            fresh = WatchStats.from_bytes(stats.to_bytes())
            assert stats.views(day, window) == fresh.views(day, window)
            assert stats.percentile(95, day, window) == fresh.percentile(95, day, window)


def test_merge_equals_adding_everything_to_one():
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(2, 1, 300), rng.lognormal(3, 1, 200)
    merged = _stats(a).merge(_stats(b, day=DAY - 2))
    together = _stats(a)
    for v in b.tolist():
        together.add(v, (DAY - 2) * DAY_MS)
    assert merged == together
    assert merged.percentile(90, DAY, 30) == together.percentile(90, DAY, 30)


def test_prune_bounds_memory_to_the_kept_days():
    stats = WatchStats()
    for day in range(DAY - 100, DAY):
        stats.add(10.0, day * DAY_MS)
    stats.prune(DAY - 30)
    assert sorted(stats.days) == list(range(DAY - 30, DAY))
    assert stats.views(DAY, 100) == 30


def test_bytes_round_trip_and_size():
    stats = _stats(np.random.default_rng(1).lognormal(2, 1, 1000))
    raw = stats.to_bytes()
    assert WatchStats.from_bytes(raw) == stats
    assert len(raw) == 5 + 10 * sum(len(b) for b in stats.days.values())
    with pytest.raises(ValueError, match="version"):
        WatchStats.from_bytes(b"\x09" + raw[1:])


def test_bytes_written_after_each_change_equal_a_fresh_copys():
    rng = np.random.default_rng(2)
    stats, other = WatchStats(), _stats(rng.lognormal(2, 1, 50))
    for step in range(300):
        day = DAY - int(rng.integers(0, 40))
        stats.add(float(rng.lognormal(2, 1)), day * DAY_MS + int(rng.integers(0, DAY_MS)))
        if step % 50 == 7:
            stats.prune(DAY - 35)
        if step % 90 == 3:
            stats.merge(other)
        raw = stats.to_bytes()
        assert WatchStats.from_bytes(raw).to_bytes() == raw  # nothing packed went stale
        assert WatchStats.from_bytes(raw) == stats
