import os

import numpy as np
import pytest

from builder import media
from lipreader.errors import InputError


def _frames(n=30, h=64, w=80):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w), dtype=np.uint8) for _ in range(n)]


def test_lossless_gray_round_trip(tmp_path):
    frames = _frames()
    path = media.write_video(tmp_path / "clip.mp4", frames, fps=25, lossless=True)
    back = media.read_video(path)
    assert back.shape == (30, 64, 80)
    assert np.array_equal(back, np.stack(frames))
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def _stream_line(path) -> str:
    """ffmpeg's description of the video stream, without the bit rate."""
    import re
    import subprocess

    err = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True).stderr
    line = next(ln for ln in err.splitlines() if "Video:" in ln)
    return re.sub(r"\d+ kb/s, ", "", line.strip())


def test_clip_encoder_writes_the_files_of_the_lossless_ffmpeg_path(tmp_path):
    import skimage.data

    face = skimage.data.astronaut()[..., 1]
    moving = [np.ascontiguousarray(face[150 + i:246 + i, 180 + i:276 + i]) for i in range(29)]
    rng = np.random.default_rng(1)
    clips = [moving, moving[:7], [rng.integers(0, 256, (96, 96), dtype=np.uint8) for _ in range(29)],
             [np.zeros((96, 96), np.uint8), np.full((96, 96), 255, np.uint8)]]
    with media.ClipEncoder() as encoder:   # one encoder, clips one after another
        for k, frames in enumerate(clips):
            encoder.write(tmp_path / f"new{k}.mp4", iter(frames))
    for k, frames in enumerate(clips):
        old = media.write_video(tmp_path / f"old{k}.mp4", frames, lossless=True)
        new = tmp_path / f"new{k}.mp4"
        assert np.array_equal(media.read_video(new), np.stack(frames))      # bit-exact
        assert np.array_equal(media.read_video(new), media.read_video(old))
        assert np.array_equal(media.read_clip(new), np.stack(frames))       # what pack reads
        assert np.array_equal(media.read_clip(old), np.stack(frames))
        assert _stream_line(new) == _stream_line(old)
        assert "h264 (High 4:4:4 Predictive)" in _stream_line(new) and "96x96" in _stream_line(new)
        assert media.probe(new).duration == media.probe(old).duration
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"new{k}.mp4" for k in range(4)] + [f"old{k}.mp4" for k in range(4)])


def test_read_clip_of_a_bad_file_is_input_error(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(20):     # random bytes sometimes pass as a container with no video stream
        (tmp_path / f"junk{k}.mp4").write_bytes(rng.bytes(2000))
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name in [f"junk{k}.mp4" for k in range(20)] + ["empty.mp4", "missing.mp4"]:
        with pytest.raises(InputError, match=f"{name}: could not decode it"):
            media.read_clip(tmp_path / name)


def test_clip_encoder_with_no_frames_leaves_nothing(tmp_path):
    with media.ClipEncoder() as encoder:
        with pytest.raises(InputError, match="no frames to write"):
            encoder.write(tmp_path / "empty.mp4", [])
        encoder.write(tmp_path / "one.mp4", [np.full((96, 96), 7, np.uint8)])
    assert [p.name for p in tmp_path.iterdir()] == ["one.mp4"]
    assert media.read_video(tmp_path / "one.mp4").tolist() == [np.full((96, 96), 7).tolist()]


def test_probe_and_resample_to_25fps(tmp_path):
    frames = [np.full((48, 64, 3), i * 4, np.uint8) for i in range(60)]
    path = media.write_video(tmp_path / "v30.mp4", frames, fps=30)
    info = media.probe(path)
    assert (info.width, info.height, info.has_video, info.has_audio) == (64, 48, True, False)
    assert info.fps == pytest.approx(30, abs=0.01)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    out = list(media.iter_frames(path, fps=25, gray=True))
    assert len(out) == 50
    assert out[0].shape == (48, 64)
    scaled = next(media.iter_frames(path, fps=25, size=(32, 24)))
    assert scaled.shape == (24, 32, 3)


def test_bad_media_is_input_error(tmp_path):
    (tmp_path / "zero.mp4").write_bytes(b"")
    rng = np.random.default_rng(0)
    for k in range(20):     # random bytes sometimes pass as a container with no video stream
        (tmp_path / f"junk{k}.mp4").write_bytes(rng.bytes(2000))
    for name in ("zero.mp4", "junk.mp4", "missing.mp4"):
        with pytest.raises(InputError):
            media.probe(tmp_path / name)


def test_failed_encode_leaves_nothing(tmp_path):
    with pytest.raises(InputError):
        media.write_video(tmp_path / "odd.mp4", [np.zeros((5, 5, 3), np.uint8)])
    assert list(tmp_path.iterdir()) == []


def test_works_without_system_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    media.ffmpeg_exe.cache_clear()
    try:
        exe = media.ffmpeg_exe()
        assert "imageio_ffmpeg" in exe
        assert media.ffprobe_exe() is None
        path = media.write_video(tmp_path / "c.mp4", _frames(5), lossless=True)
        assert media.read_video(path).shape == (5, 64, 80)
    finally:
        media.ffmpeg_exe.cache_clear()


def _noisy_video(tmp_path, n=200):
    rng = np.random.default_rng(0)
    frames = [np.clip(i % 250 + rng.integers(-3, 4, (48, 64)), 0, 255).astype(np.uint8)
              for i in range(n)]
    return media.write_video(tmp_path / "long.mp4", frames, fps=25, lossless=True), frames


def _packets(path):
    import av

    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size]


