"""Near-line random effects: each entity's coefficients as a diagonal Gaussian posterior.

One class serves both alpha_m (member, over x_c) and beta_c (course, over x_m); the other
GLMix components enter as the offset. A label moves the posterior to the exact mode of
prior x likelihood: with a diagonal prior the Hessian is diagonal + rank one, so the mode
lies on `mean - c * x / precision` and Newton's method reduces to a scalar iteration on
the margin (identical steps to full Newton, at O(d) cost). Precision then gains
p(1-p)x² (Laplace), and fades back toward the prior with a half-life so drift is followed.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from models.history import DAY_MS, expect_version

# Prior precision of the random effects: a typical entity has a few dozen labels at a 5-8 %
# positive rate, so weak priors overfit (L2 = 1 lost AUC to the global model). Chosen by a
# validation sweep on the simulator (benchmarks/glmix_table.py; L2 in 1, 3, 10, 30, 100):
# 10 gave the best full-GLMix AUC and keeps every ablation in Table 7 order.
L2_RANDOM_EFFECT = 10.0
_HEADER = struct.Struct("<BHIq")  # version, dim, n_seen, updated_at


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class Posterior:
    """Mean and diagonal precision of one entity's coefficients (float32: compact in RocksDB).

    >>> p = Posterior.prior(3, 2.0)
    >>> p.precision.tolist(), len(p.to_bytes())
    ([2.0, 2.0, 2.0], 39)
    >>> Posterior.from_bytes(p.to_bytes()) == p
    True
    """

    mean: np.ndarray
    precision: np.ndarray
    n_seen: int = 0
    updated_at: int = 0
    version: int = 1

    @classmethod
    def prior(cls, dim: int, precision: float) -> Posterior:
        """The regulariser as a posterior: mean 0, precision = L2 strength."""
        return cls(np.zeros(dim, np.float32), np.full(dim, precision, np.float32))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Posterior) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(self.version, len(self.mean), self.n_seen, self.updated_at)
        return (
            head
            + self.mean.astype(np.float32).tobytes()
            + self.precision.astype(np.float32).tobytes()
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Posterior:
        version, dim, n_seen, updated_at = _HEADER.unpack_from(raw)
        expect_version("Posterior", version)
        arrays = np.frombuffer(raw, np.float32, 2 * dim, _HEADER.size).copy()
        return cls(arrays[:dim], arrays[dim:], n_seen, updated_at, version)


@numba.njit(cache=True, nogil=True)
def _learn(mean, precision, updated, which, X, y, offset, ts, l2, half_life_ms, steps, margins):
    """Label i moves entity `which[i]`'s row of `mean` and `precision` (float32, in place)
    to the mode of prior x likelihood, after fading the precision toward `l2` since
    `updated` (half_life_ms 0: never; ts empty: no times); an entity's labels go one
    after another. Newton's method runs on the margin z: prior mean's margin m, v = x·Λ⁻¹x.
    margins[i]: the prior margin m."""
    l2f = np.float32(l2)
    timed = len(ts) > 0
    for i in range(len(which)):
        r = which[i]
        if timed and half_life_ms > 0.0 and ts[i] > updated[r]:
            keep = np.float32(0.5 ** ((ts[i] - updated[r]) / half_life_ms))
            for j in range(X.shape[1]):
                precision[r, j] = l2f + (precision[r, j] - l2f) * keep
        m = v = 0.0
        for j in range(X.shape[1]):
            m += np.float64(mean[r, j]) * X[i, j]
            v += X[i, j] * (X[i, j] / precision[r, j])
        z = m
        for _ in range(steps):
            q = 0.5 * (1.0 + np.tanh(0.5 * (z + offset[i])))
            z -= (z - m + (q - y[i]) * v) / (1.0 + v * q * (1.0 - q))
        q = 0.5 * (1.0 + np.tanh(0.5 * (z + offset[i])))
        residual, curvature = q - y[i], q * (1.0 - q)
        for j in range(X.shape[1]):
            x = X[i, j]
            mean[r, j] = mean[r, j] - residual * (x / precision[r, j])
            precision[r, j] = precision[r, j] + curvature * (x * x)
        margins[i] = m
        if timed and ts[i] > updated[r]:
            updated[r] = ts[i]


class GaussianEffect:
    """Incremental learner of one random effect (per member or per course).

    `l2` is the prior precision of an entity without a batch model and the level the
    precision decays to (default: the batch trainer's, so a new entity starts from the
    same prior as a batch-trained one); `half_life_days=None` never forgets.

    >>> effect = GaussianEffect(l2=1.0)
    >>> p = Posterior.prior(2, 1.0)
    >>> for _ in range(50):
    ...     p = effect.learn_one(p, np.array([1.0, 0.0]), 1, offset=0.0)
    >>> round(effect.predict_proba_one(p, np.array([1.0, 0.0]), 0.0), 2), p.mean[1]
    (0.93, np.float32(0.0))
    """

    def __init__(
        self,
        l2: float = L2_RANDOM_EFFECT,
        newton_steps: int = 4,
        half_life_days: float | None = None,
    ):
        self.l2 = l2
        self.newton_steps = newton_steps
        self.half_life_days = half_life_days

    def prior(self, dim: int) -> Posterior:
        return Posterior.prior(dim, self.l2)

    def predict_proba_one(self, p: Posterior, x: np.ndarray, offset: float) -> float:
        return float(sigmoid(float(p.mean @ x) + offset))

    def predict_proba(self, p: Posterior, X: np.ndarray, offset: np.ndarray | float) -> np.ndarray:
        return sigmoid(X @ p.mean + offset)

    def learn_one(
        self, p: Posterior, x: np.ndarray, y: int, offset: float, ts: int | None = None
    ) -> Posterior:
        """The posterior after one label (mutated in place and returned)."""
        self.learn_many([p], x[None], [y], [offset], None if ts is None else [ts])
        return p

    def learn_many(
        self,
        ps: Sequence[Posterior],
        X: np.ndarray,
        y: Sequence[int],
        offset: Sequence[float],
        ts: Sequence[int] | None = None,
    ) -> list[float]:
        """`learn_one` of label i on `ps[i]` for every i, in place and in order: labels
        of one posterior (the same object) one after another, in one compiled loop;
        returns each label's mean . x before it."""
        rows: dict[int, int] = {}
        which = np.array([rows.setdefault(id(p), len(rows)) for p in ps], np.int64)
        entities = list({id(p): p for p in ps}.values())
        mean = np.array([p.mean for p in entities], np.float32).reshape(len(entities), -1)
        precision = np.array([p.precision for p in entities], np.float32).reshape(mean.shape)
        updated = np.array([p.updated_at for p in entities], np.int64)
        margins = np.empty(len(which))
        _learn(
            mean,
            precision,
            updated,
            which,
            np.ascontiguousarray(X, float).reshape(len(which), -1),
            np.asarray(y, float),
            np.asarray(offset, float),
            np.zeros(0, np.int64) if ts is None else np.asarray(ts, np.int64),
            self.l2,
            0.0 if self.half_life_days is None else self.half_life_days * DAY_MS,
            self.newton_steps,
            margins,
        )
        counts = np.bincount(which, minlength=len(entities)).tolist()
        for r, p in enumerate(entities):
            p.mean, p.precision = mean[r], precision[r]
            p.n_seen += counts[r]
            p.updated_at = int(updated[r])
        return margins.tolist()

    def sample(self, p: Posterior, rng: np.random.Generator) -> np.ndarray:
        """Coefficients drawn from the posterior (Thompson sampling for exploration)."""
        return p.mean + rng.standard_normal(len(p.mean)) / np.sqrt(p.precision)
