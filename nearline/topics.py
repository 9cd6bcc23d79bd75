"""Create the contract topics up front, so partition counts match (co-partitioning)."""

from __future__ import annotations

import contextlib

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from nearline.config import COMPACTED_TOPICS, Settings


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics (compacted where the contract says so); returns those created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="nearline-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic(name),
                num_partitions=settings.partitions,
                replication_factor=1,
                topic_configs={"cleanup.policy": "compact"} if name in COMPACTED_TOPICS else {},
            )
            for name in settings.contract_topics()
            if settings.topic(name) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
        return [t.name for t in wanted]
    finally:
        admin.close()
