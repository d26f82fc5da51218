"""Word-centred fixed-length clips: which frames, whether they are good enough, and the pixels.

A clip is `frames` frames at 25 fps centred on the word's midpoint (LRW: 29 frames = 1.16 s).
`plan_clip` decides from the track alone (no pixels) whether a word gives a clip, and why not;
`cut_clip` takes the planned frames out of mouth.npy, repeating the nearest good frame where
the plan allows padding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from builder.captions import ESTIMATED, Word
from lipreader.constants import FPS

# Drop reasons, as they appear in stats.json.
PAST_VIDEO = "clip runs past the video"
CROSSES_CUT = "word crosses a shot cut"
CLIP_CROSSES_CUT = "clip crosses a shot cut"
NO_FACE = "no face during the word"
FEW_FACE_FRAMES = "too few frames with a face"
FACE_TOO_SMALL = "face too small"
EXTREME_YAW = "extreme yaw"
ESTIMATED_TIMING = "cue-estimated timing"


@dataclass(frozen=True)
class TrackView:
    """What clip planning needs from track.npz, one entry per frame at 25 fps.

    usable: (T,) bool, a mouth crop exists (face found, or a bridged short gap);
    face_width: (T,) float, pixels; yaw: (T,) float, degrees; segment: (T,) int, -1 where no face.
    """

    usable: np.ndarray
    face_width: np.ndarray
    yaw: np.ndarray
    segment: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.usable)


@dataclass(frozen=True)
class Limits:
    """What a clip must satisfy: [build]'s limits (pipelines.settings.limits fills them in)."""

    frames: int
    padding: int
    min_face_fraction: float
    min_face_size: float
    max_yaw: float
    allow_estimated: bool
    min_sync: float = -1.0           # mouth-sound correlation a clip needs (builder.sync; -1: any)
    max_sync_drift: int = 3          # frames a clip's own best lag may differ from the video's offset
    min_sync_confidence: float = 2.0 # or how far its best lag must stand out (2: never enough)
    keep_sync_unknown: bool = True   # keep clips of videos without sound


@dataclass(frozen=True)
class ClipPlan:
    """One clip to cut: video frames [first, first + frames), with `index` the source frame for
    each clip frame (padding repeats the nearest good frame)."""

    word: str
    start: float
    end: float
    source: str
    first: int
    frames: int
    word_start_frame: int   # first and last frame of the word inside the clip
    word_end_frame: int
    padded: int             # clip frames filled from a neighbour
    face_width: float       # median over the clip's good frames, pixels
    max_yaw: float          # over the word's frames, degrees
    index: tuple[int, ...]
    end_by: str = ""        # how the word's end was found (captions.Word.end_by, voiced.VOICED)

    @property
    def start_ms(self) -> int:
        return int(round(self.start * 1000))

    def sidecar(self) -> dict:
        """The plan as plain data for the clip's .json sidecar (without the frame index)."""
        d = asdict(self)
        del d["index"]
        d["start_ms"] = self.start_ms
        d["face_width"] = round(self.face_width, 1)
        d["max_yaw"] = round(self.max_yaw, 1)
        d["start"] = round(self.start, 3)
        d["end"] = round(self.end, 3)
        if not self.end_by:
            del d["end_by"]
        return d


def word_frames(word: Word, fps: float = FPS) -> tuple[int, int]:
    """The video frames [first, last] during which the word is spoken."""
    first = int(math.floor(word.start * fps + 1e-6))
    last = max(first, int(math.ceil(word.end * fps - 1e-6)) - 1)
    return first, last


def plan_clip(word: Word, track: TrackView, limits: Limits) -> ClipPlan | str:
    """A ClipPlan, or the reason (a string) why this word gives no clip."""
    if word.source == ESTIMATED and not limits.allow_estimated:
        return ESTIMATED_TIMING
    ws, we = word_frames(word)
    n = limits.frames
    first = int(math.floor((ws + we + 1) / 2 - n / 2 + 0.5))
    window = np.arange(first, first + n)
    inside = (window >= 0) & (window < track.frames)
    if ws < 0 or we >= track.frames:
        return PAST_VIDEO
    word_idx = np.arange(ws, we + 1)
    if not track.usable[word_idx].all():
        return NO_FACE
    segments = np.unique(track.segment[word_idx])
    if len(segments) > 1:
        return CROSSES_CUT
    seg = segments[0]
    safe = np.clip(window, 0, track.frames - 1)
    good = inside & track.usable[safe] & (track.segment[safe] == seg)
    lead = int(np.argmax(good)) if good.any() else n
    trail = int(np.argmax(good[::-1])) if good.any() else n
    if lead > limits.padding or trail > limits.padding:
        edge = window[:lead] if lead > limits.padding else window[n - trail:]
        if ((edge < 0) | (edge >= track.frames)).any():
            return PAST_VIDEO
        edge_safe = np.clip(edge, 0, track.frames - 1)
        if (track.usable[edge_safe] & (track.segment[edge_safe] != seg)).any():
            return CLIP_CROSSES_CUT
        return FEW_FACE_FRAMES
    missing = int(n - good.sum())
    if missing > (1.0 - limits.min_face_fraction) * n + (lead + trail):
        return FEW_FACE_FRAMES
    good_frames = window[good]
    width = float(np.median(track.face_width[good_frames]))
    if width < limits.min_face_size:
        return FACE_TOO_SMALL
    yaw = float(np.abs(track.yaw[word_idx]).max())
    if yaw > limits.max_yaw:
        return EXTREME_YAW
    # Each clip frame takes the nearest good frame (itself when good).
    pos = np.flatnonzero(good)
    nearest = pos[np.abs(np.arange(n)[:, None] - pos[None, :]).argmin(1)]
    index = tuple(int(i) for i in window[nearest])
    return ClipPlan(word=word.text, start=word.start, end=word.end, source=word.source,
                    first=first, frames=n, word_start_frame=ws - first, word_end_frame=we - first,
                    padded=missing, face_width=width, max_yaw=yaw, index=index,
                    end_by=word.end_by)


def cut_clip(mouth: np.ndarray, plan: ClipPlan) -> np.ndarray:
    """The clip's frames (frames, 96, 96) uint8 out of mouth.npy's (T, 96, 96)."""
    return np.ascontiguousarray(mouth[list(plan.index)])


def load_mouth(path: Path) -> np.ndarray:
    """mouth.npy memory-mapped: clips read only the frames they need."""
    return np.load(path, mmap_mode="r")
