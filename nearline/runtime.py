"""Process set-up shared by the commands: BLAS threads, memory, the collector and SIGTERM."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import signal

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """One BLAS thread per process. Every product here is small (one member's candidates,
    a day's slots in evaluation), and on a busy machine OpenBLAS's threads wait for cores:
    a 666 x 37 by 37 x 300 product took 7.4 ms with its threads and 0.3 ms with one, on 2
    shared cores. Parallelism comes from partitions and worker processes instead."""
    import numpy  # noqa: F401  (threadpoolctl limits the BLAS libraries loaded so far)

    threadpool_limits(limits=1, user_api="blas")


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_KEPT_BYTES = 32 * 2**20  # glibc's largest mmap threshold on 64-bit


def reuse_freed_memory() -> bool:
    """Keep freed arrays of up to `_KEPT_BYTES` in the heap for the next ones (glibc only;
    returns whether it applies). A block's rescore makes many array temporaries of a few
    MB; glibc maps each afresh from the kernel, and its first use page-faults, unless a
    larger freed array has already raised its mmap threshold, so the same code ran at
    different speeds depending on what came before it."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (AttributeError, OSError, TypeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _KEPT_BYTES) and mallopt(_M_TRIM_THRESHOLD, 2 * _KEPT_BYTES)
    )


# allocations between young collections, young collections per middle one, middle per full
_COLLECT_EVERY = (100_000, 50, 100)


def collect_rarely() -> None:
    """Collect cyclic garbage over a hundred times less often than by default (700, 10, 10).
    A worker holds hundreds of thousands of long-lived objects (decoded member states,
    the model's maps) and each older collection walks them all, while the records it
    handles are freed by reference counting as soon as they are done with."""
    gc.set_threshold(*_COLLECT_EVERY)


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so `with` blocks stop what they started (the demo's
    broker and worker); the default handler ends the process on the spot and leaves them
    running. Quix Streams installs its own handler in the worker, which replaces this one."""
    signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
