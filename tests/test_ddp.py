"""Training under torchrun (DDP, gloo on the CPU) and bf16 autocast on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lipreader import data, distributed
from lipreader.checkpoint import load_checkpoint
from lipreader.config import Training
from lipreader.model import ModelDims, build_model
from lipreader.train import _Model, _train_epoch, make_optimizer, run
from tests.conftest import TOY_FRAMES
from tests.test_train import toy_cfg

pytestmark = pytest.mark.timeout(120)


def test_torchrun_two_processes_on_the_cpu(toy, tmp_path):
    """Two gloo processes each train their half of the clips; only rank 0 prints and writes;
    the model it wrote continues in one process."""
    out = tmp_path / "out"
    out.mkdir()
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    (tmp_path / "options.toml").write_text(
        f'[general]\nseed = 0\n[training]\narch = "small"\nbackend = "tc"\nbatch_size = 16\nlr = 0.003\n'
        f'printfrequency = 0\n[validation]\naccuracyfilelocation = "{out / "accuracy.txt"}"\n')
    r = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "lipreader",
                        "train", "--new", "--validate", "--epochs", "1", "--device", "cpu",
                        "--dataset", str(toy), "--model", str(out / "model.pt")],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=100)
    assert r.returncode == 0, r.stdout + r.stderr
    # 64 training clips: 2 batches of 16 per process and epoch, said once
    assert r.stdout.count("64 training clips, 2 batches of 16 per epoch on cpu x 2 processes") == 1
    assert r.stdout.count("epoch 1: loss") == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy.txt", "model.best.pt", "model.confusion.png", "model.curves.png", "model.metrics.json",
        "model.predictions.json",
        "model.pt"]
    assert len((out / "accuracy.txt").read_text().splitlines()) == 1
    ck = load_checkpoint(out / "model.pt")
    assert ck["epoch"] == 1 and ck["scheduler"]["step"] == 2
    assert ck["history"][0]["val_n"] == 24           # both halves of the validation clips counted
    cfg = toy_cfg(toy, out, epochs=1, backend="tc")
    again = run(cfg)
    assert again.epoch == 2 and load_checkpoint(out / "model.pt")["scheduler"]["step"] == 2 + 4


def test_each_process_gets_its_own_half_of_the_clips(toy):
    cache = data.load_cache(toy, "train", show=False)
    labels = cache.labels(sorted(set(cache.words)))
    shards = [data.ClipLoader(cache, labels, 16, 88, train=True, seed=0, rank=r, world=2).indices()
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 32
    assert sorted([*shards[0], *shards[1]]) == list(range(64))


def test_bf16_autocast_trains_the_small_model_on_the_cpu(toy):
    cache = data.load_cache(toy, "train", show=False)
    vocab = sorted(set(cache.words))
    t = Training(arch="small", batch_size=32, lr=3e-3, printfrequency=0)
    torch.manual_seed(0)
    dims = ModelDims.for_arch("small", len(vocab), frames=TOY_FRAMES)
    model = build_model(dims)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    model.resnet.register_forward_hook(lambda mod, i, o: seen.append(o.dtype))
    loader = data.ClipLoader(cache, cache.labels(vocab), 32, 88, train=True, seed=0)
    m = _Model(model, model, make_optimizer(model, t), dims)
    metrics = _train_epoch(m, loader, 0, t, torch.device("cpu"), distributed.SINGLE,
                           amp=True)
    assert seen and set(seen) == {torch.bfloat16}
    assert m.step == 2 and torch.isfinite(torch.tensor(metrics["loss"]))
    after = model.state_dict()
    assert all(after[k].dtype == before[k].dtype for k in before)        # the weights stay fp32
    assert not torch.equal(after["resnet.layers.0.0.conv1.weight"], before["resnet.layers.0.0.conv1.weight"])
