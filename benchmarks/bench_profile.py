"""Where the builder's time goes: start-up, per frame (decode, landmarks, alignment), clips, pack.

    python -m benchmarks.bench_profile      # prints JSON

- startup: wall seconds of fresh processes (median of 3): the CLI's `--help` and `config`, the
  heavy imports one by one, and what a tracking or clip worker does before its first video.
- tracking: one process on bench_tracking's 12 s 720p real-face video, ms per frame of each
  stage (decode = waiting for the decoding thread), the CPU per frame with the three stages in
  one thread (`one_thread`: as workers that fill the cores track), CPU ms per frame of each thread
  (`cpu_by_thread`, from /proc: FaceMesh's calls, its graph, decoding, alignment and writing),
  CPU ms per frame of the ffmpeg command decoding alone with the decoder options tried, and the crop jitter of the
  tracking tests (median frame-to-frame step of the mouth centre in the 96 px ROI, and median
  shift of the nose band in the pictures) for each `mesh_every`.
- clips: 29-frame clips cut from that video's mouth.npy, written the old way (one ffmpeg
  process per clip) and in-process (media.ClipEncoder), interleaved in rounds so that load from
  other processes hits both alike; clips per CPU second (this process and its children) and per
  wall second, and the ratio. Then pack's decoding of the clips, the old way (an ffmpeg process
  per clip) and in-process (media.read_clip).

On a shared machine the wall figures move with other load; compare the ratios, and CPU seconds.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_tracking import FPS, make_video

HERE = Path(__file__).parent
ROOT = HERE.parent

STARTUP = {
    "python": "pass",
    "lipreader --help": "import sys; sys.argv = ['lipreader', '--help']\n"
                        "from lipreader.cli import main\ntry: main()\nexcept SystemExit: pass",
    "lipreader config": "import sys; sys.argv = ['lipreader', 'config']\n"
                        "from lipreader.cli import main\ntry: main()\nexcept SystemExit: pass",
    "import numpy": "import numpy",
    "import cv2": "import cv2",
    "import mediapipe": "import mediapipe",
    "import mediapipe as tracking does (no pyplot, no Tasks API)":
        "from builder.tracking import _lean_mediapipe_import\nwith _lean_mediapipe_import(): import mediapipe",
    "import torch": "import torch",
    "import av": "import av",
    "tracking worker ready (imports, FaceMesh graph)":
        "from builder.tracking import FaceMesh, _worker_init\n_worker_init(); FaceMesh().close()",
    "clip worker ready (imports, x264 encoder)":
        "from builder.stages import clips\nfrom builder import media\nmedia.ClipEncoder().close()",
}
DECODERS = {"default": [], "flags2 fast": ["-flags2", "fast"],
            "skip_loop_filter noref": ["-skip_loop_filter", "noref"]}


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def startup(repeats: int = 3) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = {}
    with tempfile.TemporaryDirectory() as cwd:   # no options.toml there: `config` shows defaults
        for name, code in STARTUP.items():
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(time.perf_counter() - t0)
            out[name] = round(statistics.median(times), 3)
    return out


def decoder_cpu(video: Path, rounds: int = 2) -> dict:
    """CPU ms per frame of ffmpeg decoding the video to 720p RGB at 25 fps, per decoder option,
    and how far its pixels are from the default's (mean absolute difference, grey levels)."""
    from builder import media

    def run(extra: list[str]) -> tuple[float, np.ndarray]:
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        raw = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
                              "-threads", "1", *extra, "-i", str(video), "-an", "-sn",
                              "-vf", "fps=25,scale=1280:720:flags=area", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "pipe:1"], capture_output=True, check=True).stdout
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = kids.ru_utime + kids.ru_stime - kids0.ru_utime - kids0.ru_stime
        return cpu, np.frombuffer(raw, np.uint8)

    cpu: dict[str, list[float]] = {k: [] for k in DECODERS}
    pixels = {}
    for _ in range(rounds):
        for name, extra in DECODERS.items():
            c, px = run(extra)
            cpu[name].append(c)
            pixels.setdefault(name, px)
    frames = len(pixels["default"]) // (1280 * 720 * 3)
    base = pixels["default"].astype(np.int16)
    return {name: {"cpu_ms_per_frame": round(1000 * min(cpu[name]) / frames, 2),
                   "mean_abs_diff": round(float(np.abs(pixels[name].astype(np.int16) - base).mean()), 3)}
            for name in DECODERS}


