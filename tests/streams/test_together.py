"""The member stage sends one key's course halves and cohort positives as one record."""

from models.learner import CourseUpdate
from nearline.config import COHORT_LABELS, COURSE_LABELS
from scoring.trending import CohortUpdate
from streams.outputs import Out, together


def _half(course_id: str, y: int) -> CourseUpdate:
    return CourseUpdate(course_id, y, 1_767_225_600_000 + y, (1.0, 0.5), -0.25 * y)


def test_one_keys_halves_travel_as_one_record_in_order():
    halves = [_half("c1", 0), _half("c2", 1), _half("c1", 1)]
    positive = CohortUpdate("title:analyst", "c2", 1_767_225_600_001)
    outs = [
        Out("labels", b"m1", b"{}"),
        *(Out(COURSE_LABELS, h.course_id.encode(), h.to_json()) for h in halves),
        Out(COHORT_LABELS, positive.cohort.encode(), positive.to_json()),
        Out("labels", b"m2", b"{}"),
    ]
    sent = together(outs)
    assert [o for o in sent if o.topic == "labels"] == [outs[0], outs[-1]]
    by_key = {(o.topic, o.key): o.value for o in sent if o.topic != "labels"}
    assert len(sent) == 5
    assert CourseUpdate.many_from_json(by_key[COURSE_LABELS, b"c1"]) == [halves[0], halves[2]]
    assert CourseUpdate.many_from_json(by_key[COURSE_LABELS, b"c2"]) == [halves[1]]
    assert CohortUpdate.many_from_json(by_key[COHORT_LABELS, b"title:analyst"]) == [positive]
