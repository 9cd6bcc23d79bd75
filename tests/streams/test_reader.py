"""`nearline serve` on a real broker: follows the recommendations topic (read committed)
into its own table, resumes from it, and answers every path of the HTTP contract in JSON."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import Producer

from nearline.broker import free_port
from nearline.config import Settings
from nearline.supervise import Worker, isolated_settings, run_command, running_reader, wait_until
from nearline.topics import ensure_topics
from schemas import RankedList, Recommendations

pytestmark = pytest.mark.kafka


def _record(member_id: str, score: float = 0.9) -> Recommendations:
    return Recommendations(
        member_id=member_id,
        generated_at=1767225600000,
        courses=("c1", "c2", "c3"),
        reasons=("Popular", "Because of your skill python"),
        lists=(
            RankedList(
                channel="feed",
                model_id="glmix-v1",
                items=(2, 0, 1),
                scores=(score, 0.5, 0.1),
                reasons=(1, 0, 0),
            ),
        ),
    )


def write(
    settings: Settings, records: dict[str, Recommendations | None], commit: bool = True
) -> None:
    """One transaction, as an exactly-once worker writes (None: a tombstone)."""
    producer = Producer(
        {"bootstrap.servers": settings.bootstrap, "transactional.id": uuid.uuid4().hex}
    )
    producer.init_transactions()
    producer.begin_transaction()
    for member_id, record in records.items():
        value = None if record is None else record.model_dump_json().encode()
        producer.produce(settings.topic("recommendations"), key=member_id.encode(), value=value)
    if commit:
        producer.commit_transaction()
    else:
        producer.abort_transaction()


def caught_up(reader: Worker) -> dict | None:
    body = reader.get("/health")[1]
    return body if body["caught_up"] else None


@pytest.fixture
def settings(kafka_bootstrap, tmp_path) -> Settings:
    settings = isolated_settings(kafka_bootstrap, tmp_path, f"rd{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings)
    return settings


@pytest.fixture
def reader(settings, tmp_path) -> Iterator[Worker]:
    write(settings, {f"m{i}": _record(f"m{i}") for i in range(40)})
    with running_reader(settings, tmp_path / "reader.log") as running:
        wait_until(lambda: caught_up(running), 30, "the reader to catch up")
        yield running


def test_a_reader_started_after_the_lists_were_written_serves_them(reader):
    health = reader.get("/health")[1]
    assert health["records"] == 40 and health["lag"] == 0 and health["status"] == "ok"
    status, body = reader.get("/recommendations/m7?channel=feed&limit=2")
    assert status == 200
    assert body == _record("m7").view("feed", 2).model_dump(mode="json")
    assert [i["course_id"] for i in body["items"]] == ["c3", "c1"]


def test_a_record_written_later_is_readable_within_a_second(reader, settings):
    write(settings, {"late": _record("late", score=0.7), "m3": None})
    written = time.monotonic()
    wait_until(lambda: reader.get("/recommendations/late")[0] == 200, 5, "the late record")
    assert time.monotonic() - written < 1.0
    assert reader.get("/recommendations/late")[1]["items"][0]["score"] == 0.7
    wait_until(lambda: reader.get("/recommendations/m3")[0] == 404, 5, "the tombstone")
    assert reader.get("/health")[1]["records"] == 40


def test_a_reader_answers_before_its_topic_exists_and_follows_it_once_created(
    kafka_bootstrap, tmp_path
):
    settings = isolated_settings(kafka_bootstrap, tmp_path, f"rd{uuid.uuid4().hex[:8]}.")
    with running_reader(settings, tmp_path / "early.log") as early:
        health = early.get("/health")[1]
        assert (health["status"], health["caught_up"], health["records"]) == (
            "catching up",
            False,
            0,
        )
        assert early.get("/recommendations/m1")[0] == 404
        ensure_topics(settings)
        write(settings, {"m1": _record("m1")})
        wait_until(lambda: early.get("/recommendations/m1")[0] == 200, 30, "the first list")
        assert wait_until(lambda: caught_up(early), 10, "caught up")["records"] == 1


def test_an_aborted_transaction_is_never_served(reader, settings):
    write(settings, {"ghost": _record("ghost"), "m5": None}, commit=False)
    write(settings, {"after": _record("after")})
    wait_until(lambda: reader.get("/recommendations/after")[0] == 200, 5, "the committed record")
    assert reader.get("/recommendations/ghost")[0] == 404
    assert reader.get("/recommendations/m5")[0] == 200
    wait_until(lambda: reader.get("/health")[1]["lag"] == 0, 5, "lag 0 past the markers")


def test_two_readers_give_the_same_answers(reader, settings, tmp_path):
    second = replace(settings, web_port=free_port(), data_dir=tmp_path / "second")
    with running_reader(second, tmp_path / "second.log") as other:
        wait_until(lambda: caught_up(other), 30, "the second reader to catch up")
        for member_id in ("m0", "m19", "m39", "nobody"):
            path = f"/recommendations/{member_id}?limit=3"
            assert reader.get(path) == other.get(path)


def test_a_restarted_reader_resumes_from_its_table_without_rereading(settings, tmp_path):
    write(settings, {f"m{i}": _record(f"m{i}") for i in range(30)})
    with running_reader(settings, tmp_path / "first.log") as first:
        wait_until(lambda: caught_up(first), 30, "the first reader to catch up")
        assert first.metrics()["nearline_reader_records_read"] == 30
    write(settings, {"m1": _record("m1", score=0.2), "new": _record("new")})
    with running_reader(settings, tmp_path / "restarted.log") as restarted:
        health = wait_until(lambda: caught_up(restarted), 30, "the restarted reader")
        assert health["records"] == 31
        assert restarted.metrics()["nearline_reader_records_read"] == 2
        assert restarted.get("/recommendations/m29")[0] == 200  # kept, not re-read
        assert restarted.get("/recommendations/m1")[1]["items"][0]["score"] == 0.2


def _ask(port: int, method: str, path: str, conn: http.client.HTTPConnection | None = None):
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path)
    response = conn.getresponse()
    return response.status, json.loads(response.read()), response


def test_every_error_path_of_the_contract_answers_json(reader):
    port = reader.settings.web_port
    cases = {
        ("GET", "/nope"): 404,
        ("GET", "/recommendations"): 404,
        ("POST", "/recommendations/m1"): 405,
        ("DELETE", "/health"): 405,
        ("GET", "/recommendations/" + "x" * 10_000): 400,
        ("GET", "/recommendations/"): 400,
        ("GET", "/recommendations/%20"): 400,
        ("GET", "/recommendations/.."): 400,
        ("GET", "/recommendations/..%2Fhealth"): 400,
        ("GET", "/recommendations/m1/../../health"): 400,
        ("GET", "/recommendations/m%00"): 400,
        ("GET", "/recommendations/m1?channel=tv"): 400,
        ("GET", "/recommendations/m1?limit=0"): 400,
        ("GET", "/recommendations/m1?limit=ten"): 400,
        ("GET", "/recommendations/m1?channel=email"): 404,
        ("GET", "/recommendations/nobody"): 404,
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # one, kept alive
    for (method, path), expected in cases.items():
        status, body, response = _ask(port, method, path, conn)
        assert (status, set(body)) == (expected, {"error"}), (method, path[:40], body)
        assert response.getheader("Content-Type") == "application/json"
        if expected == 405:
            assert response.getheader("Allow") == "GET, HEAD"
    assert reader.raw(b"GET /" + b"x" * 20_000 + b" HTTP/1.1\r\n\r\n")[0] == 431
    assert reader.raw(b"NONSENSE\r\n\r\n")[0] == 400
    assert reader.raw(b"GET /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n")[0] == 400
    assert reader.raw(b"GET /health HTTP/1.0\r\n\r\n") == (200, reader.get("/health")[1])


def _serve_fails(settings: Settings) -> str:
    run = run_command("serve", settings)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    return run.stderr


def test_a_taken_folder_or_port_is_refused_in_one_line(reader, tmp_path):
    same_folder = replace(reader.settings, web_port=free_port())
    assert "in use by another reader" in _serve_fails(same_folder)
    same_port = replace(reader.settings, data_dir=tmp_path / "other")
    assert f"cannot listen on 127.0.0.1:{reader.settings.web_port}" in _serve_fails(same_port)


def test_metrics_are_prometheus_text(reader):
    reader.get("/recommendations/m1")
    metrics = reader.metrics()
    assert metrics["nearline_reader_records"] == 40
    assert metrics["nearline_reader_requests_total"] >= 1
    assert metrics['nearline_reader_request_seconds_bucket{le="+Inf"}'] >= 1


def test_the_table_folder_is_under_the_data_dir(reader):
    assert (Path(reader.settings.data_dir) / "reader" / "CURRENT").is_file()