def cpu_by_thread(video: Path, work: Path) -> dict:
    """CPU ms per frame of each thread while one process tracks `video` (Linux: /proc), by what
    the thread does."""
    import threading

    from builder.tracking import FaceMesh, process_video

    task = Path("/proc/self/task")
    if not task.is_dir():
        return {}
    FaceMesh().close()   # the first graph of a process loads the models: not a frame's cost
    tick = os.sysconf("SC_CLK_TCK")
    seen: dict[int, tuple[float, str]] = {}
    names: dict[int, str] = {}
    stop = threading.Event()

    def now() -> dict[int, tuple[float, str]]:
        """CPU seconds and kernel name of each thread of this process."""
        got = {}
        for tid in os.listdir(task):
            try:
                fields = (task / tid / "stat").read_text().rsplit(")", 1)[1].split()
                comm = (task / tid / "comm").read_text().strip()
            except OSError:
                continue
            got[int(tid)] = ((int(fields[11]) + int(fields[12])) / tick, comm)
        return got

    def sample() -> None:
        while not stop.is_set():
            names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
            seen.update(now())
            time.sleep(0.05)

    before = {tid: cpu for tid, (cpu, _) in now().items()}  # threads running already count from here
    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    sampler.start()
    summary = process_video(video, work / "by_thread")
    stop.set()
    sampler.join()
    seen = {tid: (cpu - before.get(tid, 0.0), comm) for tid, (cpu, comm) in seen.items()}
    kinds = {"MainThread": "FaceMesh calls, cut detection", "read-ahead": "decoding",
             "align": "alignment and writing"}
    out: dict[str, float] = {}
    for tid, (cpu, comm) in seen.items():
        name = names.get(tid, comm)
        kind = kinds.get(name, "FaceMesh graph" if comm.startswith("mediapipe") else None)
        if kind is None and tid == threading.main_thread().native_id:
            kind = kinds["MainThread"]
        if kind is not None and name != "sampler":
            out[kind] = out.get(kind, 0.0) + cpu
    res = {k: round(v / summary.frames * 1000, 2) for k, v in sorted(out.items())}
    res["all"] = round(sum(out.values()) / summary.frames * 1000, 2)
    return res


def jitter(out: Path) -> dict:
    """The tracking tests' crop-steadiness figures for the track in `out`."""
    import cv2

    from builder import mouth, trackfile

    track = trackfile.load_track(out / "track.npz")
    roi = np.load(out / "mouth.npy")
    lm = track["landmarks"].astype(np.float64)
    in_roi = mouth.mouth_centre(mouth.apply_affine(track["affine"].astype(np.float64), lm))
    ok = ~np.isnan(in_roi).any(1)
    steps = np.linalg.norm(np.diff(in_roi[ok], axis=0), axis=1)
    win = np.outer(np.hanning(36), np.hanning(96)).astype(np.float32)
    band = roi[:, :36].astype(np.float32)
    shifts = [np.hypot(*cv2.phaseCorrelate(a, b, win)[0]) for a, b in zip(band[:-1], band[1:], strict=True)]
    return {"mouth_step_px_median": round(float(np.median(steps)), 3),
            "nose_band_shift_px_median": round(float(np.median(shifts)), 3)}


