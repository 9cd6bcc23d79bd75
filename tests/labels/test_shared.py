"""Shared watch statistics count each view once, even when it is processed again."""

from __future__ import annotations

from labels.shared import VideoStats, count_view, global_stats

DAY0 = 1767225600000
DAY = 86_400_000


def views(table: dict) -> tuple[int, int]:
    day = DAY0 // DAY + 1
    video = VideoStats(table)["c1"].views(day=day, window_days=30)
    return video, global_stats(table, partitions=2).views(day=day, window_days=30)


def test_a_view_processed_again_after_a_handover_counts_once():
    table: dict = {}
    for offset in (0, 1, 1, 0, 2):  # 1 and 0 again: re-delivered after the commit
        count_view(table, "c1", 0, offset, 12.0, DAY0, keep_days=32)
    assert views(table) == (3, 3)


def test_partitions_count_their_own_offsets():
    table: dict = {}
    count_view(table, "c1", 0, 5, 12.0, DAY0, keep_days=32)
    count_view(table, "c2", 1, 0, 12.0, DAY0, keep_days=32)
    assert views(table) == (1, 2)
