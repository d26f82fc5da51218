"""One short script for a CUDA machine (needs only torch, numpy and this repository):

    python benchmarks/gpu_check.py [--steps 200] [--no-compile] [--device cuda]

1. Sanity: `lipreader.train.run` for 2 epochs on a generated cache-only dataset on the GPU (bf16
   autocast, channels_last, pinned memory, non-blocking copies), then `load_model` on the GPU,
   and the same weights' fp32 outputs on CPU and GPU compared.
2. Speed: ResNet-34 + BiLSTM(256), 500 words, 88x88, batch 64: training clips/s in fp32, bf16,
   bf16 + channels_last, and + torch.compile, over `--steps` steps each (45 s at most each).

Prints one JSON object. Takes about 2-4 minutes on one H100.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_train import bench  # noqa: E402
from lipreader.atomic import write_json  # noqa: E402
from lipreader.config import Config  # noqa: E402


def fake_dataset(root: Path, words: int = 3, clips: int = 96, frames: int = 29) -> Path:
    """A ready cache (no mp4s): word k is a bright square in row-band k, so it is learnable."""
    rng = np.random.default_rng(0)
    arr = rng.integers(40, 90, (clips, frames, 96, 96), dtype=np.uint8)
    names = [f"w{k}" for k in range(words)]
    labels = np.arange(clips) % words
    for i, k in enumerate(labels):
        arr[i, :, 10 + 25 * k:30 + 25 * k, 30:60] = 220
    (root / ".cache").mkdir(parents=True)
    np.save(root / ".cache" / "train.npy", arr)
    np.save(root / ".cache" / "val.npy", arr[:24])
    for split, n in (("train", clips), ("val", 24)):
        write_json(root / ".cache" / f"{split}.json", {
            "version": 1, "split": split, "fingerprint": "", "frames": frames, "skipped": [],
            "words": [names[k] for k in labels[:n]], "paths": [f"{split}/{i}.mp4" for i in range(n)]})
    return root


def sanity(device: str) -> dict:
    import torch

    from lipreader.checkpoint import load_model
    from lipreader.train import run

    with tempfile.TemporaryDirectory() as tmp:
        root = fake_dataset(Path(tmp) / "ds")
        cfg = Config().override("training", folder=str(root), arch="resnet18" if device == "cuda" else "small", epochs=2, batch_size=32,
                                lr=1e-3, printfrequency=3, schedule_epochs=2)
        cfg = cfg.override("general", pretrainedmodelpath=str(Path(tmp) / "m.pt"), device=device)
        cfg = cfg.override("validation", accuracyfilelocation=str(Path(tmp) / "acc.txt"))
        t0 = time.perf_counter()
        result = run(cfg, new=True, validate=True)
        seconds = time.perf_counter() - t0
        model, vocab, dims = load_model(Path(tmp) / "m.pt", device=device)
        x = torch.randn(2, 1, 29, dims.input_size, dims.input_size)
        with torch.no_grad():
            on_device = model.classify(x.to(device)).float().cpu()
            on_cpu = model.cpu().classify(x)
        return {"ok": all(np.isfinite(m["loss"]) for m in result.history),
                "losses": [round(m["loss"], 4) for m in result.history],
                "val_top1": [round(m["val_top1"], 3) for m in result.history],
                "seconds": round(seconds, 1), "vocab": vocab,
                "cpu_vs_device_max_abs_diff": float((on_device - on_cpu).abs().max())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU visible to torch")
    out = {"sanity": sanity(args.device)}
    print(json.dumps(out), flush=True)
    if args.device == "cuda":
        out["bench"] = bench("cuda", cuda_steps=args.steps, compile=not args.no_compile)
        lrw = 489_000
        best = max(out["bench"]["train_clips_per_s"].values())
        out["lrw_epoch_minutes_at_best"] = round(lrw / best / 60, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
