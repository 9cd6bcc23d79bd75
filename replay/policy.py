"""The logging policy that chose what the simulated members were shown.

It knows popularity, skill match and recency but not the planted tastes, and explores:
each slot's distribution is a softmax over those scores mixed with a uniform share over
the allowed courses. A visit's slots are filled by sampling without replacement
(Plackett-Luce, drawn at once as an exponential race, i.e. Gumbel top-k), so the logged
propensity of the course in slot j is exact:

    propensity_j = p(course_j) / (1 - sum of p over the courses in slots 0..j-1)

i.e. the chance the policy picked this course for this slot given the earlier slots of
the same visit; the product over slots is the chance of the whole list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LoggingPolicy:
    """Softmax over `popularity * pop + skill_match * overlap + recency * rec`, mixed
    with `explore` uniform over the allowed courses.

    >>> probs = np.array([[0.5, 0.3, 0.2]])
    >>> LoggingPolicy.slot_propensities(probs, np.array([[0, 1]])).round(3).tolist()
    [[0.5, 0.6]]
    """

    popularity: float = 1.0
    skill_match: float = 4.0
    recency: float = 1.0
    explore: float = 0.1

    def probabilities(
        self, overlap: np.ndarray, popularity: np.ndarray, recency: np.ndarray, allowed: np.ndarray
    ) -> np.ndarray:
        """One slot's distribution per row (member) over the columns (courses)."""
        score = overlap * self.skill_match
        score += self.popularity * popularity + self.recency * recency
        score[~allowed] = -np.inf
        top = score.max(axis=1, keepdims=True)
        score -= np.where(np.isfinite(top), top, 0.0)
        probs = np.exp(score, out=score)
        total = probs.sum(axis=1, keepdims=True)
        probs *= (1.0 - self.explore) / np.where(total > 0, total, 1.0)
        probs += allowed * (self.explore / np.maximum(allowed.sum(axis=1, keepdims=True), 1))
        return probs

    def fill(
        self, probs: np.ndarray, slots: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(chosen course per slot, propensity, valid) for each row; a slot is invalid when
        the row has fewer allowed courses than slots.

        Top-k of p / Exp(1) is the Gumbel top-k of log p (an exponential race), i.e. a
        Plackett-Luce sample, without computing logarithms."""
        slots = min(slots, probs.shape[1])
        keys = probs / rng.standard_exponential(probs.shape)
        top = np.argpartition(keys, keys.shape[1] - slots, axis=1)[:, -slots:]
        order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1, kind="stable")
        chosen = np.take_along_axis(top, order, axis=1)
        valid = np.take_along_axis(keys, chosen, axis=1) > 0
        propensity = self.slot_propensities(probs, chosen)
        return chosen, propensity, valid

    @staticmethod
    def slot_propensities(probs: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """Chance of each chosen course for its slot given the earlier slots."""
        p = np.take_along_axis(probs, chosen, axis=1)
        remaining = 1.0 - (np.cumsum(p, axis=1) - p)
        denominator = np.maximum(remaining, p)  # 0 only for slots left empty
        ratio = np.divide(p, denominator, out=np.zeros_like(p), where=denominator > 0)
        return np.minimum(ratio, 1.0)

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "propensity": "P(course in this slot | courses in earlier slots of the visit); "
            "softmax of popularity*z_pop + skill_match*cosine + recency*exp(-age/30d), "
            "mixed with explore*uniform, slots sampled without replacement",
        }
