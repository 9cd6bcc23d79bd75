"""Session fixtures: one real Kafka broker for the whole run (see nearline.broker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nearline.broker import any_broker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`KAFKA_BOOTSTRAP_SERVERS`, else testcontainers Kafka, else a local broker from jars."""
    with any_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap
