"""Face tracking -> track.npz and mouth.npy. The only module that imports mediapipe.

`process_video(video, out_dir)` decodes once at 25 fps (ffmpeg scales the frames down to at most
`max_height` pixels high in its own threads), runs FaceMesh in video mode (it tracks between
frames), keeps one face track, and streams each frame through `builder.mouth.MouthStream`
(gap filling, segments, smoothed similarity alignment) into the 96x96 mouth ROI. Only a few
frames are in memory at a time; landmarks and ROIs go to temporary files as they come.
The files and their format: builder.trackfile.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import media
from builder.landmarks import N_LANDMARKS
from builder.layout import VideoDir
from builder.mouth import MAX_GAP, SMOOTH, MouthStream, face_box
from builder.trackfile import FrameSizes, TrackWriter
from lipreader.atomic import atomic_path, temp_name
from lipreader.constants import FPS, ROI
from lipreader.errors import InputError, SkipVideo

MAX_HEIGHT = 720          # frames given to FaceMesh are at most this high ...
MAX_WIDTH = 1280          # ... and this wide (aspect kept)
MAX_SOURCE_PIXELS = 7680 * 4320  # 8K UHD; bigger sources are refused
MIN_FRAMES = 8            # about a third of a second: shorter than any word
BYTES_PER_FRAME = ROI * ROI + N_LANDMARKS * 3 * 2 * 2  # mouth.npy, landmarks (raw and in track.npz)
DISK_MARGIN = 256 * 2**20  # left free besides
CUT_THRESHOLD = 35.0      # mean absolute difference (0-255) of 32x18 thumbnails at a shot cut
READ_AHEAD = 2            # frames a thread takes from ffmpeg ahead of FaceMesh (media.iter_frames)

# mediapipe's FaceMesh solution graph and the names of its two thresholds (see FaceMesh).
_GRAPH = "mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"
_DETECTION_SCORE = ("facedetectionshortrangecpu__facedetectionshortrange__facedetection__"
                    "TensorsToDetectionsCalculator.min_score_thresh")
_TRACKING_SCORE = "facelandmarkcpu__ThresholdingCalculator.threshold"


@dataclass(frozen=True)
class Face:
    """One face in one frame: landmarks (478, 3) float32 in pixels; `score` is the face
    detector's confidence when the detector ran on this frame, else NaN (FaceMesh tracked it)."""

    landmarks: np.ndarray
    score: float


