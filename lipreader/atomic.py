"""Write files and folders so that a reader never sees a half-written one.

Everything is written under a temporary name in the same folder, then renamed. A temporary
name says whose it is: `.<name>~lipreader~<pid>~<host>~<random>.tmp<suffix>`, so that a later
run removes only this project's leftovers whose writer is gone, never another run's work in
progress nor a user's own files. Files and folders get the user's umask, like any other file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lipreader.errors import DiskFull, InputError

FULL = (errno.ENOSPC, errno.EDQUOT)  # OSError numbers of a full disk or quota
MARK = "~lipreader~"
_TEMP = re.compile(re.escape(MARK) + r"(?P<pid>\d+)~(?P<host>[^~/]*)~[0-9a-f]+\.tmp(\.[^~/]*)?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64]


def _create(folder: Path, stem: str, suffix: str, make: Callable[[Path], None]) -> Path:
    """A fresh temporary name in `folder` made by `make` (which fails when the name exists)."""
    prefix = f".{stem[:100]}{MARK}{os.getpid()}~{_host()}~"
    for _ in range(100):
        name = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            make(name)
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _new_file(name: Path) -> None:
    os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies


def temp_name(path: Path) -> Path:
    """A fresh temporary file beside `path` that keeps its suffix (ffmpeg picks formats by it)."""
    path = Path(path)
    return _create(path.parent, path.stem, f".tmp{path.suffix}", _new_file)


def temp_dir(path: Path) -> Path:
    """A fresh temporary folder beside `path`, for the caller to fill and remove."""
    path = Path(path)
    return _create(path.parent, path.name, ".tmp", lambda p: os.mkdir(p, 0o777))  # umask applies


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
        temp_name(folder / "write-test").unlink()
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
    tmp = temp_dir(path)
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


def _owner_gone(pid: int, host: str) -> bool:
    """True only when the writer certainly ended: it ran on this machine and its process is gone."""
    if host != _host() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:  # a zombie has ended too (its parent has not collected it yet)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete this project's temporary files and folders directly inside `folder` whose writer
    is gone (leftovers of interrupted writes); anything else is left alone."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    found = [p for p in sorted(folder.iterdir()) if p.name.startswith(".")
             and (m := _TEMP.search(p.name)) and _owner_gone(int(m["pid"]), m["host"])]
    for p in found:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return len(found)
