"""Stage 4, clips: planned clips cut out of <video>/mouth.npy into dataset/<word>/<split>/.

Each clip is a lossless 96x96 gray mp4 (media.ClipEncoder, one encoder per video) with a .json sidecar (its ClipRecord without the path).
A clip whose mp4 and identical sidecar are there already is not written again; clips of this
build's videos that the plan no longer has are removed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import clips as clipmod
from builder.layout import DatasetDir, mouth_file
from builder.stages.plan import VideoClips
from lipreader import atomic

# Clips a worker process must have to write before starting it pays: a spawned worker's start
# (Python, numpy) costs about what writing this many clips in-process does (bench_profile).
WORKER_CLIPS = 200


@dataclass(frozen=True)
class Job:
    """One video's clips to write: (clip path, sidecar text, source frame of each clip frame)."""

    mouth: Path
    items: tuple[tuple[Path, str, tuple[int, ...]], ...]


def sidecar_text(sidecar: dict) -> str:
    return json.dumps(sidecar, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def jobs(dataset: DatasetDir, videos: list[VideoClips], crop: str = "default") -> list[Job]:
    """The clips still to write (missing, or with another sidecar), one job per video and face
    track, cut from the mouth crops of profile `crop`."""
    out = []
    for v in videos:
        todo: dict[int, list[tuple[Path, str, tuple[int, ...]]]] = {}
        for rec, index in v.clips:
            clip, text = dataset.root / rec.path, sidecar_text(rec.sidecar())
            sidecar = DatasetDir.sidecar(clip)
            if clip.is_file() and sidecar.is_file() and sidecar.read_text(encoding="utf-8") == text:
                continue
            todo.setdefault(rec.face or 0, []).append((clip, text, index))
        out.extend(Job(mouth_file(v.mouths[face], crop), tuple(items)) for face, items in sorted(todo.items()))
    return out


def write(job: Job) -> int:
    """Cut and encode one video's clips (runs in a worker process); returns how many."""
    from builder import media

    mouth = clipmod.load_mouth(job.mouth)
    with media.ClipEncoder() as encoder:
        for clip, text, index in job.items:
            encoder.write(clip, np.asarray(mouth[list(index)]))
            atomic.write_text(DatasetDir.sidecar(clip), text)
    return len(job.items)


def clean_stale(dataset: DatasetDir, keep: set[Path], video_ids: set[str]) -> int:
    """Remove clips of this build's videos that the plan no longer has, and temp leftovers."""
    out, removed = dataset.root, 0
    for word_dir in [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]:
        for split_dir in [p for p in word_dir.iterdir() if p.is_dir()]:
            removed += atomic.remove_stale_temps(split_dir)
            for f in split_dir.iterdir():
                if f.suffix in (".mp4", ".json") and f.stem.rsplit("_", 1)[0] in video_ids \
                        and f.with_suffix(".mp4") not in keep:
                    f.unlink()
                    removed += 1
            if not any(split_dir.iterdir()):
                split_dir.rmdir()
        if not any(word_dir.iterdir()):
            word_dir.rmdir()
    return removed
