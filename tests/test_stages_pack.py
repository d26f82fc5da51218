"""The pack stage: a split's clips -> dataset/.cache/<split>.npy, packed again when stale."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from builder.media import write_video
from builder.stages import pack
from lipreader import data
from lipreader.cli import cli
from lipreader.errors import InputError
from tests.conftest import TOY_FRAMES, toy_clip

QUIET = pack.PackSettings(show=False)


def test_cache_is_rebuilt_when_the_dataset_changes_and_travels_alone(toy, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(toy, root)
    assert not pack.run(root, "val", QUIET).packed_now  # current: not packed again
    first = data.load_cache(root, "val")
    assert (len(first), first.frames, first.clips.shape[1:]) == (24, TOY_FRAMES, (TOY_FRAMES, 96, 96))
    write_video(root / "up" / "val" / "extra_5.mp4", toy_clip("up", np.random.default_rng(9)), lossless=True)
    (root / "up" / "val" / "bad_6.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError) as e:
        data.load_cache(root, "val")
    assert str(e.value) == (f"{root}: the val clips are not ready for training (the clips changed "
                            "since they were packed): `lipreader build-dataset` or `lipreader train` packs them")
    packed = pack.run(root, "val", QUIET)
    assert (packed.packed_now, packed.clips, packed.skipped[0]["path"]) == (True, 25, "up/val/bad_6.mp4")
    second = data.load_cache(root, "val")
    assert len(second) == 25 and "up/val/extra_5.mp4" in second.paths
    assert [s["path"] for s in second.skipped] == ["up/val/bad_6.mp4"]
    alone = tmp_path / "gpu-box"
    shutil.copytree(root / ".cache", alone / ".cache")
    third = data.load_cache(alone, "val")
    assert third.paths == second.paths and np.array_equal(third.clips, second.clips)


def test_a_cut_short_cache_whose_metadata_still_matches_is_rebuilt(toy, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(toy, root)
    whole = data.load_cache(root, "val")
    expected = np.array(whole.clips)
    array = root / ".cache" / "val.npy"
    array.write_bytes(array.read_bytes()[: array.stat().st_size // 2])  # a full disk, a broken copy
    assert pack.run(root, "val", QUIET).packed_now
    again = data.load_cache(root, "val")
    assert again.paths == whole.paths and np.array_equal(again.clips, expected)


def test_train_packs_a_dataset_built_before_packing_was_a_stage(toy, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(toy, root, ignore=shutil.ignore_patterns(".cache"))
    res = CliRunner().invoke(cli, ["train", "--dataset", str(root), "--model", str(tmp_path / "m.pt"),
                                   "--device", "cpu", "--new", "--arch", "small", "--epochs", "1",
                                   "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    assert data.load_cache(root, "train").paths == data.load_cache(toy, "train").paths
