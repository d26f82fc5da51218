"""ffmpeg: the one resolver, probing, streaming decode at a fixed rate, and encoding.

The system ffmpeg is used when it is on PATH, else the binary that imageio-ffmpeg ships,
so the project works on a machine with no ffmpeg installed; it probes, decodes sound and
writes whole videos. Video frames are decoded in-process (`iter_frames`, ffmpeg's libraries
through PyAV, the same filters as the ffmpeg command, without a pipe), one at a time: nothing
here holds a whole video in memory unless asked to (`read_video`, for short clips). Word clips
are encoded in-process too (`ClipEncoder`): a process per clip would cost more than the encoding.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from lipreader.atomic import FULL, atomic_path
from lipreader.constants import FPS, ROI
from lipreader.errors import DiskFull, InputError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: the system's when on PATH, else imageio-ffmpeg's."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise InputError("no ffmpeg found: install ffmpeg (apt-get install ffmpeg) "
                         "or the imageio-ffmpeg package") from e


def ffprobe_exe() -> str | None:
    """The system ffprobe beside the system ffmpeg, or None (imageio-ffmpeg ships no ffprobe)."""
    return shutil.which("ffprobe") if shutil.which("ffmpeg") else None


@dataclass(frozen=True)
class MediaInfo:
    width: int
    height: int
    fps: float
    duration: float
    has_video: bool
    has_audio: bool

    @property
    def frames_at_25(self) -> int:
        return int(round(self.duration * FPS))


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"(\d+(?:\.\d+)?) (?:fps|tbr)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*:\s*(-?\d+)")


def probe(path: str | Path) -> MediaInfo:
    """Size, frame rate, duration and streams of a media file (from `ffmpeg -i`, which every
    ffmpeg build has). Sizes are as displayed, after any rotation metadata."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
                         capture_output=True, text=True, errors="replace")
    if res.returncode < 0:
        raise InputError(f"{path}: ffmpeg was killed (signal {-res.returncode}) while probing it")
    text = res.stderr
    if "Invalid data found" in text or "moov atom not found" in text or "Duration:" not in text:
        raise InputError(f"{path}: not a readable media file")
    m = _DURATION.search(text)
    duration = (int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))) if m else 0.0
    video_line = next((ln for ln in text.splitlines() if re.search(r"Stream #.*: Video:", ln)
                       and "attached pic" not in ln), None)
    has_audio = bool(re.search(r"Stream #.*: Audio:", text))
    if video_line is None:
        return MediaInfo(0, 0, 0.0, duration, False, has_audio)
    size = _VIDEO.search(video_line)
    width, height = (int(size.group(1)), int(size.group(2))) if size else (0, 0)
    rate = _FPS.search(video_line)
    fps = float(rate.group(1)) if rate else 0.0
    rot = _ROTATION.search(text)
    if rot and abs(float(rot.group(1) or rot.group(2))) % 180 == 90:
        width, height = height, width
    return MediaInfo(width, height, fps, duration, True, has_audio)


def iter_frames(path: str | Path, fps: float | None = FPS, size: tuple[int, int] | None = None,
                gray: bool = False, threads: int = 0, ahead: int = 0,
                start: int = 0) -> Iterator[np.ndarray]:
    """Decode `path` frame by frame, resampled to `fps` (None keeps the source rate).

    Yields uint8 arrays of shape (H, W) when `gray`, else (H, W, 3) RGB; `size` is (W, H)
    to scale to. `threads`: the decoder's and the filters' threads (0: ffmpeg's choice). Only
    one frame is in memory at a time, or with `ahead` > 0 up to `ahead` more, decoded by a
    thread while the caller works on the current one (decoding lets go of the GIL).
    A file that cannot be opened, or most of whose packets cannot be decoded, raises
    InputError; a frame lost in between is filled by the one before it: never a short video.
    `start` > 0 (with `fps`) begins at that frame: decoding starts at the keyframe before it,
    and the frames are those a decode from the beginning gives from there on.
    """
    if start and not fps:
        raise ValueError("start needs fps")
    frames = _iter_frames(path, fps, size, gray, threads, start)
    return _read_ahead(frames, ahead) if ahead > 0 else frames


