"""lipreader.data: the dataset listing and the memory-mapped clip cache (no decoding here)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from lipreader import data
from lipreader.cli import cli
from lipreader.errors import InputError
from tests.conftest import TOY_FRAMES


def test_a_cache_is_not_used_once_its_dataset_has_no_clips_of_the_split(tmp_path):
    """`build-dataset --output predict` once replaced a dataset's training clips and manifest,
    and `train` went on with the old .cache/train.npy: a cache stands alone only without a dataset."""
    root = tmp_path / "ds"
    (root / ".cache").mkdir(parents=True)
    np.save(root / ".cache" / "train.npy", np.zeros((2, TOY_FRAMES, 96, 96), np.uint8))
    (root / ".cache" / "train.json").write_text(json.dumps({
        "version": data.CACHE_VERSION, "split": "train", "fingerprint": "old", "frames": TOY_FRAMES,
        "words": ["down", "up"], "paths": ["down/train/v1_0.mp4", "up/train/v1_900.mp4"]}))
    alone = tmp_path / "alone"
    shutil.copytree(root / ".cache", alone / ".cache")
    assert data.load_cache(alone, "train").words == ["down", "up"]
    (root / "manifest.jsonl").write_text(json.dumps({"path": "up/predict/v1_900.mp4", "word": "up",
                                                     "split": "predict"}) + "\n")
    assert len(data.load_cache(root, "train")) == 0
    res = CliRunner().invoke(cli, ["train", "--dataset", str(root), "--model", str(tmp_path / "m.pt"),
                                   "--device", "cpu", "--new"])
    assert (res.exit_code, res.output) == (1, f"Error: {root}: no training clips in <word>/train/; build a "
                                              "dataset with `lipreader build-dataset` or point --dataset at one\n")
    (root / "manifest.jsonl").unlink()  # clip folders without a manifest are a dataset too
    (root / "up" / "predict").mkdir(parents=True)
    (root / "up" / "predict" / "v1_900.mp4").write_bytes(b"clip")
    assert len(data.load_cache(root, "train")) == 0


def test_a_lone_cache_cut_short_is_one_clear_error(toy, tmp_path):
    alone = tmp_path / "gpu-box"
    shutil.copytree(toy / ".cache", alone / ".cache")
    array = alone / ".cache" / "val.npy"
    array.write_bytes(array.read_bytes()[:1000])
    with pytest.raises(InputError) as e:
        data.load_cache(alone, "val")
    assert str(e.value) == (f"{array}: cut short or damaged, and no clips "
                            "beside it to rebuild it from: copy the cache again")


def test_manifest_is_read_when_present(toy, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(toy, root)
    lines = [{"path": "up/val/toy00_0.mp4", "word": "up", "split": "val"},
             {"path": "grow/val/toy01_1000.mp4", "word": "grow", "split": "val"},
             {"path": "grow/train/toy01_1000.mp4", "word": "grow", "split": "train"}]
    (root / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert [c.rel for c in data.find_clips(root, "val")] == ["grow/val/toy01_1000.mp4", "up/val/toy00_0.mp4"]
