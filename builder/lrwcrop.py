"""The `lrw` crop profile: LRW's mouth ROI (mpc001's preprocessing) made from FaceMesh landmarks.

Their recipe, per frame t of a video with 68 dlib landmarks per frame:
  1. smooth: the mean of the landmarks of frames t-m..t+m (m = 6, fewer at the ends), shifted so
     its centroid is frame t's own;
  2. align: the similarity taking 8 stable points of the smoothed landmarks (dlib 28, 33, 36,
     39, 42, 45, 48, 54: nose ridge and base, eye corners, mouth corners) onto the same points
     of a 68-point mean face in a 256x256 frame (their `20words_mean_face.npy`);
  3. cut the 96x96 patch centred on the mean of the aligned mouth points (dlib 48-67), rounded
     to whole pixels and kept inside the 256x256 frame; gray.
The model then centre-crops 88x88 and normalises (x / 255 - 0.421) / 0.165 (ModelDims).

Here the 68 points are FaceMesh's counterparts (builder.landmarks.DLIB68), smoothing stays inside
one uninterrupted track segment, the similarity is a least-squares fit (theirs: OpenCV's LMEDS,
which `recipe_matrices` keeps for comparison) and the patch is warped straight into 96x96 (the
same pixels as their warp-then-cut, with the shrink anti-aliased by `builder.mouth.warp_roi`).
benchmarks/bench_lrwcrop.py compares the two.

The crops are made after tracking, from track.npz and the video, into mouth-lrw.npy beside
mouth.npy (builder.layout.mouth_file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from builder.landmarks import DLIB68
from builder.mouth import apply_affine, fit_similarity, warp_roi
from lipreader.constants import ROI

CANVAS = 256                     # their aligned face frame, pixels
MARGIN = 6                       # smoothing half-window (their window_margin 12 // 2)
STABLE = (28, 33, 36, 39, 42, 45, 48, 54)   # dlib indices the similarity is fitted on
MOUTH = tuple(range(48, 68))     # dlib indices the patch is centred on
# The 8 stable points of mpc001's 20words_mean_face.npy (x, y in the 256x256 frame), in STABLE's order.
MEAN_FACE_STABLE = np.array([
    (128.488545, 106.924595), (128.870180, 137.302534),                           # nose 28, 33
    (92.522456, 94.368760), (112.772417, 94.943609),                              # eye 36, 39
    (145.525115, 94.534999), (166.677101, 93.565623),                             # eye 42, 45
    (107.167606, 157.196068), (152.192840, 156.987111)], np.float64)             # mouth 48, 54


def dlib68(landmarks: np.ndarray) -> np.ndarray:
    """FaceMesh landmarks (..., 478, 2+) -> their dlib-68 counterparts (..., 68, 2)."""
    return np.asarray(landmarks, np.float64)[..., DLIB68, :2]


def smooth(points: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    """Their centred moving mean (T, N, 2) -> (T, N, 2): frame t averages t-m..t+m with
    m = min(margin, t, T-1-t), then takes frame t's own centroid."""
    points = np.asarray(points, np.float64)
    T = len(points)
    out = np.empty_like(points)
    for t in range(T):
        m = min(margin, t, T - 1 - t)
        mean = points[t - m:t + m + 1].mean(0)
        out[t] = mean + points[t].mean(0) - mean.mean(0)
    return out


def _place(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Shift an affine (2, 3) into the canvas so that it cuts the 96x96 patch centred on the
    aligned mouth points (rounded, kept inside the canvas): source px -> patch px."""
    centre = np.round(apply_affine(matrix, points[list(MOUTH)]).mean(0))
    centre = np.clip(centre, ROI // 2, CANVAS - ROI // 2)
    out = matrix.copy()
    out[:, 2] -= centre - ROI // 2
    return out


def matrices(points: np.ndarray) -> np.ndarray:
    """One track segment's dlib-68 points (T, 68, 2) in source px -> (T, 2, 3) affines taking
    source px to LRW patch px (least-squares similarity)."""
    sm = smooth(points)
    out = np.empty((len(sm), 2, 3))
    for t, p in enumerate(sm):
        a, b, tx, ty = fit_similarity(p[list(STABLE)], MEAN_FACE_STABLE)
        out[t] = _place(np.array([[a, -b, tx], [b, a, ty]]), p)
    return out


def recipe_matrices(points: np.ndarray) -> np.ndarray:
    """`matrices` as their code computes it: OpenCV's estimateAffinePartial2D with LMEDS (for
    comparison; the least-squares fit of `matrices` does not jump when one point is off)."""
    import cv2

    sm = smooth(points)
    out = np.empty((len(sm), 2, 3))
    for t, p in enumerate(sm):
        m = cv2.estimateAffinePartial2D(p[list(STABLE)].astype(np.float64), MEAN_FACE_STABLE, method=cv2.LMEDS)[0]
        out[t] = _place(m, p)
    return out


def segment_matrices(landmarks: np.ndarray, segment: np.ndarray, fit=matrices) -> np.ndarray:
    """(T, 478, 2+) landmarks and (T,) segment ids (-1: no face) -> (T, 2, 3); NaN without a face."""
    out = np.full((len(segment), 2, 3), np.nan)
    for s in np.unique(segment[segment >= 0]):
        idx = np.flatnonzero(segment == s)
        out[idx] = fit(dlib68(landmarks[idx]))
    return out


def lrw_mouth(video: Path, landmarks: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The video's LRW mouth crops (T, 96, 96) uint8 (all zero without a face): decoded at 25 fps
    at the source size, which track.npz's landmarks are in."""
    from builder import media
    from lipreader.constants import FPS

    mats = segment_matrices(landmarks, segment)
    out = np.zeros((len(segment), ROI, ROI), np.uint8)
    for t, frame in enumerate(media.iter_frames(video, fps=FPS)):
        if t >= len(out):
            break
        if segment[t] >= 0:
            out[t] = warp_roi(frame, mats[t])
    return out


def make(video: Path, track: Path, out: Path) -> Path:
    """mouth-lrw.npy at `out` from the video and its track.npz (atomically); returns `out`."""
    from lipreader.atomic import atomic_path

    with np.load(track) as z:
        landmarks, segment = z["landmarks"].astype(np.float64), z["segment"]
    mouth = lrw_mouth(video, landmarks, segment)
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.save(f, mouth)
    return out
