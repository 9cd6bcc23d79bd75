"""The debouncer under load: rescoring's share of time is bounded, every change is
scored in the end, and the period comes back once rescoring is cheap."""

from __future__ import annotations

from scoring.debounce import WIDEN, Debouncer, widen_for


def test_rescoring_takes_a_bounded_share_of_a_busy_worker():
    """Events every ms on 1000 members, a rescore costing 1 ms per member: rescoring
    each change would take all the time; the debouncer spends at most 1 / (1 + WIDEN)."""
    d: Debouncer[int, int] = Debouncer(period_ms=10)
    now, rescoring, scored = 0.0, 0.0, set()
    for event in range(200_000):
        now += 1.0
        d.mark(event % 1000, event, now)
        if d.due(now):
            batch = d.take()
            cost = len(batch) * 1.0
            now += cost
            rescoring += cost
            scored |= set(batch)
            d.done(now, cost)
    assert rescoring / now <= 1 / (1 + WIDEN) + 0.01
    batch = d.take()  # nothing new arrives: the next rescore writes every change
    assert scored | set(batch) == set(range(1000))


def test_the_period_returns_once_rescoring_is_cheap():
    d: Debouncer[str, int] = Debouncer(period_ms=100)
    d.mark("a", 1, now_ms=0)
    d.take()
    d.done(now_ms=1000, cost_ms=1000)
    d.mark("a", 2, now_ms=1001)
    assert not d.due(now_ms=3999) and d.due(now_ms=4000)
    d.take()
    d.done(now_ms=4001, cost_ms=1)
    d.mark("b", 3, now_ms=4002)
    assert not d.due(now_ms=4100) and d.due(now_ms=4101)


def test_the_latest_value_and_the_first_change_are_kept():
    d: Debouncer[str, str] = Debouncer(period_ms=0)
    d.mark("a", "old", now_ms=5)
    d.mark("a", "new", now_ms=9)
    d.forget(lambda key: key == "gone")
    assert d.take() == {"a": ("new", 5)}
    assert len(d) == 1  # pending until the rescore is done: nothing looks settled early
    d.done(now_ms=6, cost_ms=1)
    d.mark("gone", "x", now_ms=10)
    d.forget(lambda key: key == "gone")
    assert len(d) == 0


def test_a_narrower_widen_shortens_the_wait_already_running():
    d = Debouncer(period_ms=100, widen=9.0)
    d.mark("m1", "s", now_ms=0)
    d.take()
    d.done(now_ms=1000, cost_ms=1000)  # behind: wait 9 x 1000 ms
    d.mark("m2", "s", now_ms=1500)
    assert not d.due(now_ms=4000)
    d.widen = 3.0  # caught up: 3 x 1000 ms from the same rescore
    assert d.due(now_ms=4000)


def test_with_nothing_left_to_process_what_a_rescore_left_goes_next():
    """A rescore whose time ran out (members left) while nothing waits to be processed:
    the next starts after the period, not after widen x its cost; behind, it waits."""
    d = Debouncer(period_ms=100, widen=widen_for(lag=0, behind=1000))
    d.mark("m1", "s", now_ms=0)
    d.mark("m2", "s", now_ms=0)
    batch = d.take()
    d.done(now_ms=1000, cost_ms=1000, left={"m2": batch["m2"]})
    assert not d.due(now_ms=1099) and d.due(now_ms=1100)
    d.widen = widen_for(lag=10, behind=1000)
    assert not d.due(now_ms=3999) and d.due(now_ms=4000)