class FaceMesh:
    """mediapipe FaceMesh on RGB uint8 frames -> landmarks in pixels. Every landmark in the
    project comes from here (tracking, and the generator's source faces).

    `video=True` tracks between consecutive frames (mediapipe's video mode: the face detector
    runs only while fewer than `max_faces` faces are tracked); `video=False` treats every frame
    as a separate still image.

    This is mediapipe's public solution `mp.solutions.face_mesh.FaceMesh(static_image_mode=not
    video, max_num_faces=max_faces, refine_landmarks=True, min_detection_confidence=
    min_confidence, min_tracking_confidence=min_confidence)`, built the way that class builds
    itself (its graph, side inputs and thresholds, on its base class `SolutionBase`) with one
    output stream more: `face_detections`. The public class returns only the landmarks, and
    track.npz records the face detector's confidence (`score`). The landmarks are the public
    class's, bit for bit (tests/test_tracking.py checks it), and so is the speed: on the
    tracking benchmark's 1280x720 video this class and the public one each take 4.3-4.7 ms of
    CPU per frame (medians of 3 runs; the spread is the machine's, the detections cost nothing
    measurable). Landmarks are read from the result messages field by field, the documented
    way: 0.26 ms per face, about 5% of FaceMesh's time (parsing the serialized protobuf
    directly took 0.04 ms, not worth depending on its wire layout).
    """

    def __init__(self, video: bool = True, max_faces: int = 1, min_confidence: float = 0.5):
        from mediapipe.python.solution_base import SolutionBase

        self._mesh = SolutionBase(
            binary_graph_path=_GRAPH,
            side_inputs={"num_faces": max_faces, "with_attention": True,
                         "use_prev_landmarks": video},
            calculator_params={_DETECTION_SCORE: min_confidence, _TRACKING_SCORE: min_confidence},
            outputs=["multi_face_landmarks", "face_detections"])

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces found in one (H, W, 3) RGB uint8 frame."""
        h, w = rgb.shape[:2]
        res = self._mesh.process({"image": np.ascontiguousarray(rgb)})
        scale = np.array([w, h, w], np.float32)
        faces = [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float32) * scale
                 for f in res.multi_face_landmarks or []]
        detections = []
        for d in res.face_detections or []:
            r = d.location_data.relative_bounding_box
            detections.append((d.score[0] if d.score else float("nan"),
                               (r.xmin + r.width / 2) * w, (r.ymin + r.height / 2) * h))
        out = []
        for lm in faces:
            x0, y0, x1, y1 = face_box(lm)
            inside = [s for s, cx, cy in detections if x0 <= cx <= x1 and y0 <= cy <= y1]
            out.append(Face(lm, max(inside) if inside else float("nan")))
        return out

    def faces(self, rgb: np.ndarray) -> list[np.ndarray]:
        """All faces found in one frame: a list of (478, 3) float32 arrays (x, y in pixels, z in
        pixels at the same scale as x)."""
        return [f.landmarks for f in self.detect(rgb)]

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class TrackSummary:
    """What `process_video` did to one video."""

    video: str
    frames: int           # T, at 25 fps
    found: int            # frames where FaceMesh found the face
    filled: int           # frames bridged by interpolation
    segments: int         # uninterrupted face tracks
    face_fraction: float  # (found + filled) / frames
    face_width: float     # median face width in source pixels
    size: tuple[int, int]       # source width, height
    mesh_size: tuple[int, int]  # width, height given to FaceMesh
    seconds: float        # wall time
    realtime: float       # seconds of video per wall second


def mesh_size(width: int, height: int, max_height: int = MAX_HEIGHT,
              max_width: int = MAX_WIDTH) -> tuple[int, int]:
    """Frame size (W, H) FaceMesh works on: the source scaled down (never up) to fit
    max_width x max_height (max_height x max_width for portrait video), even sides."""
    if width <= 0 or height <= 0:
        raise SkipVideo("no video stream", f"frame size {width}x{height}")
    if width * height > MAX_SOURCE_PIXELS:
        raise SkipVideo("resolution too large", f"{width}x{height} is over 8K")
    box_w, box_h = (max_width, max_height) if width >= height else (max_height, max_width)
    k = min(1.0, box_w / width, box_h / height)
    return max(2, int(round(width * k / 2)) * 2), max(2, int(round(height * k / 2)) * 2)


def choose_face(faces: list[Face], previous_box: np.ndarray | None,
                frame_size: tuple[int, int]) -> Face | None:
    """The main face: the one overlapping the face tracked so far most, else the largest and
    most central."""
    if not faces:
        return None
    boxes = [face_box(f.landmarks) for f in faces]
    if previous_box is not None:
        ious = [_iou(b, previous_box) for b in boxes]
        best = int(np.argmax(ious))
        if ious[best] > 0.3:
            return faces[best]
    w, h = frame_size
    centre = np.array([w / 2, h / 2])

    def rank(b: np.ndarray) -> float:
        size = b[2] - b[0]
        off = np.linalg.norm((b[:2] + b[2:]) / 2 - centre) / np.hypot(w, h)
        return size * (1.0 - off)

    return faces[int(np.argmax([rank(b) for b in boxes]))]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (18, 32) float32 green-channel thumbnail for shot-cut detection."""
    import cv2

    return cv2.resize(np.ascontiguousarray(rgb[::4, ::4, 1]), (32, 18),
                      interpolation=cv2.INTER_AREA).astype(np.float32)


