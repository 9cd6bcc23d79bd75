"""Where partitions begin and end, asked the way that does not wait on a fetch."""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

# a partition created a moment ago may have no leader yet, or not be in the metadata
NOT_YET = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}
RETRY_S = 0.05


def watermarks(
    consumer: Consumer, partitions: Iterable[tuple[str, int]], timeout_s: float
) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) offsets of each (topic, partition), the high one the last stable
    offset for a read-committed consumer. Ask before `assign`: once a consumer fetches,
    each question waits behind its fetch for up to `fetch.wait.max.ms`, and catching up
    with many partitions took seconds of asking alone. A partition that has no leader
    yet is asked again until `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    out = {}
    for topic, partition in partitions:
        while True:
            left = max(deadline - time.monotonic(), RETRY_S)
            try:
                out[topic, partition] = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=left, cached=False
                )
                break
            except KafkaException as e:
                if e.args[0].code() not in NOT_YET or time.monotonic() >= deadline:
                    raise
                time.sleep(RETRY_S)
    return out
