"""Process metrics in the Prometheus text format: counters, gauges and latency histograms.

Each `Metrics` owns a prometheus_client registry (not the global one), so several in one
process (tests, a worker and a reader side by side) never collide; metrics are created on
first use, gauges are read when rendered.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# seconds: from a local table get to a slow rescore
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

disable_created_metrics()  # `_created` series double the output and nothing reads them


class _Gauges(Collector):
    """The gauges handed to the latest `render`, as one collector."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.values: dict[str, tuple[float, str]] = {}

    def collect(self) -> Iterator[Metric]:
        for name, (value, help) in sorted(self.values.items()):
            yield GaugeMetricFamily(f"{self.namespace}_{name}", help or name, value=value)


class Metrics:
    """>>> m = Metrics("nearline")
    >>> m.inc("labels_out", 2, "labels produced")
    >>> m.observe("rescore_seconds", 0.004, "time to rescore one member")
    >>> print(m.render({"lag": (7, "records behind")}))  # doctest: +ELLIPSIS
    # HELP nearline_lag records behind
    # TYPE nearline_lag gauge
    nearline_lag 7.0
    # HELP nearline_labels_out_total labels produced
    # TYPE nearline_labels_out_total counter
    nearline_labels_out_total 2.0
    # HELP nearline_rescore_seconds time to rescore one member
    # TYPE nearline_rescore_seconds histogram
    ...
    nearline_rescore_seconds_bucket{le="0.005"} 1.0
    ...
    nearline_rescore_seconds_count 1.0
    nearline_rescore_seconds_sum 0.004
    <BLANKLINE>
    """

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.registry = CollectorRegistry(auto_describe=False)
        self.counters: dict[str, Counter] = {}
        self.histograms: dict[str, Histogram] = {}
        self.gauges = _Gauges(namespace)
        self.registry.register(self.gauges)

    def inc(self, name: str, n: float = 1, help: str = "") -> None:
        counter = self.counters.get(name)
        if counter is None:
            counter = self.counters[name] = Counter(
                name, help or name, namespace=self.namespace, registry=self.registry
            )
        counter.inc(n)

    def observe(self, name: str, value: float, help: str = "") -> None:
        histogram = self.histograms.get(name)
        if histogram is None:
            histogram = self.histograms[name] = Histogram(
                name,
                help or name,
                namespace=self.namespace,
                registry=self.registry,
                buckets=BUCKETS,
            )
        histogram.observe(value)

    def render(self, gauges: dict[str, tuple[float, str]] | None = None) -> str:
        """Every metric as Prometheus text, with `gauges` ({name: (value, help)}) read now."""
        self.gauges.values = dict(gauges or {})
        return generate_latest(self.registry).decode()
