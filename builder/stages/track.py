"""Stage 2, track: <video>/video.mp4 -> <video>/track.npz + mouth.npy (builder.tracking), and
track.<k>.npz + mouth.<k>.npy for each further face track when `max_faces` > 1, and with the
`lrw` crop profile mouth-lrw.npy (mouth.<k>-lrw.npy) (builder.lrwcrop).

`tracked` says whether a video's outputs are there and whole (damaged ones are removed, so the
video is tracked again); `load_view` reads what clip planning needs from track.npz.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import clips as clipmod
from builder.layout import VideoDir
from builder.stages.state import record_skip
from lipreader import atomic
from lipreader.constants import ROI
from lipreader.errors import InputError, SkipVideo


@dataclass(frozen=True)
class TrackSettings:
    mesh_every: int = 1     # run FaceMesh on every n-th frame (tracking.process_video)
    max_faces: int = 1      # face tracks kept (tracking.process_video)
    crop: str = "default"   # crop profile of the clips: "lrw" adds mouth-lrw.npy (builder.lrwcrop)


def profile_mouth(vd: VideoDir, profile: str) -> Path:
    """The tracked video's mouth crops of `profile`: mouth.npy, or mouth-<profile>.npy made from
    track.npz and the video when missing, not whole or older than track.npz (tracked again)."""
    if profile == "default":
        return vd.mouth
    from builder import lrwcrop

    path = vd.mouth_for(profile)
    frames = load_view(vd).frames
    try:
        whole = (path.is_file() and path.stat().st_mtime_ns >= vd.track.stat().st_mtime_ns
                 and clipmod.load_mouth(path).shape == (frames, ROI, ROI))
    except (OSError, ValueError, EOFError):
        whole = False
    if not whole:
        try:
            lrwcrop.make(vd.video, vd.track, path)
        except InputError as e:  # the video is gone or no longer decodes
            raise SkipVideo("undecodable", str(e)) from e
    return path


def face_count(vd: VideoDir) -> int:
    """How many face tracks the video's tracking wrote: 1 + the track.<k>.npz there, k = 1, 2..."""
    n = 1
    while vd.for_face(n).track.is_file():
        n += 1
    return n


def faces(vd: VideoDir) -> list[VideoDir]:
    """The folder once per face track: face 0 (the main face), then the others."""
    return [vd.for_face(k) for k in range(face_count(vd))]


def _whole(vd: VideoDir) -> bool:
    try:
        frames = load_view(vd).frames
        mouth = clipmod.load_mouth(vd.mouth)
        return mouth.dtype == np.uint8 and mouth.shape == (frames, ROI, ROI)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return False


def tracked(vd: VideoDir, remove: bool = True, max_faces: int | None = None) -> bool:
    """Whether the video's track.npz and mouth.npy (and those of its other face tracks) are
    there and whole, for `max_faces` face tracks (None: as many as were tracked). Damaged ones,
    or those of another number of faces, are removed (unless `remove` is False), so that the
    video is tracked again."""
    vd = vd.for_face(0)
    if not vd.track.is_file():
        return False
    found = faces(vd)
    whole = (max_faces is None or len(found) == max_faces) and all(_whole(f) for f in found)
    if not whole and remove:
        for f in found:
            f.track.unlink(missing_ok=True)
            f.mouth.unlink(missing_ok=True)
    return whole


def load_view(vd: VideoDir) -> clipmod.TrackView:
    """What clip planning needs from the video's track.npz."""
    with np.load(vd.track) as z:
        segment = z["segment"]
        return clipmod.TrackView(usable=segment >= 0, face_width=z["face_width"], yaw=z["yaw"],
                                 segment=segment)


def load_opening(vd: VideoDir) -> np.ndarray:
    """(T,) lip opening per frame (NaN: no face), from track.npz."""
    with np.load(vd.track) as z:
        return z["opening"]


def run(vd: VideoDir, settings: TrackSettings, on_frame: Callable[[int], None] | None = None) -> None:
    """Track one video in this process (unless it is tracked already). A SkipVideo is recorded
    in <video>/skip.json and raised again."""
    from builder import tracking

    if tracked(vd, max_faces=settings.max_faces):
        return
    atomic.remove_stale_temps(vd.root)
    try:
        tracking.process_video(vd.video, vd.root, mesh_every=settings.mesh_every,
                               max_faces=settings.max_faces, on_frame=on_frame)
    except SkipVideo as e:
        record_skip(vd, "track", e)
        raise


def run_many(vds: Sequence[VideoDir], settings: TrackSettings, workers: int,
             on_part: Callable[[int, int], None] | None = None) -> Iterator[tuple[int, dict | None]]:
    """Track the videos in worker processes. Yields (index, skip record or None) as each
    finishes; a rejected video's skip.json is written. `on_part(index, frames)`: a part of a
    long video shared among the workers is done (tracking.process_videos)."""
    from builder import tracking

    for vd in vds:
        atomic.remove_stale_temps(vd.root)
    for i, result in tracking.process_videos([(vd.video, vd.root) for vd in vds], workers,
                                             on_part=on_part, mesh_every=settings.mesh_every,
                                             max_faces=settings.max_faces):
        yield i, record_skip(vds[i], "track", result) if isinstance(result, SkipVideo) else None
