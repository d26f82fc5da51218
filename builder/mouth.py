"""Mouth ROI: similarity alignment of FaceMesh landmarks to a fixed reference face, 96x96 gray.

The transform maps stable landmarks (eye corners, nose bridge and nose line: they do not move
when the person speaks) onto a reference face placed in ROI pixels, so the mouth sits at a fixed
place and scale whatever the head does in the source. Transforms are averaged over a short
centred window inside one uninterrupted track (`MouthStream`), so the crop does not jitter.

Reference: the frontal FaceMesh layout in units of the outer eye-corner distance, origin midway
between the outer eye corners (measured on frontal faces, made left-right symmetric), scaled to
EYE_DISTANCE pixels and shifted so the mouth centre lands on the ROI centre.

A similarity is kept as its 4 parameters p = (a, b, tx, ty): x' = a x - b y + tx,
y' = b x + a y + ty. The mean of similarities is a similarity, which makes smoothing simple.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.landmarks import (
    EYE_INNER,
    EYE_OUTER,
    FACE_EDGES,
    INNER_LIP_MID,
    INNER_LIP_PAIRS,
    MOUTH_CORNERS,
    NOSE_BRIDGE,
    NOSE_LINE,
)
from lipreader.constants import ROI

EYE_DISTANCE = 80.0         # outer eye corners apart in the ROI: the mouth (~0.65 of it) spans ~half the ROI
MOUTH_BELOW_EYES = 0.74     # mouth centre below the eye line, in eye distances (mean of 3 real faces)
MAX_GAP = 2                 # missing frames bridged by interpolation; longer gaps end a segment
SMOOTH = 3                  # half-width (frames) of the centred window the transform is smoothed over
SIGMA = 1.0                 # ROI pixels: transforms that disagree by much more than this are not mixed

STABLE_IDS = (EYE_OUTER[0], EYE_INNER[0], EYE_INNER[1], EYE_OUTER[1], NOSE_BRIDGE, *NOSE_LINE)
_REF_UNIT = np.array([(-0.50, 0.00), (-0.19, 0.02), (0.19, 0.02), (0.50, 0.00),   # eye corners
                      (0.00, -0.03), (0.00, 0.06), (0.00, 0.21), (0.00, 0.39)],   # nose line
                     np.float64)
REFERENCE = _REF_UNIT * EYE_DISTANCE + (ROI / 2, ROI / 2 - MOUTH_BELOW_EYES * EYE_DISTANCE)


def fit_similarity(src: np.ndarray, dst: np.ndarray = REFERENCE) -> np.ndarray:
    """Least-squares similarity taking points `src` (..., N, 2) onto `dst` (N, 2) -> p (..., 4)."""
    src = np.asarray(src, np.float64)
    ms, md = src.mean(-2, keepdims=True), dst.mean(0)
    s, d = src - ms, dst - md
    norm = (s ** 2).sum((-1, -2))
    a = (s * d).sum((-1, -2)) / norm
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(-1) / norm
    mx, my = ms[..., 0, 0], ms[..., 0, 1]
    p = np.empty((*np.shape(a), 4))
    p[..., 0], p[..., 1] = a, b
    p[..., 2] = md[0] - (a * mx - b * my)
    p[..., 3] = md[1] - (b * mx + a * my)
    return p


def similarity_params(landmarks: np.ndarray) -> np.ndarray:
    """Source landmarks (..., 478, 2+) in pixels -> similarity p (..., 4) onto the reference."""
    return fit_similarity(np.asarray(landmarks)[..., STABLE_IDS, :2])


def to_matrix(p: np.ndarray) -> np.ndarray:
    """Similarity parameters (..., 4) -> affine matrices (..., 2, 3) for cv2.warpAffine."""
    p = np.asarray(p, np.float64)
    m = np.empty((*p.shape[:-1], 2, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 0, 2] = p[..., 0], -p[..., 1], p[..., 2]
    m[..., 1, 0], m[..., 1, 1], m[..., 1, 2] = p[..., 1], p[..., 0], p[..., 3]
    return m


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., N, 2+) with affine (..., 2, 3) -> (..., N, 2)."""
    pts = np.asarray(points, np.float64)[..., :2]
    return pts @ np.swapaxes(matrix[..., :2], -1, -2) + matrix[..., None, :, 2]


def smooth_params(window: np.ndarray, landmarks: np.ndarray, sigma: float = SIGMA,
                  own: np.ndarray | None = None) -> np.ndarray:
    """Motion-adaptive mean of the similarity parameters `window` (n, 4) of neighbouring frames
    for the frame whose landmarks (478, 2+) are given: each neighbour is weighted by
    exp(-d^2 / 2 sigma^2), d = RMS distance in ROI pixels between where it and the frame's own
    transform put the frame's stable landmarks. Landmark jitter (d below a pixel) is averaged
    away; real head motion (d of several pixels) is followed without lag, which a plain mean
    over a moving head does not do. `own`: the frame's own parameters, when already known.
    """
    window = np.asarray(window, np.float64)
    pts = np.asarray(landmarks)[STABLE_IDS, :2].astype(np.float64)
    own = fit_similarity(pts) if own is None else own
    placed = apply_affine(to_matrix(window), pts)             # (n, 8, 2)
    mine = apply_affine(to_matrix(own), pts)                  # (8, 2)
    d2 = ((placed - mine) ** 2).sum(-1).mean(-1)              # (n,)
    w = np.exp(-0.5 * d2 / sigma ** 2) if sigma > 0 else (d2 == d2.min()).astype(float)
    return (w[:, None] * window).sum(0) / w.sum()


