"""MovieLens-100k as a course log: users are members, movies are courses, ratings are
impressions, and a rating above 3 is a click (the rule of GDMix's MovieLens example).

The data come from the RecBole wheel (`recbole/dataset_example/ml-100k/`), read from the
zip in the cache: the MovieLens licence forbids redistributing them.

Mapping onto the project's records (what the feature spec has room for):

- member: occupation as `title`, gender as `industry`, age decade as `seniority` (0-9);
  the zip code has no slot and is left out.
- course: genres as `skills` (equal weights) and the first genre as `category`; the
  release year as `released_at`; difficulty and duration are unknown and set alike for
  every movie.
- ratings happened in 1997-98, before the wire schema's year 2000, so every time is
  moved forward by a whole number of weeks (day of week and hour unchanged); release
  dates older than the schema allows are kept at its lower bound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from replay.importing import Shown, write_log
from replay.wheel import Wheel
from schemas import Course, Member
from schemas.fields import MIN_TS_MS

WHEEL = Wheel("recbole", "1.2.1")
FOLDER = "recbole/dataset_example/ml-100k/ml-100k"
SHIFT_MS = 1461 * 7 * 86_400_000  # 28 years in whole weeks
LIKED = 3  # a rating above this is a click
MOVIE_DURATION_S = 7200.0


def _table(suffix: str, cache: Path | None) -> list[list[str]]:
    """Rows of one RecBole atomic file (tab-separated, a typed header line)."""
    text = WHEEL.read(f"{FOLDER}.{suffix}", cache).decode("latin-1")
    return [line.split("\t") for line in text.splitlines()[1:] if line.strip()]


def member(user_id: str, age: str, gender: str, occupation: str) -> Member:
    """A MovieLens user as a member profile.

    >>> member("1", "24", "M", "technician")
    Member(member_id='user-1', skills={}, title='technician', industry='M', seniority=2, ...)
    """
    return Member(
        member_id=f"user-{user_id}",
        skills={},
        title=occupation,
        industry=gender,
        seniority=min(int(age) // 10, 9),
    )


def course(item_id: str, title: str, year: str, genres: str) -> Course:
    """A MovieLens movie as a course.

    >>> c = course("1", "Toy Story", "1995", "Animation Children's Comedy")
    >>> c.category, sorted(c.skills), c.released_at == released_ms(1995)
    ('Animation', ['Animation', "Children's", 'Comedy'], True)
    """
    names = genres.split() or ["unknown"]
    return Course(
        course_id=f"movie-{item_id}",
        title=title or f"movie {item_id}",
        skills={g: 1.0 / len(names) for g in names},
        category=names[0],
        difficulty="intermediate",
        duration_s=MOVIE_DURATION_S,
        released_at=released_ms(int(year) if year.isdigit() else None),
    )


def released_ms(year: int | None) -> int:
    """January 1 of the release year, shifted like the ratings, at least the schema's
    lower bound (also for an unknown year)."""
    if year is None:
        return MIN_TS_MS
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    return max(start + SHIFT_MS, MIN_TS_MS)


def import_movielens(
    out_dir: str | Path, cache: Path | None = None, progress: bool = True
) -> dict[str, int]:
    """Write MovieLens-100k as a log directory; returns the counts written."""
    members = [member(*row[:4]) for row in _table("user", cache)]
    courses = [course(*row[:4]) for row in _table("item", cache)]
    shown = [
        Shown(
            event_id=f"rating-{user}-{item}",
            member_id=f"user-{user}",
            course_id=f"movie-{item}",
            ts=int(float(ts)) * 1000 + SHIFT_MS,
            clicked=float(rating) > LIKED,
        )
        for user, item, rating, ts in tqdm(
            (row[:4] for row in _table("inter", cache)), desc="ratings", disable=not progress
        )
    ]
    return write_log(out_dir, courses, members, shown)
