"""A record whose handling fails is dead-lettered, and what it had queued for the next
flush is dropped with it: labels wait in the worker until the flush before a commit, so
a failure must not leave half a record's work to be learned then."""

from quixstreams.context import set_message_context
from quixstreams.models.messagecontext import MessageContext

from nearline.metrics import Metrics
from schemas import DeadLetter
from streams.decoded import Decoded
from streams.worker import Worker


class Produced:
    """What the worker's record handling hands its producer: (records, timestamp) each."""

    def __init__(self) -> None:
        self.calls: list[tuple[list, int]] = []

    def produce(self, outs: list, timestamp_ms: int = 0) -> None:
        self.calls.append((outs, timestamp_ms))


def bare_worker() -> Worker:
    """A worker's record handling without its application (no broker is involved)."""
    worker = Worker.__new__(Worker)
    worker.metrics = Metrics("test")
    worker.outputs = Produced()
    worker.unlearned = []
    for cache in ("label_states", "member_states", "view_stats", "cohort_skill_states"):
        setattr(worker, cache, Decoded(bytes, 8))
    return worker


def test_a_failing_record_is_dead_lettered_and_leaves_nothing_to_learn():
    worker = bare_worker()
    earlier = ("state of m0", "label of m0")
    worker.unlearned.append(earlier)
    worker.member_states.put(b"m1", b"raw", b"decoded")

    def step(value, key, *rest):
        worker.unlearned.append(("state of m1", "label of m1"))
        raise KeyError("boom")

    set_message_context(MessageContext("impressions", 2, 41, 10))
    try:
        worker._guarded(step)(b'{"x": 1}', b"m1", 1767225600000)
    finally:
        set_message_context(None)
    ((outs, timestamp_ms),) = worker.outputs.calls  # with the record's timestamp
    assert timestamp_ms == 1767225600000
    assert worker.unlearned == [earlier]  # the records before it are learned as ever
    assert worker.member_states.values == {}  # stores are read again
    (dead,) = outs
    letter = DeadLetter.model_validate_json(dead.value)
    assert dead.topic == "deadletter" and dead.key == b"m1"
    assert (letter.source_topic, letter.partition, letter.offset) == ("impressions", 2, 41)
    assert "KeyError" in letter.error
