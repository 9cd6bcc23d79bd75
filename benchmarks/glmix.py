"""GLMix micro-benchmarks: near-line update per label, scoring 1000 candidates, batch
training on 1M synthetic labels, and label-replay featurisation throughput.

    .venv/bin/python benchmarks/glmix.py [--labels 1000000]

Targets: update < 50 µs per label, 1000-candidate score < 200 µs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from models.catalog import Catalog
from models.examples import FeatureState, build_examples
from models.features import Profile
from models.history import course_key, observe
from models.online import OnlineGLMix
from models.posterior import GaussianEffect
from models.scorer import Scorer
from models.spec import FeatureSpec
from models.synthetic import T0, planted, planted_records
from models.train import train, train_from_labels


def per_call_us(fn: Callable[[], object], repeat: int) -> str:
    """Best and median of 5 runs of the mean time per call, in µs (best = the cost
    without interference from other processes, as `timeit` reports)."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        runs.append((time.perf_counter() - start) / repeat * 1e6)
    return f"{min(runs):6.1f} µs (median {np.median(runs):6.1f})"


def bench_updates() -> None:
    ex, spec, _ = planted(n_members=200, n_courses=100, n=20_000, seed=1)
    d_c = spec.dims[0]
    rng = np.random.default_rng(0)
    effect = GaussianEffect(l2=1.0, half_life_days=30.0)
    alpha = effect.prior(d_c)
    x_c = ex.x_c[0]
    ts = iter(range(T0, T0 + 10**9, 1000))
    us = per_call_us(
        lambda: effect.learn_one(alpha, x_c, int(rng.random() < 0.3), 0.1, next(ts)), 20_000
    )
    print(f"GaussianEffect.learn_one (d={d_c}, forgetting on)      {us}")
    online = OnlineGLMix(train(ex, spec), GaussianEffect(), GaussianEffect())
    i = iter(np.resize(np.arange(len(ex)), 200_000))

    def label() -> None:
        k = next(i)
        online.learn_one(
            ex.member_ids[ex.member[k]],
            ex.course_ids[ex.course[k]],
            ex.x_mc[k],
            ex.x_c[ex.course[k]],
            ex.x_m[ex.member[k]],
            int(ex.y[k]),
            int(ex.ts[k]),
        )

    us = per_call_us(label, 20_000)
    print(f"OnlineGLMix.learn_one (member + course posteriors)   {us}  (target < 50)")


def bench_scoring() -> None:
    courses, members, labels = planted_records(n_members=50, n_courses=5000, n_labels=2000)
    model = train_from_labels(labels, courses, members, min_examples=5)
    catalog = Catalog(model.spec, courses)
    state = FeatureState(catalog)
    history = state.history("m0")
    for k in range(64):  # a full impression history
        history = observe(
            history,
            category=k % 5,
            key=course_key(f"c{k * 7}"),
            y=k % 3 == 0,
            ts=T0 + k * 60_000,
            half_life_days=30,
            capacity=64,
        )
    scorer = Scorer(model, catalog)
    profile = Profile.of(model.spec, members[0])
    alpha = model.members.mean[0]
    rows = np.random.default_rng(0).choice(len(catalog), 1000, replace=False)
    ts = T0 + 86_400_000
    us = per_call_us(lambda: scorer.logits(profile, history, rows, ts, alpha), 2000)
    print(f"Scorer.logits, 1000 candidates incl. x_mc            {us}  (target < 200)")


def bench_training(n: int) -> None:
    n_members, n_courses = max(n // 20, 10), max(n // 500, 10)
    ex, spec, _ = planted(n_members=n_members, n_courses=n_courses, n=n, seed=2)
    start = time.perf_counter()
    model = train(ex, spec, min_examples=5)
    seconds = time.perf_counter() - start
    m = model.meta
    print(
        f"batch training, {n:,} labels ({n_members:,} members, {n_courses:,} courses, "
        f"2 sweeps): {seconds:.1f} s; train AUC {m['metrics']['auc']:.3f}; "
        f"{m['data']['members_with_model']:,} member / {m['data']['courses_with_model']:,} "
        "course models"
    )


def bench_replay() -> None:
    courses, members, labels = planted_records(n_members=2000, n_courses=500, n_labels=20_000)
    spec = FeatureSpec.for_courses(courses)
    state = FeatureState(
        Catalog(spec, courses), {m.member_id: Profile.of(spec, m) for m in members}
    )
    start = time.perf_counter()
    build_examples(labels, state)
    us = (time.perf_counter() - start) / len(labels) * 1e6
    print(f"label replay featurisation (build_examples)          {us:6.1f} µs per label")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    args = parser.parse_args()
    bench_updates()
    bench_scoring()
    bench_replay()
    bench_training(args.labels)


if __name__ == "__main__":
    main()
