"""Cold-start rescoring: what a worker without a trained model spends per member. The
prior model over a 5000-course catalog with popularity counters, members fresh from their
profile (no history, no alpha_m; one in four without skills), their skills blended with
their title and industry cohorts' (learned from 20,000 profiles), cohort trends, 1000
candidates, 3 channels, top 50, compact record; in blocks of 256 and one member alone, and
without the cohort blend for comparison. Ends with one JSON line of the figures. Times are
the process's CPU time, best of 5.

    .venv/bin/python benchmarks/cold_start.py
"""

from __future__ import annotations

import json

import numpy as np
from rescoring import best_us  # benchmarks/: the folder of the script run

from models.catalog import Catalog
from models.history import DAY_MS, CourseStats
from models.learner import Learner
from models.prior import PRIOR_VERSION, prior_model
from models.scorer import Scorer
from models.spec import FeatureSpec
from models.synthetic import T0, planted_records
from nearline.runtime import single_threaded_blas
from schemas import DEFAULT_CHANNELS, Member, Recommendations
from scoring.cohort_skills import CohortSkillTable
from scoring.recommend import Recommender, single_variant
from scoring.trending import Trends
from streams.worker import RESCORE_BLOCK as BLOCK

PROFILES = 20_000  # the profiles the cohort skills are learned from
TITLES, INDUSTRIES = 50, 20


def _profiles(skills: list[str], n: int, rng: np.random.Generator) -> list[Member]:
    """Members with titles and industries, each with a few skills (one in four none)."""
    out = []
    for i in range(n):
        k = 0 if i % 4 == 3 else int(rng.integers(1, 6))
        chosen = rng.choice(len(skills), k, replace=False)
        out.append(
            Member(
                member_id=f"p{i}",
                skills={skills[j]: float(rng.uniform(0.2, 1.0)) for j in chosen},
                title=f"title{rng.integers(TITLES)}",
                industry=f"industry{rng.integers(INDUSTRIES)}",
            )
        )
    return out


def bench_cold_start() -> dict[str, float]:
    rng = np.random.default_rng(0)
    courses, _, _ = planted_records(n_members=10, n_courses=5000, n_labels=10)
    spec = FeatureSpec.for_courses(courses)
    catalog = Catalog(spec, courses)
    for row in range(len(catalog)):
        catalog.set_stats(row, CourseStats(impressions=float(rng.integers(0, 5000))))
    skills = sorted({s for c in courses for s in c.skills})
    table = CohortSkillTable()
    for member in _profiles(skills, PROFILES, rng):
        table.learn(None, member)
    ts = T0 + 40 * DAY_MS
    trends = Trends()
    for i, member in enumerate(_profiles(skills, 2000, rng)):
        trends.learn(member, courses[int(rng.integers(len(courses)))].course_id, y=1, ts=ts - i)
    blocks = _profiles(skills, BLOCK, rng)
    ids = [m.member_id for m in blocks]

    def recommender(cohorts: CohortSkillTable | None) -> tuple[Recommender, list]:
        skills_of = None if cohorts is None else cohorts.effective_skills
        learner = Learner(Scorer(prior_model(spec), catalog), skills_of)
        channels = single_variant(DEFAULT_CHANNELS)
        rec = Recommender(learner, channels, k=50, model_version=PRIOR_VERSION, trends=trends)
        states = [learner.new_member(m) for m in blocks]
        rec.recommend_many(ids, states, ts)  # warms the ranked lists
        return rec, states

    cold, states = recommender(table)
    plain, plain_states = recommender(None)
    reasons = [i.reason for r in cold.recommend_many(ids, states, ts) for i in _feed(r.record)]
    from_skill = sum(r.startswith("Because of your skill") for r in reasons) / len(reasons)
    figures = {
        "cold_start_us_per_member": best_us(lambda: cold.recommend_many(ids, states, ts), BLOCK),
        "cold_start_single_us": best_us(
            lambda: cold.recommend_many(ids[:1], states[:1], ts), 1, 20
        ),
        "no_cohort_blend_us_per_member": best_us(
            lambda: plain.recommend_many(ids, plain_states, ts), BLOCK
        ),
        "cohort_blend_us": best_us(lambda: [table.effective_skills(m) for m in blocks], BLOCK),
    }
    print(
        f"catalog {len(catalog)} courses, {len(table.cohorts)} cohorts from {PROFILES:,} "
        f"profiles, {from_skill:.0%} of the served items by a skill"
    )
    for name, label in (
        ("cold_start_us_per_member", f"cold-start rescore, blocks of {BLOCK} (per member)"),
        ("cold_start_single_us", "cold-start rescore, one member alone"),
        ("no_cohort_blend_us_per_member", "  the same without the cohort skills"),
        ("cohort_blend_us", "  effective skills of one member (eq. 1)"),
    ):
        print(f"{label:<56}{figures[name]:9.1f} µs")
    return figures


def _feed(record: bytes) -> list:
    return Recommendations.model_validate_json(record).view("feed").items


def main() -> None:
    single_threaded_blas()
    figures = bench_cold_start()
    print(json.dumps({k: round(v, 2) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
