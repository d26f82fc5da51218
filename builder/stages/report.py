"""Stage 5, report: dataset/manifest.jsonl, stats.json and contact_sheet.png from the clip records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import dataset as ds
from builder.layout import DatasetDir
from lipreader import atomic
from lipreader.manifest import ClipRecord, manifest_text


@dataclass(frozen=True)
class Report:
    stats: dict
    manifest: Path
    stats_file: Path
    contact_sheet: Path | None


def run(dataset: DatasetDir, records: list[ClipRecord], drops: Counter, skipped: Counter,
        videos: int, seconds: float, vocabulary: list[str],
        caption_drops: Counter | None = None, other_face: int = 0) -> Report:
    """Write the manifest, stats.json and the contact sheet of `records`. With several face
    tracks, stats.json's `faces` gives the clips per face track and `other_face_spoke`, the
    words the main face did not say, taken from another face that did."""
    atomic.write_text(dataset.manifest, manifest_text(records))
    st = ds.stats(records, drops, skipped, videos, seconds, vocabulary, caption_drops)
    if any(r.face is not None for r in records):
        per_face = Counter(str(r.face or 0) for r in records)
        st["faces"] = {"clips_per_face": dict(sorted(per_face.items())), "other_face_spoke": other_face}
    atomic.write_json(dataset.stats, st)
    return Report(st, dataset.manifest, dataset.stats, contact_sheet(dataset, records))


def contact_sheet(dataset: DatasetDir, records: list[ClipRecord], per_word: int = 3) -> Path | None:
    """A few clips of each word in one PNG (None when there are no clips); a clip cut from a
    face track other than the main one says which ("face 1") on its first frame."""
    from builder import media

    chosen: dict[str, list[np.ndarray]] = {}
    for r in sorted(records, key=lambda r: r.path):
        if len(chosen.setdefault(r.word, [])) < per_word:
            frames = media.read_video(dataset.root / r.path)
            if r.face:
                frames = _face_mark(frames, r.face)
            chosen[r.word].append(frames)
    if not records:
        return None
    return ds.contact_sheet(chosen, dataset.contact_sheet)


def _face_mark(frames: np.ndarray, face: int) -> np.ndarray:
    """The frames with "face <k>" written on the first one."""
    import cv2

    out = np.array(frames)
    first = np.ascontiguousarray(out[0])
    cv2.putText(first, f"face {face}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1, cv2.LINE_AA)
    out[0] = first
    return out
