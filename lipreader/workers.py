"""The one way to run work in other processes: a pool whose workers end when their parent does.

A parent killed outright (SIGKILL, as the out-of-memory killer does) runs no cleanup, so the
workers themselves watch it: on Linux the kernel sends them SIGKILL when it dies
(prctl PR_SET_PDEATHSIG), and everywhere a watchdog thread ends a worker whose parent is gone.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

WATCH_S = 1.0        # how often the watchdog looks at the parent
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """End this process when process `parent` ends (called in the worker, first thing)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_S)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _init(parent: int, initializer: Callable[..., object] | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, initializer: Callable[..., object] | None = None,
                 initargs: tuple = ()) -> cf.ProcessPoolExecutor:
    """A ProcessPoolExecutor of `workers` fresh (spawned) processes that end with this one."""
    return cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init,
                                  initargs=(os.getpid(), initializer, initargs))