def process_video(video: str | os.PathLike, out_dir: str | os.PathLike, *,
                  max_height: int = MAX_HEIGHT, max_faces: int = 1, smooth: int = SMOOTH,
                  min_frames: int = MIN_FRAMES, threads: int = 1, mesh_every: int = 1,
                  on_frame: Callable[[int], None] | None = None,
                  timings: dict[str, float] | None = None) -> TrackSummary:
    """Track the main face of `video` and write out_dir/track.npz and out_dir/mouth.npy
    (see builder.trackfile).

    `max_faces` > 1 lets FaceMesh see several faces so the main one (largest, most central,
    then the one overlapping the track) is chosen, at the cost of running the face detector on
    every frame. `smooth`: half-width in frames of the transform smoothing window.
    `mesh_every` = 2 runs FaceMesh on every other frame only (about 1.5x faster): the frames in
    between get interpolated landmarks and transforms (`filled`), their ROI pixels are still their
    own. `threads`: ffmpeg decoding threads (1 costs the least CPU; it runs beside FaceMesh).
    `on_frame(n)` is called with the number of frames done so far. `timings`, when given, gets
    the wall seconds spent per stage added to it: decode (waiting for ffmpeg), mesh, align
    (cut detection, smoothing, warping), write.
    Raises SkipVideo (unreadable, no video stream, resolution too large, too short, no face),
    leaving nothing behind in out_dir; InputError when the disk has no room for the outputs.
    """
    import cv2

    if mesh_every < 1:
        raise ValueError(f"mesh_every must be at least 1, got {mesh_every}")
    cv2.setNumThreads(1)
    video, out = Path(video), VideoDir(Path(out_dir))
    start = time.perf_counter()
    sizes, frames_at_25 = _probe(video, max_height)
    out.root.mkdir(parents=True, exist_ok=True)
    check_disk_space(out.root, frames_at_25, video)
    clock = {"decode": 0.0, "mesh": 0.0, "align": 0.0, "write": 0.0}
    lm_raw = temp_name(out.root / "landmarks.raw")
    try:
        with ExitStack() as stack:
            track_tmp = stack.enter_context(atomic_path(out.track))   # entered first, kept last:
            mouth_tmp = stack.enter_context(atomic_path(out.mouth))   # mouth.npy lands first
            writer = TrackWriter(mouth_tmp, lm_raw, sizes)
            stack.callback(writer.close)
            mesh = stack.enter_context(FaceMesh(video=True, max_faces=max_faces))
            stream = MouthStream(smooth=smooth, max_gap=MAX_GAP + (mesh_every - 1) * (MAX_GAP + 1))
            n = _track(_frames(video, sizes.mesh, threads), _MainFace(mesh, sizes.mesh), stream,
                       writer, mesh_every, on_frame, clock)
            t0 = time.perf_counter()
            writer.write(stream.finish())
            writer.finish()
            counts = _check(video, writer.cols, n, min_frames)
            writer.save(track_tmp)
            clock["write"] += time.perf_counter() - t0
    finally:
        lm_raw.unlink(missing_ok=True)
    if timings is not None:
        for k, v in clock.items():
            timings[k] = timings.get(k, 0.0) + v
    seconds = time.perf_counter() - start
    return TrackSummary(str(video), n, counts["found"], counts["filled"], counts["segments"],
                        counts["face_fraction"], writer.median_face_width(), sizes.source,
                        sizes.mesh, seconds, n / FPS / max(seconds, 1e-9))


