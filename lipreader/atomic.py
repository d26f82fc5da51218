"""Write files and folders so that a reader never sees a half-written one.

Everything is written under a temporary name in the same folder, then renamed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lipreader.errors import DiskFull, InputError

FULL = (errno.ENOSPC, errno.EDQUOT)  # OSError numbers of a full disk or quota


def temp_name(path: Path) -> Path:
    """A fresh temporary name beside `path` that keeps its suffix (ffmpeg picks formats by it)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    return Path(name)


def check_writable(path: str | os.PathLike, what: str, hint: str) -> None:
    """An error now, before the long work, when the file or folder `path` could not be written:
    a file is made and removed in the nearest existing folder on its way (nothing is created)."""
    path = Path(path).absolute()
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write the {what} {path}: {folder} is a file, not a folder; "
                         f"choose another with {hint}")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test.", suffix=".tmp"):
            pass
    except OSError as e:
        raise InputError(f"cannot write the {what} {path}: {e.strerror or e} in {folder}; "
                         f"choose another with {hint}") from e


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in FULL:
            raise DiskFull(path) from e
        raise


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno in FULL:
            raise DiskFull(path) from e
        raise


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete leftovers of interrupted writes (`.*.tmp*`) directly inside `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    count = 0
    for p in folder.glob(".*.tmp*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        count += 1
    return count