def warp_roi(frame: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cut the ROI: frame (H, W) gray or (H, W, 3) RGB uint8, affine (2, 3) -> (96, 96) uint8.

    When the face is large in the source the warp is done at an integer multiple of the ROI
    size and then area-averaged down, so shrinking does not alias.
    """
    import cv2

    shrink = 1.0 / max(math.hypot(matrix[0, 0], matrix[1, 0]), 1e-6)
    f = int(min(max(math.ceil(shrink - 0.25), 1), 4))
    out = cv2.warpAffine(frame, np.asarray(matrix, np.float64) * f, (ROI * f, ROI * f),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if f > 1:
        out = cv2.resize(out, (ROI, ROI), interpolation=cv2.INTER_AREA)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    return out


def align_mouth(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """One frame, no smoothing: frame (H, W[, 3]) uint8 and its landmarks (478, 2+) in the
    frame's pixels -> (96, 96) uint8 gray mouth ROI."""
    return warp_roi(frame, to_matrix(similarity_params(landmarks)))


def eye_distance(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, np.float64)
    return np.linalg.norm(lm[..., EYE_OUTER[1], :2] - lm[..., EYE_OUTER[0], :2], axis=-1)


def lip_opening(landmarks: np.ndarray) -> float | np.ndarray:
    """Inner-lip opening: mean gap between the upper and lower inner lip (3 pairs), divided by
    the outer eye-corner distance, so it does not depend on face size or pixel scale.
    (..., 478, 2+) -> (...); about 0 closed, 0.1-0.3 open."""
    lm = np.asarray(landmarks, np.float64)
    up = lm[..., [p[0] for p in INNER_LIP_PAIRS], :2]
    lo = lm[..., [p[1] for p in INNER_LIP_PAIRS], :2]
    out = np.linalg.norm(lo - up, axis=-1).mean(-1) / eye_distance(lm)
    return float(out) if out.ndim == 0 else out


def mouth_centre(landmarks: np.ndarray) -> np.ndarray:
    """Mouth centre (..., 2): mean of the two corners and the inner-lip midpoints."""
    lm = np.asarray(landmarks, np.float64)
    ids = [*MOUTH_CORNERS, *INNER_LIP_MID]
    return lm[..., ids, :2].mean(-2)


def yaw_degrees(landmarks: np.ndarray) -> float | np.ndarray:
    """Head turn from the depth difference of the two cheek contour points: 0 frontal, positive
    when the image-right cheek is farther from the camera. (..., 478, 3) -> (...)."""
    lm = np.asarray(landmarks, np.float64)
    v = lm[..., FACE_EDGES[1], :] - lm[..., FACE_EDGES[0], :]
    out = np.degrees(np.arctan2(v[..., 2], np.hypot(v[..., 0], v[..., 1])))
    return float(out) if out.ndim == 0 else out


def face_box(landmarks: np.ndarray) -> np.ndarray:
    """(..., 478, 2+) -> (..., 4) x0, y0, x1, y1."""
    lm = np.asarray(landmarks)
    return np.concatenate([lm[..., :2].min(-2), lm[..., :2].max(-2)], -1)


def same_face(box_a: np.ndarray, box_b: np.ndarray, frames_apart: int = 1) -> bool:
    """Whether two face boxes a few frames apart can be one face (no jump, no size change)."""
    wa, wb = box_a[2] - box_a[0], box_b[2] - box_b[0]
    if not 0.7 < wb / max(wa, 1e-6) < 1.0 / 0.7:
        return False
    ca, cb = (box_a[:2] + box_a[2:]) / 2, (box_b[:2] + box_b[2:]) / 2
    return float(np.linalg.norm(cb - ca)) < 0.25 * max(wa, wb) * min(frames_apart, 3)


@dataclass
class MouthFrame:
    """One finished frame out of `MouthStream`. `landmarks` (478, 3) and `matrix` (2, 3) are in
    the pixels of the frames pushed in; both None, and `roi` all zero, where there is no face."""

    index: int
    landmarks: np.ndarray | None
    found: bool
    filled: bool
    segment: int
    matrix: np.ndarray | None
    roi: np.ndarray
    score: float


@dataclass
class _Pending:
    frame: np.ndarray
    landmarks: np.ndarray | None
    found: bool
    cut: bool
    score: float
    params: np.ndarray | None = None
    filled: bool = False
    box: np.ndarray | None = None   # face_box(landmarks) of a found face


class MouthStream:
    """Streaming stage: frames with their chosen face in, finished ROIs out, in order.

    push(frame, landmarks or None, cut, score) once per frame; frame i comes out once frame
    i + smooth + MAX_GAP has gone in (then `finish()` drains the rest), so at most
    2 * smooth + MAX_GAP + 2 frames are held whatever the video length.

    - gaps of at most MAX_GAP frames between two views of the same face (no cut, no jump) get
      linearly interpolated landmarks and transforms (`filled`);
    - a segment is a run of frames with a face and no cut; `segment` is -1 without a face;
    - the transform of frame i is `smooth_params` over frames i-smooth..i+smooth of its own
      segment.
    """

    def __init__(self, smooth: int = SMOOTH, sigma: float = SIGMA, max_gap: int = MAX_GAP):
        self.smooth, self.sigma, self.max_gap = smooth, sigma, max_gap
        self._items: deque[_Pending] = deque()  # frames first..last
        self._first = 0          # index of _items[0]
        self._next_out = 0       # next index to emit
        self._segment = -1
        self._prev_has_face = False
        self._last_found: int | None = None

    def _get(self, i: int) -> _Pending:
        return self._items[i - self._first]

    def _has_face(self, i: int) -> bool:
        it = self._get(i)
        return it.found or it.filled

    def push(self, frame: np.ndarray, landmarks: np.ndarray | None, cut: bool = False,
             score: float = float("nan")) -> list[MouthFrame]:
        i = self._first + len(self._items)
        found = landmarks is not None
        it = _Pending(frame, landmarks, found, cut, score)
        if found:
            it.params, it.box = similarity_params(landmarks), face_box(landmarks)
        self._items.append(it)
        if found:
            self._link(i)
            self._last_found = i
        return self._emit(i - self.smooth - self.max_gap)

    def finish(self) -> list[MouthFrame]:
        return self._emit(self._first + len(self._items) - 1)

    def _link(self, i: int) -> None:
        """Frame i has a face: mark a cut if it is not the face last seen, else bridge a short gap."""
        j = self._last_found
        if j is None or j < self._first or i - j - 1 > self.max_gap:
            return
        a, b = self._get(j), self._get(i)
        if not same_face(a.box, b.box, i - j):
            b.cut = True
            return
        if any(self._get(k).cut for k in range(j + 1, i + 1)):
            return
        for k in range(j + 1, i):
            w = (k - j) / (i - j)
            g = self._get(k)
            g.landmarks = (1 - w) * a.landmarks + w * b.landmarks
            g.params = (1 - w) * a.params + w * b.params
            g.score = min(a.score, b.score)
            g.filled = True

    def _emit(self, upto: int) -> list[MouthFrame]:
        out = []
        last = self._first + len(self._items) - 1
        while self._next_out <= min(upto, last):
            out.append(self._finish_frame(self._next_out, last))
            self._next_out += 1
        # keep smooth + 1 emitted frames: history for the centred mean and the last face seen
        while self._items and self._first < self._next_out - self.smooth - 1:
            self._items.popleft()
            self._first += 1
        return out

    def _finish_frame(self, i: int, last: int) -> MouthFrame:
        it = self._get(i)
        has_face = it.found or it.filled
        if has_face and (not self._prev_has_face or it.cut):
            self._segment += 1
        self._prev_has_face = has_face
        if not has_face:
            return MouthFrame(i, None, False, False, -1, None, np.zeros((ROI, ROI), np.uint8),
                              float("nan"))
        lo = hi = i
        while lo > max(i - self.smooth, self._first) and not self._get(lo).cut and self._has_face(lo - 1):
            lo -= 1
        while hi < min(i + self.smooth, last) and self._has_face(hi + 1) and not self._get(hi + 1).cut:
            hi += 1
        window = np.array([self._get(k).params for k in range(lo, hi + 1)])
        matrix = to_matrix(smooth_params(window, it.landmarks, self.sigma, own=it.params))
        roi = warp_roi(it.frame, matrix)
        it.frame = None  # the frame is no longer needed; its transform may still be
        return MouthFrame(i, it.landmarks, it.found, it.filled, self._segment, matrix, roi, it.score)


def save_mouth_strip(mouth: np.ndarray, path: str | Path, every: int = 1, columns: int = 16,
                     max_frames: int = 64) -> Path:
    """A PNG grid of ROIs (T, 96, 96) uint8: every `every`-th frame, `columns` per row, with the
    frame index in the corner. For looking at what the aligner produced."""
    import cv2

    from builder.pictures import grid

    tiles = []
    for t in list(range(0, len(mouth), every))[:max_frames]:
        tile = np.array(mouth[t], np.uint8)
        cv2.putText(tile, str(t), (2, 10), cv2.FONT_HERSHEY_PLAIN, 0.7, 255, 1, cv2.LINE_AA)
        tiles.append(tile)
    return grid([tiles[i:i + columns] for i in range(0, len(tiles), columns)], path, gap=(2, 2))
