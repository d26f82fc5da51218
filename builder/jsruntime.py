"""The JavaScript runtime yt-dlp uses to solve YouTube's player challenges: Deno.

Since yt-dlp 2025.11, YouTube downloads need an external runtime to run the challenge
solver scripts (the `yt-dlp-ejs` package); without one only storyboard images are left.
Deno comes from PyPI with this project (the `deno` package ships its binary); a Deno on
PATH is used instead when it is newer. yt-dlp gets the chosen binary's path explicitly,
so it never depends on where it would look by itself.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Runtime:
    name: str                    # yt-dlp's key for it: "deno"
    path: str
    version: tuple[int, ...]
    origin: str                  # "PATH" or "the deno package"

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def version_of(path: str) -> tuple[int, ...] | None:
    """(2, 9, 8) from `deno --version`; None when it does not run."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"^deno (\d+(?:\.\d+)*)", out, re.M)
    return tuple(int(x) for x in found.group(1).split(".")) if found else None


def _packaged() -> str | None:
    try:
        import deno
        return deno.find_deno_bin()
    except (ImportError, FileNotFoundError):
        return None


def choose(candidates: list[tuple[str | None, str]]) -> Runtime | None:
    """The newest runnable Deno of (path, origin) pairs; the earlier one wins a tie."""
    best = None
    for path, origin in candidates:
        version = version_of(path) if path else None
        if version is not None and (best is None or version > best.version):
            best = Runtime("deno", path, version, origin)
    return best


@functools.lru_cache(maxsize=1)
def find_deno() -> Runtime | None:
    """The packaged Deno, or the one on PATH when that is newer; None when there is neither."""
    return choose([(_packaged(), "the deno package"), (shutil.which("deno"), "PATH")])


def yt_dlp_option() -> dict[str, dict[str, str]]:
    """yt-dlp's `js_runtimes` option: Deno at the path found (yt-dlp's own search otherwise)."""
    runtime = find_deno()
    return {"deno": {"path": runtime.path} if runtime else {}}


FIX = "pip install deno (or install Deno from deno.com and put it on PATH)"
