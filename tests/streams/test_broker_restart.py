"""Integration: the broker stops mid-replay and starts again on its port; the worker
resumes by itself, and no label is lost or repeated.

The broker is this test's own (it is stopped). The replay's producer holds what it
could not send and delivers it when the broker is back, so the worker meets a backlog:
its reported lag must show it, then fall to nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from nearline.broker import LocalBroker, free_port
from nearline.supervise import running_worker, wait_until
from tests.streams.replayed import Replay, finish, handover_settings, mismatch, wait_mid_stream

OUTAGE_S = 20.0  # how long the broker stays away
# The worker's warnings and errors from the stop until caught up: each kind (client
# thread x what it could not reach) told once per 30 s, a few dozen here, however long
# the broker is away; before, one per retry of every client thread.
MAX_COMPLAINTS = 80


def reported_lag(worker) -> float | None:
    status, body = worker.get("/health")
    return body["lag"] if status == 200 else None


@pytest.mark.kafka
def test_a_broker_restart_mid_replay_loses_and_repeats_no_label(tmp_path, world):
    broker = LocalBroker(tmp_path / "broker", port=free_port())
    # sources stay quiet while the broker is away: none is counted idle meanwhile
    settings = replace(handover_settings(broker.start(), tmp_path), idle_s=3 * OUTAGE_S)
    try:
        with running_worker(settings, tmp_path / "worker.log") as worker:
            replay = Replay(world, settings)
            replay.start()
            wait_mid_stream(world, settings)
            before = len(worker.log.read_text().splitlines())
            broker.stop()
            stopped = time.monotonic()
            while time.monotonic() - stopped < OUTAGE_S:  # the outage itself
                assert worker.proc.poll() is None, "the worker stopped with the broker"
                time.sleep(1)
            broker.start()
            wait_until(
                lambda: (reported_lag(worker) or 0) > 0, 60, "the backlog in the worker's lag"
            )
            replay.join()
            expected, online = finish(world, settings)
            wait_until(lambda: reported_lag(worker) == 0, 30, "the lag back to zero")
            assert worker.proc.poll() is None
            logged = worker.log.read_text().splitlines()[before:]
            complaints = [line for line in logged if re.search(r"\[(WARNING|ERROR)\]", line)]
        assert online == expected, mismatch(online, expected)
        assert len(complaints) <= MAX_COMPLAINTS, "\n".join(logged)
    finally:
        broker.stop()
