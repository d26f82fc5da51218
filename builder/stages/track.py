"""Stage 2, track: <video>/video.mp4 -> <video>/track.npz + mouth.npy (builder.tracking), and
with the `lrw` crop profile mouth-lrw.npy (builder.lrwcrop).

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
    crop: str = "default"   # crop profile of the clips: "lrw" adds mouth-lrw.npy (builder.lrwcrop)


def profile_mouth(vd: VideoDir, profile: str) -> Path:
    """The tracked video's mouth crops of `profile`: mouth.npy, or mouth-<profile>.npy made from
    track.npz and the video when missing or not whole."""
    if profile == "default":
        return vd.mouth
    from builder import lrwcrop

    path = vd.mouth_for(profile)
    frames = load_view(vd).frames
    try:
        whole = path.is_file() and clipmod.load_mouth(path).shape == (frames, ROI, ROI)
    except (OSError, ValueError, EOFError):
        whole = False
    if not whole:
        try:
            lrwcrop.make(vd.video, vd.track, path)
        except InputError as e:  # the video is gone or no longer decodes
            raise SkipVideo("undecodable", str(e)) from e
    return path


def tracked(vd: VideoDir, remove: bool = True) -> bool:
    """Whether the video's track.npz and mouth.npy are there and whole. Damaged ones are
    removed (unless `remove` is False), so that the video is tracked again."""
    if not vd.track.is_file():
        return False
    try:
        frames = load_view(vd).frames
        mouth = clipmod.load_mouth(vd.mouth)
        whole = mouth.dtype == np.uint8 and mouth.shape == (frames, ROI, ROI)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        whole = False
    if not whole and remove:
        vd.track.unlink(missing_ok=True)
        vd.mouth.unlink(missing_ok=True)
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

    if tracked(vd):
        return
    atomic.remove_stale_temps(vd.root)
    try:
        tracking.process_video(vd.video, vd.root, mesh_every=settings.mesh_every, on_frame=on_frame)
    except SkipVideo as e:
        record_skip(vd, "track", e)
        raise


def run_many(vds: Sequence[VideoDir], settings: TrackSettings, workers: int
             ) -> Iterator[tuple[int, dict | None]]:
    """Track the videos in worker processes. Yields (index, skip record or None) as each
    finishes; a rejected video's skip.json is written."""
    from builder import tracking

    for vd in vds:
        atomic.remove_stale_temps(vd.root)
    for i, result in tracking.process_videos([(vd.video, vd.root) for vd in vds], workers,
                                             mesh_every=settings.mesh_every):
        yield i, record_skip(vds[i], "track", result) if isinstance(result, SkipVideo) else None
