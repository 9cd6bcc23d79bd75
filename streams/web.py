"""A worker's own endpoints: `GET /health` (app, partitions, model, lag) and
`GET /metrics` (Prometheus text). Served from a thread that only reads what the
processing thread published; lists are read from the reader service, not from workers."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up before the answer (a poll's timeout) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Endpoints(threading.Thread):
    """`health()` -> JSON body, `metrics()` -> text body, on host:port."""

    def __init__(
        self, host: str, port: int, health: Callable[[], dict], metrics: Callable[[], str]
    ) -> None:
        super().__init__(daemon=True, name="endpoints")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/health":
                    self._send(200, "application/json", json.dumps(health()))
                elif path == "/metrics":
                    self._send(200, "text/plain; version=0.0.4", metrics())
                else:
                    body = json.dumps({"error": f"no such path {path!r} (/health, /metrics)"})
                    self._send(404, "application/json", body)

            def _not_allowed(self) -> None:
                body = json.dumps({"error": f"method {self.command} not allowed (GET only)"})
                self._send(405, "application/json", body, allow="GET")

            do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

            def _send(self, status: int, kind: str, body: str, allow: str | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                if allow:
                    self.send_header("Allow", allow)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per request would drown the worker's log

        self.server = Server((host, port), Handler)

    def run(self) -> None:
        self.server.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        self.server.shutdown()
