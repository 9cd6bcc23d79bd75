"""Refits: what they learn, what they hold out, when they publish, what they keep."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from models.glmix import GLMixModel, newest_artifact
from models.history import DAY_MS
from models.synthetic import planted_records
from models.train import train
from models.trainer import (
    INCOMING,
    METRICS,
    REFUSED,
    Gate,
    ModelFolder,
    NoTrainingData,
    Refitter,
    Schedule,
    TrainingData,
    hold_out_newest_day,
    parse_duration,
)
from schemas import Label

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def data() -> TrainingData:
    courses, members, labels = planted_records(n_members=60, n_courses=20, n_labels=6000)
    return TrainingData(labels, courses, members)


def worse(ex, spec, init, **hyper) -> GLMixModel:
    """A fit made worse on purpose: every learned coefficient's sign flipped."""
    m = train(ex, spec, init, **hyper)
    flip = lambda re: replace(re, mean=-re.mean)  # noqa: E731
    return replace(m, w=-m.w, members=flip(m.members), courses=flip(m.courses))


def test_records_keep_the_newest_profile_and_drop_tombstones():
    old = b'{"member_id": "m1", "skills": {"sql": 1.0}}'
    new = b'{"member_id": "m1", "skills": {"go": 1.0}, "title": "engineer"}'
    gone = b'{"member_id": "m2", "skills": {}}'
    data = TrainingData.from_records(
        [(b"m1", b"not json")], [], [(b"m1", old), (b"m2", gone), (b"m1", new), (b"m2", None)]
    )
    assert [m.skills for m in data.members] == [{"go": 1.0}]
    assert data.invalid == {"labels": 1} and data.labels == []


def test_empty_topics_name_what_is_missing():
    with pytest.raises(NoTrainingData, match="topic courses"):
        TrainingData([], [], []).require()


def test_the_newest_day_is_held_out_and_days_bound_the_rest(data):
    split = hold_out_newest_day(data.labels, days=3)
    days = {lb.impression_ts // DAY_MS for lb in split.train}
    assert split.day is not None and len(days) == 2 and max(days) == split.day // DAY_MS - 1
    assert {lb.impression_ts // DAY_MS for lb in split.held_out} == {split.day // DAY_MS}


def test_one_day_of_labels_is_learned_not_held_out(data):
    day = data.labels[0].impression_ts // DAY_MS
    one = [lb for lb in data.labels if lb.impression_ts // DAY_MS == day]
    split = hold_out_newest_day(one)
    assert (len(split.train), split.held_out, split.day) == (len(one), [], None)


def test_gate_refuses_only_beyond_the_margin():
    assert Gate(0.02).decide(0.69, 0.70)[0]
    assert not Gate(0.02).decide(0.67, 0.70)[0]
    assert Gate(None).decide(0.1, 0.9)[0] and Gate(0.0).decide(0.5, None)[0]


def test_durations():
    assert [parse_duration(t) for t in ("2s", "15m", "24h", "7d")] == [2, 900, 86400, 604800]
    for bad in ("", "0s", "-1h", "3w", "h"):
        with pytest.raises(ValueError, match="not a positive duration"):
            parse_duration(bad)


def test_schedule_keeps_a_fixed_rate():
    clock = iter([0.0, 1.0, 2.5, 9.0, 9.5]).__next__
    s = Schedule(2.0, clock=clock)
    assert [s.delay() for _ in range(5)] == [0.0, 1.0, 1.5, 0.0, 1.5]


def test_second_refit_is_warm_started_and_compared(tmp_path, data):
    folder = ModelFolder(tmp_path)
    first = Refitter(folder, window_ms=HOUR_MS).refit(data)
    second = Refitter(folder, window_ms=HOUR_MS, max_auc_drop=0.02).refit(data)
    assert (first.path.name, second.path.name) == ("v0001", "v0002")
    assert first.metrics["serving"] is None and first.metrics["warm_start"] is None
    m = json.loads((second.path / METRICS).read_text())
    assert m["published"] and m["warm_start"] == "v0001" and m["serving"]["version"] == "v0001"
    assert m["candidate"]["labels"] == m["serving"]["labels"] > 0
    assert abs(m["candidate"]["auc"] - m["serving"]["auc"]) < 0.02
    assert GLMixModel.load(folder.newest()).meta["warm_start"] == "v0001"


def test_a_worse_model_is_refused_and_kept_aside(tmp_path, data):
    folder = ModelFolder(tmp_path)
    Refitter(folder, window_ms=HOUR_MS).refit(data)
    bad = Refitter(folder, window_ms=HOUR_MS, max_auc_drop=0.02, fit=worse).refit(data)
    assert not bad.published and bad.path == tmp_path / REFUSED / "v0002"
    assert bad.metrics["candidate"]["auc"] < bad.metrics["serving"]["auc"] - 0.2
    assert [p.name for p in folder.versions()] == ["v0001"]
    assert folder.next_name() == "v0002"
    assert newest_artifact(tmp_path).name == "v0001", (
        "workers roll in neither refused/ nor .incoming/"
    )


def test_retention_keeps_the_newest_versions(tmp_path, data):
    folder = ModelFolder(tmp_path)
    refitter = Refitter(folder, window_ms=HOUR_MS, keep=2, sweeps=1)
    for _ in range(3):
        refitter.refit(data)
    assert [p.name for p in folder.versions()] == ["v0002", "v0003"]
    assert not list((tmp_path / INCOMING).iterdir()), "no half-written version left behind"


def test_labels_all_within_the_window_are_not_settled(tmp_path, data):
    t = data.labels[-1].label_ts
    young = [
        Label(**{**lb.model_dump(), "impression_ts": t - HOUR_MS, "label_ts": t})
        for lb in data.labels[:50]
    ]
    with pytest.raises(NoTrainingData, match="none of 50 labels is settled"):
        Refitter(ModelFolder(tmp_path), window_ms=DAY_MS).refit(replace(data, labels=young))


def test_catalog_with_new_categories_trains_cold(tmp_path, data):
    folder = ModelFolder(tmp_path)
    Refitter(folder, window_ms=HOUR_MS).refit(data)
    grown = [
        *data.courses,
        data.courses[0].model_copy(update={"course_id": "new", "category": "x"}),
    ]
    result = Refitter(folder, window_ms=HOUR_MS).refit(replace(data, courses=grown))
    assert result.metrics["warm_start"] is None and result.metrics["serving"]["auc"] > 0.5
    assert np.isfinite(result.metrics["candidate"]["auc"])


def test_an_unreadable_serving_model_is_replaced_by_a_cold_one(tmp_path, data):
    folder = ModelFolder(tmp_path)
    first = Refitter(folder, window_ms=HOUR_MS).refit(data)
    meta = json.loads((first.path / "meta.json").read_text())
    meta["feature_spec"]["version"] = 0  # laid out by older code
    (first.path / "meta.json").write_text(json.dumps(meta))
    result = Refitter(folder, window_ms=HOUR_MS, max_auc_drop=0.02).refit(data)
    assert result.published and result.metrics["warm_start"] is None
    assert "feature spec version 0" in result.metrics["serving"]["unreadable"]
