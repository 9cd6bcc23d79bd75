"""The malformed-record corpus and its interleaving (test support for bad input)."""

from __future__ import annotations

import pytest

from tests.badinput import CASES, Span, corpus, interleave, wire
from tests.labels.label_events import HOUR, T0, auto, click, imp

SPAN = Span(["m1", "m2"], ["c1"], T0, T0 + HOUR, now_ms=T0 + 2 * HOUR)


def test_every_case_appears_once_n_reaches_their_number_and_the_corpus_repeats():
    bad = corpus(len(CASES), SPAN)
    assert [m.case for m in bad] == [name for name, *_ in CASES]
    assert corpus(50, SPAN, seed=4) == corpus(50, SPAN, seed=4)


def test_valid_messages_keep_their_order_and_late_ones_wait_for_every_source():
    valid = [wire(e) for e in (imp("i1", T0), click("k1", T0 + 1), auto("a1", T0 + 2, 5.0))]
    bad = corpus(200, SPAN)
    mixed = interleave(valid, bad, partitions=1, seed=2)
    assert [m for m in mixed if m.expected is None] == valid
    assert len(mixed) == len(valid) + len(bad)
    after_warm_up = mixed[mixed.index(valid[-1]) :]
    assert all(m in after_warm_up for m in bad if m.expected == "late")
    with pytest.raises(ValueError, match="never show every source"):
        interleave(valid[:2], bad, partitions=1)
    assert len(interleave(valid[:2], [m for m in bad if m.expected != "late"], 1)) > 2
