"""The GLMix model and its artifact: a versioned directory of npz arrays + JSON metadata.

    logit P(click | m, c) = w · x_mc + b  +  alpha_m · x_c  +  beta_c · x_m

Entities trained with too few examples have no row: they contribute 0. Random effects
keep their Laplace precision so the near-line updater can start from the batch posterior.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.posterior import Posterior
from models.spec import FeatureSpec

ARTIFACT_FORMAT = 1
ARRAYS = "model.npz"
META = "meta.json"


class ArtifactError(ValueError):
    """A model directory that this code cannot use."""


@dataclass
class RandomEffects:
    """Posterior means and precisions of the entities that got a model.

    >>> re = RandomEffects(["m1"], np.ones((1, 2)), np.full((1, 2), 3.0))
    >>> re.posterior("m1").precision.tolist(), re.posterior("m2") is None
    ([3.0, 3.0], True)
    """

    ids: list[str]
    mean: np.ndarray  # (n, d)
    precision: np.ndarray  # (n, d)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {e: i for i, e in enumerate(self.ids)}

    def posterior(self, entity_id: str) -> Posterior | None:
        """The batch posterior of an entity, the prior of its near-line updates."""
        i = self.index.get(entity_id)
        if i is None:
            return None
        return Posterior(self.mean[i].astype(np.float32), self.precision[i].astype(np.float32))

    def matrix(self, entity_ids: list[str]) -> np.ndarray:
        """Means stacked for `entity_ids`, zero rows for entities without a model."""
        out = np.zeros((len(entity_ids), self.mean.shape[1]))
        for row, e in enumerate(entity_ids):
            i = self.index.get(e)
            if i is not None:
                out[row] = self.mean[i]
        return out


@dataclass
class GLMixModel:
    """A trained GLMix: fixed effect `w`, `b` over x_mc; per-member effects over x_c;
    per-course effects over x_m; the spec that lays out all three; and metadata."""

    spec: FeatureSpec
    w: np.ndarray
    b: float
    members: RandomEffects
    courses: RandomEffects
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Write the artifact directory (created if missing, files replaced)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(
            path / ARRAYS,
            w=self.w,
            b=np.array(self.b),
            member_ids=np.array(self.members.ids, dtype=str),
            member_mean=self.members.mean,
            member_precision=self.members.precision,
            course_ids=np.array(self.courses.ids, dtype=str),
            course_mean=self.courses.mean,
            course_precision=self.courses.precision,
        )
        meta = {"format": ARTIFACT_FORMAT, "feature_spec": self.spec.to_dict(), **self.meta}
        (path / META).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, expect: FeatureSpec | None = None) -> GLMixModel:
        """Read an artifact; refuse another format or feature spec (`expect`, if given)."""
        path = Path(path)
        try:
            meta = json.loads((path / META).read_text())
        except FileNotFoundError:
            raise ArtifactError(f"{path} is not a GLMix model directory (no {META})") from None
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"{path}: artifact format {meta.get('format')}, expected {ARTIFACT_FORMAT}"
            )
        spec = FeatureSpec.from_dict(meta.pop("feature_spec"))
        meta.pop("format")
        if expect is not None:
            expect.check(spec)
        with np.load(path / ARRAYS, allow_pickle=False) as a:
            return cls(
                spec,
                a["w"],
                float(a["b"]),
                RandomEffects(a["member_ids"].tolist(), a["member_mean"], a["member_precision"]),
                RandomEffects(a["course_ids"].tolist(), a["course_mean"], a["course_precision"]),
                meta,
            )


def newest_artifact(path: str | Path) -> Path:
    """`path` if it is an artifact, else its newest artifact sub-folder by name (versions
    written as v0001, v0002, ... or timestamps sort in release order)."""
    path = Path(path)
    if (path / META).exists():
        return path
    versions = sorted(p for p in path.glob("*") if (p / META).exists())
    if not versions:
        raise ArtifactError(f"{path} holds no GLMix model (no {META} in it or its sub-folders)")
    return versions[-1]
