"""Atomic writes: temporary names say whose they are, cleanup spares what is not its own, umask."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lipreader import atomic

ROOT = Path(__file__).resolve().parents[1]

# A writer in another process: makes a temporary file and a temporary folder beside argv[1],
# prints their names, and holds on until its stdin closes.
WRITER = """
import sys
import time
from pathlib import Path
from lipreader import atomic
target = Path(sys.argv[1])
print(atomic.temp_name(target / "clip.mp4"))
with atomic.atomic_dir(target / "video") as tmp:
    print(tmp, flush=True)
    sys.stdin.read()
"""


def writer(folder: Path) -> tuple[subprocess.Popen, list[Path]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    return proc, [Path(proc.stdout.readline().strip()) for _ in range(2)]


def test_temporary_names_carry_the_project_mark_pid_and_host_and_keep_the_suffix(tmp_path):
    name = atomic.temp_name(tmp_path / "clip.mp4")
    host = socket.gethostname()
    assert name.parent == tmp_path and name.is_file()
    assert name.name.startswith(f".clip~lipreader~{os.getpid()}~{host}~")
    assert name.suffix == ".mp4" and name.name.endswith(".tmp.mp4")


def test_cleanup_removes_only_this_projects_temps_whose_writer_is_gone(tmp_path):
    mine = [tmp_path / ".notes.tmp", tmp_path / ".draft.tmp.txt", tmp_path / ".x.abc123.tmp.mp4"]
    for p in mine:
        p.write_text("the user's own")
    (tmp_path / ".backup.tmp").mkdir()
    (tmp_path / ".backup.tmp" / "keep.txt").write_text("the user's own")
    other_host = tmp_path / f".clip~lipreader~1~not-{socket.gethostname()}~0a1b2c3d.tmp.mp4"
    other_host.write_text("a run on another machine sharing this folder")
    own = atomic.temp_name(tmp_path / "own.mp4")  # this process: alive

    live, live_temps = writer(tmp_path)
    dead, dead_temps = writer(tmp_path)
    dead.kill()  # as the OOM killer would: its temporary file and folder stay behind
    dead.wait()
    try:
        assert all(p.exists() for p in live_temps + dead_temps)
        assert atomic.remove_stale_temps(tmp_path) == 2
        assert not any(p.exists() for p in dead_temps)
        assert all(p.exists() for p in [*mine, other_host, own, *live_temps])
        assert (tmp_path / ".backup.tmp" / "keep.txt").is_file()
    finally:
        live.stdin.close()
        live.wait()
    assert live.returncode == 0
    assert (tmp_path / "video").is_dir()  # the live writer's folder landed untouched


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_files_and_folders_get_the_users_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        atomic.write_text(tmp_path / "a.txt", "x")
        with atomic.atomic_path(tmp_path / "b.npy") as tmp:
            tmp.write_bytes(b"y")
        with atomic.atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "f").write_text("z")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.npy") == 0o666 & ~mask
    assert mode(tmp_path / "folder") == 0o777 & ~mask


def test_a_writer_that_ended_but_was_not_yet_collected_counts_as_gone(tmp_path):
    proc, temps = writer(tmp_path)
    proc.stdin.close()  # it ends; its parent (this test) does not collect it yet: a zombie
    proc.stdout.read()
    stat = Path(f"/proc/{proc.pid}/stat")
    for _ in range(6000):
        if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    assert temps[0].is_file()  # a temporary name it never renamed
    assert atomic.remove_stale_temps(tmp_path) == 1 and not temps[0].exists()
    assert proc.wait() == 0
