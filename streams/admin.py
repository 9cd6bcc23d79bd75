"""The worker's topic admin: Quix's, but a topic it creates is ready once the broker says
so. Quix creates each store's changelog when the store is defined, one topic at a time,
and looks at the outcome of a creation only after sleeping a whole second: a worker's
first start spent a second per stage before reading anything.

A creation the controller has acknowledged may not be in the metadata the broker
answers with yet, and Quix reads the new topic's configuration right after: it is
waited for there (a new broker under load took long enough for Quix to find no topic).
"""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic
from quixstreams.models.topics import TopicAdmin, TopicManager
from quixstreams.models.topics.exceptions import CreateTopicFailure
from quixstreams.models.topics.topic import Topic

from nearline.supervise import wait_until

LISTED_POLL_S = 0.05  # how often the topic list is asked for until it holds new topics


class PromptAdmin(TopicAdmin):
    """A `TopicAdmin` whose `create_topics` waits on the broker's answers themselves."""

    def create_topics(
        self, topics: list[Topic], timeout: float = 30, finalize_timeout: float = 60
    ) -> None:
        existing = self.list_topics(timeout=timeout)
        wanted = [_new_topic(t) for t in topics if t.name not in existing]
        if not wanted:
            return
        failed = {}
        futures = self.admin_client.create_topics(wanted, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=finalize_timeout)
            except KafkaException as error:  # created meanwhile by another worker: fine
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    failed[name] = error.args[0].str()
        if failed:
            raise CreateTopicFailure(f"Failed to create topics: {failed}")
        names = {t.topic for t in wanted}
        wait_until(
            lambda: names <= set(self.list_topics(timeout=timeout)),
            finalize_timeout,
            f"the broker to list the topics created: {sorted(names)}",
            interval_s=LISTED_POLL_S,
        )


def _new_topic(topic: Topic) -> NewTopic:
    config = topic.create_config
    if config is None:
        return NewTopic(topic=topic.name)
    return NewTopic(
        topic=topic.name,
        num_partitions=config.num_partitions,
        replication_factor=config.replication_factor,
        config=config.extra_config,
    )


def topic_manager(bootstrap: str, group: str) -> TopicManager:
    """Quix's topic manager for the application of `group`, with the prompt admin."""
    return TopicManager(PromptAdmin(bootstrap), consumer_group=group, auto_create_topics=True)
