"""Near-line random effects: each entity's coefficients as a diagonal Gaussian posterior.

One class serves both alpha_m (member, over x_c) and beta_c (course, over x_m); the other
GLMix components enter as the offset. A label moves the posterior to the exact mode of
prior x likelihood: with a diagonal prior the Hessian is diagonal + rank one, so the mode
lies on `mean - c * x / precision` and Newton's method reduces to a scalar iteration on
the margin (identical steps to full Newton, at O(d) cost). Precision then gains
p(1-p)x² (Laplace), and fades back toward the prior with a half-life so drift is followed.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

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


def _mode(m: float, v: float, offset: float, y: int, steps: int) -> float:
    """The predicted probability at the posterior mode of one label: Newton's method on
    the margin z (prior mean's margin m, v = x·Λ⁻¹x)."""
    z = m
    for _ in range(steps):
        q = 0.5 * (1.0 + math.tanh(0.5 * (z + offset)))
        z -= (z - m + (q - y) * v) / (1.0 + v * q * (1.0 - q))
    return 0.5 * (1.0 + math.tanh(0.5 * (z + offset)))


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

    def forget(self, p: Posterior, ts: int) -> np.ndarray:
        """Precision at `ts`, faded toward `l2` since the last update."""
        if self.half_life_days is None or ts <= p.updated_at:
            return p.precision
        keep = 0.5 ** ((ts - p.updated_at) / (self.half_life_days * DAY_MS))
        return self.l2 + (p.precision - self.l2) * np.float32(keep)

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
        """`learn_one` of label i on `ps[i]` for every i at once (each posterior appears
        once: distinct entities), in place; returns each label's mean . x before it."""
        precision = np.array(
            [p.precision for p in ps] if ts is None else list(map(self.forget, ps, ts))
        ).reshape(X.shape)
        scaled = X / precision  # Λ⁻¹x: the direction of every Newton step
        v = np.einsum("ij,ij->i", X, scaled).tolist()
        mean = np.array([p.mean for p in ps]).reshape(X.shape)
        m = np.einsum("ij,ij->i", mean, X).tolist()
        q = [_mode(*args, self.newton_steps) for args in zip(m, v, offset, y, strict=True)]
        residual = np.subtract(q, y)[:, None]
        curvature = np.array([qi * (1.0 - qi) for qi in q])[:, None]
        means = (mean - residual * scaled).astype(np.float32)
        precisions = (precision + curvature * (X * X)).astype(np.float32)
        for i, p in enumerate(ps):
            p.mean, p.precision = means[i], precisions[i]
            p.n_seen += 1
            if ts is not None:
                p.updated_at = max(p.updated_at, ts[i])
        return m

    def sample(self, p: Posterior, rng: np.random.Generator) -> np.ndarray:
        """Coefficients drawn from the posterior (Thompson sampling for exploration)."""
        return p.mean + rng.standard_normal(len(p.mean)) / np.sqrt(p.precision)
