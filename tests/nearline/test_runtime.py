import gc
import resource
import signal
import subprocess
import sys
import weakref

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from nearline.runtime import collect_rarely, reuse_freed_memory, single_threaded_blas
from nearline.supervise import wait_until


def test_blas_runs_one_thread_per_process():
    single_threaded_blas()
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == 1 for lib in blas)


def test_freed_arrays_are_reused_without_page_faults():
    """A block's temporaries: a few MB each, several alive at once, then all freed. By
    glibc's defaults they go back to the kernel and every round faults their pages in."""
    if not reuse_freed_memory():
        pytest.skip("not glibc: nothing to set")

    def block() -> list[np.ndarray]:
        return [np.ones(2**18) for _ in range(8)]  # 8 arrays of 2 MB

    block()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        block()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 2 * 2**20 // resource.getpagesize()  # under one array's pages in all


class Node:
    """An object in a reference cycle with itself: freed only by the collector."""

    def __init__(self) -> None:
        self.me = self


def test_cycles_are_still_freed_by_rare_collections():
    defaults = gc.get_threshold()
    collect_rarely()
    try:
        young = gc.get_stats()[0]["collections"]
        first = Node()
        freed = weakref.ref(first)
        del first
        for _ in range(300_000):
            Node()
        young = gc.get_stats()[0]["collections"] - young
    finally:
        gc.set_threshold(*defaults)
    assert freed() is None  # a young collection ran and freed the first cycle
    assert young < 10  # by default: one per 700 new objects, about 400 here


CHILD = """
import sys
from pathlib import Path
from nearline.runtime import exit_on_sigterm
exit_on_sigterm()
out = Path(sys.argv[1])
try:
    out.write_text("ready")
    sys.stdin.read()  # blocks until the signal
finally:
    out.write_text("cleaned up")
"""


def test_sigterm_unwinds_like_ctrl_c(tmp_path):
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker)], stdin=subprocess.PIPE)
    try:
        wait_until(lambda: marker.exists(), 30, "the child to start")
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        child.kill()
    assert marker.read_text() == "cleaned up"
