"""A worker's own endpoints: `GET /health` (app, partitions, model, lag) and
`GET /metrics` (Prometheus text), on the reader's HTTP layer (`streams.http`), so
errors answer in JSON there too. Served from a thread of its own that only reads what
the processing thread published; lists are read from the reader service, not workers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

from nearline.metrics import CONTENT_TYPE
from streams.http import Response, error, listen, not_allowed

PATHS = ("/health", "/metrics")


class Endpoints(threading.Thread):
    """`health()` -> JSON body, `metrics()` -> text body, on host:port (bound at once:
    a taken port fails the worker's start, `streams.http.PortInUse`)."""

    def __init__(
        self, host: str, port: int, health: Callable[[], dict], metrics: Callable[[], str]
    ) -> None:
        super().__init__(daemon=True, name="endpoints")
        self.health, self.metrics = health, metrics
        self.loop = asyncio.new_event_loop()
        try:
            self.server = self.loop.run_until_complete(listen(self.handle, host, port))
        except BaseException:
            self.loop.close()
            raise

    def handle(self, method: str, target: str) -> Response:
        path = target.split("?", 1)[0]
        if path not in PATHS:
            return error(404, f"no such path {path[:200]!r} (/health, /metrics)")
        if method not in ("GET", "HEAD"):
            return not_allowed(method)
        if path == "/health":
            return Response(200, json.dumps(self.health()).encode())
        return Response(200, self.metrics().encode(), CONTENT_TYPE)

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.server.close()
            self.loop.run_until_complete(self.server.wait_closed())
            self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
