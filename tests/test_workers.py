"""Worker processes end with their parent, however it dies."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lipreader

ROOT = Path(lipreader.__file__).resolve().parent.parent

PARENT = """
import multiprocessing as mp
import time

from lipreader.workers import process_pool

if __name__ == "__main__":
    pool = process_pool(2)
    busy = [pool.submit(time.sleep, 600) for _ in range(2)]
    while len(mp.active_children()) < 2:
        time.sleep(0.05)
    print(" ".join(str(p.pid) for p in mp.active_children()), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads process states from /proc")
def test_pool_workers_end_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env=env)
    workers = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)  # no cleanup runs, as with the out-of-memory killer
        parent.wait()
        for _ in range(300):  # up to 30 s; they end within about a second
            if not any(_alive(p) for p in workers):
                break
            time.sleep(0.1)
        assert [p for p in workers if _alive(p)] == []
    finally:
        parent.kill()
        for p in workers:
            if _alive(p):
                os.kill(p, signal.SIGKILL)
