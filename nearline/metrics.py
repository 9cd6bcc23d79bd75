"""Worker metrics in the Prometheus text format: counters, gauges and latency summaries.

Plain data in the worker process, rendered on `GET /metrics`; quantiles come from a ring
of recent observations (exact over that window, bounded memory).
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

QUANTILES = (0.5, 0.9, 0.99)


class Metrics:
    """>>> m = Metrics("nearline")
    >>> m.inc("labels_out", 2, "labels produced")
    >>> m.observe("rescore_seconds", 0.004, "time to rescore one member")
    >>> print(m.render({"lag": (7, "records behind")}))  # doctest: +ELLIPSIS
    # HELP nearline_labels_out labels produced
    # TYPE nearline_labels_out counter
    nearline_labels_out 2
    # HELP nearline_rescore_seconds time to rescore one member
    # TYPE nearline_rescore_seconds summary
    nearline_rescore_seconds{quantile="0.5"} 0.004
    ...
    nearline_rescore_seconds_count 1
    # HELP nearline_lag records behind
    # TYPE nearline_lag gauge
    nearline_lag 7
    """

    def __init__(self, namespace: str, window: int = 10_000):
        self.namespace = namespace
        self.counters: dict[str, float] = defaultdict(float)
        self.samples: dict[str, deque[float]] = {}
        self.totals: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
        self.help: dict[str, str] = {}
        self.window = window

    def inc(self, name: str, n: float = 1, help: str = "") -> None:
        self.counters[name] += n
        self.help.setdefault(name, help)

    def observe(self, name: str, value: float, help: str = "") -> None:
        self.samples.setdefault(name, deque(maxlen=self.window)).append(value)
        count, total = self.totals[name]
        self.totals[name] = (count + 1, total + value)
        self.help.setdefault(name, help)

    def render(self, gauges: dict[str, tuple[float, str]] | None = None) -> str:
        lines: list[str] = []

        def head(name: str, kind: str, help: str) -> str:
            full = f"{self.namespace}_{name}"
            lines.extend((f"# HELP {full} {help or name}", f"# TYPE {full} {kind}"))
            return full

        for name, value in sorted(self.counters.items()):
            lines.append(f"{head(name, 'counter', self.help[name])} {value:g}")
        for name, ring in sorted(self.samples.items()):
            full = head(name, "summary", self.help[name])
            values = np.fromiter(ring, float)
            for q in QUANTILES:
                lines.append(f'{full}{{quantile="{q}"}} {np.quantile(values, q):g}')
            count, total = self.totals[name]
            lines.extend((f"{full}_sum {total:g}", f"{full}_count {count}"))
        for name, (value, help) in sorted((gauges or {}).items()):
            lines.append(f"{head(name, 'gauge', help)} {value:g}")
        return "\n".join(lines) + "\n"
