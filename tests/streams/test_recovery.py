"""The recovery workarounds: stream partitions resume only after the seek, and a partition
never committed is read from its beginning."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from streams import recovery


class Consumer:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def resume_partitions(self, tps: set) -> None:
        self.calls.append(("resume", frozenset(tps)))

    async def perform_seek(self) -> None:
        self.calls.append(("seek",))


class FakeRecovery:
    def __init__(self) -> None:
        self.app = type("App", (), {"consumer": Consumer()})()


async def faust_order(self, generation_id: int = 0) -> None:
    """What faust-streaming 0.15.3 does: resume, then seek."""
    self.app.consumer.resume_partitions({"activity-0"})
    await self.app.consumer.perform_seek()


async def no_seek(self, generation_id: int = 0) -> None:
    self.app.consumer.resume_partitions({"activity-1"})


@pytest.mark.parametrize(
    ("completed", "expected"),
    [
        (faust_order, [("seek",), ("resume", frozenset({"activity-0"}))]),
        (no_seek, [("resume", frozenset({"activity-1"}))]),
    ],
    ids=["seek-then-resume", "resumed-even-without-a-seek"],
)
def test_partitions_resume_only_after_the_seek(monkeypatch, completed, expected):
    monkeypatch.setattr(recovery, "_on_recovery_completed", completed)
    r = FakeRecovery()
    asyncio.run(recovery._seek_then_resume(r))
    assert r.app.consumer.calls == expected
    assert "resume_partitions" not in vars(r.app.consumer), "the consumer is restored"


class Thread:
    def __init__(self) -> None:
        self.to_beginning: list[TP] = []

    async def seek_to_beginning(self, *tps: TP) -> None:
        self.to_beginning += tps


class SeekingConsumer:
    def __init__(self) -> None:
        self._thread = Thread()

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")


def test_partitions_never_committed_go_back_to_their_beginning(monkeypatch):
    committed = {
        TP("activity", 0): None,  # the previous owner died before its first commit
        TP("activity", 1): 0,
        TP("activity", 2): 5,
        TP("label-state-changelog", 0): None,  # positioned by the recovery instead
    }

    async def seek_to_committed(self):
        return committed

    monkeypatch.setattr(recovery, "_seek_to_committed", seek_to_committed)
    consumer = SeekingConsumer()
    assert asyncio.run(recovery._seek_to_committed_or_beginning(consumer)) == committed
    assert consumer._thread.to_beginning == [TP("activity", 0), TP("activity", 1)]
