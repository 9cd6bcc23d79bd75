"""Integration: from an empty model folder to a trained version, on a real broker.

A world where every member has a planted favourite category that their profile does not
tell (their skills are another category's, or none): a worker started with no model
serves every profile at once from the prior with cold-start reasons; the members' clicks
on their favourite category move their lists near-line; `nearline train --bootstrap`
writes v0001 from the topics, the worker rolls it in, and the lists keep following the
clicks under the trained model.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from nearline.broker import free_port
from nearline.config import Settings
from nearline.supervise import (
    Worker,
    isolated_settings,
    read_at_least,
    running_reader,
    running_worker,
    settled,
    wait_until,
)
from nearline.topics import Publisher, ensure_topics, partition_of
from schemas import Click, Course, Impression, Member

pytestmark = pytest.mark.kafka

DAY_MS = 86_400_000
CATEGORIES = 4
PER_CATEGORY = 10
MEMBERS = 32
DAYS = 4  # of activity: the trainer learns the first three and holds the last one out
SERVED_S = 10.0  # a member with a profile has a list within this long of it
COLD_REASONS = ("Because of your skill ", "Because you follow ", "Trending ", "New", "Popular")


def _skills(category: int) -> tuple[str, ...]:
    return tuple(f"k{category}x{j}" for j in range(3))


def _courses(now_ms: int) -> list[Course]:
    """Ten courses per category, each of one of its three skills, three of them new (a
    catalog nobody has seen yet has no popular course)."""
    return [
        Course(
            course_id=f"c{c}n{i}",
            title=f"Course {c}.{i}",
            skills={_skills(c)[i % 3]: 1.0},
            category=f"cat{c}",
            difficulty=("beginner", "intermediate", "advanced")[i % 3],
            duration_s=900 + 300 * i,
            released_at=now_ms - (200 if i < 7 else 10) * DAY_MS,  # three new ones
        )
        for c in range(CATEGORIES)
        for i in range(PER_CATEGORY)
    ]


def _favourite(i: int) -> int:
    return i % CATEGORIES


def _members() -> list[Member]:
    """Skills of the category after the favourite one; every eighth member has none
    (their title's cohort lends them skills); four titles, two industries."""
    out = []
    for i in range(MEMBERS):
        shown = _skills((_favourite(i) + 1) % CATEGORIES)
        skills = {} if i % 8 == 7 else {shown[0]: 1.0, shown[1]: 0.5}
        out.append(
            Member(member_id=f"m{i}", skills=skills, title=f"title{i // 8}", industry=f"ind{i % 2}")
        )
    return out


def _activity(t0: int, days: int) -> tuple[list[Impression], list[Click]]:
    """Per member and day: six impressions, three of the favourite category (clicked two
    seconds later) and three of the profile's category (left to time out)."""
    impressions, clicks = [], []
    for day in range(days):
        for i in range(MEMBERS):
            fav, other = _favourite(i), (_favourite(i) + 1) % CATEGORIES
            shown = [(fav, (day * 3 + j) % PER_CATEGORY) for j in range(3)]
            shown += [(other, (day * 3 + j) % PER_CATEGORY) for j in range(3)]
            for j, (category, n) in enumerate(shown):
                ts = t0 + day * DAY_MS + i * 60_000 + j * 5_000
                common = {"member_id": f"m{i}", "course_id": f"c{category}n{n}", "channel": "feed"}
                event = f"m{i}-d{day}-{j}"
                impressions.append(Impression(event_id=event, position=j, ts=ts, **common))
                if category == fav:
                    clicks.append(
                        Click(event_id=f"{event}-c", impression_id=event, ts=ts + 2_000, **common)
                    )
    return impressions, clicks


def _closing(settings: Settings, ts: int) -> tuple[list[Impression], list[Click]]:
    """An impression and a click per partition at `ts`: every partition's event time moves
    there (a new day: its members are advanced, and their open windows close)."""
    members: dict[int, str] = {}
    n = 0
    while len(members) < settings.partitions:
        members.setdefault(partition_of(f"closer{n}".encode(), settings.partitions), f"closer{n}")
        n += 1
    common = [
        {"member_id": m, "course_id": "c0n0", "channel": "feed", "ts": ts} for m in members.values()
    ]
    return (
        [Impression(event_id=f"{c['member_id']}-i", position=0, **c) for c in common],
        [Click(event_id=f"{c['member_id']}-c", **c) for c in common],
    )


def _list(reader: Worker, member_id: str) -> dict | None:
    status, body = reader.get(f"/recommendations/{member_id}?channel=feed&limit=10")
    return body if status == 200 else None


def _share(reader: Worker) -> float:
    """Mean share of each member's favourite category in their top 10."""
    shares = []
    for i in range(MEMBERS):
        items = _list(reader, f"m{i}")["items"]
        fav = sum(it["course_id"].startswith(f"c{_favourite(i)}n") for it in items)
        shares.append(fav / len(items))
    return sum(shares) / len(shares)


def _quiet(worker: Worker, reader: Worker) -> bool:
    """The worker has nothing left to do and the reader has read everything it wrote."""
    wait_until(settled(worker), 60, "the worker to finish every record and rescore")
    return reader.get("/health")[1]["lag"] == 0


def test_a_worker_without_a_model_serves_learns_and_rolls_in_the_first_version(
    kafka_bootstrap, tmp_path: Path
):
    base = isolated_settings(kafka_bootstrap, tmp_path, f"cold{uuid.uuid4().hex[:8]}.")
    models = tmp_path / "models"  # no version in it (nor the folder) yet
    settings = replace(
        base, model_dir=models, lateness_s=600, window_s=3600, idle_s=2, top_k=10, rescore_ms=50
    )
    ensure_topics(settings)
    now = int(time.time() * 1000)
    t0 = now - (DAYS + 1) * DAY_MS
    members = _members()
    reader_settings = replace(settings, web_port=free_port(), data_dir=tmp_path / "reader")
    with (
        running_worker(settings, tmp_path / "worker.log") as worker,
        running_reader(reader_settings, tmp_path / "reader.log") as reader,
    ):
        wait_until(
            lambda: worker.get("/health")[1]["partitions"] == [0, 1, 2, 3],
            60,
            "the worker to own every partition",
        )
        # cold start: every profile served within SERVED_S, with cold-start reasons (one
        # that came before the catalog: once the catalog is in); the members without
        # skills come once the worker knows their cohorts' skills
        skilled = [m for m in members if m.skills]
        with Publisher(settings) as publisher:
            publisher.send("members", skilled[:1])
            wait_until(
                lambda: worker.metrics()["nearline_rescores_pending"] == 1,
                30,
                "the first profile to wait for a catalog",
            )
            assert worker.get("/health")[1]["model"] is None
            publisher.send("courses", _courses(now))
            publisher.send("members", skilled[1:])
            sent = time.monotonic()
            wait_until(
                lambda: all(_list(reader, m.member_id) for m in skilled),
                SERVED_S,
                "every profile's list",
            )
            assert time.monotonic() - sent < SERVED_S
            cohorts = {f"title{i // 8}" for i in range(MEMBERS)} | {"ind0", "ind1"}
            wait_until(
                lambda: worker.metrics()["nearline_cohort_skills"] == len(cohorts),
                30,
                "the worker to know every cohort's skills",
            )
            unskilled = [m for m in members if not m.skills]
            publisher.send("members", unskilled)
            sent = time.monotonic()
            wait_until(
                lambda: all(_list(reader, m.member_id) for m in unskilled),
                SERVED_S,
                "the lists of the profiles without skills",
            )
        assert worker.get("/health")[1]["model"] == "prior"
        for m in members:
            body = _list(reader, m.member_id)
            assert body["model_id"] == "glmix-prior" and len(body["items"]) == 10
            reasons = [it["reason"] for it in body["items"]]
            assert all(r.startswith(COLD_REASONS) for r in reasons), reasons
            assert any(r.startswith("Because of your skill ") for r in reasons), m
        cold = _share(reader)

        # near-line learning from zero: days of clicks on the favourite category
        impressions, clicks = _activity(t0, DAYS)
        # past every window and into the next UTC day: the daily sweep labels the rest
        closes = max(i.ts for i in impressions) + int(
            (settings.window_s + settings.lateness_s) * 1000
        )
        closing = _closing(settings, (closes // DAY_MS + 1) * DAY_MS + 3600_000)
        with Publisher(settings) as publisher:
            publisher.send("impressions", [*impressions, *closing[0]])
            publisher.send("clicks", [*clicks, *closing[1]])
        # every impression labelled (its click, or its window closed), learned and served
        labels = settings.topic("labels")
        read_at_least(settings.bootstrap, labels, len(impressions), 60, "every impression's label")
        wait_until(lambda: _quiet(worker, reader), 60, "the activity learned and served")
        learned = _share(reader)

        # the first trained version, from the topics, rolled in
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "nearline",
                "train",
                "--bootstrap",
                settings.bootstrap,
                "--topic-prefix",
                settings.topic_prefix,
                "--out",
                str(models),
                "--window-h",
                "1",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        wait_until(lambda: worker.get("/health")[1]["model"] == "v0001", 30, "v0001 rolled in")
        with Publisher(settings) as publisher:  # unchanged profiles: rescored, nothing learned
            publisher.send("members", members)
        wait_until(
            lambda: all(
                (body := _list(reader, m.member_id)) and body["model_id"] == "glmix-v0001"
                for m in members
            ),
            30,
            "every list from v0001",
        )
        trained = _share(reader)
    print(
        f"favourite-category share of the top 10: cold {cold:.3f}, "
        f"after activity {learned:.3f}, after training {trained:.3f}"
    )
    assert learned > cold and learned >= 2 * cold
    assert trained >= learned - 1 / (MEMBERS * 10)  # one item of all the lists: a tie moved
