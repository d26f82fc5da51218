"""Stage 2b, sync: <video>/video.mp4 sound + track.npz opening -> <video>/sync.npz (builder.sync).

Runs after tracking; a sync.npz that is missing, older than track.npz or of another length is
measured again.
A video without sound (or whose sound ffmpeg cannot decode) gets a sync.npz that says so: its
clips are "sync unknown", never lost for it.
"""

from __future__ import annotations

from builder import sync
from builder.layout import VideoDir
from builder.stages.track import load_opening
from lipreader.errors import InputError


def load(vd: VideoDir, frames: int | None = None) -> sync.Sync | None:
    """The video's sync, or None when it has not been measured for its current track (of
    `frames` frames, read from track.npz when not given)."""
    if not vd.sync.is_file() or vd.sync.stat().st_mtime_ns < vd.track.stat().st_mtime_ns:
        return None  # none yet, or measured on an earlier track
    return sync.load(vd.sync, len(load_opening(vd)) if frames is None else frames)


def run(vd: VideoDir) -> sync.Sync:
    """Measure (unless measured already) and record the sync of a tracked video."""
    opening = load_opening(vd)
    done = load(vd, len(opening))
    if done is not None:
        return done
    try:
        result = sync.measure(vd.video, opening)
    except InputError:
        result = sync.video_sync(opening, None)
    sync.save(vd.sync, result, len(opening))
    return result


def offset_of(vd: VideoDir) -> int:
    """Run `run` in a worker process; the offset found, frames."""
    return run(vd).offset
