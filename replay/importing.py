"""What every importer of a public data set shares: logged impressions, each with the
click that followed it, written as a log directory (see `replay.logs`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from replay.logs import COURSES_FILE, EVENTS_FILE, MEMBERS_FILE, write_records
from schemas import Click, Course, Impression, Member

CHANNEL = "feed"  # public data sets know one surface
CLICK_DELAY_MS = 1000  # a logged click comes this long after its impression


@dataclass(frozen=True)
class Shown:
    """One logged impression and whether it was clicked.

    >>> [e.kind for e in Shown("i1", "m1", "c1", 1767225600000, clicked=True).events()]
    ['impression', 'click']
    """

    event_id: str
    member_id: str
    course_id: str
    ts: int
    clicked: bool
    position: int = 0
    model_id: str | None = None
    propensity: float | None = None

    def events(self) -> list[Impression | Click]:
        """The impression, then its click (named by the impression's id) if clicked."""
        shown = Impression(
            event_id=self.event_id,
            member_id=self.member_id,
            course_id=self.course_id,
            channel=CHANNEL,
            position=self.position,
            model_id=self.model_id,
            propensity=self.propensity,
            ts=self.ts,
        )
        if not self.clicked:
            return [shown]
        click = Click(
            event_id=f"{self.event_id}-click",
            member_id=self.member_id,
            course_id=self.course_id,
            channel=CHANNEL,
            impression_id=self.event_id,
            ts=self.ts + CLICK_DELAY_MS,
        )
        return [shown, click]


def write_log(
    out_dir: str | Path, courses: Iterable[Course], members: Iterable[Member], shown: list[Shown]
) -> dict[str, int]:
    """Write a log directory; events in event-time order. Returns the lines per file kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    events = sorted((e for s in shown for e in s.events()), key=lambda e: e.ts)
    return {
        "courses": write_records(out / COURSES_FILE, courses),
        "members": write_records(out / MEMBERS_FILE, members),
        "impressions": len(shown),
        "clicks": write_records(out / EVENTS_FILE, events) - len(shown),
    }
