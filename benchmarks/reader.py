"""The reader (`nearline serve`): catch-up speed, HTTP latency under load, table gets.

    .venv/bin/python benchmarks/reader.py [--members 1000000] [--seconds 10]

1. 1,000,000 members' compact records (three channels' lists of 10 over 20 courses, as
   a worker writes them) are produced to the `recommendations` topic of a real broker.
2. A `nearline serve` started on it catches up; records/s = records / the time it reports
   from its start to reaching the topic's end offsets. Then, once RocksDB's background
   compactions of what it wrote are over (the process under 10% of a core):
3. GETs of members drawn at random, open loop at 2,000 and 5,000 requests/s over 16
   keep-alive connections: request i is due at i / rate, and its latency runs from then
   to its answer's last byte, so a slow answer also counts against those queued behind.
4. The local table's get, in this process on the reader's folder once it has stopped.

Prints a table, then one JSON line: catch_up_per_s, p50_ms, p99_ms, rate, p99_ms_at_5000, get_us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from nearline.broker import any_broker
from nearline.supervise import Worker, isolated_settings, running_reader, wait_until
from nearline.topics import ensure_topics
from schemas import RankedList, Recommendations
from streams.reader import ListTable

CONNECTIONS = 16
RATES = (2000, 5000)


def record(member_id: str, rng: random.Random) -> bytes:
    courses = tuple(f"course-{rng.randrange(5000)}" for _ in range(20))
    lists = tuple(
        RankedList(
            channel=channel,
            model_id="glmix-v0001",
            items=tuple(rng.sample(range(20), 10)),
            scores=tuple(round(1 - k / 20, 4) for k in range(10)),
            reasons=tuple(rng.randrange(3) for _ in range(10)),
        )
        for channel in ("feed", "email", "learning_home")
    )
    reasons = ("Popular", "Because of your skill python", "Trending in your industry")
    rec = Recommendations(
        member_id=member_id,
        generated_at=1767225600000,
        courses=courses,
        reasons=reasons,
        lists=lists,
    )
    return rec.model_dump_json().encode()


def produce(bootstrap: str, topic: str, members: int) -> None:
    """Distinct records for a sample, the same bytes under every other key (JSON encoding
    of a million pydantic records would dominate the set-up, not the reader)."""
    rng = random.Random(0)
    samples = [record(f"m{i}", rng) for i in range(1000)]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 50, "compression.type": "lz4"}
    )
    for i in range(members):
        while True:
            try:
                producer.produce(topic, key=b"m%d" % i, value=samples[i % len(samples)])
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush()


class _Client(asyncio.Protocol):
    """One keep-alive connection: a request at a time, answers read by Content-Length."""

    def __init__(self) -> None:
        self.buffer = b""
        self.done: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.done is None:
            return
        head = self.buffer[:end]
        length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
        if len(self.buffer) >= end + 4 + length:
            self.buffer = self.buffer[end + 4 + length :]
            self.done.set_result(int(head[9:12]))

    async def get(self, path: str) -> int:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        return await self.done


async def open_loop(port: int, paths: list[str], rate: float) -> tuple[np.ndarray, int]:
    """Latencies in ms from each request's due time, and how many were not 200."""
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(CONNECTIONS):
        _, client = await loop.create_connection(_Client, "127.0.0.1", port)
        clients.append(client)
    queues: list[asyncio.Queue[tuple[float, str]]] = [asyncio.Queue() for _ in clients]
    latencies: list[float] = []
    failed = 0

    async def drain(client: _Client, queue: asyncio.Queue[tuple[float, str]]) -> None:
        nonlocal failed
        while True:
            due, path = await queue.get()
            status = await client.get(path)
            latencies.append(time.perf_counter() - due)
            failed += status != 200
            queue.task_done()

    tasks = [asyncio.create_task(drain(c, q)) for c, q in zip(clients, queues, strict=True)]
    start = time.perf_counter()
    for i, path in enumerate(paths):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queues[i % len(queues)].put_nowait((due, path))
    for q in queues:
        await q.join()
    for t in tasks:
        t.cancel()
    for c in clients:
        assert c.transport is not None
        c.transport.close()
    return np.array(latencies) * 1000, failed


def load(reader: Worker, members: int, rate: float, seconds: float) -> dict[str, float]:
    rng = random.Random(int(rate))
    n = int(rate * seconds)
    paths = [f"/recommendations/m{rng.randrange(members)}?channel=feed&limit=10" for _ in range(n)]
    latencies, failed = asyncio.run(open_loop(reader.settings.web_port, paths, rate))
    assert failed == 0, f"{failed} of {n} requests failed"
    return {
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "max_ms": float(latencies.max()),
        "requests": n,
    }


def quiet(pid: int, busy: float = 0.1) -> Callable[[], bool]:
    """A check: the process used under `busy` of a core since the previous poll (RocksDB
    compacts what a catch-up wrote in the background, competing with requests)."""
    ticks = os.sysconf("SC_CLK_TCK")
    last = [_cpu_s(pid, ticks), time.monotonic()]

    def check() -> bool:
        cpu, now = _cpu_s(pid, ticks), time.monotonic()
        used = (cpu - last[0]) / max(now - last[1], 1e-9)
        last[:] = [cpu, now]
        return used < busy

    return check


def _cpu_s(pid: int, ticks: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def table_get_us(folder: Path, members: int, n: int = 200_000) -> float:
    table = ListTable(folder)
    rng = random.Random(1)
    keys = [b"m%d" % rng.randrange(members) for _ in range(n)]
    start = time.perf_counter()
    for key in keys:
        table.get(key)
    elapsed = time.perf_counter() - start
    table.close()
    return elapsed / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="of load at each rate")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, any_broker(Path(tmp) / "kafka") as bootstrap:
        work = Path(tmp)
        settings = isolated_settings(bootstrap, work, f"bench{uuid.uuid4().hex[:6]}.")
        ensure_topics(settings)
        produce(bootstrap, settings.topic("recommendations"), args.members)
        with running_reader(settings, work / "reader.log") as reader:
            health = wait_until(
                lambda: (h := reader.get("/health")[1])["caught_up"] and h,
                600,
                "the reader to catch up",
                interval_s=0.5,
            )
            assert health["records"] == args.members, health
            wait_until(quiet(reader.proc.pid), 300, "the reader's compactions to end", interval_s=2)
            at = {rate: load(reader, args.members, rate, args.seconds) for rate in RATES}
        get_us = table_get_us(settings.data_dir / "reader", args.members)
    print(f"catch-up of {args.members:,} records: {args.members / health['caught_up_s']:,.0f}/s")
    print(f"{'requests/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   ({CONNECTIONS} conns)")
    for rate, figures in at.items():
        print(
            f"{rate:>10,} {figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f}"
            f" {figures['max_ms']:>8.1f}"
        )
    print(f"local table get: {get_us:.1f} µs")
    print(
        json.dumps(
            {
                "catch_up_per_s": round(args.members / health["caught_up_s"]),
                "catch_up_s": health["caught_up_s"],
                "p50_ms": round(at[2000]["p50_ms"], 3),
                "p99_ms": round(at[2000]["p99_ms"], 3),
                "rate": RATES[0],
                "p99_ms_at_5000": round(at[5000]["p99_ms"], 3),
                "p50_ms_at_5000": round(at[5000]["p50_ms"], 3),
                "get_us": round(get_us, 2),
                "members": args.members,
                "connections": CONNECTIONS,
            }
        )
    )


if __name__ == "__main__":
    main()
