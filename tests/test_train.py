"""`lipreader train` on the toy dataset of real mp4 clips in the dataset layout (conftest.toy)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lipreader import data
from lipreader.checkpoint import load_model
from lipreader.cli import cli
from lipreader.config import Config
from lipreader.errors import ConfigError, InputError
from lipreader.train import lr_at, make_optimizer, run
from tests.conftest import TOY_FRAMES, TOY_WORDS

pytestmark = pytest.mark.timeout(300)  # includes the module's trained toy model

WORDS, FRAMES = TOY_WORDS, TOY_FRAMES
pytestmark = pytest.mark.timeout(300)  # includes the module's trained toy model


def toy_cfg(root: Path, out: Path, **training) -> Config:
    cfg = Config()
    settings = dict(folder=str(root), arch="small", batch_size=16, lr=3e-3, epochs=2, time_mask=2,
                    schedule_epochs=14, warmup_epochs=0.5, printfrequency=0)
    cfg = cfg.override("training", **{**settings, **training})
    cfg = cfg.override("general", pretrainedmodelpath=str(out / "model.pt"), device="cpu")
    return cfg.override("validation", accuracyfilelocation=str(out / "accuracy.txt"))


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """A small model trained on the toy words with validation each epoch."""
    out = tmp_path_factory.mktemp("trained")
    cfg = toy_cfg(toy, out, epochs=14)
    result = run(cfg, new=True, validate=True)
    return cfg, out, result


# ---------------------------------------------------------------- learning and its outputs

def test_small_model_learns_motion_words(trained):
    cfg, out, result = trained
    assert [m["epoch"] for m in result.history] == list(range(1, 15))
    assert result.history[-1]["val_top1"] > 0.9
    assert result.history[-1]["val_n"] == 24
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.best_top1 == max(m["val_top1"] for m in result.history)
    for name in ("model.pt", "model.best.pt", "model.curves.png", "model.confusion.png", "model.metrics.json"):
        assert (out / name).stat().st_size > 0, name
    lines = (out / "accuracy.txt").read_text().splitlines()
    assert len(lines) == 14 and "\tval\t" in lines[-1] and "epoch 14" in lines[-1]
    assert "val_top1" in result.summary and len(result.summary.splitlines()) == 16
    assert result.summary.splitlines()[-1] == "splits: unknown (no readable plan.json in the dataset)"


def test_training_writes_the_model_page_beside_the_dataset(trained, toy):
    cfg, out, result = trained
    pred = json.loads((out / "model.predictions.json").read_text())
    assert pred["split"] == "val" and pred["vocab"] == list(WORDS) and len(pred["clips"]) == 24
    cache = data.load_cache(toy, "val")
    assert sorted(p for p, _, _ in pred["clips"]) == sorted(cache.paths)
    assert all(WORDS[spoken] == Path(p).parts[0] for p, spoken, _ in pred["clips"])
    page = (toy / ".pages" / "model-model.html").read_text()
    right = sum(spoken == read for _, spoken, read in pred["clips"])
    assert f'data-figure="top1">{result.history[-1]["val_top1"]:.3f}<' in page
    assert right / 24 == pytest.approx(result.history[-1]["val_top1"])
    for w in WORDS:
        n = sum(WORDS[s] == w for _, s, _ in pred["clips"])
        c = sum(WORDS[s] == w and s == r for _, s, r in pred["clips"])
        assert f'<tr data-row="{w}"><td>{w}</td><td class="n">{c}</td><td class="n">{n}</td>' in page
    assert (toy / ".pages" / "style.css").is_file()


def test_load_model_gives_the_sorted_vocabulary(trained, toy):
    cfg, out, _ = trained
    model, vocab, dims = load_model(out / "model.pt")
    assert vocab == sorted(WORDS)
    assert (dims.arch, dims.num_classes, dims.frames, dims.input_size) == ("small", 4, FRAMES, 44)
    assert not model.training
    cache = data.load_cache(toy, "val", show=False)
    x = data.preprocess(np.asarray(cache.clips), dims.input_size, dims.downsample)
    with torch.no_grad():
        pred = model.classify(x).argmax(1).numpy()
    assert (pred == cache.labels(vocab)).mean() > 0.9


def test_two_epochs_equal_one_plus_resume_plus_one(toy, tmp_path):
    a = run(toy_cfg(toy, tmp_path / "a"), new=True)
    cfg_b = toy_cfg(toy, tmp_path / "b", epochs=1)
    b1 = run(cfg_b, new=True)
    b2 = run(cfg_b)
    assert b2.epoch == 2
    losses_a = [m["loss"] for m in a.history]
    losses_b = [b1.history[0]["loss"], b2.history[0]["loss"]]
    assert losses_a == losses_b
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)["model"]
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


# ---------------------------------------------------------------- the original project's traps

def test_schedule_warms_up_to_the_peak_and_never_doubles_it():
    t = dataclasses.replace(Config().training, lr=0.1, warmup_epochs=0.5, schedule_epochs=3)
    spe = 10
    rates = [lr_at(s, spe, t) for s in range(40)]
    assert rates[0] == pytest.approx(0.02)
    assert rates[:5] == sorted(rates[:5]) and rates[4] == pytest.approx(0.1)
    assert max(rates[:spe]) == pytest.approx(0.1) and max(rates) <= 0.1 + 1e-12
    assert rates[5:30] == sorted(rates[5:30], reverse=True)
    assert rates[30] == rates[39] == pytest.approx(0.001)


def test_sgd_momentum_is_the_momentum_not_the_learning_rate():
    model = torch.nn.Linear(2, 2)
    t = dataclasses.replace(Config().training, optimizer="sgd", lr=0.05, momentum=0.9)
    group = make_optimizer(model, t).param_groups[0]
    assert (group["lr"], group["momentum"]) == (0.05, 0.9)
    with pytest.raises(ConfigError, match="adamw or sgd"):
        make_optimizer(model, dataclasses.replace(t, optimizer="adam"))


def test_augmentation_in_training_only(toy):
    cache = data.load_cache(toy, "train", show=False)
    labels = cache.labels(sorted(WORDS))
    clips = np.asarray(cache.clips)
    centre = clips[:, :, 4:92, 4:92]
    val = data.ClipLoader(cache, labels, 8, 88, train=False)
    x, y, _ = next(iter(val))
    assert np.array_equal(x, centre[:8]) and np.array_equal(y, labels[:8])
    train = data.ClipLoader(cache, labels, 8, 88, train=True, time_mask=3, seed=0)
    idx = train.batches()[0]
    x, _ = train.batch(0, idx)
    assert not np.array_equal(x, centre[idx])
    masked = (x == data.MEAN_BYTE).all(axis=(2, 3))            # (B, T) whole frames set to the mean
    assert masked.sum(axis=1).max() <= 3 and masked.any()

    def found(i, j, flip):
        keep = ~masked[i]
        return any(np.array_equal(x[i][keep], (w[..., ::-1] if flip else w)[keep])
                   for w in (clips[j, :, oy:oy + 88, ox:ox + 88] for oy in range(9) for ox in range(9)))
    flipped = [found(i, j, True) for i, j in enumerate(idx)]
    assert all(f or found(i, j, False) for i, (j, f) in enumerate(zip(idx, flipped, strict=True)))
    assert any(flipped) and not all(flipped)
    x2, _ = train.batch(0, idx)
    assert np.array_equal(x, x2)                               # same (seed, epoch, batch): same batch
    train.set_epoch(1)
    assert not np.array_equal(train.batch(0, idx)[0], x)


def test_labels_come_from_the_given_vocabulary(toy):
    cache = data.load_cache(toy, "val", show=False)
    reverse = sorted(WORDS, reverse=True)
    labels = cache.labels(reverse)
    assert [reverse[i] for i in labels] == cache.words
    assert (cache.labels(["up", "down"]) == -1).sum() == 12


# ---------------------------------------------------------------- bad input: one clear line each

def cache_only(toy: Path, root: Path, rename) -> Path:
    """A dataset that is only a ready cache (as on a GPU box), its words renamed."""
    shutil.copytree(toy / ".cache", root / ".cache")
    meta = json.loads((root / ".cache" / "train.json").read_text())
    meta["words"] = [rename(w) for w in meta["words"]]
    (root / ".cache" / "train.json").write_text(json.dumps(meta))
    return root


def test_bad_inputs(toy, trained, tmp_path):
    cfg, out, _ = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no training clips"):
        run(toy_cfg(empty, tmp_path / "m1"), new=True)

    one = cache_only(toy, tmp_path / "one", lambda w: "up")
    with pytest.raises(InputError, match="only one word .'up'. has training clips"):
        run(toy_cfg(one, tmp_path / "m2"), new=True)

    renamed = cache_only(toy, tmp_path / "renamed", lambda w: "left" if w == "up" else w)
    with pytest.raises(InputError, match="different vocabulary .4 words. from the model.*left.*use --new"):
        run(toy_cfg(renamed, out))

    with pytest.raises(InputError, match="exists: add --force"):
        run(cfg, new=True)

    bad = tmp_path / "bad"
    bad.mkdir()
    full = (out / "model.pt").read_bytes()
    (bad / "truncated.pt").write_bytes(full[: len(full) // 2])
    torch.save({"state_dict": {"w": torch.zeros(2)}}, bad / "foreign.pt")
    (bad / "text.pt").write_text("hello")
    with pytest.raises(InputError, match="truncated or not a lipreader checkpoint"):
        load_model(bad / "truncated.pt")
    with pytest.raises(InputError, match="not a lipreader checkpoint"):
        load_model(bad / "foreign.pt")
    with pytest.raises(InputError, match="truncated or not a lipreader checkpoint"):
        load_model(bad / "text.pt")
    with pytest.raises(InputError, match="no model file; train one with `lipreader train --new`"):
        load_model(bad / "missing.pt")
    with pytest.raises(InputError, match="truncated"):
        run(dataclasses.replace(cfg, general=dataclasses.replace(cfg.general,
                                                                pretrainedmodelpath=str(bad / "truncated.pt"))))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda: no CUDA GPU"):
            run(cfg.override("general", device="cuda"), dry_run=True)


def test_cli_bad_input_is_one_line(in_tmp):
    res = CliRunner().invoke(cli, ["train", "--new", "--dataset", "nothing-here", "--arch", "small"])
    assert res.exit_code == 1
    assert res.output.strip().splitlines() == [
        "Error: nothing-here: no training clips in <word>/train/; build a dataset with "
        "`lipreader build-dataset` or point --dataset at one"]


# ---------------------------------------------------------------- dry run, the CLI, imports

def test_dry_run_prints_the_architecture(in_tmp):
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--dataset", "nowhere", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "resnet34 + BiLSTM(256), 500 words, input 88x88" in res.output
    assert re.search(r"total +24,701,364  parameters", res.output)
    assert "assuming [build] words = 500" in res.output and "nothing trained" in res.output
    assert not Path("data").exists()


def test_dry_run_with_the_temporal_conv_backend_and_a_bad_backend(in_tmp):
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--dataset", "nowhere", "--arch", "small",
                                   "--backend", "tc"])
    assert res.exit_code == 0, res.output
    assert "small + TC(128), 500 words" in res.output and "tempconv" in res.output
    Path("options.toml").write_text('[training]\nbackend = "gru"\n')
    res = CliRunner().invoke(cli, ["train", "--dry-run"])
    assert res.exit_code != 0 and "backend must be one of lstm, tc, mstcn, dctcn" in res.output


def test_dry_run_on_a_dataset_and_a_checkpoint(toy, trained, in_tmp):
    cfg, out, _ = trained
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--dataset", str(toy), "--arch", "resnet18",
                                   "--model", str(in_tmp / "new.pt")])
    assert res.exit_code == 0, res.output
    assert "resnet18 + BiLSTM(256), 4 words" in res.output and "64 training clips" in res.output
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--model", str(out / "model.pt")])
    assert "small + BiLSTM(64), 4 words" in res.output and "trained 14 epochs" in res.output


@pytest.mark.timeout(300)  # includes the module's trained toy model
def test_cli_trains_without_mediapipe_cv2_or_yt_dlp(toy, tmp_path):
    code = f"""
import sys
from click.testing import CliRunner
from lipreader.cli import cli

args = ["--config", {str(tmp_path / 'o.toml')!r}, "train", "--dataset", {str(toy)!r}, "--arch", "small",
        "--device", "cpu", "--batch-size", "32", "--model", {str(tmp_path / 'm.pt')!r}]
r1 = CliRunner().invoke(cli, args + ["--dry-run"])
r2 = CliRunner().invoke(cli, args + ["--new", "--epochs", "1", "--validate"])
heavy = sorted(m for m in ("mediapipe", "cv2", "yt_dlp") if m in sys.modules)
print("EXIT", r1.exit_code, r2.exit_code, "HEAVY", heavy)
print(r2.output)
"""
    (tmp_path / "o.toml").write_text(f'[validation]\naccuracyfilelocation = "{tmp_path / "acc.txt"}"\n')
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "EXIT 0 0 HEAVY []" in res.stdout, res.stdout + res.stderr
    assert "epoch 1: loss" in res.stdout and (tmp_path / "m.pt").is_file()
