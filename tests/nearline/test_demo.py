"""`nearline demo --exit` end to end, with a stranger already answering on port 6066."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

DEMO_PORT = 6066


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A server that is not the demo's: an HTML 404 for everything."""

    def do_GET(self) -> None:
        body = b"<html><body>404 Not Found</body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def stranger_on(port: int) -> Iterator[None]:
    """Someone on the port: this server, or whoever already holds it."""
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
    except OSError:  # taken already, which is the case under test as well
        yield
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.kafka
def test_the_demo_passes_with_another_server_already_on_6066(kafka_bootstrap, tmp_path):
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "NEARLINE_TOPIC_PREFIX": f"demo{uuid.uuid4().hex[:8]}.",
        "NEARLINE_WEB_PORT": str(DEMO_PORT),
    }
    world = ("--members", "120", "--courses", "60", "--days", "4")
    with stranger_on(DEMO_PORT):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "nearline",
                "demo",
                "--exit",
                "--workdir",
                str(tmp_path),
                *world,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"port {DEMO_PORT} is taken by another process" in run.stdout
    reader = re.search(r"reader: http://127\.0\.0\.1:(\d+)\n", run.stdout)
    assert reader and int(reader[1]) != DEMO_PORT
    scores = re.findall(r"^      (0\.\d{3}|1\.000)  .+ \((.+)\)$", run.stdout, re.MULTILINE)
    assert len(scores) >= 3, run.stdout  # lists with reasons, as the reader served them
    assert "HTTP" not in run.stdout.split("the most active members:")[1]
