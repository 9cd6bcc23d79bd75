"""Logs of long-running processes: a condition that repeats, such as a broker away, is
told once per interval instead of once per retry of every client thread."""

from __future__ import annotations

import logging
import math
import re
import time

LOG_FORMAT = "[%(asctime)s] [%(levelname)s] [%(name)s] : %(message)s"  # as Quix's
REPEAT_S = 30.0  # a repeated warning or error is told at most once per this
_NUMBERS = re.compile(r"\d+")
_SHAPES = 1024  # distinct messages remembered; forgotten all at once beyond this


class Repeats(logging.Filter):
    """Lets a warning or error through once per `interval_s`; numbers are ignored, so a
    count, a port or a timing inside the text does not make a repeat look new.

    >>> quiet = Repeats(60.0)
    >>> record = lambda text: logging.makeLogRecord({"msg": text, "levelno": logging.ERROR})
    >>> [quiet.filter(record(f"2/{n} brokers are down")) for n in (2, 3)]
    [True, False]
    >>> quiet.filter(logging.makeLogRecord({"msg": "partition 1 left", "levelno": logging.INFO}))
    True
    """

    def __init__(self, interval_s: float = REPEAT_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.told: dict[tuple[str, int, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        shape = (record.name, record.levelno, _NUMBERS.sub("#", record.getMessage()))
        now = time.monotonic()
        if now - self.told.get(shape, -math.inf) < self.interval_s:
            return False
        if len(self.told) >= _SHAPES:
            self.told.clear()
        self.told[shape] = now
        return True


def quiet_repeats(*loggers: str, interval_s: float = REPEAT_S) -> None:
    """Each of `loggers`, and its own handlers (which its children's records reach too),
    tells repeats once per `interval_s`."""
    quiet = Repeats(interval_s)
    for name in loggers:
        logger = logging.getLogger(name)
        logger.addFilter(quiet)
        for handler in logger.handlers:
            handler.addFilter(quiet)
