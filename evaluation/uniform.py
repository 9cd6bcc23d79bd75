"""A check of the off-policy estimators where the truth is known: the value of the
uniform random policy, estimated from a log of another policy (IPS and self-normalised
IPS with its logged propensities, clipped as `nearline evaluate` clips), against the
click rate of a log the uniform policy wrote itself on the same items and days.

Clicks are labelled by the worker's labeller, so a reward is what a label says.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evaluation.ips import DEFAULT_CLIP, ips
from evaluation.run import Log, labels_of
from models.examples import event_ts
from models.history import DAY_MS

RULE = "fixed:9"  # no autoplays in these logs: any rule labels clicks alike


def logged(log: Log, days: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(reward, propensity) of the log's labelled impressions on `days` (None: all)."""
    pairs = [
        (lb.label, lb.propensity)
        for lb in labels_of(log.events, RULE)
        if lb.propensity is not None and (days is None or event_ts(lb) // DAY_MS in days)
    ]
    return np.array(pairs, float).reshape(-1, 2).T


def log_days(log: Log) -> set[int]:
    return {e.ts // DAY_MS for e in log.events}


def relative_error(estimate: float | None, truth: float) -> float | None:
    """|estimate - truth| / truth; None without an estimate or a positive truth.

    >>> round(relative_error(0.006, 0.004), 6)
    0.5
    """
    if estimate is None or truth <= 0:
        return None
    return abs(estimate - truth) / truth


def uniform_check(logging: Log, uniform: Log, clip: float = DEFAULT_CLIP) -> dict[str, Any]:
    """Estimates of the uniform policy's value from `logging` next to the click rate of
    `uniform`, on the days both logs cover; the uniform policy shows each of the
    catalog's items with probability 1 / (number of items) at every position. `*_se` are
    standard errors: the truth's binomial one and the IPW mean's."""
    days = log_days(logging) & log_days(uniform)
    if not days:
        raise ValueError("the two logs share no day")
    rewards, propensity = logged(logging, days)
    truth_rewards, _ = logged(uniform, days)
    truth = float(truth_rewards.mean())
    target = np.full(len(rewards), 1.0 / len(uniform.courses))
    est = ips(rewards, target, propensity, clip)
    weighted = rewards * np.minimum(target / propensity, clip)
    return {
        "truth": truth,
        "truth_se": float(np.sqrt(truth * (1 - truth) / len(truth_rewards))),
        "truth_n": len(truth_rewards),
        "truth_clicks": int(truth_rewards.sum()),
        "ipw": est["value"],
        "ipw_se": float(weighted.std(ddof=1) / np.sqrt(len(weighted))),
        "snipw": est["snips"],
        "ipw_rel_error": relative_error(est["value"], truth),
        "snipw_rel_error": relative_error(est["snips"], truth),
        "logged_ctr": est["logged"],
        "clicks": int(rewards.sum()),
        "n": est["n"],
        "clipped": est["clipped"],
        "ess": est["ess"],
        "clip": clip,
        "days": len(days),
    }
