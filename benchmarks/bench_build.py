"""build-dataset end to end (captions + tracking + clips) on generated 720p videos.

The realtime factor is seconds of video turned into clips per wall second, from a fetched
video folder to the finished dataset, using every core.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from lipreader.config import Config

HERE = Path(__file__).parent


def corpus(videos: int = 4, seconds: float = 12.0, height: int = 720) -> Path:
    from builder.synth import make_corpus

    root = HERE / "out" / f"build_corpus_{videos}x{seconds:g}s_{height}p"
    if not (root / "corpus.json").is_file():
        make_corpus(root, words=6, videos=videos, seconds=seconds, speakers=2, holdout_speakers=0,
                    height=height, seed=3)
    return root


def run_build(src: Path, copies: int = 1, workers: int = 0) -> dict:
    """build-dataset on every video of `src` (each `copies` times, as separate videos) with
    `workers` tracking workers; wall time, stage laps and peak memory."""
    import contextlib
    import io
    import resource

    from pipelines import build

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        total = 0.0
        for d in sorted(p for p in src.iterdir() if (p / "truth.json").is_file()):
            for c in range(copies):
                dst = tmp / "videos" / f"{d.name}-{c}"
                dst.mkdir(parents=True)
                shutil.copy(d / "video.mp4", dst)
                shutil.copy(d / "captions.en.json3", dst)
                total += json.loads((d / "truth.json").read_text())["duration"]
        cfg = Config().override("general", videos=str(tmp / "videos"), dataset=str(tmp / "dataset"))
        cfg = cfg.override("build", words=6, workers=workers)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            summary = build.run(cfg)
        wall = time.perf_counter() - t0
    peak = max(resource.getrusage(who).ru_maxrss for who in
               (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    return {"video_seconds": round(total, 1), "clips": summary.stats["clips"],
            "wall_s": round(wall, 2), "realtime": round(total / wall, 2), "workers": workers,
            "peak_rss_mb_any_process": round(peak), "stages_s": summary.seconds}


def bench(videos: int = 4, seconds: float = 12.0) -> dict:
    """The 60 s video end to end (the headline figure), the same video twice on one and on two
    workers (how the workers scale), and several short videos."""
    long = corpus(1, 60.0)
    one = run_build(long)
    twice_1 = run_build(long, copies=2, workers=1)
    twice_2 = run_build(long, copies=2, workers=2)
    short = run_build(corpus(videos, seconds))
    return {"size": [1280, 720], "cpu_cores": os.cpu_count(),
            "one_60s_video": one,
            "two_60s_videos_1_worker": twice_1,
            "two_60s_videos_2_workers": twice_2,
            "scaling_2_workers": round(twice_2["realtime"] / twice_1["realtime"], 2),
            f"{videos}_videos_{seconds:g}s": short,
            "note": "peak_rss_mb_any_process: the largest resident set of this process or of any "
                    "worker; the 60 s video is generated (a real face photo, a synthetic voice)"}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
