"""What the stages know of one video as a build goes: its words, its skip record, its source."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from builder.captions import Word
from builder.layout import VideoDir
from lipreader import atomic
from lipreader.errors import SkipVideo


@dataclass
class VideoState:
    vd: VideoDir
    words: list[Word] = field(default_factory=list)
    skip: dict | None = None
    source_url: str = ""
    dropped: list[tuple[str, str]] = field(default_factory=list)  # caption text, reason


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def read_record(path: Path) -> dict | None:
    """A JSON object file, or None when it is unreadable or not an object (damaged by hand,
    cut short by a full disk)."""
    try:
        rec = read_json(path)
    except (OSError, ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def record_skip(vd: VideoDir, stage: str, e: SkipVideo) -> dict:
    """Write <video>/skip.json: later runs (build and read) skip the video for this reason."""
    rec = {"stage": stage, "reason": e.reason, "detail": e.detail}
    atomic.write_json(vd.skip, rec)
    return rec
