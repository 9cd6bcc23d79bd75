"""The output fence: what a topic already holds is admitted once less, read lazily."""

from __future__ import annotations

import asyncio

from streams.fence import SKEW_MS, Fence, Reprocessing, label_identity


class Topic:
    """A fake output partition: (created_ms, value) at offsets 0.."""

    def __init__(self, records: list[tuple[int, bytes]]) -> None:
        self.records = records
        self.reads: list[tuple[int, int, int | None]] = []

    async def read(self, partition: int, since_ms: int, before: int | None):
        self.reads.append((partition, since_ms, before))
        end = len(self.records) if before is None else before
        start = next((i for i, (ts, _) in enumerate(self.records) if ts >= since_ms), end)
        return min(start, end), [v for _, v in self.records[start:end]]


def run(coroutine):
    return asyncio.run(coroutine)


def test_each_copy_on_the_topic_is_admitted_once_less():
    topic = Topic([(100, b"a"), (200, b"b"), (300, b"b")])
    fence = Fence(topic.read)
    run(fence.cover(0, 100 + SKEW_MS))
    assert [fence.admit(0, v) for v in (b"b", b"b", b"b", b"a", b"a")] == [
        False,
        False,
        True,
        False,
        True,
    ]
    assert fence.admit(1, b"a"), "another partition holds nothing"


def test_only_what_an_input_record_may_have_produced_is_read():
    topic = Topic([(100, b"a"), (200, b"b"), (300, b"c")])
    fence = Fence(topic.read)
    run(fence.cover(0, 200 + SKEW_MS))
    assert fence.admit(0, b"a"), "created before the input record: not its output"
    assert not fence.admit(0, b"b")


def test_an_older_input_record_reads_further_back_once():
    topic = Topic([(100, b"a"), (200, b"b"), (300, b"c")])
    fence = Fence(topic.read)
    run(fence.cover(0, 300 + SKEW_MS))
    run(fence.cover(0, 350 + SKEW_MS))  # newer: covered already
    run(fence.cover(0, 100 + SKEW_MS))
    assert topic.reads == [(0, 300, None), (0, 100, 2)]
    assert [fence.admit(0, v) for v in (b"a", b"b", b"c", b"c")] == [False, False, False, True]


def test_a_rebalance_forgets_and_reads_again():
    topic = Topic([(100, b"a")])
    fence = Fence(topic.read)
    run(fence.cover(0, 100 + SKEW_MS))
    fence.reset()
    assert fence.admit(0, b"a")
    run(fence.cover(0, 100 + SKEW_MS))
    assert topic.reads == [(0, 100, None), (0, 100, None)]


def test_an_impression_is_labelled_once_whatever_the_label():
    first = b'{"impression_event_id": "i1", "label": 1, "source": "autoplay"}'
    again = b'{"impression_event_id": "i1", "label": 0, "source": "timeout"}'
    fence = Fence(Topic([(100, first)]).read, label_identity)
    run(fence.cover(0, 100))
    assert not fence.admit(0, again)
    assert fence.admit(0, b'{"impression_event_id": "i2", "label": 0}')
    assert label_identity(b'{"impression_event_id": null, "x": 1}') == (
        b'{"impression_event_id": null, "x": 1}'
    )


def test_fences_reach_back_to_the_oldest_input_delivered_since_the_assignment():
    r = Reprocessing()
    assert r.since("activity", 0, 500) == 500
    assert r.since("activity", 0, 900) == 500, "later records: the first one bounds"
    assert r.since("ticks", 0, 300) == 300, "an older first record of another topic"
    assert r.since("activity", 1, 800) == 800, "partitions are apart"
    r.reset()
    assert r.since("activity", 0, 900) == 900
