"""Checkpoints that are damaged or crafted: one `Error:` line before any model is built."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from lipreader import checkpoint
from lipreader.cli import cli
from lipreader.errors import DiskFull, InputError
from lipreader.model import ModelDims


def _write(path, dims, vocab=("a", "b", "c")):
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "dims": dims, "vocab": list(vocab),
                "model": {}, "epoch": 1}, path)
    return path


def _small(**changes):
    return {**ModelDims.for_arch("small", 3).as_dict(), **changes}


@pytest.mark.parametrize("dims,why", [
    (None, "no 'dims' table"),
    ("small", "no 'dims' table"),
    ({k: v for k, v in _small().items() if k != "hidden"}, "hidden is missing"),
    (_small(num_classes="3"), "num_classes = '3' is not a whole number"),
    (_small(hidden=64.0), "hidden = 64.0 is not a whole number"),
    (_small(lstm_layers=True), "lstm_layers = True is not a whole number"),
    (_small(blocks="1,1,1,1"), "blocks = '1,1,1,1' is not a list of whole numbers"),
    (_small(arch=34), "arch = 34 is not text"),
    (_small(arch="resnet50"), "arch 'resnet50' is not one of resnet34, resnet18, small"),
    (_small(backend="gru"), "backend 'gru' is not one of lstm, tc, mstcn, dctcn"),
    (_small(widths=[16, 32, 64]), "blocks [1, 1, 1, 1] and widths [16, 32, 64] need 1..8 stages each, "
                                  "as many of both"),
    (_small(hidden=0), "hidden = 0 must be 1..4096"),
    (_small(blocks=[1, 1, 1, 100]), "blocks [1, 1, 1, 100] must each be 1..64"),
    # what a crafted file asked for: terabytes of weights
    (_small(blocks=[64] * 8, widths=[4096] * 8, hidden=4096),
     "about 155,559,505,923 parameters, more than the 1,000,000,000 allowed"),
])
def test_damaged_dims_are_refused_before_the_model_is_built(tmp_path, dims, why):
    path = _write(tmp_path / "m.pt", dims)
    with pytest.raises(InputError) as e:
        checkpoint.load_model(path)
    assert str(e.value) == f"{path}: damaged model dimensions ({why}); train a model with `lipreader train --new`"


def test_a_crafted_checkpoint_is_one_error_line(in_tmp):
    _write(in_tmp / "m.pt", _small(widths=[16, 32, 64, 4096], blocks=[1, 1, 1, 64]))
    res = CliRunner().invoke(cli, ["train", "--dry-run", "--model", "m.pt", "--dataset", "nowhere"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Error: m.pt: damaged model dimensions (about 19,331,980,755 parameters, more than the "
        "1,000,000,000 allowed); train a model with `lipreader train --new`"]


def test_a_damaged_vocabulary_or_version_is_one_error_line(tmp_path):
    path = _write(tmp_path / "m.pt", _small(), vocab=())
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "dims": _small(), "vocab": "abc"}, path)
    with pytest.raises(InputError) as e:
        checkpoint.load_checkpoint(path)
    assert str(e.value) == f"{path}: damaged vocabulary (not a list of words); train a model with `lipreader train --new`"
    torch.save({"format": checkpoint.FORMAT, "version": "1", "dims": _small(), "vocab": ["a"]}, path)
    with pytest.raises(InputError, match="made by a newer lipreader"):
        checkpoint.load_checkpoint(path)


def test_checkpoints_without_a_backend_still_mean_the_bilstm(tmp_path):
    dims = {k: v for k, v in _small().items() if k != "backend"}
    assert ModelDims.from_dict(dims).backend == "lstm"


def _real(path, arch="small", backend="lstm"):
    from lipreader.model import build_model

    dims = ModelDims.for_arch(arch, 3, backend=backend)
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "dims": dims.as_dict(),
                "vocab": ["a", "b", "c"], "model": build_model(dims).state_dict(), "epoch": 2}, path)
    return path


@pytest.mark.parametrize("flags,line", [
    (["--arch", "resnet34"], "Error: --arch resnet34: m.pt is a small + BiLSTM model; add --new to start a new "
                             "model (or --model to name another file)"),
    (["--backend", "tc"], "Error: --backend tc: m.pt is a small + BiLSTM model; add --new to start a new "
                          "model (or --model to name another file)"),
])
def test_an_arch_or_backend_that_differs_from_the_model_continued_is_an_error(in_tmp, flags, line):
    _real(in_tmp / "m.pt")
    base = ["train", "--model", "m.pt", "--dataset", "nowhere", "--device", "cpu"]
    for extra in (["--dry-run"], []):
        res = CliRunner().invoke(cli, base + flags + extra)
        assert res.exit_code == 1, res.output
        assert res.output.splitlines() == [line]


def test_the_model_continued_is_described_when_flags_agree_or_are_absent(in_tmp):
    _real(in_tmp / "m.pt")
    base = ["train", "--dry-run", "--model", "m.pt", "--dataset", "nowhere", "--device", "cpu"]
    for flags in ([], ["--arch", "small", "--backend", "lstm"]):
        res = CliRunner().invoke(cli, base + flags)
        assert res.exit_code == 0, res.output
        assert "small + BiLSTM(64), 3 words" in res.output and "trained 2 epochs" in res.output
    res = CliRunner().invoke(cli, base + ["--new", "--arch", "resnet18"])
    assert res.exit_code == 0 and "resnet18 + BiLSTM(256)" in res.output


# ---------------------------------------------------------------- a full disk


def _full_disk(monkeypatch, code=errno.ENOSPC):
    def write_bytes(self, data):
        with open(self, "wb") as f:
            f.write(bytes(data)[:100])            # part of it lands, then the disk is full
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_while_saving_a_checkpoint_is_one_error_and_keeps_the_old_file(tmp_path, monkeypatch, code):
    path = _real(tmp_path / "m.pt")
    before = path.read_bytes()
    _full_disk(monkeypatch, code)
    with pytest.raises(DiskFull) as e:
        checkpoint.save_checkpoint(path, {"format": checkpoint.FORMAT, "weights": torch.zeros(1000)})
    assert str(e.value) == (f"{path}: the disk is full (or over quota); free some space and run again "
                            "(nothing half-written was left)")
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_full_disk_while_writing_json_is_one_error_line(in_tmp, monkeypatch):
    from lipreader import atomic

    _full_disk(monkeypatch)
    with pytest.raises(DiskFull, match=r"^stats.json: the disk is full"):
        atomic.write_json(Path("stats.json"), {"clips": 3})
    monkeypatch.undo()
    assert list(in_tmp.iterdir()) == []


def test_a_full_disk_while_encoding_a_clip_is_one_error(tmp_path, monkeypatch):
    import numpy as np

    from builder import media

    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\ncat > /dev/null\n"
                    "echo 'Error writing trailer of clip.mp4: No space left on device' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(media, "ffmpeg_exe", lambda: str(fake))
    clip = tmp_path / "out" / "clip.mp4"
    with pytest.raises(DiskFull, match=r"clip.mp4: the disk is full \(or over quota\)"):
        media.write_video(clip, [np.zeros((96, 96), np.uint8)] * 3, lossless=True)
    assert list((tmp_path / "out").iterdir()) == []

