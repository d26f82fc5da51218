"""`lipreader read` speed on a generated 720p talking head with a ResNet-34 model.

    python -m benchmarks.bench_read [seconds]      # prints JSON

The video is a builder.synth talking head (960x720, 25 fps: synth's 4:3 at 720 lines) with
exact captions; the model is a ResNet-34 + BiLSTM over 500 words with random weights (speed
does not depend on the weights). Measured, as seconds of video per wall second ("x realtime"):
  realtime          end to end, caption-guided: fetch (a local copy), face tracking, the model
  model_realtime    the model part of it (shared features + one head per caption word)
  bf16              the same with [prediction] bf16 = true, and how far its words differ
  sliding_model_realtime   the model on sliding windows every [prediction] stride frames
  naive_sliding_model_realtime   the same windows each run through the whole network alone
                    (measured on a sample of windows, extrapolated): what sharing saves
On a shared machine wall times suffer from other load; `cpu_bound_realtime_2_cores` is the
realtime factor the CPU seconds spent would allow on 2 idle cores; `cpu_threads` says how many
threads torch used.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
FPS = 25.0


def random_checkpoint(path: Path, arch: str = "resnet34", words: int = 500,
                      known: tuple[str, ...] = ()) -> Path:
    """A checkpoint in `train`'s format with random weights and `words` words (`known` first)."""
    import torch

    from lipreader import checkpoint
    from lipreader.model import ModelDims, build_model

    vocab = sorted(set(known) | {f"word{i:03d}" for i in range(words - len(set(known)))})
    dims = ModelDims.for_arch(arch, len(vocab))
    torch.manual_seed(0)
    state = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "dims": dims.as_dict(),
             "vocab": vocab, "model": build_model(dims).state_dict(), "epoch": 0}
    checkpoint.save_checkpoint(path, state)
    return path


def talking_head(work: Path, seconds: float) -> Path:
    """A 720p synth video with its captions beside it: work/input/talk.mp4 + talk.en.json3."""
    from builder.synth import make_corpus

    corpus = make_corpus(work / "corpus", words=20, videos=1, seconds=seconds, speakers=1,
                         holdout_speakers=0, height=720, workers=1)
    src = corpus.root / corpus.videos[0]["name"]
    video = work / "input" / "talk.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "video.mp4", video)
    shutil.copyfile(src / "captions.en.json3", video.with_name("talk.en.json3"))
    return video


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def naive_seconds(reader, mouth: np.ndarray, windows: list, sample: int = 12) -> float:
    """Seconds to run every window alone through the whole network, from a sample of them."""
    from lipreader.predict import clip_logits

    pick = np.linspace(0, len(windows) - 1, min(sample, len(windows))).round().astype(int)
    clips = np.asarray(mouth)[np.array([windows[i] for i in pick])]
    clip_logits(reader, clips[:2])  # warm-up
    t0 = time.perf_counter()
    clip_logits(reader, clips, batch=len(clips))
    return (time.perf_counter() - t0) / len(pick) * len(windows)


def bench(seconds: float = 20.0, arch: str = "resnet34") -> dict:
    from builder.clips import load_mouth
    from builder.layout import VideoDir
    from builder.stages import track as trackstage
    from lipreader.config import Config
    from lipreader.predict import cpu_threads, load_reader
    from pipelines import read, settings, windows

    work = HERE / "out" / "read"
    video = talking_head(work, seconds)
    known = tuple(json.loads((work / "corpus" / "corpus.json").read_text())["vocabulary"])
    model = random_checkpoint(work / f"{arch}.pt", arch, 500, known)
    videos = work / "videos"
    cfg = Config().override("general", videos=str(videos), pretrainedmodelpath=str(model))
    cfg = cfg.override("prediction", videos=str(videos))  # read fetches into its own folder
    cfg = cfg.override("prediction", format="json")

    def end_to_end(bf16: bool):
        shutil.rmtree(videos, ignore_errors=True)  # fetch and track afresh
        cpu0, t0 = _cpu(), time.perf_counter()
        r = read.run(cfg.override("prediction", bf16=bf16), str(video), out=work / "captions.jsonl")
        return r, time.perf_counter() - t0, _cpu() - cpu0

    caption, wall, cpu = end_to_end(False)
    fast, fast_wall, _ = end_to_end(True)
    sliding = read.run(cfg, str(video), out=work / "sliding.jsonl", captions="none")
    pairs = [(a.prediction, b.prediction) for a, b in zip(caption.items, fast.items, strict=True)
             if a.prediction and b.prediction]
    agree = sum(a.word == b.word for a, b in pairs) / max(1, len(pairs))
    prob_diff = max((abs(a.prob - b.prob) for a, b in pairs), default=0.0)

    vd = VideoDir(caption.video)
    reader = load_reader(model, cfg.general.device)
    track = trackstage.load_view(vd)
    opening = trackstage.load_opening(vd)
    limits = settings.limits(cfg, reader.frames)
    frames = [p.index for _, p in windows.sliding_windows(track, opening, limits, cfg.prediction.stride)
              if not isinstance(p, str)]
    naive = naive_seconds(reader, load_mouth(vd.mouth), frames)

    s = caption.seconds
    t = caption.timings
    return {
        "video": {"seconds": round(s, 2), "size": "960x720", "fps": FPS,
                  "caption_words": len(caption.items)},
        "model": {"arch": reader.dims.arch, "words": len(reader.vocab), "input": reader.dims.input_size,
                  "device": str(reader.device), "cpu_threads": cpu_threads()},
        "realtime": s / wall,
        "cpu_s": round(cpu, 2),
        "cpu_bound_realtime_2_cores": 2 * s / cpu,
        "model_realtime": s / t["model"],
        "bf16": {"realtime": s / fast_wall, "model_realtime": s / fast.timings["model"],
                 "top1_agreement_with_fp32": agree, "max_top1_prob_difference": prob_diff},
        "tracking_realtime": s / t["track"] if t.get("track") else None,
        "timings_s": {k: round(v, 2) for k, v in t.items()} | {"wall": round(wall, 2)},
        "sliding_windows": len(frames),
        "stride": cfg.prediction.stride,
        "sliding_model_realtime": s / sliding.timings["model"],
        "naive_sliding_model_realtime": s / naive,
        "sharing_speedup": naive / sliding.timings["model"],
    }


if __name__ == "__main__":
    print(json.dumps(bench(*(float(a) for a in sys.argv[1:2])), indent=2))
