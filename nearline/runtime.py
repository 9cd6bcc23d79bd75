"""Process set-up shared by the commands: BLAS threads and SIGTERM."""

from __future__ import annotations

import signal

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """One BLAS thread per process. Every product here is small (one member's candidates,
    a day's slots in evaluation), and on a busy machine OpenBLAS's threads wait for cores:
    a 666 x 37 by 37 x 300 product took 7.4 ms with its threads and 0.3 ms with one, on 2
    shared cores. Parallelism comes from partitions and worker processes instead."""
    import numpy  # noqa: F401  (threadpoolctl limits the BLAS libraries loaded so far)

    threadpool_limits(limits=1, user_api="blas")


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `with` blocks stop what they started (the demo's
    broker and worker); the default handler ends the process on the spot and leaves them
    running. Quix Streams installs its own handler in the worker, which replaces this one."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