def tracking(video: Path, work: Path, mesh_every: tuple[int, ...] = (1, 2, 3)) -> dict:
    from builder.tracking import FaceMesh, _worker_init, process_video

    _worker_init()
    FaceMesh().close()
    out = {}
    for k in mesh_every:
        timings: dict[str, float] = {}
        cpu0, t0 = _cpu(), time.perf_counter()
        s = process_video(video, work / f"mesh_every_{k}", mesh_every=k, timings=timings)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        out[f"mesh_every_{k}"] = {
            "frames": s.frames, "realtime": round(s.frames / FPS / wall, 2),
            "cpu_ms_per_frame": round(1000 * cpu / s.frames, 2),
            "ms_per_frame": {stage: round(1000 * v / s.frames, 3) for stage, v in timings.items()},
            "jitter": jitter(work / f"mesh_every_{k}")}
    # As a worker among others that fill the cores tracks: decoding, FaceMesh and alignment one
    # after the other in one thread (overlap=False); the same files.
    cpu0, t0 = _cpu(), time.perf_counter()
    s = process_video(video, work / "one_thread", overlap=False)
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    same = all((work / "one_thread" / f).read_bytes() == (work / "mesh_every_1" / f).read_bytes()
               for f in ("mouth.npy",))
    out["one_thread"] = {"frames": s.frames, "realtime": round(s.frames / FPS / wall, 2),
                         "cpu_ms_per_frame": round(1000 * cpu / s.frames, 2), "same_crops": same}
    return out


def clips(mouth_npy: Path, work: Path, rounds: int = 3, per_round: int = 40) -> dict:
    """Clips per CPU second and per wall second, ffmpeg per clip against media.ClipEncoder."""
    from builder import media

    roi = np.load(mouth_npy)
    starts = np.linspace(0, len(roi) - 29, per_round).astype(int)
    windows = [roi[s:s + 29] for s in starts]
    totals = {"ffmpeg process per clip": [0.0, 0.0, 0], "in-process encoder": [0.0, 0.0, 0]}
    for _ in range(rounds):
        for name in totals:
            cpu0, t0 = _cpu(), time.perf_counter()
            if name == "in-process encoder":
                with media.ClipEncoder() as enc:
                    for i, w in enumerate(windows):
                        enc.write(work / f"new_{i}.mp4", w)
            else:
                for i, w in enumerate(windows[: per_round // 4]):   # slow: a quarter as many
                    media.write_video(work / f"old_{i}.mp4", list(w), lossless=True)
            totals[name][0] += _cpu() - cpu0
            totals[name][1] += time.perf_counter() - t0
            totals[name][2] += per_round if name == "in-process encoder" else per_round // 4
    res = {name: {"clips": n, "clips_per_cpu_s": round(n / cpu, 1), "clips_per_wall_s": round(n / wall, 1)}
           for name, (cpu, wall, n) in totals.items()}
    res["cpu_ratio"] = round(res["in-process encoder"]["clips_per_cpu_s"]
                             / res["ffmpeg process per clip"]["clips_per_cpu_s"], 1)
    same = all(np.array_equal(media.read_video(work / f"new_{i}.mp4"), windows[i]) for i in range(3))
    res["pixel_exact"] = bool(same)
    res["mean_bytes"] = {"in-process encoder": int(np.mean([(work / f"new_{i}.mp4").stat().st_size
                                                            for i in range(per_round // 4)])),
                         "ffmpeg process per clip": int(np.mean([(work / f"old_{i}.mp4").stat().st_size
                                                                 for i in range(per_round // 4)]))}
    res["pack_decode"] = {}
    for name, read in (("ffmpeg process per clip", media.read_video),
                       ("in-process decoder", media.read_clip)):
        cpu0, t0 = _cpu(), time.perf_counter()
        for i in range(per_round):
            read(work / f"new_{i}.mp4")
        res["pack_decode"][name] = {"clips_per_cpu_s": round(per_round / (_cpu() - cpu0), 1),
                                    "clips_per_wall_s": round(per_round / (time.perf_counter() - t0), 1)}
    return res


def bench(seconds: float = 12.0) -> dict:
    video = make_video(HERE / "out" / "tracking" / f"talk720_{seconds:g}s.mp4", seconds)
    res = {"video": {"size": [1280, 720], "fps": FPS, "seconds": seconds},
           "load_average": os.getloadavg()}
    res["startup_s"] = startup()
    res["decode_cpu"] = decoder_cpu(video)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        res["tracking"] = tracking(video, tmp)
        res["tracking"]["cpu_by_thread_ms_per_frame"] = cpu_by_thread(video, tmp)
        (tmp / "clips").mkdir()
        res["clips"] = clips(tmp / "mesh_every_1" / "mouth.npy", tmp / "clips")
    res["load_average_after"] = os.getloadavg()
    return res


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
