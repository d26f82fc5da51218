"""`[training] boundaries`: the per-frame in-word channel beside the ResNet features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lipreader import data, predict
from lipreader.checkpoint import load_model, new_checkpoint, save_checkpoint
from lipreader.config import Config
from lipreader.errors import InputError
from lipreader.model import ModelDims, build_model, describe
from lipreader.train import run
from pipelines import read
from tests.conftest import TOY_FRAMES
from tests.test_train import toy_cfg

pytestmark = pytest.mark.timeout(120)

SPAN = [2, TOY_FRAMES - 3]   # the toy sidecars' word frames


def _model(backend: str = "lstm", boundaries: bool = True):
    torch.manual_seed(0)
    dims = ModelDims.for_arch("small", 4, frames=TOY_FRAMES, backend=backend, boundaries=boundaries)
    return build_model(dims).eval(), dims


@pytest.mark.parametrize("backend", ["lstm", "tc"])
def test_the_channel_follows_the_resnet_features(backend):
    model, dims = _model(backend)
    width = model.backend.weight_ih_l0.shape[1] if backend == "lstm" else model.backend.net[0].weight.shape[1]
    assert width == model.resnet.out_dim + 1 == 129
    assert build_model(ModelDims.for_arch("small", 4, backend=backend)).resnet.out_dim == 128
    x = torch.randn(2, 1, TOY_FRAMES, 44, 44)
    ones, around = torch.ones(2, TOY_FRAMES), torch.from_numpy(data.in_word([SPAN, None], TOY_FRAMES)).float()
    with torch.no_grad():
        assert model(x, ones).shape == (2, TOY_FRAMES, 4)
        assert torch.equal(model(x), model(x, ones))
        differs = (model(x, around) - model(x, ones)).abs().amax(dim=(1, 2))
    assert differs[0] > 1e-4 and differs[1] == 0
    assert "word boundaries" in describe(model)


def test_in_word_flags():
    assert data.in_word([[1, 3], None], 5).tolist() == [[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]]


def test_checkpoints_keep_the_setting(tmp_path):
    model, dims = _model()
    save_checkpoint(tmp_path / "m.pt", new_checkpoint(dims, list("abcd"), model))
    loaded, _, back = load_model(tmp_path / "m.pt")
    assert back.boundaries is True and loaded.backend.weight_ih_l0.shape[1] == 129
    old = {k: v for k, v in dims.as_dict().items() if k != "boundaries"}
    assert ModelDims.from_dict(old).boundaries is False
    with pytest.raises(InputError, match=r"boundaries = 'yes' is not true or false"):
        ModelDims.from_dict({**dims.as_dict(), "boundaries": "yes"})


def test_pack_keeps_the_word_frames_and_training_uses_them(toy, tmp_path):
    meta = json.loads((toy / ".cache" / "train.json").read_text())
    assert meta["spans"] == [SPAN] * len(meta["words"])
    cache = data.load_cache(toy, "train", show=False)
    assert cache.inword()[0].tolist() == data.in_word([SPAN], TOY_FRAMES)[0].tolist()
    result = run(toy_cfg(toy, tmp_path, epochs=1, boundaries=True), new=True)
    _, _, dims = load_model(result.model_path)
    assert dims.boundaries is True


def test_read_feeds_caption_word_frames_and_all_ones_to_sliding_windows(toy):
    model, dims = _model()
    reader = predict.Reader(model, ["down", "grow", "shrink", "up"], dims, torch.device("cpu"), Path("m.pt"))
    mouth = data.load_cache(toy, "val", show=False).clips[0]                  # (T, 96, 96)
    windows = [list(range(TOY_FRAMES))]
    alone = predict.clip_logits(reader, mouth[None], spans=[SPAN])
    shared = predict.window_logits(reader, mouth, windows, spans=[SPAN])
    np.testing.assert_allclose(shared, alone, rtol=0, atol=1e-5)
    sliding = predict.window_logits(reader, mouth, windows)
    np.testing.assert_allclose(sliding, predict.clip_logits(reader, mouth[None], spans=[None]), atol=1e-5)
    assert np.abs(sliding - shared).max() > 1e-4

    class Plan:
        index, word_start_frame, word_end_frame = tuple(range(TOY_FRAMES)), SPAN[0], SPAN[1]

    np.testing.assert_allclose(read._predictions(reader, mouth, [Plan()], spans=True),
                               predict.softmax(shared), atol=1e-6)
    np.testing.assert_allclose(read._predictions(reader, mouth, [Plan()]), predict.softmax(sliding), atol=1e-6)
    # a folder of clips: each clip's sidecar gives its word frames
    r = read.read_folder(Config(), reader, toy / "up" / "val")
    clips = data.load_cache(toy, "val", show=False)
    first = [i for i, p in enumerate(clips.paths) if p.startswith("up/val/")][0]
    want = predict.softmax(predict.clip_logits(reader, clips.clips[first][None], spans=[SPAN]))[0]
    top = r.items[0].prediction
    assert top.top[0][1] == pytest.approx(float(want.max()), abs=1e-5)
