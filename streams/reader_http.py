"""The reader's HTTP: lists from the local table, `/health` and `/metrics`.

    GET /recommendations/{member_id}?channel=feed&limit=10   200 list | 404 | 400
    GET /health    {status, app, role, topic, caught_up, caught_up_s, records, lag}
    GET /metrics   Prometheus text

Every answer but `/metrics` is JSON, errors included: an unknown path (404), another
method (405), a malformed or over-long request (400, 431), an empty, over-long or
path-like member id (400). A GET costs a table get and one record's validation
(`streams.http` frames it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote

from pydantic import ValidationError

from nearline.config import Settings
from nearline.metrics import CONTENT_TYPE, Metrics
from schemas import Recommendations
from streams.http import Response, error, json_response, listen, not_allowed
from streams.reader import Follower, ListTable

log = logging.getLogger(__name__)

MAX_ID = 128  # schemas.fields.Id
MAX_LIMIT = 1000
ROUTE = "/recommendations/"


def member_id_error(member_id: str) -> str | None:
    """Why a member id taken from a path cannot be one, or None.

    >>> member_id_error("m1"), member_id_error(".."), member_id_error("a/b")
    (None, "member id '..' is a path, not an id", "member id 'a/b' is a path, not an id")
    """
    if not member_id.strip():
        return "empty member id"
    if len(member_id) > MAX_ID:
        return f"member id longer than {MAX_ID} characters ({len(member_id)})"
    if member_id in (".", "..") or "/" in member_id or "\\" in member_id:
        return f"member id {member_id!r} is a path, not an id"
    if not member_id.isprintable():
        return "member id with control characters"
    return None


class ReaderApp:
    """Answers one request from the table (`handle`); the HTTP framing is `streams.http`'s."""

    def __init__(self, settings: Settings, table: ListTable, follower: Follower):
        self.settings = settings
        self.table = table
        self.follower = follower
        self.metrics = Metrics("nearline_reader")
        self.channels = sorted(settings.channels)
        self.default_channel = "feed" if "feed" in settings.channels else self.channels[0]
        self.context = {"channels": settings.channels}

    def handle(self, method: str, target: str) -> Response:
        path, _, query = target.partition("?")
        if path.startswith(ROUTE):
            route: Callable[[str, str], Response] = self.recommendations
            arg = path[len(ROUTE) :]
        elif path == "/health":
            route, arg = (lambda _a, _q: self.health()), ""
        elif path == "/metrics":
            route, arg = (lambda _a, _q: self.prometheus()), ""
        else:
            return error(404, f"no such path: {path[:200]!r}")
        if method not in ("GET", "HEAD"):
            return not_allowed(method)
        return route(arg, query)

    def recommendations(self, raw_id: str, query: str) -> Response:
        member_id = unquote(raw_id)
        if problem := member_id_error(member_id):
            return error(400, problem)
        params = dict(parse_qsl(query, max_num_fields=10))
        channel = params.get("channel", self.default_channel)
        if channel not in self.settings.channels:
            return error(400, f"unknown channel {channel[:64]!r} (known: {self.channels})")
        try:
            limit = int(params.get("limit", self.settings.top_k))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            return error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        raw = self.table.get(member_id.encode())
        if raw is None:
            return error(404, f"no recommendations for member {member_id!r} yet")
        try:
            record = Recommendations.model_validate_json(raw, context=self.context)
            view = record.view(channel, limit)
        except KeyError:
            return error(404, f"member {member_id!r} has no {channel} list")
        except ValidationError as e:
            log.warning("stored record of %r is invalid: %s", member_id, e)
            return error(500, f"the stored record of member {member_id!r} is invalid")
        return Response(200, view.model_dump_json().encode())

    def health(self) -> Response:
        progress = self.follower.progress
        failed = self.follower.error is not None
        return json_response(
            500 if failed else 200,
            {
                "status": "failed" if failed else "ok" if progress.caught_up else "catching up",
                "app": self.settings.app_id,
                "role": "reader",
                "topic": self.follower.topic,
                "caught_up": progress.caught_up,
                "caught_up_s": self.follower.caught_up_s,
                "records": progress.records,
                "lag": progress.lag,
            },
        )

    def prometheus(self) -> Response:
        progress = self.follower.progress
        gauges = {
            "records": (progress.records, "members with a list in the local table"),
            "lag": (progress.lag or 0, "records of the topic not read yet"),
            "records_read": (self.follower.read, "records read from the topic since start"),
            "caught_up": (int(progress.caught_up), "1 once the topic's start-up ends are read"),
        }
        return Response(200, self.metrics.render(gauges).encode(), CONTENT_TYPE)

    def answered(self, seconds: float) -> None:
        self.metrics.inc("requests", help="HTTP requests answered")
        self.metrics.observe("request_seconds", seconds, "time to answer")


async def _serve_forever(app: ReaderApp, host: str, port: int) -> None:
    server = await listen(app.handle, host, port, app.answered)
    app.follower.start()
    log.info("reader %s answering on http://%s:%d", app.settings.app_id, host, port)
    async with server:
        await server.serve_forever()


def run_reader(settings: Settings) -> None:
    """`nearline serve`: the table under `data_dir/reader`, followed and served until the
    process is stopped."""
    table = ListTable(settings.data_dir / "reader")
    follower = Follower(settings, table)
    app = ReaderApp(settings, table, follower)
    try:
        asyncio.run(_serve_forever(app, settings.web_host, settings.web_port))
    finally:
        follower.stop()
        table.close()
