"""The Open Bandit Dataset sample (ZOZOTOWN fashion items, logged bandit feedback) as a
course log: each logged row is an impression at its position with the logging policy's
propensity, followed by a click when it was clicked.

The sample ships in the obp wheel (`obp/dataset/obd/{policy}/{campaign}/`), read from
the zip in the cache; obp itself is not installed. Two logging policies ran on the same
three campaigns in the same week: `random` (uniform over the campaign's items, so its
click rate is the uniform policy's true value) and `bts` (Bernoulli Thompson sampling).

Rows carry no user id: a member is one combination of the four hashed user features
(the first two as title and industry). Items are courses named by campaign, their first
hashed item feature as category and the other two as skills.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from replay.importing import Shown, write_log
from replay.wheel import Wheel
from schemas import Course, Member

WHEEL = Wheel("obp", "0.4.1")
POLICIES = ("bts", "random")
CAMPAIGNS = ("all", "men", "women")
USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
ITEM_DURATION_S = 60.0  # a product page, not a course: one length for all


def _csv(policy: str, campaign: str, name: str, cache: Path | None) -> list[dict[str, str]]:
    for what, value, known in (("policy", policy, POLICIES), ("campaign", campaign, CAMPAIGNS)):
        if value not in known:
            raise ValueError(f"unknown OBD {what} {value!r}: choose from {', '.join(known)}")
    raw = WHEEL.read(f"obp/dataset/obd/{policy}/{campaign}/{name}.csv", cache)
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def epoch_ms(timestamp: str) -> int:
    """Epoch ms of an OBD timestamp.

    >>> epoch_ms("2019-11-24 00:00:17.004101+00:00")
    1574553617004
    """
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000)


def member_id(row: dict[str, str]) -> str:
    """One id per combination of the hashed user features."""
    key = "|".join(row[f] for f in USER_FEATURES)
    return "user-" + hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def course(campaign: str, row: dict[str, str], released_at: int) -> Course:
    """An item of `item_context.csv` as a course of its campaign."""
    return Course(
        course_id=f"{campaign}-item-{row['item_id']}",
        title=f"{campaign} item {row['item_id']}",
        skills={row["item_feature_2"]: 1.0, row["item_feature_3"]: 1.0},
        category=row["item_feature_1"],
        difficulty="intermediate",
        duration_s=ITEM_DURATION_S,
        released_at=released_at,
    )


def import_obd(
    out_dir: str | Path,
    policy: str = "bts",
    campaign: str = "all",
    cache: Path | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Write one policy's log of one campaign as a log directory; returns the counts."""
    rows = _csv(policy, campaign, campaign, cache)
    items = _csv(policy, campaign, "item_context", cache)
    first = min(epoch_ms(r["timestamp"]) for r in rows)
    members = {
        member_id(r): Member(
            member_id=member_id(r),
            skills={},
            title=r["user_feature_0"],
            industry=r["user_feature_1"],
        )
        for r in rows
    }
    shown = [
        Shown(
            event_id=f"obd-{policy}-{campaign}-{r['']}",
            member_id=member_id(r),
            course_id=f"{campaign}-item-{r['item_id']}",
            ts=epoch_ms(r["timestamp"]),
            clicked=r["click"] == "1",
            position=int(r["position"]) - 1,
            model_id=policy,
            propensity=float(r["propensity_score"]),
        )
        for r in tqdm(rows, desc=f"{policy} {campaign}", disable=not progress)
    ]
    courses = [course(campaign, item, first) for item in items]
    return write_log(out_dir, courses, members.values(), shown)
