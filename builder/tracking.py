"""Face tracking -> track.npz and mouth.npy. The only module that imports mediapipe.

`process_video(video, out_dir)` decodes once at 25 fps (in-process, scaled down to at most
`max_height` pixels high), runs FaceMesh in video mode (it tracks between frames), keeps one
face track (or up to `max_faces`, one file pair each), and streams each frame through
`builder.mouth.MouthStream` (gap filling, segments, smoothed similarity alignment) into the
96x96 mouth ROI. A process with cores to spare runs three things at once (`overlap`): decoding,
FaceMesh, and alignment with writing, each in a thread of its own (in frame order, so the
output is the same as one frame at a time); worker processes that fill the cores between them
do the three one after the other. Only a few frames are in memory at a time; landmarks and
ROIs go to temporary files as they come. The files and their format: builder.trackfile.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import media, trackfile
from builder.landmarks import N_LANDMARKS
from builder.layout import VideoDir
from builder.mouth import MAX_GAP, SMOOTH, MouthStream, face_box
from builder.trackfile import FrameSizes, TrackWriter
from lipreader import atomic
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
ALIGN_AHEAD = 8           # frames FaceMesh may run ahead of the aligning thread (_Aligner)
# A video of more than about 1.5 parts is tracked in parts of about PART_FRAMES frames (30 s),
# each with `context` frames more on either side (smoothing and gap bridging, and SETTLE frames
# for FaceMesh to settle on the face) that it tracks but leaves to its neighbour: workers share
# a long video, and the result depends on the video alone, not on how many workers there were.
PART_FRAMES = 750
SETTLE = 4
# With fewer than this many videos per worker, the workers take the videos' parts rather than
# whole videos: no worker waits while the last videos finish (3 videos of 52.6 s on 2 workers:
# 6.8-7.0x -> 7.5-7.8x realtime; 2 such videos, which share out evenly anyway, lose 3% to the
# parts' seeking); with more, whole videos cost no probing up front.
SHARE_BELOW = 4
# FaceMesh's graph takes the GIL back for each result it hands to Python; at Python's default
# 5 ms switch interval it queues behind the aligning thread (4.3 ms a frame alone, 21 ms beside
# a busy Python thread; 7.5 ms at 0.5 ms). Tracking runs with this interval, seconds.
SWITCH_INTERVAL = 0.0002

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
    box: np.ndarray = dataclasses.field(default=None, compare=False)  # face_box(landmarks)

    def __post_init__(self) -> None:
        if self.box is None:
            object.__setattr__(self, "box", face_box(self.landmarks))


# A NormalizedLandmark holding x, y and z only, serialized: field 1 (the landmark, 15 bytes
# long), then floats 1, 2, 3 (tags 0x0D, 0x15, 0x1D): 17 bytes.
_LANDMARK_BYTES = 17
_LANDMARK_TAGS = (np.array([0, 1, 2, 7, 12]), np.array([0x0A, 0x0F, 0x0D, 0x15, 0x1D], np.uint8))
_LANDMARK_FLOATS = np.r_[3:7, 8:12, 13:17]


def landmark_array(message) -> np.ndarray:
    """(N, 3) float32 x, y, z of a mediapipe NormalizedLandmarkList. Read off its serialized
    form when every landmark holds x, y and z only (FaceMesh's: 0.02 ms for 478 landmarks),
    else field by field (0.25 ms); the same numbers either way."""
    raw = message.SerializeToString()
    n = len(message.landmark)
    if n and len(raw) == _LANDMARK_BYTES * n:
        rows = np.frombuffer(raw, np.uint8).reshape(n, _LANDMARK_BYTES)
        at, tags = _LANDMARK_TAGS
        if np.array_equal(rows[:, at], np.broadcast_to(tags, (n, len(tags)))):
            return rows[:, _LANDMARK_FLOATS].copy().view("<f4").astype(np.float32, copy=False)
    return np.array([(p.x, p.y, p.z) for p in message.landmark], np.float32).reshape(-1, 3)


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
    measurable). Landmarks are read off the result messages' serialized form where its layout
    is the one expected, else field by field (`landmark_array`: 0.02 against 0.25 ms a face).
    """

    def __init__(self, video: bool = True, max_faces: int = 1, min_confidence: float = 0.5):
        with _lean_mediapipe_import():
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
        res = self._process(rgb)
        scale = np.array([w, h, w], np.float32)
        faces = [landmark_array(f) * scale for f in res["multi_face_landmarks"] or []]
        detections = []
        for d in res["face_detections"] or []:
            r = d.location_data.relative_bounding_box
            detections.append((d.score[0] if d.score else float("nan"),
                               (r.xmin + r.width / 2) * w, (r.ymin + r.height / 2) * h))
        out = []
        for lm in faces:
            box = face_box(lm)
            x0, y0, x1, y1 = box
            inside = [s for s, cx, cy in detections if x0 <= cx <= x1 and y0 <= cy <= y1]
            out.append(Face(lm, max(inside) if inside else float("nan"), box))
        return out

    def _process(self, rgb: np.ndarray) -> dict:
        """`SolutionBase.process` on one frame, less two of its costs per call (0.3-0.4 ms of
        CPU a frame): the pixels go to the graph by reference, from a read-only view, not
        copied (the graph is idle again before this returns), and the outputs come back in a
        dict, not in a namedtuple class made anew for every frame. The steps and members are
        SolutionBase's own (mediapipe is pinned to one version)."""
        m = self._mesh
        view = np.ascontiguousarray(rgb).view()
        view.flags.writeable = False
        m._graph_outputs.clear()
        m._simulated_timestamp += 33333
        kind = m._input_stream_type_info["image"]
        m._graph.add_packet_to_input_stream(
            stream="image", packet=m._make_packet(kind, view).at(m._simulated_timestamp))
        m._graph.wait_until_idle()
        return {name: m._get_packet_content(kind, m._graph_outputs[name])
                if name in m._graph_outputs else None
                for name, kind in m._output_stream_type_info.items()}

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


# Modules mediapipe's package imports that tracking never uses: its drawing helpers' pyplot
# (0.3 s) and the Tasks API (0.08 s), of a tracking worker's 0.7 s start-up.
_UNUSED_BY_TRACKING = ("matplotlib", "matplotlib.pyplot", "mediapipe.tasks", "mediapipe.tasks.python")


@contextmanager
def _lean_mediapipe_import() -> Iterator[None]:
    """While mediapipe is first imported, the modules in _UNUSED_BY_TRACKING that are not
    imported yet are empty stand-ins; afterwards they import as usual."""
    if "mediapipe" in sys.modules:
        yield
        return
    import types

    names = [n for n in _UNUSED_BY_TRACKING if n not in sys.modules]
    sys.modules.update({n: types.ModuleType(n) for n in names})
    try:
        yield
    finally:
        for n in names:
            del sys.modules[n]


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
    return assign_faces(faces, [previous_box], frame_size)[0]


def assign_faces(faces: list[Face], previous: list[np.ndarray | None],
                 frame_size: tuple[int, int]) -> list[Face | None]:
    """One face (or None) per track: each track keeps the face overlapping its last box most
    (IoU over 0.3, the best overlaps first); the tracks left take the faces left, largest and
    most central first, in track order (track 0 is the main face)."""
    out: list[Face | None] = [None] * len(previous)
    if not faces:
        return out
    boxes = [f.box for f in faces]
    pairs = sorted(((_iou(b, p), t, i) for t, p in enumerate(previous) if p is not None
                    for i, b in enumerate(boxes)), key=lambda x: (-x[0], x[1], x[2]))
    taken: set[int] = set()
    for iou, t, i in pairs:
        if iou > 0.3 and out[t] is None and i not in taken:
            out[t] = faces[i]
            taken.add(i)
    w, h = frame_size
    centre = np.array([w / 2, h / 2])

    def rank(b: np.ndarray) -> float:
        size = b[2] - b[0]
        off = np.linalg.norm((b[:2] + b[2:]) / 2 - centre) / np.hypot(w, h)
        return size * (1.0 - off)

    left = sorted((i for i in range(len(faces)) if i not in taken), key=lambda i: -rank(boxes[i]))
    for t in range(len(out)):
        if out[t] is None and left:
            out[t] = faces[left.pop(0)]
    return out


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


def parts(frames: int, part: int | None = None) -> list[tuple[int, int | None]]:
    """The [first, stop) frame spans a video of `frames` frames (at 25 fps, as probed) is tracked
    in: about `part` (PART_FRAMES) frames each; the last runs to the end of what decodes (None)."""
    n = max(1, int(round(frames / (part or PART_FRAMES))))
    bounds = [frames * k // n for k in range(n)]
    return list(zip(bounds, [*bounds[1:], None], strict=True))


def process_video(video: str | os.PathLike, out_dir: str | os.PathLike, *,
                  max_height: int = MAX_HEIGHT, max_faces: int = 1, smooth: int = SMOOTH,
                  min_frames: int = MIN_FRAMES, threads: int = 1, mesh_every: int = 1,
                  overlap: bool = True, span: tuple[int, int | None] | None = None,
                  on_frame: Callable[[int], None] | None = None,
                  timings: dict[str, float] | None = None) -> TrackSummary:
    """Track the main face of `video` and write out_dir/track.npz and out_dir/mouth.npy
    (see builder.trackfile).

    `max_faces` > 1 tracks up to that many faces as separate tracks (`assign_faces`: each keeps
    the face overlapping it; track 0 is the main face, the largest and most central), written
    as track.<k>.npz and mouth.<k>.npy for k >= 1 (builder.layout.VideoDir.for_face), at the
    cost of running the face detector on every frame while fewer faces are in view. `smooth`: half-width in frames of the transform smoothing window.
    `mesh_every` = 2 runs FaceMesh on every other frame only (about 1.5x faster): the frames in
    between get interpolated landmarks and transforms (`filled`), their ROI pixels are still their
    own. `threads`: decoding threads (1 costs the least CPU). `overlap`: decoding, FaceMesh and
    alignment with writing each in a thread of their own, at once (a process with two cores or
    more to itself: 1.5 cores busy rather than 1); False, one after the other in one thread
    (processes that share the cores with other tracking processes: 0.5-1 ms less CPU a frame
    without the threads' hand-offs, process_videos).
    A long video (one face track) is tracked in `parts`, one after the other, and joined
    (`join_parts`); `span` = (first, stop) tracks one part only (stop None: to the end), into
    out_dir, with the segments of the frames just outside it (`edges`) and no checks on the
    whole (`process_videos` gives parts of one video to several workers).
    `on_frame(n)` is called with the number of frames done so far. `timings`, when given, gets
    the wall seconds spent per stage added to it: decode (waiting for ffmpeg), mesh, align
    (cut detection, smoothing, warping), write; align and write run in a thread beside mesh, so
    the stages overlap.
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
    spans = parts(frames_at_25) if span is None and max_faces == 1 else [span]
    # The parts' files stay until their join is written: room for both.
    check_disk_space(out.root, frames_at_25 * max_faces, video, copies=min(len(spans), 2))
    max_gap = MAX_GAP + (mesh_every - 1) * (MAX_GAP + 1)
    context = smooth + max_gap + SETTLE
    track = functools.partial(_track_span, video, sizes=sizes, max_faces=max_faces, smooth=smooth,
                              max_gap=max_gap, mesh_every=mesh_every, overlap=overlap,
                              timings=timings)
    ahead = READ_AHEAD if overlap else 0
    if span is not None:
        first, stop = span
        begin = max(0, first - context)
        frames = _frames(video, sizes.mesh, threads, begin, None if stop is None else stop + context,
                         ahead)
        summary = track(out, frames, (begin, first, stop), on_frame=on_frame)
    elif len(spans) > 1:
        # One decode for all the parts: each takes its frames, those it shares with the part
        # before from what that one kept, as a worker given the part alone decodes them.
        shared = _Shared(_frames(video, sizes.mesh, threads, ahead=ahead), 2 * context + 1)
        dirs = []
        try:
            for first, stop in spans:
                dirs.append(atomic.temp_dir(out.root / f"part{first}"))
                begin = max(0, first - context)
                part_frames = shared.span(begin, None if stop is None else stop + context)
                track(VideoDir(dirs[-1]), part_frames, (begin, first, stop),
                      on_frame=None if on_frame is None else _own_frames(on_frame, begin, first, stop))
            return join_parts(video, out, dirs, start, min_frames)
        finally:
            shared.close()
            _remove(dirs)
    else:
        summary = track(out, _frames(video, sizes.mesh, threads, ahead=ahead), None, on_frame=on_frame,
                        min_frames=min_frames)
    seconds = time.perf_counter() - start
    return dataclasses.replace(summary, seconds=seconds,
                               realtime=summary.frames / FPS / max(seconds, 1e-9))


def _own_frames(on_frame: Callable[[int], None], begin: int, first: int,
                stop: int | None) -> Callable[[int], None]:
    """on_frame for a part tracked from frame `begin`: the video's frames done, counting only
    the part's own (so the count never goes back)."""
    def report(n: int) -> None:
        done = first + max(0, n - (first - begin))
        on_frame(done if stop is None else min(done, stop))
    return report


def _track_span(video: Path, out: VideoDir, frames: Iterator[np.ndarray],
                span: tuple[int, int, int | None] | None, *, sizes: FrameSizes, max_faces: int,
                smooth: int, max_gap: int, mesh_every: int, overlap: bool,
                on_frame: Callable[[int], None] | None, timings: dict[str, float] | None,
                min_frames: int = MIN_FRAMES) -> TrackSummary:
    """`frames` -> out's files (process_video). With `span` = (begin, first, stop) `frames`
    are frames begin.. of the video and only [first, stop) are kept, with `edges`, unchecked."""
    begin, first, stop = span or (0, 0, None)
    remove_face_files(out)
    clock = {"decode": 0.0, "mesh": 0.0, "align": 0.0, "write": 0.0}
    outs = [out.for_face(k) for k in range(max_faces)]
    lm_raws = [temp_name(o.root / f"landmarks.{k}.raw") for k, o in enumerate(outs)]
    try:
        with ExitStack() as stack:
            # Entered first, kept last: track.npz lands after every other face's files.
            track_tmps = [stack.enter_context(atomic_path(o.track)) for o in outs]
            mouth_tmps = [stack.enter_context(atomic_path(o.mouth)) for o in outs]
            writers = []
            for mouth_tmp, lm_raw in zip(mouth_tmps, lm_raws, strict=True):
                writers.append(TrackWriter(mouth_tmp, lm_raw, sizes))
                stack.callback(writers[-1].close)
            spanned = [_Span(w, begin, first, stop) for w in writers]
            mesh = stack.enter_context(FaceMesh(video=True, max_faces=max_faces))
            streams = [MouthStream(smooth=smooth, max_gap=max_gap) for _ in outs]
            _track(frames, _Faces(mesh, sizes.mesh, max_faces), streams, spanned, mesh_every,
                   on_frame, clock, begin, overlap)
            t0 = time.perf_counter()
            for stream, writer in zip(streams, spanned, strict=True):
                writer.write(stream.finish())
                writer.writer.finish()
            n = writers[0].count
            counts = (_check(video, writers[0].cols, n, min_frames) if span is None
                      else _counts(writers[0].cols, n))
            for w, track_tmp in reversed(list(zip(spanned, track_tmps, strict=True))):
                if span is None:
                    w.writer.save(track_tmp)
                else:
                    w.writer.save(track_tmp, {"edges": np.array(w.edges, np.int32)})
            clock["write"] += time.perf_counter() - t0
    finally:
        for lm_raw in lm_raws:
            lm_raw.unlink(missing_ok=True)
    if timings is not None:
        for k, v in clock.items():
            timings[k] = timings.get(k, 0.0) + v
    return TrackSummary(str(video), n, counts["found"], counts["filled"], counts["segments"],
                        counts["face_fraction"], counts["face_width"], sizes.source,
                        sizes.mesh, 0.0, 0.0)


class _Shared:
    """One decode shared by the parts of a video, in order: `span(begin, end)` yields frames
    [begin, end), first those kept from the span before (parts overlap by up to `keep`
    frames), then new ones from the decoder."""

    def __init__(self, frames: Iterator[np.ndarray], keep: int):
        from collections import deque

        self._frames: Generator = frames
        self._kept: deque = deque(maxlen=keep)
        self._next = 0

    def span(self, begin: int, end: int | None) -> Iterator[np.ndarray]:
        for i, frame in list(self._kept):
            if i >= begin and (end is None or i < end):
                yield frame
        while end is None or self._next < end:
            frame = next(self._frames, None)
            if frame is None:
                return
            self._kept.append((self._next, frame))
            self._next += 1
            if self._next > begin:
                yield frame

    def close(self) -> None:
        self._frames.close()
        self._kept.clear()


class _Span:
    """A TrackWriter that keeps frames [first, stop) of those tracked from frame `begin` on, and
    notes the segment of the frame just before and just after them (-2: not tracked)."""

    def __init__(self, writer: TrackWriter, begin: int, first: int, stop: int | None):
        self.writer, self.begin, self.first, self.stop = writer, begin, first, stop
        self.edges = [-2, -2]

    def write(self, frames: list) -> None:
        keep = []
        for mf in frames:
            i = mf.index + self.begin
            if i == self.first - 1:
                self.edges[0] = mf.segment
            elif i == self.stop:
                self.edges[1] = mf.segment
            if self.first <= i and (self.stop is None or i < self.stop):
                keep.append(mf)
        self.writer.write(keep)


def _remove(dirs: list[Path]) -> None:
    """Remove part folders (this process made them)."""
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def join_parts(video: str | os.PathLike, out: VideoDir, dirs: list[Path], started: float,
               min_frames: int = MIN_FRAMES) -> TrackSummary:
    """The parts tracked into `dirs` (in order) -> out's track.npz and mouth.npy. A face seen on
    both sides of a part boundary, with no segment starting there in either part's view, keeps
    one segment across it; segment ids are renumbered in order. SkipVideo as process_video."""
    video = Path(video)
    tracks = [trackfile.load_track(VideoDir(d).track, skip=("landmarks",)) for d in dirs]
    segments: list[np.ndarray] = []
    top, previous = -1, None
    for t in tracks:
        seg = t["segment"].astype(np.int64)
        faced = seg >= 0
        if faced.any():
            joined = (previous is not None and len(previous["segment"]) > 0
                      and previous["segment"][-1] >= 0
                      and previous["edges"][1] == previous["segment"][-1]
                      and seg[0] >= 0 and t["edges"][0] == seg[0])
            base = segments[-1][-1] if joined else top + 1
            seg = np.where(faced, seg - seg[faced][0] + base, -1)
            top = int(seg.max())
        segments.append(seg)
        previous = t
    segment = np.concatenate(segments).astype(np.int32)
    cols = {"found": np.concatenate([t["found"] for t in tracks]),
            "filled": np.concatenate([t["filled"] for t in tracks]), "segment": segment,
            "box": np.concatenate([t["box"] for t in tracks])}
    n = len(segment)
    counts = _check(video, cols, n, min_frames)
    remove_face_files(out)
    with atomic_path(out.track) as track_tmp:
        with atomic_path(out.mouth) as mouth_tmp:
            trackfile.join([(VideoDir(d).mouth, VideoDir(d).track) for d in dirs], tracks, segment,
                           mouth_tmp, track_tmp)
    seconds = time.perf_counter() - started
    size = (int(tracks[0]["size"][0]), int(tracks[0]["size"][1]))
    mesh = (int(tracks[0]["mesh_size"][0]), int(tracks[0]["mesh_size"][1]))
    return TrackSummary(str(video), n, counts["found"], counts["filled"], counts["segments"],
                        counts["face_fraction"], counts["face_width"], size, mesh, seconds,
                        n / FPS / max(seconds, 1e-9))


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


def _frames(video: Path, size: tuple[int, int], threads: int, begin: int = 0,
            end: int | None = None, ahead: int = READ_AHEAD) -> Iterator[np.ndarray]:
    """Decoded RGB frames [begin, end) at 25 fps and `size` (`ahead` > 0: decoded by a thread
    of their own, up to `ahead` frames ahead); SkipVideo when the video does not decode."""
    frames = media.iter_frames(video, fps=FPS, size=size, threads=threads, ahead=ahead,
                               start=begin)
    try:
        for n, frame in enumerate(frames, begin):
            if end is not None and n >= end:
                return
            yield frame
    except InputError as e:
        raise SkipVideo("undecodable", str(e)) from e
    finally:
        frames.close()


class _Faces:
    """Frame by frame: shot cuts, and the landmarks of up to `count` faces, one per track
    (FaceMesh retried once when fewer faces are found than were tracked, then `assign_faces`),
    with the detector score of each track. Track 0 is the main face."""

    def __init__(self, mesh: FaceMesh, size: tuple[int, int], count: int = 1):
        self.mesh, self.size = mesh, size
        self.scores = [float("nan")] * count   # confidence of the detection that began each track
        self._boxes: list[np.ndarray | None] = [None] * count
        self._thumb: np.ndarray | None = None
        self._found = 0

    def cut(self, rgb: np.ndarray) -> bool:
        """Whether `rgb` begins a new shot; the faces are then looked for afresh."""
        thumb = thumbnail(rgb)
        cut = self._thumb is not None and float(np.abs(thumb - self._thumb).mean()) > CUT_THRESHOLD
        self._thumb = thumb
        if cut:
            self._boxes = [None] * len(self._boxes)
        return cut

    def find(self, rgb: np.ndarray) -> list[np.ndarray | None]:
        """Each track's landmarks (478, 3) in `rgb`'s pixels, or None."""
        faces = self.mesh.detect(rgb)
        if len(faces) < self._found:  # tracking lost (e.g. a cut): the detector runs on a retry
            faces = self.mesh.detect(rgb)
        chosen = assign_faces(faces, self._boxes, self.size)
        self._found = sum(f is not None for f in chosen)
        out: list[np.ndarray | None] = []
        for t, face in enumerate(chosen):
            if face is None:
                self._boxes[t], self.scores[t] = None, float("nan")
                out.append(None)
                continue
            self._boxes[t] = face.box
            if not np.isnan(face.score):
                self.scores[t] = face.score
            out.append(face.landmarks)
        return out


def _track(frames: Iterator[np.ndarray], faces: _Faces, streams: list[MouthStream],
           writers: list, mesh_every: int, on_frame: Callable[[int], None] | None,
           clock: dict[str, float], first: int = 0, overlap: bool = True) -> int:
    """Decode -> cut and faces -> MouthStream per face track (gaps, segments, smoothing, ROI) ->
    its writer, one frame at a time; FaceMesh on every `mesh_every`-th frame of the video only
    (`frames` begin at the video's frame `first`). Returns the frame count. With `overlap`,
    alignment and writing run in a thread of their own, in frame order, while FaceMesh works on
    the next frames (`_Aligner`)."""
    n = 0
    with _switch_interval(SWITCH_INTERVAL), _Aligner(streams, writers, clock,
                                                     inline=not overlap) as aligner:
        while True:
            t0 = time.perf_counter()
            rgb = next(frames, None)
            t1 = time.perf_counter()
            clock["decode"] += t1 - t0
            if rgb is None:
                return n
            cut = faces.cut(rgb)
            t2 = time.perf_counter()
            clock["align"] += t2 - t1
            found = faces.find(rgb) if (first + n) % mesh_every == 0 else [None] * len(streams)
            clock["mesh"] += time.perf_counter() - t2
            aligner.put(rgb, found, cut, list(faces.scores))
            n += 1
            if on_frame is not None:
                on_frame(n)


@contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class _Aligner:
    """A thread that pushes each frame's faces through their MouthStreams and writes what comes
    out, in frame order, up to ALIGN_AHEAD frames behind the caller. Its error is raised in the
    caller at the next `put` or on leaving. `inline`: no thread, `put` does the work."""

    def __init__(self, streams: list[MouthStream], writers: list[TrackWriter],
                 clock: dict[str, float], inline: bool = False):
        import queue
        import threading

        self._tracks = list(zip(streams, writers, strict=True))
        self._clock = clock
        self._seconds = {"align": 0.0, "write": 0.0}  # this thread's, added to clock on leaving
        self._queue: queue.Queue = queue.Queue(ALIGN_AHEAD)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="align", daemon=True)
        self._inline = inline

    def __enter__(self) -> _Aligner:
        if not self._inline:
            self._thread.start()
        return self

    def put(self, rgb: np.ndarray, found: list[np.ndarray | None], cut: bool,
            scores: list[float]) -> None:
        if self._inline:
            return self._align(rgb, found, cut, scores)
        self._raise()
        self._queue.put((rgb, found, cut, scores))

    def __exit__(self, *exc) -> None:
        if not self._inline:
            self._queue.put(None)
            self._thread.join()
        for k, v in self._seconds.items():
            self._clock[k] += v
        if exc[0] is None:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain until the caller stops
            try:
                self._align(*item)
            except BaseException as e:  # handed to the caller, raised there
                self._error = e

    def _align(self, rgb: np.ndarray, found: list[np.ndarray | None], cut: bool,
               scores: list[float]) -> None:
        t0 = time.perf_counter()
        done = [stream.push(rgb, lm, cut, scores[k])
                for k, ((stream, _), lm) in enumerate(zip(self._tracks, found, strict=True))]
        t1 = time.perf_counter()
        for (_, writer), d in zip(self._tracks, done, strict=True):
            writer.write(d)
        self._seconds["align"] += t1 - t0
        self._seconds["write"] += time.perf_counter() - t1


def remove_face_files(vd: VideoDir) -> None:
    """Remove the files of every face track but the main one (track.<k>.npz, mouth.<k>.npy,
    sync.<k>.npz), left by an earlier tracking with more faces."""
    for pattern in ("track.*.npz", "mouth.*.npy", "sync.*.npz"):
        for p in vd.root.glob(pattern):
            if p.name.split(".")[1].isdigit():
                p.unlink()


def check_disk_space(folder: Path, frames: int, video: Path, copies: int = 1) -> None:
    """InputError (not a skip: the video is fine) when mouth.npy and the landmarks of `frames`
    frames (`copies` times: parts and their join) would not fit on the disk of `folder`, with
    room to spare."""
    need = frames * BYTES_PER_FRAME * copies + DISK_MARGIN
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InputError(f"{video}: tracking it needs about {need / 2**30:.1f} GB free in {folder} "
                         f"({frames} frames), but there are {free / 2**30:.1f} GB: free some space")


def _check(video: Path, cols: dict, n: int, min_frames: int) -> dict:
    """Counts for the summary; SkipVideo when the video is too short or has no face."""
    if n < min_frames:
        raise SkipVideo("too short", f"{video}: {n} frames at {FPS:g} fps, need {min_frames}")
    if not np.any(cols["found"]):
        raise SkipVideo("no face", f"{video}: no face in {n} frames")
    return _counts(cols, n)


def _counts(cols: dict, n: int) -> dict:
    found, filled = int(np.sum(cols["found"])), int(np.sum(cols["filled"]))
    segment = np.asarray(cols["segment"])
    widths = [b[2] - b[0] for b, s in zip(cols.get("box", []), segment, strict=False) if s >= 0]
    return {"found": found, "filled": filled,
            "segments": int(segment.max()) + 1 if len(segment) else 0,
            "face_fraction": (found + filled) / max(n, 1),
            "face_width": float(np.median(widths)) if widths else float("nan")}


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
                   on_part: Callable[[int, int], None] | None = None,
                   **kwargs) -> Iterable[tuple[int, TrackSummary | SkipVideo]]:
    """Run process_video over (video, out_dir) pairs in `workers` processes (0: one per core).
    Yields (job index, TrackSummary or the SkipVideo raised) as each video finishes.

    With few videos (under SHARE_BELOW per worker), the `parts` of long videos go to the workers
    one by one and are joined here, so that one long video keeps every core busy (the files are
    those process_video writes, which tracks the same parts one after the other);
    `on_part(job index, frames)` is called as each part is done, with its own frame count."""
    import concurrent.futures as cf

    from lipreader.workers import process_pool

    jobs = [(str(v), str(o)) for v, o in jobs]
    workers = workers or os.cpu_count() or 1
    tasks: list[tuple[int, str, str, dict]] = []   # (job, video, out_dir, kwargs) per task
    split: dict[int, list[Path]] = {}               # job -> its part folders, in order
    own: dict[str, int] = {}                        # part folder -> the part's own frames
    started = time.perf_counter()
    try:
        for i, (video, out_dir) in enumerate(jobs):
            spans: list = [None]
            if workers > 1 and len(jobs) < SHARE_BELOW * workers and kwargs.get("max_faces", 1) == 1:
                try:
                    frames = _probe(Path(video), kwargs.get("max_height", MAX_HEIGHT))[1]
                    spans = parts(frames)
                except SkipVideo as e:
                    yield i, e
                    continue
            if len(spans) == 1:
                tasks.append((i, video, out_dir, kwargs))
                continue
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            split[i] = []
            for first, stop in spans:
                split[i].append(atomic.temp_dir(Path(out_dir) / f"part{first}"))
                own[str(split[i][-1])] = (frames if stop is None else stop) - first
                tasks.append((i, video, str(split[i][-1]), {**kwargs, "span": (first, stop)}))
        if workers == 1 or len(tasks) <= 1:
            _worker_init()
            for i, video, out_dir, kw in tasks:
                yield i, _worker((video, out_dir, kw))
            return
        left = {i: len(dirs) for i, dirs in split.items()}
        failed: dict[int, SkipVideo] = {}
        pool_size = min(workers, len(tasks))
        overlap = (os.cpu_count() or 1) >= 2 * pool_size   # each worker has 2 cores to itself
        tasks = [(i, video, out_dir, {**kw, "overlap": overlap}) for i, video, out_dir, kw in tasks]
        with process_pool(pool_size, initializer=_pool_init) as pool:
            futures = {pool.submit(_worker, (video, out_dir, kw)): (i, out_dir)
                       for i, video, out_dir, kw in tasks}
            for fut in cf.as_completed(futures):
                (i, out_dir), result = futures[fut], fut.result()
                if i not in split:
                    yield i, result
                    continue
                if on_part is not None:
                    on_part(i, own[out_dir])
                if isinstance(result, SkipVideo):
                    failed.setdefault(i, result)
                left[i] -= 1
                if left[i]:
                    continue
                dirs = split.pop(i)
                try:
                    yield i, failed.get(i) or join_parts(
                        jobs[i][0], VideoDir(Path(jobs[i][1])), dirs, started,
                        kwargs.get("min_frames", MIN_FRAMES))
                except SkipVideo as e:
                    yield i, e
                finally:
                    _remove(dirs)
    finally:
        for dirs in split.values():
            _remove(dirs)
