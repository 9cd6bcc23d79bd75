"""The HTTP layer of the reader and of a worker's endpoints: HTTP/1.1 keep-alive on
asyncio's protocol layer, a GET answered by one plain function, no framework between.

Every answer is the handler's or a JSON error: a malformed or over-long request (400,
431), a body (413, 501) or a handler's failure (500) never gets an HTML page or a
dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024  # request line and headers; a 10 KB member id still gets a JSON 400
MAX_BODY = 64 * 1024  # a body (never needed) is read and dropped up to this
JSON = "application/json"
ALLOWED = "GET, HEAD"
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


Handler = Callable[[str, str], Response]  # (method, target) -> the answer


def json_response(status: int, body: object, allow: str | None = None) -> Response:
    return Response(status, json.dumps(body).encode(), allow=allow)


def error(status: int, message: str, allow: str | None = None) -> Response:
    return json_response(status, {"error": message}, allow)


def not_allowed(method: str) -> Response:
    return error(405, f"{method[:20]} is not allowed here, only GET", allow=ALLOWED)


class Connection(asyncio.Protocol):
    """One client connection: requests in order, answered at once, kept alive;
    `answered(seconds)` is told how long each answer took."""

    def __init__(self, handle: Handler, answered: Callable[[float], None] | None = None):
        self.handle = handle
        self.answered = answered
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
                    self._send(error(431, f"request head over {MAX_HEAD} bytes"), close=True)
                return
            if end > MAX_HEAD:
                self._send(error(431, f"request head over {MAX_HEAD} bytes"), close=True)
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = dict(_header(line) for line in head[1:])
            parts = head[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._send(error(400, "malformed request line"), close=True)
                return
            if "transfer-encoding" in headers:
                self._send(error(501, "request bodies are not read here"), close=True)
                return
            length_text = headers.get("content-length", "0")
            if not length_text.isdigit():
                self._send(error(400, "bad Content-Length"), close=True)
                return
            length = int(length_text)
            if length > MAX_BODY:
                self._send(error(413, "request body too large"), close=True)
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
            response = self.handle(method, target)
        except Exception:
            log.exception("%s %s", method, target[:200])
            response = error(500, "internal error")
        self._send(response, close=not keep, head_only=head_only)
        if self.answered is not None:
            self.answered(time.perf_counter() - start)

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
    """The port to answer on is taken (a one-line user error)."""


async def listen(
    handle: Handler, host: str, port: int, answered: Callable[[float], None] | None = None
) -> asyncio.Server:
    """Start answering on host:port with `handle` (the caller runs the loop)."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(lambda: Connection(handle, answered), host, port)
    except OSError as e:
        raise PortInUse(f"cannot listen on {host}:{port}: {e.strerror}") from None
