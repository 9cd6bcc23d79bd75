"""The recovery workaround: stream partitions resume only after the seek."""

from __future__ import annotations

import asyncio

import pytest

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
