"""Wall-clock ticks into the member stage: the only way time passes where no record does.

A background thread produces an empty record to every partition of `clock-ticks` each
period and does nothing else; the member stage, which owns the partition, handles the
tick in its processing thread, in the transaction of its other records: idle clocks
move on, debounced rescores run, the model folder is polled.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Producer

log = logging.getLogger(__name__)


class Ticker(threading.Thread):
    """One tick per partition of `topic` every `period_s`, until `stop`."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, period_s: float) -> None:
        super().__init__(daemon=True, name="ticker")
        self.producer = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 3, "logger": log}
        )
        self.topic, self.partitions, self.period_s = topic, partitions, period_s
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.period_s):
            try:
                for partition in range(self.partitions):
                    self.producer.produce(self.topic, b"", partition=partition)
                self.producer.poll(0)
            except BufferError:  # the broker is away: ticks resume once it is back
                self.producer.poll(self.period_s)
        self.producer.flush(5)

    def stop(self) -> None:
        self.stopping.set()
