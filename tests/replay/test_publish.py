"""Replay into a real broker: keyed by member, and bad lines passed on, not fatal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nearline.broker import LocalBroker, free_port
from nearline.config import Settings
from nearline.supervise import wait_until
from nearline.topics import partition_of, read_topic, topic_size
from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE
from replay.publish import publish_log

GOOD = {
    "kind": "click",
    "event_id": "k1",
    "member_id": "m7",
    "course_id": "c1",
    "channel": "feed",
    "ts": "2026-01-05T10:00:00Z",
}


def test_every_line_reaches_its_topic_even_the_unusable_ones(kafka_bootstrap, tmp_path):
    broken = b'{"kind":"click","event_id":"k2",'  # a producer bug: truncated JSON
    no_member = json.dumps({k: v for k, v in GOOD.items() if k != "member_id"}).encode()
    (tmp_path / COURSES_FILE).write_text("")
    (tmp_path / MEMBERS_FILE).write_text("")
    (tmp_path / EVENTS_FILE).write_bytes(
        b"\n".join([json.dumps(GOOD).encode(), broken, no_member]) + b"\n"
    )
    settings = Settings(bootstrap=kafka_bootstrap, topic_prefix=f"pub{uuid.uuid4().hex[:8]}.")

    counts = publish_log(tmp_path, settings, speed=1.0, progress=False)

    assert counts == {"clicks": 3}
    records = {r.value: r for r in read_topic(kafka_bootstrap, settings.topic("clicks"))}
    assert set(records) == {json.dumps(GOOD).encode(), broken, no_member}
    good = records[json.dumps(GOOD).encode()]
    assert good.key == b"m7" and good.partition == partition_of(b"m7", settings.partitions)
    assert records[broken].key is None and records[no_member].key is None


def _clicks(folder: Path, n: int) -> Path:
    folder.mkdir()
    (folder / COURSES_FILE).write_text("")
    (folder / MEMBERS_FILE).write_text("")
    events = (json.dumps(GOOD | {"event_id": f"k{i}", "member_id": f"m{i % 50}"}) for i in range(n))
    (folder / EVENTS_FILE).write_text("\n".join(events) + "\n")
    return folder


def _replay(log_dir: Path, bootstrap: str, prefix: str, *flags: str) -> subprocess.CompletedProcess:
    kafka = ("--bootstrap", bootstrap, "--topic-prefix", prefix)
    return subprocess.run(
        [sys.executable, "-m", "nearline", "replay", str(log_dir), "--quiet", *kafka, *flags],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.kafka
def test_a_replay_into_a_broker_stopped_midway_fails_with_counts_then_completes(tmp_path):
    """The broker of this test is its own (it is stopped); it comes back on its port."""
    log_dir = _clicks(tmp_path / "log", 3000)
    broker = LocalBroker(tmp_path / "broker", port=free_port())
    settings = Settings(bootstrap=broker.start(), topic_prefix="out.")
    try:
        with ThreadPoolExecutor(1) as pool:
            replay = pool.submit(
                _replay,
                log_dir,
                settings.bootstrap,
                "out.",
                "--max-rate",
                "500",
                "--delivery-timeout",
                "5",
            )
            wait_until(lambda: topic_size(settings.bootstrap, "out.clicks") > 200, 60, "records")
            broker.stop()
            run = replay.result()
        assert run.returncode == 3, run.stderr
        delivered = int(re.fullmatch(r"delivered: clicks=(\d+)\n", run.stdout)[1])
        error = re.fullmatch(
            r"nearline replay: error: (\d+) of 3000 records not delivered .*\n", run.stderr
        )
        assert error, run.stderr  # one line
        assert delivered + int(error[1]) == 3000 and 200 < delivered < 3000

        stopped = time.monotonic()
        broker.start()
        assert time.monotonic() - stopped < 30, "back on the same port within 30 s"
        again = _replay(log_dir, settings.bootstrap, "again.")
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == "clicks=3000"
        records = read_topic(settings.bootstrap, "again.clicks")
        assert len(records) == 3000
        assert all(r.partition == partition_of(r.key, settings.partitions) for r in records)
    finally:
        broker.stop()
