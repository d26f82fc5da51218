"""Stage 6, pack: a split's clips -> dataset/.cache/<split>.npy, the uint8 array training maps.

Training never decodes mp4: each split is decoded once here into a (N, T, 96, 96) uint8 array,
with <split>.json beside it (clip paths, words, a fingerprint of the clip list, the clips left
out and why, the word's first and last frame in each clip). lipreader.data decides whether a cache is current (`open_cache`); a current one is
not packed again, a changed dataset, or a cut-short array, is.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.layout import DatasetDir
from lipreader import data
from lipreader.atomic import atomic_path, remove_stale_temps, write_json
from lipreader.constants import ROI
from lipreader.errors import InputError
from lipreader.progress import Progress


@dataclass(frozen=True)
class PackSettings:
    workers: int = 0        # decoding threads (0: up to 8, one per core)
    show: bool = True       # a progress bar while decoding


@dataclass(frozen=True)
class Packed:
    split: str
    array_path: Path
    clips: int                  # clips in the cache
    skipped: tuple[dict, ...]   # {"path", "reason"} of clips left out
    packed_now: bool            # False: the cache was current


def run(root: str | os.PathLike, split: str, settings: PackSettings = PackSettings()) -> Packed:
    """Pack the split of the dataset at `root` unless its cache is current."""
    got = data.open_cache(root, split)
    if isinstance(got, data.ClipCache):
        return Packed(split, got.array_path, len(got), tuple(got.skipped), False)
    meta_path = data.cache_files(Path(root), split)[1]
    meta = pack(got.clips, got.array_path, meta_path, got.fingerprint, settings)
    write_json(meta_path, meta)
    return Packed(split, got.array_path, len(meta["words"]), tuple(meta["skipped"]), True)


def _decode(ref: data.ClipRef) -> np.ndarray | str:
    """(T, 96, 96) uint8, or the reason the clip cannot be used."""
    from builder.media import read_clip

    if not ref.path.is_file():
        return "missing"
    try:
        frames = read_clip(ref.path)
    except InputError as e:
        return f"unreadable: {e}"
    if frames.shape[1:] != (ROI, ROI):
        return f"size {frames.shape[2]}x{frames.shape[1]}, expected {ROI}x{ROI}"
    return frames


def _clip_frames(ref: data.ClipRef) -> int | None:
    try:
        return int(json.loads(DatasetDir.sidecar(ref.path).read_text(encoding="utf-8"))["frames"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _clip_span(ref: data.ClipRef, frames: int) -> list[int] | None:
    """[first, last] frame of the word inside the clip from its sidecar, or None (not recorded)."""
    try:
        sc = json.loads(DatasetDir.sidecar(ref.path).read_text(encoding="utf-8"))
        a, b = sc["word_start_frame"], sc["word_end_frame"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b < frames):
        return None
    return [a, b]


def pack(clips: list[data.ClipRef], array_path: Path, meta_path: Path, fp: str,
         settings: PackSettings = PackSettings()) -> dict:
    """Decode `clips` into `array_path` (N, T, 96, 96) uint8, atomically; return the metadata
    (the caller writes it to `meta_path`, which is removed first).

    T is the most common clip length (from the sidecars, else the first clip); clips of another
    length or size are left out and listed under "skipped" with the reason.
    """
    array_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(array_path.parent)
    meta_path.unlink(missing_ok=True)
    lengths = Counter(n for n in (_clip_frames(c) for c in clips[:2000]) if n)
    threads = settings.workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool, atomic_path(array_path) as tmp:
        decoded = pool.map(_decode, clips)
        T, out, kept, skipped = None, None, [], []
        bar = Progress(len(clips), f"caching {clips[0].split} clips", "clips", enabled=settings.show)
        for ref, frames in zip(clips, decoded, strict=True):
            bar.update()
            if isinstance(frames, str):
                skipped.append({"path": ref.rel, "reason": frames})
                continue
            if T is None:
                T = lengths.most_common(1)[0][0] if lengths else len(frames)
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                                shape=(len(clips), T, ROI, ROI))
            if len(frames) != T:
                skipped.append({"path": ref.rel, "reason": f"{len(frames)} frames, expected {T}"})
                continue
            out[len(kept)] = frames
            kept.append(ref)
        bar.close()
        if out is None:
            np.save(tmp, np.zeros((0, 0, ROI, ROI), np.uint8))
        else:
            out.flush()
            del out
    return {"version": data.CACHE_VERSION, "split": clips[0].split, "fingerprint": fp, "frames": T or 0,
            "words": [r.word for r in kept], "paths": [r.rel for r in kept], "skipped": skipped,
            "spans": [_clip_span(r, T) for r in kept]}
