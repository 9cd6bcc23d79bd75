"""The assignor workaround: a global table's changelog missing from the leader's
metadata is assigned by its declared partition count instead of failing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from faust.assignor.client_assignment import ClientAssignment
from faust.assignor.partition_assignor import PartitionAssignor

from streams import assignor

CHANGELOG = "app-watch-stats-changelog"


def leader(partitions: int | None) -> SimpleNamespace:
    table = SimpleNamespace(
        is_global=True,
        partitions=partitions,
        synchronize_all_active_partitions=False,
        use_partitioner=False,
        _changelog_topic_name=lambda: CHANGELOG,
    )
    return SimpleNamespace(_table_manager=SimpleNamespace(data={"watch-stats": table}))


def members() -> dict:
    return {m: ClientAssignment(actives={}, standbys={}) for m in ("w1", "w2")}


def test_faust_fails_on_a_changelog_missing_from_the_metadata():
    with pytest.raises(KeyError):
        assignor._standby_assignments(leader(4), members(), {})


def test_every_member_gets_every_partition_of_the_declared_changelog():
    out = assignor._with_declared_partitions(leader(4), members(), {})
    assert {m: sorted(a.actives[CHANGELOG]) for m, a in out.items()} == {
        "w1": [0, 1, 2, 3],
        "w2": [0, 1, 2, 3],
    }


def test_the_metadata_wins_once_it_lists_the_topic():
    out = assignor._with_declared_partitions(leader(4), members(), {CHANGELOG: 2})
    assert sorted(out["w1"].actives[CHANGELOG]) == [0, 1]


def test_installed_in_place_of_faust_lookup(monkeypatch):
    monkeypatch.setattr(
        PartitionAssignor, "_global_table_standby_assignments", assignor._standby_assignments
    )
    assignor.declared_partitions_for_missing_changelogs()
    assert PartitionAssignor._global_table_standby_assignments is assignor._with_declared_partitions
