"""Integration: the worker's topic admin creates what Quix asks for on a real broker and
says which topics it could not create."""

from __future__ import annotations

import uuid

import pytest
from quixstreams.models.topics import TopicConfig
from quixstreams.models.topics.exceptions import CreateTopicFailure
from quixstreams.models.topics.topic import Topic

from streams.admin import PromptAdmin


def topic(name: str, partitions: int = 3, **extra: str) -> Topic:
    config = TopicConfig(num_partitions=partitions, replication_factor=1, extra_config=extra)
    return Topic(name, create_config=config)


def test_topics_are_created_as_asked_and_those_there_already_left_alone(kafka_bootstrap):
    admin = PromptAdmin(kafka_bootstrap)
    names = [f"admin-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    admin.create_topics([topic(n, **{"cleanup.policy": "compact"}) for n in names])
    found = admin.inspect_topics(names)
    assert {n: found[n].num_partitions for n in names} == dict.fromkeys(names, 3)
    assert {found[n].extra_config["cleanup.policy"] for n in names} == {"compact"}
    admin.create_topics([topic(names[0], partitions=5)])  # there already: left as it is
    assert admin.inspect_topics(names[:1])[names[0]].num_partitions == 3


def test_a_topic_the_broker_refuses_is_named_in_the_error(kafka_bootstrap):
    admin = PromptAdmin(kafka_bootstrap)
    name = f"admin-{uuid.uuid4().hex[:8]}"
    with pytest.raises(CreateTopicFailure, match=name):
        admin.create_topics([topic(name, **{"cleanup.policy": "no-such-policy"})])
