"""Workarounds for how faust-streaming 0.15.3 positions stream partitions after a rebalance.

1. A race after a changelog restore.

`Recovery.on_recovery_completed` (faust/tables/recovery.py) resumes the stream
partitions and only then awaits `consumer.perform_seek()`. After a restore (a worker
that starts with an empty state folder) the Fetcher is already running, so records of
the just-resumed partitions are processed while the seek is in flight; the seek then
rewinds Faust's read offsets to the committed ones, the rest of the fetched batch looks
like a hole (`Consumer._add_gap`, faust/transport/consumer.py), `_new_offset` adds those
offsets to `_acked` a second time, and `consecutive_numbers` stops at every duplicate:
the commit advances one offset per commit interval (the partition looks stuck for
minutes) and one record is processed twice. Resuming only after the seek avoids both.

2. A partition without a committed offset is not rewound. The seek that makes a new
owner start at the committed offsets (`Consumer.perform_seek`) calls aiokafka's
`seek_to_committed`, which seeks only offsets > 0 (aiokafka/consumer/consumer.py); a
partition whose previous owner died before its first commit keeps the position the
fetcher reached during the rebalance and recovery, records Faust discarded then (the
partition was paused) are never processed. Seen as a replacement that labels nothing,
or only what arrives after it is ready, when a worker is killed within its first
commit interval. Such partitions are sent back to their beginning, as
`consumer_auto_offset_reset="earliest"` means.

Written against faust-streaming==0.15.3 and aiokafka==0.14.0 (pinned); re-check on
upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping

from faust.tables.recovery import Recovery
from faust.transport.consumer import ThreadDelegateConsumer
from faust.types import TP

_on_recovery_completed = Recovery.on_recovery_completed
_seek_to_committed = ThreadDelegateConsumer.seek_to_committed


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


async def _seek_to_committed_or_beginning(self: ThreadDelegateConsumer) -> Mapping[TP, int]:
    committed = await _seek_to_committed(self)
    never = [tp for tp, offset in committed.items() if not offset and not self._is_changelog_tp(tp)]
    if never:  # changelogs are positioned by the recovery, from the tables' offsets
        await self._thread.seek_to_beginning(*never)
    return committed


def seek_before_resuming() -> None:
    """Install both workarounds (idempotent)."""
    Recovery.on_recovery_completed = _seek_then_resume  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign]
