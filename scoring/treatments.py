"""A/B treatments (paper §4.3): each channel runs its own experiment over model variants,
and a member's variant is a pure function of (member, experiment), so every worker, replay
and a restart agree without storing assignments, and only the assigned variant's list is
computed and stored (pre-filtering).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Literal


def stable_u64(key: str, byteorder: Literal["big", "little"] = "little") -> int:
    """64 bits of blake2b of `key`: stable across processes and platforms (unlike
    `hash()`)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), byteorder)


def unit_hash(member_id: str, experiment: str) -> float:
    """A uniform point in [0, 1) from blake2b of (experiment, member): stable across
    processes and platforms (unlike `hash()`), unrelated between experiment names.

    >>> unit_hash("m1", "feed-2026q1") == unit_hash("m1", "feed-2026q1")
    True
    """
    key = f"{len(experiment)}:{experiment}:{member_id}"  # unambiguous concatenation
    return (stable_u64(key, "big") >> 11) / 2.0**53  # 53 bits: exact in a float


@dataclass(frozen=True)
class Treatments:
    """Configured splits per channel (variant -> share, summing to 1); the experiment of a
    channel is named `{experiment}/{channel}`, so channels are assigned independently.

    >>> t = Treatments({"feed": {"glmix-a": 0.5, "glmix-b": 0.5}, "email": {"glmix-a": 1.0}})
    >>> t.assign("m1")["email"], t.assign("m1") == t.assign("m1")
    ('glmix-a', True)
    """

    splits: Mapping[str, Mapping[str, float]]
    experiment: str = "default"
    live: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for channel, split in self.splits.items():
            if not split or any(not 0.0 <= share <= 1.0 for share in split.values()):
                raise ValueError(f"{channel}: shares must be in [0, 1], got {dict(split)}")
            if not math.isclose(sum(split.values()), 1.0, abs_tol=1e-9):
                raise ValueError(f"{channel}: shares sum to {sum(split.values())}, not 1")
        live = {c: tuple(v for v, x in s.items() if x > 0.0) for c, s in self.splits.items()}
        object.__setattr__(self, "live", live)  # each channel's variants with a share

    def variant(self, member_id: str, channel: str) -> str:
        """The member's model variant on `channel`; KeyError for an unconfigured channel."""
        split, live = self.splits[channel], self.live[channel]
        if len(live) == 1:  # no experiment on this channel: every point lands there
            return live[0]
        u = unit_hash(member_id, f"{self.experiment}/{channel}")
        edges = accumulate(split.values())
        # u above the last edge only through rounding of the shares: the last live variant
        return next((v for v, edge in zip(split, edges, strict=True) if u < edge), live[-1])

    def assign(self, member_id: str) -> dict[str, str]:
        """channel -> variant for every configured channel."""
        return {channel: self.variant(member_id, channel) for channel in self.splits}
