"""Workaround for a faust-streaming 0.15.3 hang on a worker's first rebalance.

A fresh worker creates its changelog topics and joins its group at once. When the
group leader's metadata does not list a global table's changelog topic yet, the
PartitionAssignor skips it ("Ignoring missing topic") and then looks its partition
count up in `_global_table_standby_assignments` (faust/assignor/partition_assignor.py):
KeyError, the assignment fails inside aiokafka's coordinator and the worker never gets
a partition. Seen in a test log as "Ignoring missing topic: '...watch-stats-changelog'"
followed by silence. The table declares its partition count; falling back to it gives
a complete assignment, and the leader's metadata watch rebalances again once the topic
shows. The same lookup hung robinhood/faust#507. Written against faust-streaming==0.15.3.
"""

from __future__ import annotations

from collections.abc import Mapping

from faust.assignor.partition_assignor import PartitionAssignor

_standby_assignments = PartitionAssignor._global_table_standby_assignments


def _with_declared_partitions(
    self: PartitionAssignor, assignments: dict, partitions_by_topic: Mapping[str, int]
) -> dict:
    declared = {
        table._changelog_topic_name(): table.partitions
        for table in self._table_manager.data.values()
        if table.is_global and table.partitions
    }
    return _standby_assignments(self, assignments, {**declared, **partitions_by_topic})


def declared_partitions_for_missing_changelogs() -> None:
    """Install the workaround (idempotent)."""
    PartitionAssignor._global_table_standby_assignments = _with_declared_partitions  # type: ignore[method-assign]
