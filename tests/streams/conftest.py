"""Fixtures of the streams integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.simulate import WorldConfig, simulate


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated slice whose replay yields 700+ labels of every source."""
    out = tmp_path_factory.mktemp("world")
    simulate(WorldConfig(members=250, courses=40, days=4, seed=11), out, progress=False)
    return out
