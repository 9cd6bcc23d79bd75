"""The debouncer under load: one rescore at a time, each taking every change since the
last, and every change scored in the end."""

from __future__ import annotations

from scoring.debounce import WIDEN_BEHIND, Debouncer

COST_MS = 5  # the rescorer's time per member


def _busy_run(d: Debouncer[int, int], ms: int) -> list[dict[int, tuple[int, float]]]:
    """An event every ms on 1000 members for `ms`, a rescorer beside the worker taking
    `COST_MS` per member; the batches it was given. Its last rescore is left running."""
    busy_until, batches = None, []
    for now in range(1, ms + 1):
        d.mark(now % 1000, now, float(now))
        if busy_until is not None and now >= busy_until:
            d.done(float(busy_until), float(COST_MS * d.scoring))
            busy_until = None
        if d.due(float(now)):
            batches.append(d.take())
            busy_until = now + COST_MS * len(batches[-1])
    return batches


def test_a_busy_worker_rescores_each_member_once_per_rescore():
    """Scoring each change would fall 160,000 lists behind in 200 s; the debouncer never
    asks more than the rescorer can do, a member's list at most once per rescore, and
    every member's in the end."""
    d: Debouncer[int, int] = Debouncer(period_ms=10)
    batches = _busy_run(d, 200_000)
    lists = sum(map(len, batches))
    assert lists <= 200_000 / COST_MS + 1000 and len(batches) > 10
    d.done(200_000.0, 0.0)
    last = d.take()  # nothing new arrives: the next rescore writes every change
    assert set().union(*batches, last) == set(range(1000))


def test_far_behind_the_rescorer_rests_a_multiple_of_each_rescore():
    """Far behind, the rescorer scores at most 1 / (1 + WIDEN_BEHIND) of the time;
    caught up, the wait already running shortens to the period."""
    d: Debouncer[int, int] = Debouncer(period_ms=10, widen=WIDEN_BEHIND)
    busy = COST_MS * sum(map(len, _busy_run(d, 100_000)))
    assert busy <= 100_000 / (1 + WIDEN_BEHIND) + COST_MS * 1000  # the last may run past
    d.done(100_000.0, 1000.0)
    assert not d.due(100_500.0)
    d.widen = 0.0
    assert d.due(100_500.0)


def test_the_next_rescore_waits_for_the_one_running_and_the_period():
    d: Debouncer[str, int] = Debouncer(period_ms=100)
    d.mark("a", 1, now_ms=0)
    d.take()
    d.mark("a", 2, now_ms=1)
    assert not d.due(now_ms=5000)  # the first is not done
    d.done(now_ms=5000, cost_ms=10)
    assert not d.due(now_ms=5099) and d.due(now_ms=5100)


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
