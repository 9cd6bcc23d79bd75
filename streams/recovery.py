"""Workaround for a faust-streaming 0.15.3 race after a changelog restore.

`Recovery.on_recovery_completed` (faust/tables/recovery.py) resumes the stream
partitions and only then awaits `consumer.perform_seek()`. After a restore (a worker
that starts with an empty state folder) the Fetcher is already running, so records of
the just-resumed partitions are processed while the seek is in flight; the seek then
rewinds Faust's read offsets to the committed ones, the rest of the fetched batch looks
like a hole (`Consumer._add_gap`, faust/transport/consumer.py), `_new_offset` adds those
offsets to `_acked` a second time, and `consecutive_numbers` stops at every duplicate:
the commit advances one offset per commit interval (the partition looks stuck for
minutes) and one record is processed twice. Resuming only after the seek avoids both.
Written against faust-streaming==0.15.3 (pinned); re-check on upgrade.
"""

from __future__ import annotations

from faust.tables.recovery import Recovery

_on_recovery_completed = Recovery.on_recovery_completed


async def _seek_then_resume(self: Recovery, generation_id: int = 0) -> None:
    consumer = self.app.consumer
    held: list = []
    seek = consumer.perform_seek

    async def perform_seek() -> None:
        await seek()
        del consumer.resume_partitions  # back to the method, then resume what was held
        for tps in held:
            consumer.resume_partitions(tps)
        held.clear()

    consumer.resume_partitions = held.append  # type: ignore[method-assign]
    consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    try:
        await _on_recovery_completed(self, generation_id)
    finally:
        for name in ("resume_partitions", "perform_seek"):
            consumer.__dict__.pop(name, None)
        for tps in held:  # no seek happened (empty assignment, or a new rebalance)
            consumer.resume_partitions(tps)


def seek_before_resuming() -> None:
    """Install the workaround (idempotent)."""
    Recovery.on_recovery_completed = _seek_then_resume  # type: ignore[method-assign]
