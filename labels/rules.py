"""Autoplay rules: how long a preview must play to count as a positive (paper §6.1).

Rule strings:

- `fixed:<seconds>`: watched_s >= seconds.
- `fraction:<f>`: watched_s >= f * video_s, 0 < f <= 1.
- `percentile:<p>:<scope>[:<days>d]`: watched_s >= the p-th percentile (0 < p <= 100) of
  the scope's watch times over the `days` complete UTC days before the autoplay's day
  (default 30). Scope `member` falls back to `video` and then `global`, `video` falls back
  to `global`, while the scope has fewer than `min_views` views in that window; `global`
  needs one view. With no view anywhere the rule cannot decide and the autoplay does not
  engage its impression.

The `rule` field of a label is the rule that decided it, scope after fallback included,
e.g. `percentile:95:video` for a member rule that fell back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from labels.watchtime import WatchStats

Kind = Literal["fixed", "fraction", "percentile"]
Scope = Literal["member", "video", "global"]
SCOPES: tuple[Scope, ...] = get_args(Scope)  # fallback order
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
USAGE = "expected fixed:<seconds>, fraction:<f> or percentile:<p>:<scope>[:<days>d]"


@dataclass(frozen=True)
class Rule:
    """A parsed autoplay rule; `str(rule)` is its canonical string.

    >>> Rule.parse("percentile:95:member")
    Rule(kind='percentile', value=95.0, scope='member', window_days=30)
    >>> str(Rule.parse("fraction:0.50")), str(Rule.parse("percentile:99.5:video:7d"))
    ('fraction:0.5', 'percentile:99.5:video:7d')
    >>> Rule.parse("percentile:95:team")
    Traceback (most recent call last):
    ...
    ValueError: bad autoplay rule 'percentile:95:team': scope must be member, video or global
    """

    kind: Kind
    value: float
    scope: Scope | None = None
    window_days: int = DEFAULT_WINDOW_DAYS

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Parse a rule string; ValueError with a one-line reason if it is malformed."""
        try:
            return cls._parse(text.strip().split(":"))
        except ValueError as e:
            raise ValueError(f"bad autoplay rule {text!r}: {e}") from None

    @classmethod
    def _parse(cls, parts: list[str]) -> Rule:
        kind, args = parts[0], parts[1:]
        if kind == "fixed" and len(args) == 1:
            return cls("fixed", _number(args[0], "seconds", 0.0, math.inf, low_open=False))
        if kind == "fraction" and len(args) == 1:
            return cls("fraction", _number(args[0], "fraction", 0.0, 1.0))
        if kind == "percentile" and len(args) in (2, 3):
            p = _number(args[0], "percentile", 0.0, 100.0)
            if args[1] not in SCOPES:
                raise ValueError(f"scope must be {', '.join(SCOPES[:-1])} or {SCOPES[-1]}")
            days = _days(args[2]) if len(args) == 3 else DEFAULT_WINDOW_DAYS
            return cls("percentile", p, args[1], days)
        raise ValueError(USAGE)

    def __str__(self) -> str:
        if self.scope is None:
            return f"{self.kind}:{self.value:g}"
        days = "" if self.window_days == DEFAULT_WINDOW_DAYS else f":{self.window_days}d"
        return f"{self.kind}:{self.value:g}:{self.scope}{days}"

    def threshold(
        self,
        video_s: float,
        day: int,
        stats: Mapping[Scope, WatchStats | None],
        min_views: int,
    ) -> tuple[float, str] | None:
        """Seconds an autoplay on `day` must reach, and the rule string that set them.

        `stats` maps each scope to its statistics (None: none yet). None when a
        percentile rule has no view in any scope it may fall back to.
        """
        if self.scope is None:
            seconds = self.value if self.kind == "fixed" else self.value * video_s
            return seconds, _named(self, None)
        for scope in SCOPES[SCOPES.index(self.scope) :]:
            scoped = stats.get(scope)
            needed = 1 if scope == "global" else min_views
            if scoped is not None and scoped.views(day, self.window_days) >= needed:
                seconds = scoped.percentile(self.value, day, self.window_days)
                assert seconds is not None  # the window holds at least one view
                return seconds, _named(self, scope)
        return None


@cache
def _named(rule: Rule, scope: Scope | None) -> str:
    """The string of `rule` with `scope` (after fallback), once per rule and scope."""
    return str(replace(rule, scope=scope))


def _number(text: str, what: str, low: float, high: float, *, low_open: bool = True) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite")
    if value < low or (low_open and value == low) or value > high:
        left, right = "(" if low_open else "[", ")" if math.isinf(high) else "]"
        raise ValueError(f"{what} must be in {left}{low:g}, {high:g}{right}")
    return value


def _days(text: str) -> int:
    if not (text.endswith("d") and text[:-1].isdigit()):
        raise ValueError(f"window {text!r} must look like 30d")
    days = int(text[:-1])
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"window must be 1d..{MAX_WINDOW_DAYS}d")
    return days


DEFAULT_RULE = Rule.parse("percentile:95:member")
