"""A user's mistake ends in one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from nearline.broker import free_port
from nearline.cli import main
from nearline.supervise import WorkerExited, isolated_settings, run_command, running_worker


def nearline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nearline", *args], capture_output=True, text=True, timeout=60
    )


def _log_dir(tmp_path: Path) -> Path:
    for name in ("courses", "members", "events"):
        (tmp_path / f"{name}.jsonl").touch()
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay", "/no/such/dir"), "no such directory: /no/such/dir"),
        (("simulate", "--members", "0", "--out", "x"), "--members: must be at least 1"),
        (("replay", ".", "--speed", "-3"), "--speed: must be positive"),
        (("replay", ".", "--speed", "2", "--max-rate", "5"), "not allowed with argument"),
        (("kafka", "restart"), "invalid choice: 'restart'"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_mistakes_are_one_line(args, message):
    run = nearline(*args)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_a_folder_that_is_not_a_log_is_refused_before_touching_kafka(tmp_path):
    run = nearline("replay", str(tmp_path), "--bootstrap", "127.0.0.1:1")
    assert run.returncode == 2
    assert run.stderr.strip().endswith("courses.jsonl is missing: not a log directory")


def test_an_unreachable_broker_is_one_line(tmp_path):
    run = nearline("replay", str(_log_dir(tmp_path)), "--bootstrap", f"127.0.0.1:{free_port()}")
    assert run.returncode == 2
    assert "cannot reach Kafka" in run.stderr and "Traceback" not in run.stderr
    assert run.stderr.count("\n") == 1


def test_status_of_a_broker_that_is_not_running(tmp_path):
    run = nearline("kafka", "status", "--port", str(free_port()), "--dir", str(tmp_path))
    assert (run.returncode, run.stdout.strip()) == (1, "stopped")


def test_simulate_label_and_train_from_the_command_line(tmp_path):
    world, labels, model = tmp_path / "world", tmp_path / "labels.jsonl", tmp_path / "model"
    run = nearline(
        "simulate",
        "--members",
        "300",
        "--courses",
        "60",
        "--days",
        "10",
        "--seed",
        "3",
        "--out",
        str(world),
        "--quiet",
    )
    assert run.returncode == 0, run.stderr
    run = nearline("labels", str(world), "--rule", "fixed:19", "--out", str(labels), "--quiet")
    assert run.returncode == 0, run.stderr
    counts = dict(part.split("=") for part in run.stdout.split() if "=" in part)
    lines = labels.read_text().splitlines()
    assert len(lines) == int(counts["positives"]) + int(counts["negatives"]) > 0
    run = nearline("train", str(labels), "--log", str(world), "--out", str(model), "--quiet")
    assert run.returncode == 0, run.stderr

    from models import GLMixModel

    trained = GLMixModel.load(model)
    left_out = trained.meta["data"]["unsettled_left_out"]
    assert trained.meta["data"]["examples"] + left_out == len(lines) and left_out > 0
    # what a batch cannot learn yet is the positives of impressions whose window is open
    newest = max(json.loads(line)["label_ts"] for line in lines)
    young = [json.loads(x) for x in lines if json.loads(x)["impression_ts"] + 86_400_000 > newest]
    assert len(young) == left_out and all(lb["label"] == 1 for lb in young)


def test_a_bad_autoplay_rule_is_one_line(tmp_path):
    run = nearline("labels", str(_log_dir(tmp_path)), "--rule", "fixed:-3", "--out", "x")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "bad autoplay rule 'fixed:-3'" in run.stderr


def test_a_worker_without_a_usable_model_or_treatments_does_not_start(tmp_path, monkeypatch):
    (tmp_path / "v0001").mkdir()
    (tmp_path / "v0001" / "meta.json").write_text('{"format": 99}')
    run = nearline("worker", "--model", str(tmp_path), "--bootstrap", "127.0.0.1:1")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "artifact format 99" in run.stderr
    run = nearline("worker", "--model", str(tmp_path / "v0001" / "meta.json"))
    assert run.returncode == 2 and "is not a model folder" in run.stderr
    monkeypatch.setenv("NEARLINE_TREATMENTS", '{"feed": {"glmix": 0.5}}')
    run = nearline("worker", "--bootstrap", "127.0.0.1:1")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "treatments" in run.stderr


@pytest.mark.kafka
def test_a_worker_whose_web_port_is_taken_does_not_start(kafka_bootstrap, tmp_path):
    settings = isolated_settings(kafka_bootstrap, tmp_path, f"cli{uuid.uuid4().hex[:8]}.")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.web_port))
        taken.listen()
        run = run_command("worker", settings)
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert f"cannot listen on 127.0.0.1:{settings.web_port}" in run.stderr


def test_a_worker_that_exits_at_start_is_told_in_one_line_naming_its_log(tmp_path, capsys):
    settings = isolated_settings(f"127.0.0.1:{free_port()}", tmp_path, "cli.")
    log = tmp_path / "worker.log"
    with (
        pytest.raises(WorkerExited) as exited,
        running_worker(settings, log, timeout_s=60, tell_tail=False),
    ):
        pass
    message = str(exited.value)
    assert "\n" not in message and str(log) in message, message
    assert "cannot reach Kafka" in message  # the worker's own last line
    assert capsys.readouterr().err == ""  # the log's tail is the caller's to tell


def test_the_demo_tells_a_worker_that_exits_in_one_line(tmp_path, monkeypatch, capsys):
    def worker_exits(args):
        raise WorkerExited("the worker process exited (2), log w.log: it could not start")

    monkeypatch.setattr("nearline.demo.run_demo", worker_exits)
    with pytest.raises(SystemExit) as ended:
        main(["demo", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.count("\n") == 1, err
    assert (
        err
        == "nearline demo: error: the worker process exited (2), log w.log: it could not start\n"
    )
