"""The `lrw` crop profile against LRW's 68-point recipe, on the same frames.

    python -m benchmarks.bench_lrwcrop OUT_DIR        # prints JSON, writes OUT_DIR/lrwcrop.png

Videos: the carphone clip (a real face, 176x144) and a generated talking head (builder.synth,
360p). Both are tracked with FaceMesh (builder.tracking). The 68 points are FaceMesh's dlib
counterparts (builder.landmarks.DLIB68) for both sides: no dlib detector is used, so the figures
measure the crop geometry (our least-squares similarity, smoothing within a track segment and
direct warp) against mpc001's recipe as their preprocessing code runs it: the centred mean of
the landmarks over +-6 frames re-centred on the frame's own, OpenCV's LMEDS similarity of 8
stable points onto the mean face, a 256x256 warp (border 0), then the 96x96 patch cut around
the rounded mean of the aligned mouth points, kept inside the 256 frame.

Reported per video: the mean (and max) distance in patch pixels between where the two crops put
the frame's own mouth corners (dlib 48 and 54), and the mean absolute gray difference of the
crops. Because both sides read the same points, the correspondence itself is not measured; as a
proxy, `alt_*` runs the recipe on another plausible correspondence (ALT: the nose ridge point and
the lip points between corners and middle one FaceMesh point over, as other published tables
have them) and measures the same against ours. The PNG shows, per video, every 10th frame: our
crop, the recipe's crop, |difference| x 4, the recipe's crop with ALT.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from builder import lrwcrop, media
from builder.landmarks import DLIB68
from builder.mouth import apply_affine, warp_roi
from lipreader.constants import FPS, ROI

HALF = ROI // 2
# dlib index -> another FaceMesh point some published correspondences use
ALT = {28: 6, 49: 39, 53: 269, 55: 405, 59: 181, 61: 81, 63: 311, 65: 402, 67: 178}


def recipe_crop(gray: np.ndarray, smoothed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Their per-frame step: (crop 96x96, affine source px -> crop px)."""
    import cv2

    m = cv2.estimateAffinePartial2D(smoothed[list(lrwcrop.STABLE)], lrwcrop.MEAN_FACE_STABLE, method=cv2.LMEDS)[0]
    canvas = cv2.warpAffine(gray, m, (lrwcrop.CANVAS, lrwcrop.CANVAS), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    cx, cy = apply_affine(m, smoothed[48:68]).mean(0)
    cx, cy = min(max(cx, HALF), lrwcrop.CANVAS - HALF), min(max(cy, HALF), lrwcrop.CANVAS - HALF)
    x0, y0 = int(round(cx) - HALF), int(round(cy) - HALF)
    crop = canvas[y0:y0 + ROI, x0:x0 + ROI].copy()
    placed = m.copy()
    placed[:, 2] -= (x0, y0)
    return crop, placed


def compare(video: Path, work: Path) -> tuple[dict, list[list[np.ndarray]]]:
    from builder import tracking

    folder = work / video.stem
    tracking.process_video(video, folder)
    with np.load(folder / "track.npz") as z:
        landmarks, segment = z["landmarks"].astype(np.float64), z["segment"]
    ours = lrwcrop.segment_matrices(landmarks, segment)
    frames = list(media.iter_frames(video, fps=FPS, gray=True))
    alt_table = [ALT.get(i, k) for i, k in enumerate(DLIB68)]
    corner_d, pixel_d, alt_d, alt_pixel_d, tiles = [], [], [], [], []
    for s in np.unique(segment[segment >= 0]):
        idx = np.flatnonzero(segment == s)
        pts = lrwcrop.dlib68(landmarks[idx])
        smoothed = lrwcrop.smooth(pts)
        alt_smoothed = lrwcrop.smooth(landmarks[idx][:, alt_table, :2])
        for j, t in enumerate(idx):
            theirs, m_theirs = recipe_crop(frames[t], smoothed[j])
            alt, m_alt = recipe_crop(frames[t], alt_smoothed[j])
            mine = warp_roi(frames[t], ours[t])
            corners = pts[j][[48, 54]]
            mine_at = apply_affine(ours[t], corners)
            corner_d.extend(np.linalg.norm(mine_at - apply_affine(m_theirs, corners), axis=1))
            alt_d.extend(np.linalg.norm(mine_at - apply_affine(m_alt, corners), axis=1))
            pixel_d.append(float(np.abs(mine.astype(int) - theirs).mean()))
            alt_pixel_d.append(float(np.abs(mine.astype(int) - alt).mean()))
            if len(tiles) < 8 and t % 10 == 0:
                diff = np.clip(np.abs(mine.astype(int) - theirs) * 4, 0, 255).astype(np.uint8)
                tiles.append([mine, theirs, diff, alt])
    corner_d, alt_d = np.array(corner_d), np.array(alt_d)
    return ({"video": video.name, "frames": int((segment >= 0).sum()),
             "mouth_corner_px_mean": float(f"{corner_d.mean():.2g}"),
             "mouth_corner_px_max": float(f"{corner_d.max():.2g}"),
             "gray_abs_diff_mean": float(f"{np.mean(pixel_d):.2g}"),
             "alt_mouth_corner_px_mean": round(float(alt_d.mean()), 2),
             "alt_mouth_corner_px_max": round(float(alt_d.max()), 2),
             "alt_gray_abs_diff_mean": round(float(np.mean(alt_pixel_d)), 2)}, tiles)


def talking_head(work: Path) -> Path:
    from builder import synth

    poses = [p for p in synth.builtin_poses() if p.person == "hopper"]
    _, _, specs = synth.plan_corpus(poses, words=6, videos=1, speakers=1, holdout_speakers=0,
                                    seconds=6, height=360, seed=3)
    synth.write_video_dir(specs[0], work)
    return work / specs[0].name / "video.mp4"


def main(out: Path) -> dict:
    from benchmarks.bench_tracking import carphone
    from builder.pictures import grid

    out.mkdir(parents=True, exist_ok=True)
    results, rows, labels = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for short, video in (("car", carphone()), ("synth", talking_head(work))):
            res, tiles = compare(video, work)
            results.append(res)
            for name, col in (("ours", 0), ("recipe", 1), ("|diff|x4", 2), ("alt", 3)):
                rows.append([t[col] for t in tiles])
                labels.append(f"{short} {name}")
    grid(rows, out / "lrwcrop.png", labels)
    summary = {"videos": results, "png": str(out / "lrwcrop.png")}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "bench-out"))