@pytest.mark.parametrize("ahead", [0, 3])
def test_damaged_packets_are_passed_over_and_a_mostly_damaged_video_is_an_error(tmp_path, ahead):
    path, frames = _noisy_video(tmp_path)
    assert np.array_equal(np.stack(list(media.iter_frames(path, gray=True, ahead=ahead))),
                          np.stack(frames))
    data, packets, rng = bytearray(path.read_bytes()), _packets(path), np.random.default_rng(1)
    assert len(packets) == 200
    one = bytearray(data)
    pos, size = packets[100]
    one[pos + 4:pos + size] = rng.bytes(size - 4)
    (tmp_path / "one.mp4").write_bytes(one)
    got = list(media.iter_frames(tmp_path / "one.mp4", gray=True, ahead=ahead))
    assert len(got) == 200                                   # as ffmpeg: never a short video
    assert [np.array_equal(g, f) for g, f in zip(got, frames, strict=True)][:100] == [True] * 100
    for pos, size in packets[1:]:
        data[pos + 4:pos + size] = rng.bytes(size - 4)
    (tmp_path / "most.mp4").write_bytes(data)
    with pytest.raises(InputError) as e:
        list(media.iter_frames(tmp_path / "most.mp4", gray=True, ahead=ahead))
    assert str(e.value).startswith(f"{tmp_path / 'most.mp4'}: ffmpeg could not decode it: ")
    assert str(e.value).endswith("of 200 packets are damaged")


def _open_files(path) -> int:
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())
               for fd in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{fd}"))


@pytest.mark.parametrize("ahead", [0, 3])
def test_stopping_early_is_not_an_error(tmp_path, ahead):
    path, _ = _noisy_video(tmp_path, 40)
    it = media.iter_frames(path, gray=True, ahead=ahead)
    assert next(it).shape == (48, 64)
    assert _open_files(path) == 1
    it.close()  # the consumer stops: iter_frames closes the file and raises nothing
    assert _open_files(path) == 0


def test_frames_count_from_the_file_start(tmp_path):
    """Frame i is the picture shown at i / 25 s from the file's start (ffmpeg's timestamps): a
    video stream that starts 0.08 s after the sound begins with its first picture three times."""
    import subprocess

    plain, late = tmp_path / "plain.mp4", tmp_path / "late.mp4"
    exe = media.ffmpeg_exe()
    subprocess.run([exe, "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=s=160x96:r=25:d=2",
                    "-pix_fmt", "yuv420p", str(plain)], check=True)
    subprocess.run([exe, "-loglevel", "error", "-itsoffset", "0.08", "-i", str(plain), "-f", "lavfi",
                    "-i", "anullsrc=r=16000:cl=mono", "-t", "2.08", "-c:v", "copy", "-c:a", "aac",
                    str(late)], check=True)
    pictures = np.stack(list(media.iter_frames(plain)))
    got = np.stack(list(media.iter_frames(late)))
    assert len(pictures) == 50 and not np.array_equal(pictures[0], pictures[1])
    assert np.array_equal(got[:3], pictures[[0, 0, 0]])
    assert np.array_equal(got[3:52], pictures[1:50])


@pytest.mark.parametrize("source", ["25fps", "30fps-bframes", "29.97fps-late"])
def test_frames_from_a_start_are_those_of_a_decode_from_the_beginning(tmp_path, source):
    import subprocess

    rate, extra = {"25fps": ("25", []), "30fps-bframes": ("30", ["-bf", "3"]),
                   "29.97fps-late": ("30000/1001", ["-output_ts_offset", "0.7"])}[source]
    path = tmp_path / "v.mp4"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc2=s=160x96:r={rate}:d=4", "-pix_fmt", "yuv420p", "-g", "12", *extra,
                    str(path)], check=True)
    whole = np.stack(list(media.iter_frames(path)))
    assert len(whole) >= 99
    for start in (1, 13, 37, 49, 90):
        part = np.stack(list(media.iter_frames(path, start=start, ahead=2)))
        assert np.array_equal(part, whole[start:]), start


def _rotated_video(path, frames, degrees):
    """Lossless gray frames in an mp4 whose display matrix turns them `degrees` counterclockwise
    (as a phone stores portrait video)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt, stream.options = "gray", {"qp": "0"}
        stream.codec_context.color_range = 2   # full range: the gray levels come back as they are
        stream.set_display_rotation(degrees)
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("degrees", [90, 180, -90])
def test_rotated_video_frames_come_upright(tmp_path, degrees):
    import skimage.data

    face = skimage.data.camera()
    frames = [np.ascontiguousarray(face[100 + 4 * i:196 + 4 * i, 150:310]) for i in range(10)]
    path = _rotated_video(tmp_path / "turned.mp4", frames, degrees)
    upright = np.stack([np.rot90(f, degrees // 90) for f in frames])
    info = media.probe(path)
    assert (info.width, info.height) == (upright.shape[2], upright.shape[1])
    assert np.array_equal(np.stack(list(media.iter_frames(path, gray=True))), upright)
    small = next(media.iter_frames(path, gray=True, size=(info.width // 2, info.height // 2)))
    assert small.shape == (upright.shape[1] // 2, upright.shape[2] // 2)


def test_read_clip_of_a_limited_range_colour_video_is_its_gray_conversion(tmp_path):
    import skimage.data

    face = skimage.data.astronaut()
    frames = [np.ascontiguousarray(face[100 + 2 * i:196 + 2 * i, 150:246]) for i in range(10)]
    path = media.write_video(tmp_path / "colour.mp4", frames)   # yuv420p, limited range
    got, want = media.read_clip(path).astype(int), media.read_video(path).astype(int)
    assert got.shape == want.shape == (10, 96, 96)
    assert np.abs(got - want).max() <= 1
    assert got.std() > 20   # a picture, not a flat plane
