"""The files face tracking writes into a video folder, their writer and their reader.

track.npz (T = frames at 25 fps; "px" = pixels of the source video as displayed; NaN where
`segment` is -1):
    landmarks  (T, 478, 3) float16  FaceMesh landmarks (refined: 468 + 10 iris), x, y in px,
                                    z in px at the scale of x (negative: towards the camera)
    box        (T, 4) float32       face box x0, y0, x1, y1 in px (landmark extent)
    found      (T,) bool            FaceMesh found the face in this frame
    filled     (T,) bool            not found, bridged by interpolation (gap <= 2 frames)
    segment    (T,) int32           id of the uninterrupted track the frame belongs to, -1 for
                                    no face; a shot cut, a face jump or a longer gap ends one
    score      (T,) float32         detection confidence of the detection that began the track
    face_width (T,) float32         box width in px
    yaw        (T,) float32         head turn in degrees (0 frontal; see mouth.yaw_degrees)
    opening    (T,) float32         inner-lip opening / eye distance (mouth.lip_opening)
    affine     (T, 2, 3) float32    smoothed transform source px -> mouth ROI px
    fps        ()  float64          25.0
    size       (2,) int32           source width, height
    mesh_size  (2,) int32           width, height of the frames given to FaceMesh
mouth.npy  (T, 96, 96) uint8: the gray mouth ROI; all zero where `segment` is -1.

Both are written atomically, mouth.npy first: a present track.npz means both are complete.
track.npz is not compressed: deflate takes 15% off it (landmarks in float16 hardly compress)
for 0.1 ms of CPU a frame, on the way from tracking to clips.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.landmarks import N_LANDMARKS
from builder.mouth import MouthFrame, face_box, lip_opening, yaw_degrees
from lipreader.atomic import temp_name
from lipreader.constants import FPS, ROI


@dataclass(frozen=True)
class FrameSizes:
    """The source frame size and the (smaller or equal) size FaceMesh works on, (W, H) each."""

    source: tuple[int, int]
    mesh: tuple[int, int]

    @property
    def to_source(self) -> np.ndarray:
        """Scale (3,) taking landmark x, y, z from mesh pixels to source pixels."""
        kx, ky = self.mesh[0] / self.source[0], self.mesh[1] / self.source[1]
        return np.array([1 / kx, 1 / ky, 1 / kx], np.float32)

    @property
    def from_source(self) -> np.ndarray:
        """(3, 3) matrix taking source pixels to mesh pixels (applied after a 2x3 affine)."""
        return np.diag([self.mesh[0] / self.source[0], self.mesh[1] / self.source[1], 1.0])


class TrackWriter:
    """Finished frames out: ROIs streamed into mouth.npy, landmarks (in source pixels) into a
    raw float16 file, the per-frame columns kept in memory; `save` writes track.npz."""

    def __init__(self, mouth_path: Path, landmarks_path: Path, sizes: FrameSizes):
        self.sizes, self.count = sizes, 0
        self.cols: dict[str, list] = {k: [] for k in ("found", "filled", "segment", "score", "box",
                                                      "yaw", "opening", "affine")}
        self._mouth = NpyStream(mouth_path, (ROI, ROI))
        self._landmarks_path = landmarks_path
        self._landmarks = open(landmarks_path, "wb")
        self._no_face = np.full((N_LANDMARKS, 3), np.nan, np.float16)

    def write(self, frames: list[MouthFrame]) -> None:
        cols, to_source = self.cols, self.sizes.to_source
        for mf in frames:
            self._mouth.write(mf.roi)
            has = mf.segment >= 0
            lm = mf.landmarks * to_source if has else None
            self._landmarks.write((lm.astype(np.float16) if has else self._no_face).tobytes())
            cols["found"].append(mf.found)
            cols["filled"].append(mf.filled)
            cols["segment"].append(mf.segment)
            cols["score"].append(mf.score if has else np.nan)
            cols["box"].append(face_box(lm) if has else np.full(4, np.nan))
            cols["yaw"].append(yaw_degrees(lm) if has else np.nan)
            cols["opening"].append(lip_opening(lm) if has else np.nan)
            cols["affine"].append(mf.matrix @ self.sizes.from_source if has
                                  else np.full((2, 3), np.nan))
            self.count += 1

    def finish(self) -> None:
        """All frames are in: complete mouth.npy and the raw landmarks."""
        self._landmarks.close()
        self._mouth.close()

    def close(self) -> None:
        self._landmarks.close()
        self._mouth._f.close()

    def save(self, path: Path, extra: dict[str, np.ndarray] | None = None) -> None:
        """track.npz at `path`, with the `extra` arrays besides."""
        n, cols = self.count, self.cols
        landmarks = np.memmap(self._landmarks_path, np.float16, "r", shape=(n, N_LANDMARKS, 3))
        np.savez(
            path, **(extra or {}), landmarks=landmarks,
            box=np.array(cols["box"], np.float32).reshape(n, 4),
            found=np.array(cols["found"], bool), filled=np.array(cols["filled"], bool),
            segment=np.array(cols["segment"], np.int32),
            score=np.array(cols["score"], np.float32),
            face_width=np.array([b[2] - b[0] for b in cols["box"]], np.float32),
            yaw=np.array(cols["yaw"], np.float32), opening=np.array(cols["opening"], np.float32),
            affine=np.array(cols["affine"], np.float32).reshape(n, 2, 3),
            fps=np.float64(FPS), size=np.array(self.sizes.source, np.int32),
            mesh_size=np.array(self.sizes.mesh, np.int32))
        del landmarks


class NpyStream:
    """Append (96, 96) uint8 frames to an .npy file whose length is known only at the end."""

    def __init__(self, path: Path, frame_shape: tuple[int, ...]):
        self.frame_shape, self.count = frame_shape, 0
        self._f = open(path, "wb")
        self._header_len = len(self._header(10 ** 9))
        self._f.write(b"\0" * self._header_len)

    def _header(self, n: int) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf, {"descr": "|u1", "fortran_order": False, "shape": (n, *self.frame_shape)})
        return buf.getvalue()

    def write(self, frame: np.ndarray) -> None:
        self._f.write(np.ascontiguousarray(frame, np.uint8).tobytes())
        self.count += 1

    def write_many(self, frames: np.ndarray) -> None:
        self._f.write(np.ascontiguousarray(frames, np.uint8).tobytes())
        self.count += len(frames)

    def close(self) -> None:
        header = self._header(self.count)
        if len(header) != self._header_len:  # the padded header is 128 bytes for any count < 10**9
            raise RuntimeError(f"npy header length changed: {len(header)} != {self._header_len}")
        self._f.seek(0)
        self._f.write(header)
        self._f.close()


def join(parts: list[tuple[Path, Path]], columns: list[dict[str, np.ndarray]],
         segment: np.ndarray, mouth_path: Path, track_path: Path) -> None:
    """Parts of one video, in order ((mouth.npy, track.npz) each, and their track.npz columns
    but the landmarks) -> one mouth.npy and one track.npz with `segment` as the segment ids.
    Crops and landmarks stream to disk a part at a time: memory does not grow with the video."""
    stream = NpyStream(mouth_path, (ROI, ROI))
    try:
        for path, _ in parts:
            part = np.load(path, mmap_mode="r")
            for k in range(0, len(part), 256):
                stream.write_many(part[k:k + 256])
            del part
    finally:
        stream.close()
    raw = temp_name(Path(track_path).parent / "landmarks.raw")
    try:
        with open(raw, "wb") as f:
            for _, track in parts:
                with np.load(track) as z:
                    f.write(np.ascontiguousarray(z["landmarks"], np.float16).tobytes())
        n = len(segment)
        landmarks = np.memmap(raw, np.float16, "r", shape=(n, N_LANDMARKS, 3)) if n else \
            np.zeros((0, N_LANDMARKS, 3), np.float16)
        per_frame = {k: np.concatenate([c[k] for c in columns])
                     for k in ("box", "found", "filled", "score", "face_width", "yaw", "opening",
                               "affine")}
        np.savez(track_path, landmarks=landmarks, segment=segment.astype(np.int32),
                            **per_frame, fps=columns[0]["fps"], size=columns[0]["size"],
                            mesh_size=columns[0]["mesh_size"])
        del landmarks
    finally:
        raw.unlink(missing_ok=True)


def load_track(path: str | os.PathLike, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """track.npz -> dict of arrays (see the module docstring), but those named in `skip`."""
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k not in skip}
