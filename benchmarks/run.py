"""`make bench`: every benchmark, results in benchmarks/results.json and a table on stdout.

`python -m benchmarks.run bench_profile bench_build` runs only those and updates their entries.

Each result records the machine (cores, GPU) and the torch and mediapipe versions.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).parent
SUITES = ("bench_profile", "bench_tracking", "bench_build", "bench_train", "bench_read")


def machine() -> dict:
    import torch

    try:
        from importlib.metadata import version
        mp_version = version("mediapipe")
    except Exception:  # mediapipe is optional on a training box
        mp_version = None
    return {"cpu_cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "mediapipe": mp_version,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "date": time.strftime("%Y-%m-%d")}


def _pick(d: dict, *path, default=None):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return default
        d = d[key]
    return d


def table(results: dict) -> str:
    rows = [
        ("tracking 720p, 1 process (x realtime)", _pick(results, "bench_tracking", "single_720p", "realtime")),
        ("tracking 720p, 2 workers (x realtime)", _pick(results, "bench_tracking", "two_workers_2_videos", "realtime")),
        ("tracking peak RSS (MB)", _pick(results, "bench_tracking", "single_720p", "peak_rss_mb")),
        ("build-dataset, one 53 s 960x720 video (x realtime, median of 3)",
         _pick(results, "bench_build", "one_video", "realtime")),
        ("build-dataset, one 53 s 1280x720 video (x realtime, median of 3)",
         _pick(results, "bench_build", "one_video_16x9", "realtime")),
        ("build-dataset, one 53 s 960x720 video, one worker (x realtime)",
         _pick(results, "bench_build", "one_video_1_worker", "realtime")),
        ("build-dataset, one 53 s 960x720 video: peak RSS (MB)",
         _pick(results, "bench_build", "one_video", "peak_rss_mb")),
        ("build-dataset, one 53 s 960x720 video: stages (wall s)",
         _pick(results, "bench_build", "one_video", "stages_s")),
        ("build-dataset, two 53 s videos: 2 workers vs 1 (x)",
         _pick(results, "bench_build", "scaling_2_workers")),
        ("start-up: lipreader --help (s)",
         _pick(results, "bench_profile", "startup_s", "lipreader --help")),
        ("tracking ms/frame: decode wait, mesh, align, write",
         _pick(results, "bench_profile", "tracking", "mesh_every_1", "ms_per_frame")),
        ("tracking CPU ms/frame: threads / one thread (workers that fill the cores)",
         [_pick(results, "bench_profile", "tracking", k, "cpu_ms_per_frame") for k in ("mesh_every_1", "one_thread")]),
        ("clip writing, in-process (clips per CPU s)",
         _pick(results, "bench_profile", "clips", "in-process encoder", "clips_per_cpu_s")),
        ("clip writing, in-process vs ffmpeg per clip (CPU ratio)",
         _pick(results, "bench_profile", "clips", "cpu_ratio")),
        ("cache loader (clips/s, augmentation incl.)", _pick(results, "bench_train", "loader_clips_per_s")),
        ("train small 44px CPU (clips/s)", _pick(results, "bench_train", "train_clips_per_s", "small_88")),
        ("train small 44px, TC back end, CPU (clips/s)",
         _pick(results, "bench_train", "train_clips_per_s", "small_tc_88")),
        ("train resnet18 88px CPU (clips/s)", _pick(results, "bench_train", "train_clips_per_s", "resnet18_88")),
        ("train resnet34 88px CPU (clips/s)", _pick(results, "bench_train", "train_clips_per_s", "resnet34_88")),
        ("read 720p resnet34 end to end (x realtime)", _pick(results, "bench_read", "realtime")),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'benchmark':<{width}}  result"]
    for name, value in rows:
        shown = "n/a" if value is None else (f"{value:.2f}" if isinstance(value, float) else str(value))
        lines.append(f"{name:<{width}}  {shown}")
    return "\n".join(lines)


def main(names: list[str]) -> int:
    """Run the named suites (default: all); named ones replace their entries in results.json."""
    out = HERE / "results.json"
    results: dict = json.loads(out.read_text()) if names and out.is_file() else {}
    results["machine"] = machine()
    failed = 0
    for name in names or SUITES:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            results[name] = importlib.import_module(f"benchmarks.{name}").bench()
        except Exception:
            traceback.print_exc()
            results[name] = {"error": traceback.format_exc(limit=1).strip().splitlines()[-1]}
            failed += 1
        results[name]["bench_seconds"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\nfull results: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
