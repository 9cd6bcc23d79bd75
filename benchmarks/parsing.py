"""The edge of the worker: microseconds per activity message parsed, and per dead letter.

    .venv/bin/python benchmarks/parsing.py [LOG_DIR]

`parse_activity` (key check and future bound included) over the wire records of a
simulated log (by default the reference: 3000 members, 300 courses, 28 days, seed 1),
and `DeadLetter.of(...).to_bytes()` for a 1 MB payload. Best CPU time of `--repeat`
rounds (the machine may be shared). Ends with one JSON line of the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from replay.logs import read_events
from replay.simulate import simulate
from replay.world import WorldConfig
from schemas import KIND_TOPICS, Bounds, DeadLetter, RecordError, parse_activity


def best_us(call: Callable[..., object], items: list[tuple], repeat: int) -> float:
    """Best CPU microseconds per item of `call(*item)` over `repeat` rounds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for item in items:
            call(*item)
        best = min(best, time.process_time() - start)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", nargs="?", type=Path, help="a log (default: simulate one)")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    log_dir = args.log_dir
    if log_dir is None:
        log_dir = Path(tempfile.mkdtemp(prefix="parsing-"))
        simulate(WorldConfig(members=3000, courses=300, days=28, seed=1), log_dir, progress=False)
    messages = [
        (KIND_TOPICS[e.kind], e.member_id.encode(), e.model_dump_json(exclude={"kind"}).encode())
        for e in read_events(log_dir)
    ]
    bounds, now_ms = Bounds(), int(time.time() * 1000)
    rejected = sum(isinstance(parse_activity(*m, now_ms, bounds), RecordError) for m in messages)
    assert rejected == 0, f"{rejected} valid records rejected"
    parse_us = best_us(lambda *m: parse_activity(*m, now_ms, bounds), messages, args.repeat)
    error = RecordError("payload too large", "too_large")
    payload = b"x" * 1_000_000
    letters = [(payload, "clicks", 0, n, error) for n in range(100)]
    letter_us = best_us(lambda *a: DeadLetter.of(*a).to_bytes(), letters, args.repeat)
    letter_bytes = len(DeadLetter.of(*letters[0]).to_bytes())
    print(f"parse_activity: {parse_us:.2f} us/message over {len(messages):,} messages")
    print(f"dead letter of a 1 MB payload: {letter_us:.0f} us, {letter_bytes:,} bytes")
    figures = {
        "parse_us": round(parse_us, 3),
        "messages": len(messages),
        "dead_letter_1mb_us": round(letter_us, 1),
        "dead_letter_1mb_bytes": letter_bytes,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
