"""One writer per folder: a lock on the videos folder, the dataset and the model.

The lock is `flock` on a small file (`.lipreader.lock` inside a folder, `.<name>.lock` beside a
file) that records the holder's pid and command line and is removed on release. The kernel
releases the lock when the holder's process ends in any way, so a killed run never leaves a
folder locked (only the small file, which the next run takes over). Locks are re-entrant
within a process: a command that calls another's code (the demo, `read` fetching) takes each
lock once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from lipreader.errors import Busy, InputError

FOLDER_LOCK = ".lipreader.lock"

_held: dict[Path, int] = {}  # lock file -> how many holders in this process


def lock_file(target: str | os.PathLike, folder: bool = True) -> Path:
    """The lock file of a folder (inside it) or of a file such as a model (beside it)."""
    target = Path(target).resolve()
    return target / FOLDER_LOCK if folder else target.parent / f".{target.name}.lock"


def this_command() -> str:
    """This process's command line, on one line, as it names the holder of a lock."""
    first = Path(sys.argv[0] if sys.argv and sys.argv[0] else "python")
    name = first.parent.name if first.name == "__main__.py" else first.name  # python -m lipreader
    argv = [name, *sys.argv[1:]]
    return shlex.join(argv).replace("\n", " ")[:200]


def _holder(fd: int) -> str:
    try:
        rec = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"process {int(rec['pid'])} ({rec['command']})"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "another process"  # it is between taking the lock and writing its name


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def hold(target: str | os.PathLike, folder: bool = True, wait: bool = False,
         say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock of `target` (a folder, or a file when `folder` is False) for the block.

    When another process holds it: raise Busy naming that process, or with `wait` say so
    through `say` (stderr by default) and wait until it ends.
    """
    path = lock_file(target, folder)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = _take(path, target, wait, say)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": this_command()}).encode("utf-8"), 0)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
            path.unlink(missing_ok=True)  # still locked: a waiter sees the file go and starts over
    finally:
        os.close(fd)  # releases the lock


def _take(path: Path, target: str | os.PathLike, wait: bool, say: Callable[[str], None] | None) -> int:
    """An open descriptor of `path` holding its flock; the file is the one at `path` now."""
    said = False
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise InputError(f"cannot write to {path.parent}: {e.strerror or e}") from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                who = _holder(fd)
                if not wait:
                    raise Busy(f"{Path(target)} is in use by {who}: wait for it to end, "
                               "or add --wait to wait for it") from None
                if not said:
                    (say or _to_stderr)(f"waiting for {who}, which is using {Path(target)}")
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            now, held = os.stat(path), os.fstat(fd)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                return fd
        except FileNotFoundError:
            pass  # the holder removed it on release: take the new one
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
