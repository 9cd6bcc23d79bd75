"""The reader's HTTP: lists from the local table, `/health` and `/metrics`.

    GET /recommendations/{member_id}?channel=feed&limit=10   200 list | 404 | 400
    GET /health    {status, app, role, topic, caught_up, caught_up_s, records, lag}
    GET /metrics   Prometheus text

Every answer but `/metrics` is JSON, errors included: an unknown path (404), another
method (405), a malformed or over-long request (400, 431), an empty, over-long or
path-like member id (400). HTTP/1.1 keep-alive on asyncio's streams-free protocol
layer: a GET costs a table get and one record's validation, no framework in between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from pydantic import ValidationError

from nearline.config import Settings
from nearline.metrics import CONTENT_TYPE, Metrics
from schemas import Recommendations
from streams.reader import Follower, ListTable

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # request line and headers; a 10 KB member id still gets a JSON 400
MAX_BODY = 64 * 1024  # a body (never needed) is read and dropped up to this
MAX_ID = 128  # schemas.fields.Id
MAX_LIMIT = 1000
ROUTE = "/recommendations/"
JSON = "application/json"
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    allow: str | None = None


def _json(status: int, body: object, allow: str | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), allow=allow)


def _error(status: int, message: str, allow: str | None = None) -> Response:
    return _json(status, {"error": message}, allow)


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
    """Answers one request from the table; the HTTP framing is `_Connection`'s."""

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
            return _error(404, f"no such path: {path[:200]!r}")
        if method not in ("GET", "HEAD"):
            return _error(405, f"{method[:20]} is not allowed here, only GET", allow="GET, HEAD")
        return route(arg, query)

    def recommendations(self, raw_id: str, query: str) -> Response:
        member_id = unquote(raw_id)
        if problem := member_id_error(member_id):
            return _error(400, problem)
        params = dict(parse_qsl(query, max_num_fields=10))
        channel = params.get("channel", self.default_channel)
        if channel not in self.settings.channels:
            return _error(400, f"unknown channel {channel[:64]!r} (known: {self.channels})")
        try:
            limit = int(params.get("limit", self.settings.top_k))
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            return _error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        raw = self.table.get(member_id.encode())
        if raw is None:
            return _error(404, f"no recommendations for member {member_id!r} yet")
        try:
            record = Recommendations.model_validate_json(raw, context=self.context)
            view = record.view(channel, limit)
        except KeyError:
            return _error(404, f"member {member_id!r} has no {channel} list")
        except ValidationError as e:
            log.warning("stored record of %r is invalid: %s", member_id, e)
            return _error(500, f"the stored record of member {member_id!r} is invalid")
        return Response(200, view.model_dump_json().encode())

    def health(self) -> Response:
        progress = self.follower.progress
        failed = self.follower.error is not None
        return _json(
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


class _Connection(asyncio.Protocol):
    """One client connection: requests in order, answered at once, kept alive."""

    def __init__(self, app: ReaderApp):
        self.app = app
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._send(_error(431, f"request head over {MAX_HEAD} bytes"), close=True)
                return
            if end > MAX_HEAD:
                self._send(_error(431, f"request head over {MAX_HEAD} bytes"), close=True)
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = dict(_header(line) for line in head[1:])
            parts = head[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._send(_error(400, "malformed request line"), close=True)
                return
            if "transfer-encoding" in headers:
                self._send(_error(501, "request bodies are not read here"), close=True)
                return
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit():
                self._send(_error(400, "bad Content-Length"), close=True)
                return
            length = int(length_text)
            if length > MAX_BODY:
                self._send(_error(413, "request body too large"), close=True)
                return
            if len(self.buffer) < end + 4 + length:
                return  # the rest of the body is still coming
            self.buffer = self.buffer[end + 4 + length :]
            method, target, version = parts
            connection = headers.get("connection", "").lower()
            keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
            self._answer(method, target, head_only=method == "HEAD", keep=keep)

    def _answer(self, method: str, target: str, *, head_only: bool, keep: bool) -> None:
        start = time.perf_counter()
        try:
            response = self.app.handle(method, target)
        except Exception:
            log.exception("%s %s", method, target[:200])
            response = _error(500, "internal error")
        self._send(response, close=not keep, head_only=head_only)
        metrics = self.app.metrics
        metrics.inc("requests", help="HTTP requests answered")
        metrics.observe("request_seconds", time.perf_counter() - start, "time to answer")

    def _send(self, response: Response, *, close: bool, head_only: bool = False) -> None:
        assert self.transport is not None
        lines = [
            f"HTTP/1.1 {response.status} {REASONS.get(response.status, '')}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        if response.allow:
            lines.append(f"Allow: {response.allow}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.transport.write(head if head_only else head + response.body)
        if close:
            self.transport.close()


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


class PortInUse(RuntimeError):
    """The reader's port is taken."""


async def serve(app: ReaderApp, host: str, port: int) -> asyncio.Server:
    """Start answering on host:port (the caller runs the loop)."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(lambda: _Connection(app), host, port)
    except OSError as e:
        raise PortInUse(f"cannot listen on {host}:{port}: {e.strerror}") from None


async def _serve_forever(app: ReaderApp, host: str, port: int) -> None:
    server = await serve(app, host, port)
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