def _read_ahead(items: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """`items`, taken by a thread up to `depth` ahead of the caller; its error is raised here.
    A caller that stops early makes the thread stop and close `items`."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in items:
                q.put((item, None))
                if stop.is_set():
                    return
            q.put((end, None))
        except BaseException as e:  # handed to the caller, raised there
            q.put((end, e))
        finally:
            items.close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():   # unblock its put until it sees `stop`
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


def _iter_frames(path: str | Path, fps: float | None, size: tuple[int, int] | None,
                 gray: bool, threads: int, start: int = 0) -> Iterator[np.ndarray]:
    """Frames decoded in-process (ffmpeg's libraries through PyAV, which lets go of the GIL
    while it decodes and converts): the frames of `ffmpeg -i path -vf fps=...,scale=... -f
    rawvideo`, pixel for pixel, without a pipe (the pipe and reading from it cost a quarter of
    the decoding). Timestamps count from the file's start, as ffmpeg's do, and the first frames
    are repeated up to the first decoded one, as ffmpeg's constant-rate output does.
    Like ffmpeg, packets that cannot be decoded are passed over; a video where more than
    two thirds of them cannot be is an error."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise InputError(f"{path}: ffmpeg could not decode it: {_av_reason(e)}") from e
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        tb = stream.time_base
        offset = 0
        if container.start_time and tb:
            offset = int(round(Fraction(container.start_time, 1_000_000) / tb))
        graph, done, packets, failed = None, start, 0, 0
        if start and tb and start / fps > SEEK_MARGIN:
            container.seek(offset + int((start / fps - SEEK_MARGIN) / tb), stream=stream,
                           backward=True, any_frame=False)
        last, rate = None, stream.average_rate or stream.guessed_rate or Fraction(FPS)
        step = max(1, int(round(1 / (rate * tb)))) if tb else 1
        # After a seek, frames long before `start` are not converted: only the last of them
        # goes into the filters, which is all the frame-rate filter needs from them.
        early = int((start - 2) / fps / tb) if start and tb else None
        held = None

        def converted(frame) -> Iterator[np.ndarray]:
            """Push one decoded frame (None: the end) through the graph; yield what comes out,
            each repeated up to its place at `fps`."""
            nonlocal graph, done
            if frame is not None and (graph is None or graph[0] != _frame_key(frame)):
                if graph is not None:   # the stream changed size or format: a graph for it
                    yield from converted(None)
                graph = (_frame_key(frame), *_frame_graph(frame, tb, fps, size, gray, threads))
            if graph is None:
                return
            graph[2].push(frame)
            for out in _pull(graph[3]):
                arr = out.to_ndarray()
                index = int(round(out.pts * out.time_base * fps)) if fps else done
                while done <= index:
                    yield arr
                    done += 1

        try:
            for packet in container.demux(stream):
                packets += packet.size > 0
                try:
                    decoded = stream.decode(packet)
                except av.InvalidDataError:
                    failed += 1
                    continue
                for frame in decoded:
                    # A frame without a time (some AVI and raw streams) takes its packet's, else
                    # follows the one before, as ffmpeg's best-effort timestamps do.
                    pts = frame.pts if frame.pts is not None else frame.dts
                    if pts is None:
                        pts = offset + (last + step if last is not None else 0)
                    frame.pts = last = pts - offset
                    if early is not None and last < early:
                        held = frame
                        continue
                    if held is not None:
                        yield from converted(held)
                        held = None
                    yield from converted(frame)
            if held is not None:
                yield from converted(held)
            yield from converted(None)
        except av.FFmpegError as e:
            raise InputError(f"{path}: ffmpeg could not decode it: {_av_reason(e)}") from e
    if failed and (done == start or failed * 3 > 2 * max(packets, 1)):
        raise InputError(f"{path}: ffmpeg could not decode it: {failed} of {packets} packets "
                         "are damaged")


# Seconds before the first frame wanted that decoding starts from (then back to a keyframe).
SEEK_MARGIN = 1.0


def _frame_key(frame) -> tuple:
    return frame.width, frame.height, frame.format.name, _clockwise(frame)


def _clockwise(frame) -> int:
    """How far the frame is to be turned clockwise for display (its display matrix: phones
    store portrait video on its side), 0, 90, 180 or 270."""
    return int(round(-frame.rotation / 90)) % 4 * 90


# The filters ffmpeg inserts to turn a frame upright (its `autorotate`), by clockwise angle.
_UPRIGHT = {90: [("transpose", "clock")], 180: [("hflip", ""), ("vflip", "")],
            270: [("transpose", "cclock")]}


def _frame_graph(first, time_base: Fraction, fps: float | None, size: tuple[int, int] | None,
                 gray: bool, threads: int):
    """buffer -> [upright] -> [fps] -> scale (area) -> rgb24 or gray -> buffersink, for frames
    like `first`."""
    import av

    graph = av.filter.Graph()
    graph.threads = threads
    turn = _clockwise(first)
    upright = (first.height, first.width) if turn % 180 else (first.width, first.height)
    width, height = size or upright
    nodes = [graph.add_buffer(width=first.width, height=first.height, format=first.format,
                              time_base=time_base)]
    nodes += [graph.add(name, args) for name, args in _UPRIGHT.get(turn, [])]
    if fps:
        nodes.append(graph.add("fps", f"{fps:g}"))
    nodes.append(graph.add("scale", f"{width}:{height}:flags=area"))
    nodes.append(graph.add("format", "gray" if gray else "rgb24"))
    nodes.append(graph.add("buffersink"))
    for a, b in zip(nodes, nodes[1:], strict=False):
        a.link_to(b)
    graph.configure()
    return graph, nodes[0], nodes[-1]   # the graph owns the nodes: it must outlive them


def _pull(sink) -> Iterator:
    import av

    while True:
        try:
            yield sink.pull()
        except (av.BlockingIOError, av.EOFError):
            return


def _av_reason(e: BaseException) -> str:
    """ffmpeg's reason for a PyAV error, without PyAV's errno and file name."""
    import av

    if isinstance(e, av.FFmpegError) and e.strerror:
        return str(e.strerror)
    return str(e)


def _decoder_failure(returncode: int, err: str) -> str:
    """Why a decoder stopped before the end of its video, in a few words."""
    if returncode < 0:
        return f"the decoder was killed (signal {-returncode}) before the end of the video"
    if returncode == 0:
        return "the decoder stopped in the middle of a frame"
    return err.splitlines()[-1] if err else f"the decoder exited with status {returncode}"


def iter_audio(path: str | Path, rate: int = 16000, chunk: int = 16000) -> Iterator[np.ndarray]:
    """Decode the first sound track of `path` as mono at `rate` Hz, `chunk` samples at a time
    ((chunk,) int16; the last one shorter). Only one chunk is in memory at a time. Check
    `probe(path).has_audio` first: for a file without sound, or a decoder that fails, this
    raises InputError."""
    path = Path(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path),
           "-vn", "-sn", "-map", "0:a:0?", "-ac", "1", "-ar", str(rate), "-f", "s16le", "pipe:1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=chunk * 4)
    finished = False
    try:
        while True:
            buf = proc.stdout.read(chunk * 2)
            if buf:
                yield np.frombuffer(buf[:len(buf) // 2 * 2], "<i2")
            if len(buf) < chunk * 2:
                finished = True
                break
    finally:
        if not finished and proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.stderr.close()
        proc.wait()
    if finished and proc.returncode != 0:  # not when the consumer stopped early
        raise InputError(f"{path}: ffmpeg could not decode its sound: {_decoder_failure(proc.returncode, err)}")


def read_video(path: str | Path, gray: bool = True, fps: float | None = None) -> np.ndarray:
    """A short video as one array: (T, H, W) when `gray`, else (T, H, W, 3). For clips, not films."""
    frames = list(iter_frames(path, fps=fps, gray=gray))
    if not frames:
        raise InputError(f"{path}: no frames could be decoded")
    return np.stack(frames)


def read_clip(path: str | Path) -> np.ndarray:
    """A short video's frames as (T, H, W) uint8 gray, decoded in-process: the pixels of
    `read_video(path)` without a process per clip. InputError when it cannot be decoded."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: could not decode it: it has no video stream")
            stream = container.streams.video[0]
            frames = [_gray(f) for f in container.decode(stream)]
    except av.FFmpegError as e:
        raise InputError(f"{path}: could not decode it: {e}") from e
    if not frames:
        raise InputError(f"{path}: could not decode it: no frames")
    return np.stack(frames)


# Decoded formats whose first plane is already the full-range gray picture: read as it is,
# 3x faster than converting (a lossless gray clip decodes as yuvj420p).
_GRAY_PLANE = {"gray", "yuvj420p", "yuvj422p", "yuvj444p"}


def _gray(frame) -> np.ndarray:
    if frame.format.name not in _GRAY_PLANE:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
    return rows[:, :frame.width].copy()


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = FPS,
                crf: int = 18, lossless: bool = False, audio: str | Path | None = None,
                preset: str = "veryfast", threads: int = 4) -> Path:
    """Encode uint8 frames ((H, W) gray or (H, W, 3) RGB, all one size) as H.264 mp4, atomically.

    `lossless` keeps gray frames bit-exact (qp 0, full-range 4:4:4); `audio` adds a sound track.
    `threads` is fixed rather than x264's automatic count (1.5x the cores): x264's output depends
    on its thread count, so the same frames give the same file on any machine.
    """
    path = Path(path)
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise InputError(f"{path}: no frames to write") from None
    gray = first.ndim == 2
    height, width = first.shape[:2]
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "gray" if gray else "rgb24",
           "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "pipe:0"]
    if audio is not None:
        cmd += ["-i", str(audio), "-c:a", "aac", "-b:a", "64k", "-shortest"]
    if lossless:
        cmd += ["-c:v", "libx264", "-preset", preset, "-qp", "0",
                "-pix_fmt", "yuv444p" if not gray else "gray", "-color_range", "pc"]
    else:
        if width % 2 or height % 2:
            raise InputError(f"{path}: lossy H.264 needs even frame sizes, got {width}x{height}")
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    cmd += ["-threads", str(threads), "-movflags", "+faststart"]
    with atomic_path(path) as tmp:
        proc = subprocess.Popen(cmd + [str(tmp)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            proc.stdin.write(np.ascontiguousarray(first).tobytes())
            for frame in it:
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode("utf-8", "replace")
        if proc.wait() != 0:
            if any(os.strerror(n) in err for n in FULL):
                raise DiskFull(path)
            raise InputError(f"{path}: ffmpeg could not encode: {err.strip()[-300:]}")
    return path


class ClipEncoder:
    """Lossless gray clips, each its own mp4, from one x264 encoder kept open across clips.

    The files are what `write_video(..., lossless=True)` writes for gray frames (H.264 High
    4:4:4, qp 0, gray, full range, faststart; the same pixels back, bit for bit) but opening an
    encoder per clip would cost as much as encoding it: every clip starts on a forced IDR frame,
    and its packets go into the clip's own file. x264 runs with one thread and no frame delay
    (`zerolatency`), so each frame's packet comes back at once, with `ultrafast` (CAVLC): on
    real mouth crops about 2x the clips per CPU second of CABAC, for files about 8% larger
    (about 20% larger than `veryfast`'s; benchmarks/bench_profile.py measures both).
    """

    def __init__(self, size: tuple[int, int] = (ROI, ROI), fps: float = FPS):
        import io

        import av

        self._av, self.size = av, size
        self._rate = Fraction(fps).limit_denominator(1001)
        self._template = av.open(io.BytesIO(), "w", format="mp4")
        stream = self._template.add_stream("libx264", rate=self._rate)
        stream.width, stream.height = size
        stream.pix_fmt = "gray"
        stream.codec_context.color_range = 2   # full (pc), as -color_range pc
        stream.thread_count = 1
        stream.options = {"qp": "0", "preset": "ultrafast", "tune": "zerolatency",
                          "forced-idr": "1"}
        self._template.start_encoding()
        self._stream, self._pts = stream, 0
        # One frame whose pixels each clip frame overwrites: x264 copies them during encode(),
        # and a frame object per clip frame cost a fifth of the encoding time.
        self._frame = av.VideoFrame(size[0], size[1], "gray")
        if self._frame.planes[0].line_size != size[0]:
            self._frame = None

    def write(self, path: str | Path, frames: Iterable[np.ndarray]) -> Path:
        """Encode uint8 (H, W) gray frames of the encoder's size into the mp4 `path`, atomically."""
        av, path = self._av, Path(path)
        tb = 1 / self._rate
        with atomic_path(path) as tmp:
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                stream = out.add_stream_from_template(self._stream)
                first, n = self._pts, 0
                for frame in frames:
                    if frame.shape != self.size[::-1] or frame.dtype != np.uint8:
                        raise ValueError(f"{path}: a clip frame is {frame.shape} {frame.dtype}, "
                                         f"expected {self.size[::-1]} uint8")
                    vf = self._picture(frame, first=n == 0)
                    vf.pts, vf.time_base = self._pts, tb
                    self._pts += 1
                    n += 1
                    packets = self._stream.encode(vf)
                    if len(packets) != 1:
                        raise RuntimeError(f"x264 gave {len(packets)} packets for one frame")
                    for p in packets:
                        p.pts, p.dts = p.pts - first, p.dts - first
                        p.stream, p.time_base = stream, tb
                        out.mux(p)
                if n == 0:
                    raise InputError(f"{path}: no frames to write")
        return path

    def _picture(self, frame: np.ndarray, first: bool):
        types = self._av.video.frame.PictureType
        if self._frame is None:
            vf = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="gray")
        else:
            vf = self._frame
            vf.planes[0].update(np.ascontiguousarray(frame))
        vf.pict_type = types.I if first else types.NONE
        return vf

    def close(self) -> None:
        self._template.close()

    def __enter__(self) -> ClipEncoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
