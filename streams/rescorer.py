"""Rescoring in a process of its own: the member stage hands over the members changed
since the last rescore and goes on with the next records while another core scores them.

A list costs far more than the events that change it (candidates and GLMix logits over
the catalog), and one Python process runs on one core. The rescorer process holds what
scoring reads as the worker does (`streams.served.Served`: catalog, course effects,
cohort trends and skills, followed from their topics; the model version the worker
names with each block) and is sent each member's state as stored; it answers with each
member's compact record, which the worker produces in its own transaction. Blocks go
one at a time, from a thread of the worker that waits for each answer, so the member
stage never waits on scoring.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

from models.learner import MemberState
from nearline.config import Settings
from nearline.logs import LOG_FORMAT, quiet_repeats
from nearline.runtime import collect_rarely, reuse_freed_memory, single_threaded_blas
from nearline.supervise import wait_until
from scoring.recommend import Recommender
from streams.follow import Follower
from streams.served import Served

log = logging.getLogger(__name__)

IDLE_S = 0.2  # between two blocks, how often the rescorer applies what it follows
CATALOG_WAIT_S = 1.0  # for its catalog to reach the worker's; then the block is early
CATALOG_POLL_S = 0.01  # meanwhile, how often it applies what it follows
RESTART_S = 1.0  # before a rescorer process that ended is replaced
TRIES = 2  # processes a block is sent to before its members go without this rescore
STOP_S = 5.0  # a rescorer process still busy this long after the worker stops is killed


class Block(NamedTuple):
    """Members to score, as (key, stored `MemberState` bytes), with the model version
    the worker serves (its artifact; None: the prior): the rescorer scores with it, so
    a list never comes from another version than the one the worker learns with; and
    where the worker's catalog is (`Follower.position` of the courses): the rescorer
    scores once its own holds as much, so a course the worker saw retired, and asked
    its holders' rescores for, is out of their new lists."""

    artifact: Path | None
    members: list[tuple[bytes, bytes]]
    catalog: dict[int, int]


class Scored(NamedTuple):
    """The answer for one block: its members' keys (scored or not), the lists of those
    scored as (key, courses held, compact record) and the rescorer's time for it;
    `early`: the rescorer's copy of the catalog was behind the worker's (it had no model
    to score with yet, or not the block's catalog), so the block is for the next rescore."""

    keys: list[bytes]
    lists: list[tuple[bytes, tuple[str, ...], bytes]]
    cost_s: float
    early: bool = False


class Rescorer:
    """`Block`s in (`submit`), their `Scored` answers out (`results`, in order), through
    one rescorer process; a process that ends is replaced (logged) and the new one
    scores the block it had."""

    def __init__(self, settings: Settings, loglevel: str = "WARNING") -> None:
        self.settings, self.loglevel = settings, loglevel
        self.blocks: queue.Queue[Block | None] = queue.Queue()
        # appends and pops of a deque are atomic: the processing thread looks before
        # every record and takes no lock
        self.results: deque[Scored] = deque()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="rescorer")
        self.process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> None:
        self.thread.start()

    def submit(self, block: Block) -> None:
        self.blocks.put(block)

    def stop(self) -> None:
        """No more blocks; the process ends once it has answered the one it scores."""
        self.stopping.set()
        self.blocks.put(None)
        self.thread.join(STOP_S)
        if self.process is not None and self.process.is_alive():
            self.process.kill()
            self.thread.join(STOP_S)

    def _spawn(self) -> Connection:
        context = multiprocessing.get_context("spawn")  # not fork: this process has threads
        mine, theirs = context.Pipe()
        self.process = context.Process(
            target=serve, args=(self.settings, self.loglevel, theirs), name="rescorer", daemon=True
        )
        self.process.start()
        theirs.close()  # the process's end: once it is gone, this end reads EOF
        return mine

    def _run(self) -> None:
        connection = self._spawn()
        while True:
            block = self.blocks.get()
            if block is None:
                break
            for attempt in range(TRIES):
                try:
                    connection.send(block)
                    self.results.append(connection.recv())
                    break
                except (EOFError, OSError):
                    if self.stopping.is_set():
                        break
                    code = None if self.process is None else self.process.exitcode
                    log.error(
                        "the rescorer process ended (exit code %s) with a block of %d "
                        "members; starting another%s",
                        code,
                        len(block.members),
                        " for the next" if attempt == TRIES - 1 else ", which scores it",
                    )
                    connection.close()
                    if self.stopping.wait(RESTART_S):
                        break
                    connection = self._spawn()
            else:  # the block may be what ends it: its members wait for their next change
                self.results.append(Scored([key for key, _ in block.members], [], 0.0))
            if self.stopping.is_set():
                break
        connection.close()
        if self.process is not None:
            self.process.join(STOP_S)


def serve(settings: Settings, loglevel: str, connection: Connection) -> None:
    """The rescorer process: blocks from the worker until it closes its end (or dies).
    Signals are the worker's to handle: Ctrl-C reaches the whole process group."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT)
    quiet_repeats("streams.follow")
    single_threaded_blas()
    reuse_freed_memory()
    collect_rarely()
    served = Served(settings)
    follower = served.follower()
    follower.start()
    try:
        while True:
            waiting = not connection.poll(IDLE_S)
            served.catch_up(follower)
            if waiting:
                continue
            block = connection.recv()
            start = time.perf_counter()
            if block.artifact is not None and block.artifact != served.artifact:
                try:
                    served.load(block.artifact)  # the worker rolled a new version in
                except Exception:
                    log.exception("model %s not loaded: scoring with the last one", block.artifact)
            keys = [key for key, _ in block.members]
            if served.recommender is None or not caught_up(served, follower, block.catalog):
                connection.send(Scored(keys, [], 0.0, early=True))
                continue
            lists = scored(served.recommender, block.members)
            connection.send(Scored(keys, lists, time.perf_counter() - start))
    except (EOFError, OSError):
        pass  # the worker is gone
    finally:
        follower.stop()


def caught_up(served: Served, follower: Follower, catalog: dict[int, int]) -> bool:
    """Whether the rescorer's catalog reaches `catalog`, applying what `follower` reads
    for up to CATALOG_WAIT_S."""

    def reached() -> bool:
        served.catch_up(follower)
        return follower.reached(served.catalog_topic, catalog)

    try:
        wait_until(reached, CATALOG_WAIT_S, "the worker's catalog", interval_s=CATALOG_POLL_S)
    except TimeoutError:
        return False
    return True


def scored(
    recommender: Recommender, block: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, tuple[str, ...], bytes]]:
    """The block's members scored together, now; a block that fails is scored member by
    member, so one member's failure costs only their own list (logged)."""
    try:
        states = [MemberState.from_bytes(raw) for _, raw in block]
        ids = [key.decode() for key, _ in block]
        rescored = recommender.recommend_many(ids, states, int(time.time() * 1000))
    except Exception:
        if len(block) == 1:
            log.exception("rescoring member %r failed", block[0][0])
            return []
        return [one for member in block for one in scored(recommender, [member])]
    return [(key, one.courses, one.record) for (key, _), one in zip(block, rescored, strict=True)]
