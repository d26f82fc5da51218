"""Training speed: the cache loader and training steps on random data.

    python -m benchmarks.bench_train [cpu|cuda]     # prints JSON

CPU: loader clips/s (crop, flip, time mask out of a memory-mapped uint8 cache, with and
without normalisation) and training clips/s for small (BiLSTM and TC back ends), resnet18 and
resnet34 at 88x88.
CUDA: ResNet-34 + BiLSTM at batch 64 in fp32, bf16, bf16 + channels_last, and + torch.compile.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lipreader import data
from lipreader.model import ModelDims, build_model, sequence_loss

T = 29
WORDS = 500


def bench_loader(clips: int = 512, batch: int = 32, seconds: float = 2.0) -> dict:
    """Clips/s out of a (clips, 29, 96, 96) uint8 memory map, one core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.npy"
            arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(clips, T, 96, 96))
            arr[:] = np.random.default_rng(0).integers(0, 256, arr.shape, dtype=np.uint8)
            arr.flush()
            del arr
            cache = data.ClipCache(path, ["w"] * clips, ["p"] * clips, T)
            loader = data.ClipLoader(cache, np.zeros(clips, np.int64), batch, 88, train=True, time_mask=6)
            out = {}
            for name, normalise in (("loader_clips_per_s", False), ("loader_normalised_clips_per_s", True)):
                n, epoch, t0 = 0, 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    loader.set_epoch(epoch)
                    for x, *_ in loader:
                        if normalise:
                            data.to_input(x)
                        n += len(x)
                    epoch += 1
                out[name] = round(n / (time.perf_counter() - t0), 1)
            del cache
            return out
    finally:
        torch.set_num_threads(threads)


def bench_step(arch: str, batch: int, steps: int, device: str = "cpu", size: int = 88, bf16: bool = False,
               channels_last: bool = False, compile: bool = False, warmup: int = 1,
               max_seconds: float = 90.0, backend: str = "lstm") -> float:
    """Training clips/s of one configuration on random input (forward, backward, AdamW step)."""
    import torch

    dims = ModelDims.for_arch(arch, WORDS, size, T, backend)
    model = build_model(dims).to(device).train()
    if channels_last:
        model.use_channels_last()
    net = torch.compile(model) if compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    s = dims.input_size
    x = torch.randn(batch, 1, T, s, s, device=device)
    y = torch.randint(0, WORDS, (batch,), device=device)

    def step():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = sequence_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = 0
    while done < steps and time.perf_counter() - t0 < max_seconds:
        step()
        done += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return round(batch * done / (time.perf_counter() - t0), 2)


def bench(device: str = "cpu", cuda_steps: int = 50, compile: bool = True) -> dict:
    import torch

    result = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device == "cpu":
        result.update(bench_loader())
        result["train_clips_per_s"] = {
            "small_88": bench_step("small", 16, 3),
            "small_tc_88": bench_step("small", 16, 3, backend="tc"),
            "resnet18_88": bench_step("resnet18", 2, 2),
            "resnet34_88": bench_step("resnet34", 2, 2),
        }
        return result
    result["gpu"] = torch.cuda.get_device_name()
    runs = {"fp32": {}, "bf16": {"bf16": True}, "bf16_channels_last": {"bf16": True, "channels_last": True},
            "bf16_channels_last_compile": {"bf16": True, "channels_last": True, "compile": True}}
    if not compile:
        del runs["bf16_channels_last_compile"]
    result["train_clips_per_s"] = {
        name: bench_step("resnet34", 64, cuda_steps, device, warmup=5 if kw.get("compile") else 3,
                         max_seconds=45, **kw)
        for name, kw in runs.items()}
    return result


if __name__ == "__main__":
    print(json.dumps(bench(sys.argv[1] if len(sys.argv) > 1 else "cpu"), indent=2))
