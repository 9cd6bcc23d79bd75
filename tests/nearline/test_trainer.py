"""Training from the topics on a real broker: `nearline train --bootstrap`, `nearline
trainer`, and what a refit reads (committed records up to the end offsets at its start)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer

from models.glmix import GLMixModel
from models.synthetic import planted_records
from models.trainer import METRICS, ModelFolder, Refitter
from nearline.broker import free_port
from nearline.config import Settings
from nearline.snapshot import read_snapshot
from nearline.supervise import wait_until
from nearline.topics import Publisher, ensure_topics
from nearline.trainer import refit_from_topics
from tests.models.test_trainer import worse

pytestmark = pytest.mark.kafka
WINDOW_H = "1"  # planted timeouts come an hour after their impression


def nearline(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nearline", *args], capture_output=True, text=True, timeout=timeout
    )


def kafka_args(settings: Settings) -> tuple[str, ...]:
    return ("--bootstrap", settings.bootstrap, "--topic-prefix", settings.topic_prefix)


def fresh(bootstrap: str) -> Settings:
    settings = Settings(bootstrap=bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings)
    return settings


@pytest.fixture(scope="module")
def published(kafka_bootstrap: str) -> Settings:
    """Labels, catalog and profiles of a planted world on their topics."""
    settings = fresh(kafka_bootstrap)
    courses, members, labels = planted_records(n_members=60, n_courses=20, n_labels=4000)
    with Publisher(settings) as publisher:
        publisher.send("courses", courses)
        publisher.send("members", members)
        publisher.send("labels", labels)
    return settings


def test_train_from_the_topics_writes_the_next_version(published, tmp_path):
    for _ in range(2):
        run = nearline("train", *kafka_args(published), "--out", str(tmp_path), "--window-h",
                       WINDOW_H, "--quiet")  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert [p.name for p in ModelFolder(tmp_path).versions()] == ["v0001", "v0002"]
    assert "v0002 published" in run.stdout
    model = GLMixModel.load(tmp_path / "v0002")
    assert model.meta["warm_start"] == "v0001"
    assert model.meta["data"]["records_read"] == {"labels": 4000, "courses": 20, "members": 60}
    metrics = json.loads((tmp_path / "v0002" / METRICS).read_text())
    assert metrics["serving"]["version"] == "v0001" and metrics["candidate"]["auc"] > 0.6


def test_a_refit_reads_committed_records_up_to_its_start(kafka_bootstrap):
    settings = fresh(kafka_bootstrap)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{settings.topic_prefix}"
    )
    producer.init_transactions()

    def transaction(values: list[bytes], end: str | None) -> None:
        producer.begin_transaction()
        for v in values:
            producer.send(settings.topic("labels"), key=b"m", value=v)
        producer.flush()
        if end == "commit":
            producer.commit_transaction()
        elif end == "abort":
            producer.abort_transaction()

    try:
        transaction([b"kept1", b"kept2", b"kept3"], "commit")
        transaction([b"aborted"], "abort")
        transaction([b"later"], None)  # still open when the read starts: not waited for
        read = read_snapshot(settings, ["labels", "courses"])
        assert read == {
            "labels": [(b"m", v) for v in (b"kept1", b"kept2", b"kept3")],
            "courses": [],
        }
        producer.commit_transaction()
        assert [v for _, v in read_snapshot(settings, ["labels"])["labels"]][-1] == b"later"
    finally:
        producer.close()


def test_a_worse_model_is_refused_on_the_real_broker(published, tmp_path):
    folder = ModelFolder(tmp_path)
    assert refit_from_topics(published, Refitter(folder, window_ms=3_600_000)).published
    refused = refit_from_topics(
        published, Refitter(folder, window_ms=3_600_000, max_auc_drop=0.02, fit=worse)
    )
    assert not refused.published and "more than 0.02 worse" in refused.metrics["reason"]
    assert [p.name for p in folder.versions()] == ["v0001"]
    assert json.loads((refused.path / METRICS).read_text())["published"] is False


def test_trainer_refits_on_a_schedule(published, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "nearline", "trainer", *kafka_args(published), "--model-dir",
         str(tmp_path), "--every", "2s", "--window-h", WINDOW_H, "--keep", "3", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    folder = ModelFolder(tmp_path)
    try:
        wait_until(lambda: len(folder.versions()) >= 2 or proc.poll() is not None, 120, "2 refits")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert [p.name for p in folder.versions()][:2] == ["v0001", "v0002"], err
    assert GLMixModel.load(tmp_path / "v0002").meta["warm_start"] == "v0001"
    assert "v0001 published" in out and "v0002 published" in out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "topic courses holds no valid records"),
        ("young", "none of 5 labels is settled"),
    ],
)
def test_nothing_to_learn_is_one_line(kafka_bootstrap, tmp_path, case, message):
    settings = fresh(kafka_bootstrap)
    if case == "young":
        courses, _, labels = planted_records(n_members=5, n_courses=5, n_labels=5)
        now = labels[-1].label_ts  # every impression younger than the 24 h window
        young = [lb.model_copy(update={"impression_ts": now - 60_000}) for lb in labels]
        with Publisher(settings) as publisher:
            publisher.send("courses", courses)
            publisher.send("labels", young)
    run = nearline("train", *kafka_args(settings), "--out", str(tmp_path), "--quiet")
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert message in run.stderr and not list(Path(tmp_path).iterdir())


def test_an_unreachable_broker_is_one_line_for_both_commands(tmp_path):
    bootstrap = f"127.0.0.1:{free_port()}"
    for args in (("train", "--out"), ("trainer", "--every", "1h", "--model-dir")):
        run = nearline(*args, str(tmp_path), "--bootstrap", bootstrap, "--quiet")
        assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
        assert f"cannot reach Kafka at {bootstrap}" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "labels.jsonl", "--bootstrap", "x:1", "--out", "m"), "not both"),
        (("train", "labels.jsonl", "--out", "m"), "needs --log"),
        (("trainer", "--model-dir", "m", "--every", "0s"), "not a positive duration: '0s'"),
        (("trainer", "--model-dir", "m", "--every", "3w"), "not a positive duration: '3w'"),
    ],
)
def test_training_mistakes_are_one_line(args, message):
    run = nearline(*args)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert message in run.stderr
