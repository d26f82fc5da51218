"""Stage 2b, sync: <video>/video.mp4 sound + track.npz opening -> <video>/sync.npz (builder.sync),
and sync.<k>.npz from track.<k>.npz for each further face track.

Runs after tracking; a sync.npz that is missing, older than track.npz or of another length is
measured again.
A video without sound (or whose sound ffmpeg cannot decode) gets a sync.npz that says so: its
clips are "sync unknown", never lost for it.
"""

from __future__ import annotations

from builder import sync
from builder.layout import VideoDir
from builder.stages.track import faces, load_opening
from lipreader.errors import InputError


def load(vd: VideoDir, frames: int | None = None) -> sync.Sync | None:
    """The video's sync, or None when it has not been measured for its current track (of
    `frames` frames, read from track.npz when not given)."""
    if not vd.sync.is_file() or vd.sync.stat().st_mtime_ns < vd.track.stat().st_mtime_ns:
        return None  # none yet, or measured on an earlier track
    return sync.load(vd.sync, len(load_opening(vd)) if frames is None else frames)


def run(vd: VideoDir) -> sync.Sync:
    """Measure (unless measured already) and record the sync of a tracked video's face track
    `vd.face`."""
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


def run_faces(vd: VideoDir) -> list[sync.Sync]:
    """`run` for each face track of the video; the sound is decoded once, for the main face."""
    first, *others = faces(vd)
    out = [run(first)]
    for f in others:
        opening = load_opening(f)
        done = load(f, len(opening))
        if done is None:
            done = sync.video_sync(opening, out[0].energy if out[0].has_audio else None)
            sync.save(f.sync, done, len(opening))
        out.append(done)
    return out


def load_faces(vd: VideoDir) -> list[sync.Sync | None]:
    """`load` for each face track of the video."""
    return [load(f) for f in faces(vd)]


def offset_of(vd: VideoDir) -> int:
    """Run `run_faces` in a worker process; the video's offset found, frames."""
    return video_offset(run_faces(vd))


def video_offset(syncs: list[sync.Sync | None]) -> int:
    """The video's sound offset: that of the face track whose sync is the most confident (the
    one speaking most clearly; the main face's when there is one track)."""
    known = [s for s in syncs if s is not None and s.known]
    return max(known, key=lambda s: s.confidence).offset if known else 0
