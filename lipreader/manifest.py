"""The clip record: one line of dataset/manifest.jsonl, written by build-dataset, read by training.

It lives in lipreader (the lowest layer that both sides may import): builder writes records,
lipreader.data reads them. A record holds the clip's path (relative to the dataset root), its
word and split, and what the builder knew when it cut it; only path, word and split are needed
to read a dataset, so a hand-written manifest of those three keys is a manifest too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from lipreader.errors import InputError

MANIFEST = "manifest.jsonl"   # dataset/manifest.jsonl: one ClipRecord a line
CACHE = ".cache"              # dataset/.cache/<split>.npy + <split>.json: the packed clips
PLAN = "plan.json"            # dataset/plan.json: vocabulary, deciding settings, each video's split


@dataclass(frozen=True)
class ClipRecord:
    """One clip of the dataset. Fields left None are not written (see `to_json`)."""

    path: str                       # <word>/<split>/<video_id>_<start_ms>.mp4, relative to the root
    word: str
    split: str
    video_id: str | None = None
    source_url: str | None = None
    source: str | None = None       # where the word's timing came from (captions.Word.source)
    start: float | None = None      # the word's time in the video, seconds
    end: float | None = None
    end_by: str | None = None       # how the end was found: next-onset, line-end, prior, voiced, ...
    start_ms: int | None = None
    first: int | None = None        # first video frame of the clip
    frames: int | None = None
    word_start_frame: int | None = None   # first and last frame of the word inside the clip
    word_end_frame: int | None = None
    padded: int | None = None       # clip frames filled from a neighbour
    face_width: float | None = None
    max_yaw: float | None = None
    sync: str | None = None         # "measured", or "unknown" (the video has no sound)
    av_offset: int | None = None    # the video's sound offset, frames (late: positive), taken off the word times
    sync_score: float | None = None # mouth-sound correlation around the word at that offset
    face: int | None = None         # the face track the clip was cut from (0: the main face);
                                    # only when the build tracks several faces ([build] max_faces)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def sidecar(self) -> dict[str, Any]:
        """The clip's .json sidecar: the record without its path."""
        return {k: v for k, v in self.to_json().items() if k != "path"}

    @classmethod
    def from_json(cls, data: Any) -> ClipRecord:
        """A record from a parsed manifest line; ValueError when path, word or split is missing
        or not text. Keys this version does not know are ignored."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        for key in ("path", "word", "split"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"no {key}" if key not in data else f"{key} is not text")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def manifest_text(records: list[ClipRecord]) -> str:
    """manifest.jsonl: one clip a line, sorted by path, keys sorted: byte-identical across runs."""
    return "".join(json.dumps(r.to_json(), sort_keys=True, ensure_ascii=False) + "\n"
                   for r in sorted(records, key=lambda r: r.path))


def parse_manifest(text: str, where: str) -> list[ClipRecord]:
    """The records of a manifest's text; InputError naming `where` and the line for a bad line."""
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(ClipRecord.from_json(json.loads(line)))
        except ValueError as e:
            raise InputError(f"{where}:{n}: not a manifest line with path, word and split ({e})") from e
    return records
