"""build-dataset end to end (captions + tracking + clips) on generated 720p videos.

The realtime factor is seconds of video turned into clips per wall second, from a fetched
video folder to the finished dataset, using every core.
"""

from __future__ import annotations

import json
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


def bench(videos: int = 4, seconds: float = 12.0) -> dict:
    import contextlib
    import io
    import os

    from pipelines import build

    src = corpus(videos, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        total = 0.0
        for d in sorted(p for p in src.iterdir() if (p / "truth.json").is_file()):
            dst = tmp / "videos" / d.name
            dst.mkdir(parents=True)
            shutil.copy(d / "video.mp4", dst)
            shutil.copy(d / "captions.en.json3", dst)
            total += json.loads((d / "truth.json").read_text())["duration"]
        cfg = Config().override("general", videos=str(tmp / "videos"), dataset=str(tmp / "dataset"))
        cfg = cfg.override("build", words=6)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            summary = build.run(cfg)
        wall = time.perf_counter() - t0
    return {"videos": videos, "video_seconds": round(total, 1), "size": [1280, 720],
            "clips": summary.stats["clips"], "wall_s": round(wall, 2),
            "realtime": round(total / wall, 2), "workers": os.cpu_count(),
            "stages_s": summary.seconds}


if __name__ == "__main__":
    print(json.dumps(bench(), indent=2))
