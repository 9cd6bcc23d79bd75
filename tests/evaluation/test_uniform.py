"""The uniform policy's value from a log with known propensities, worked by hand."""

from __future__ import annotations

import pytest

from evaluation.run import Log
from evaluation.uniform import uniform_check
from replay.importing import Shown
from schemas import Course

T0 = 1767225600000


def _log(propensities: list[float], clicks: list[bool], items: int = 4) -> Log:
    courses = [
        Course(
            course_id=f"c{i}",
            title=f"c{i}",
            skills={},
            category="x",
            difficulty="beginner",
            duration_s=60,
            released_at=T0,
        )
        for i in range(items)
    ]
    shown = [
        Shown(f"i{n}", f"m{n}", f"c{n % items}", T0 + n * 1000, y, propensity=p)
        for n, (p, y) in enumerate(zip(propensities, clicks, strict=True))
    ]
    return Log(courses, [], [e for s in shown for e in s.events()], None)


def test_ipw_and_snipw_of_the_uniform_policy_by_hand():
    # target 1/4 over propensities 0.5, 0.25, 0.01, 0.1: ratios 0.5, 1, 25, 2.5; clip 10
    logging = _log([0.5, 0.25, 0.01, 0.1], [True, False, True, False])
    uniform = _log([0.25] * 4, [True, False, False, False])
    got = uniform_check(logging, uniform, clip=10.0)
    assert got["truth"] == 0.25 and got["clipped"] == 1
    assert got["ipw"] == pytest.approx((0.5 + 10.0) / 4)
    assert got["snipw"] == pytest.approx(10.5 / 14.0)
    assert got["snipw_rel_error"] == pytest.approx(2.0)
