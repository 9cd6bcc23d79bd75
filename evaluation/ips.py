"""Off-policy value of a new ranking policy from logged impressions (Insight 5).

Logged clicks exist only where the old policy chose to show something, so a model
evaluated on them inherits that policy's choices. Inverse propensity scoring reweights
each logged (context, shown course, reward) by how much more (or less) likely the new
policy is to show that course than the logging policy was:

    V_IPS(pi) = mean_i  r_i * min(pi(a_i | x_i) / p_i, clip)

unbiased when p_i is the exact logged propensity (a randomised logging policy such as
the simulator's) and no weight is clipped; clipping trades a little bias for variance.
The self-normalised variant divides by the mean weight instead of n.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CLIP = 50.0


def softmax_policy(logits: np.ndarray, allowed: np.ndarray, temperature: float = 1.0):
    """A stochastic ranking policy for one slot: softmax of the scores over allowed items
    (the last axis; one row per slot when given several).

    >>> softmax_policy(np.array([0.0, 0.0, 5.0]), np.array([True, True, False])).tolist()
    [0.5, 0.5, 0.0]
    """
    z = np.where(allowed, logits / temperature, -np.inf)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def ips(
    rewards: np.ndarray,
    target: np.ndarray,
    propensity: np.ndarray,
    clip: float = DEFAULT_CLIP,
) -> dict[str, float | int | None]:
    """IPS and self-normalised IPS estimates of a target policy's mean reward, from logged
    rewards, the target's probability of each logged action and the logged propensity.
    `ess` is the effective sample size of the weights, `logged` the logging policy's own
    mean reward.

    >>> ips(np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.5, 0.5]))["value"]
    1.0
    """
    n = len(rewards)
    if n == 0:
        return {"value": None, "snips": None, "logged": None, "ess": 0.0, "clipped": 0, "n": 0}
    ratio = target / propensity
    weights = np.minimum(ratio, clip)
    total = weights.sum()
    return {
        "value": float(np.mean(rewards * weights)),
        "snips": float((rewards * weights).sum() / total) if total > 0 else None,
        "logged": float(np.mean(rewards)),
        "ess": float(total**2 / (weights**2).sum()) if total > 0 else 0.0,
        "clipped": int((ratio > clip).sum()),
        "n": n,
    }