def _probe(video: Path, max_height: int) -> tuple[FrameSizes, int]:
    """The frame sizes and the number of frames at 25 fps; SkipVideo for a file without video."""
    try:
        info = media.probe(video)
    except InputError as e:
        raise SkipVideo("unreadable", str(e)) from e
    if not info.has_video:
        raise SkipVideo("no video stream", str(video))
    mesh = mesh_size(info.width, info.height, max_height, max(max_height * 16 // 9, 2))
    return FrameSizes((info.width, info.height), mesh), info.frames_at_25


def _frames(video: Path, size: tuple[int, int], threads: int) -> Iterator[np.ndarray]:
    """Decoded RGB frames at 25 fps and `size`; SkipVideo when ffmpeg fails."""
    try:
        yield from media.iter_frames(video, fps=FPS, size=size, threads=threads, ahead=READ_AHEAD)
    except InputError as e:
        raise SkipVideo("undecodable", str(e)) from e


class _MainFace:
    """Frame by frame: shot cuts, and the landmarks of the main face (FaceMesh retried once
    when the tracked face is lost, then `choose_face`), with the detector score of the track."""

    def __init__(self, mesh: FaceMesh, size: tuple[int, int]):
        self.mesh, self.size = mesh, size
        self.score = float("nan")     # detection confidence of the detection that began the track
        self._box: np.ndarray | None = None
        self._thumb: np.ndarray | None = None
        self._found = False

    def cut(self, rgb: np.ndarray) -> bool:
        """Whether `rgb` begins a new shot; the face is then looked for afresh."""
        thumb = thumbnail(rgb)
        cut = self._thumb is not None and float(np.abs(thumb - self._thumb).mean()) > CUT_THRESHOLD
        self._thumb = thumb
        if cut:
            self._box = None
        return cut

    def find(self, rgb: np.ndarray) -> np.ndarray | None:
        """The main face's landmarks (478, 3) in `rgb`'s pixels, or None."""
        faces = self.mesh.detect(rgb)
        if not faces and self._found:  # tracking lost (e.g. a cut): the detector runs on a retry
            faces = self.mesh.detect(rgb)
        face = choose_face(faces, self._box, self.size)
        self._found = face is not None
        if face is None:
            self._box, self.score = None, float("nan")
            return None
        self._box = face_box(face.landmarks)
        if not np.isnan(face.score):
            self.score = face.score
        return face.landmarks


def _track(frames: Iterator[np.ndarray], main: _MainFace, stream: MouthStream,
           writer: TrackWriter, mesh_every: int, on_frame: Callable[[int], None] | None,
           clock: dict[str, float]) -> int:
    """Decode -> cut and face -> MouthStream (gaps, segments, smoothing, ROI) -> writer, one
    frame at a time; FaceMesh on every `mesh_every`-th frame only. Returns the frame count."""
    n = 0
    while True:
        t0 = time.perf_counter()
        rgb = next(frames, None)
        t1 = time.perf_counter()
        clock["decode"] += t1 - t0
        if rgb is None:
            return n
        cut = main.cut(rgb)
        t2 = time.perf_counter()
        if n % mesh_every:
            writer.write(stream.push(rgb, None, cut, main.score))
            clock["align"] += time.perf_counter() - t1
            n += 1
            continue
        landmarks = main.find(rgb)
        t3 = time.perf_counter()
        done = stream.push(rgb, landmarks, cut, main.score)
        t4 = time.perf_counter()
        writer.write(done)
        clock["mesh"] += t3 - t2
        clock["align"] += (t2 - t1) + (t4 - t3)
        clock["write"] += time.perf_counter() - t4
        n += 1
        if on_frame is not None:
            on_frame(n)


def check_disk_space(folder: Path, frames: int, video: Path) -> None:
    """InputError (not a skip: the video is fine) when mouth.npy and the landmarks of `frames`
    frames would not fit on the disk of `folder`, with room to spare."""
    need = frames * BYTES_PER_FRAME + DISK_MARGIN
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InputError(f"{video}: tracking it needs about {need / 2**30:.1f} GB free in {folder} "
                         f"({frames} frames), but there are {free / 2**30:.1f} GB: free some space")


def _check(video: Path, cols: dict[str, list], n: int, min_frames: int) -> dict:
    """Counts for the summary; SkipVideo when the video is too short or has no face."""
    if n < min_frames:
        raise SkipVideo("too short", f"{video}: {n} frames at {FPS:g} fps, need {min_frames}")
    found, filled = int(sum(cols["found"])), int(sum(cols["filled"]))
    if found == 0:
        raise SkipVideo("no face", f"{video}: no face in {n} frames")
    return {"found": found, "filled": filled, "segments": int(max(cols["segment"])) + 1,
            "face_fraction": (found + filled) / n}


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _pool_init() -> None:
    """A worker process: besides _worker_init, send mediapipe's native log chatter (written
    straight to file descriptor 2) to /dev/null. Errors come back to the parent as exceptions."""
    _worker_init()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)


def _worker(job: tuple[str, str, dict]) -> TrackSummary | SkipVideo:
    video, out_dir, kwargs = job
    try:
        return process_video(video, out_dir, **kwargs)
    except SkipVideo as e:
        return e


def process_videos(jobs: Iterable[tuple[str | os.PathLike, str | os.PathLike]], workers: int = 0,
                   **kwargs) -> Iterable[tuple[int, TrackSummary | SkipVideo]]:
    """Run process_video over (video, out_dir) pairs in `workers` processes (0: one per core).
    Yields (job index, TrackSummary or the SkipVideo raised) as each video finishes."""
    import concurrent.futures as cf

    from lipreader.workers import process_pool

    jobs = [(str(v), str(o), kwargs) for v, o in jobs]
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) <= 1:
        _worker_init()
        for i, job in enumerate(jobs):
            yield i, _worker(job)
        return
    with process_pool(min(workers, len(jobs)), initializer=_pool_init) as pool:
        futures = {pool.submit(_worker, job): i for i, job in enumerate(jobs)}
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()
