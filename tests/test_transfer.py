"""`--init-from` and staged training: a model starts from another one (lipreader.transfer)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from builder.stages import pack
from lipreader import data
from lipreader.checkpoint import load_checkpoint, load_model
from lipreader.cli import cli
from lipreader.model import ModelDims, build_model
from lipreader.train import run
from lipreader.transfer import transfer
from tests.conftest import TOY_FRAMES, write_toy_dataset
from tests.test_train import toy_cfg

pytestmark = pytest.mark.timeout(300)

TARGET_WORDS = ("down", "left", "right", "up")   # shares down and up with the toy words


@pytest.fixture(scope="module")
def source(toy, tmp_path_factory):
    """A small TC model trained on the toy words (down, grow, shrink, up)."""
    out = tmp_path_factory.mktemp("source")
    result = run(toy_cfg(toy, out, epochs=6, backend="tc", schedule_epochs=6), new=True, validate=True)
    return out / "model.pt", result


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = write_toy_dataset(tmp_path_factory.mktemp("target") / "dataset", words=TARGET_WORDS,
                             per_split=(("train", 8), ("val", 6)), seed=1)
    for split in ("train", "val"):
        pack.run(root, split, pack.PackSettings(show=False))
    return root


def _fresh(dims: ModelDims, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(dims)


def _trunk(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith(("frontend.", "resnet."))}


def test_shared_words_keep_their_rows_and_new_words_start_fresh(source):
    path, _ = source
    ck = load_checkpoint(path)
    vocab = list(TARGET_WORDS)
    dims = ModelDims.for_arch("small", len(vocab), 88, TOY_FRAMES, "tc")
    model = _fresh(dims)
    fresh = _fresh(dims).state_dict()
    done = transfer(model, vocab, ck, path)
    assert (done.backend_kept, done.shared_words, done.new_words) == (True, 2, 2)
    got, old = model.state_dict(), ck["model"]
    for word in ("down", "up"):
        i, j = vocab.index(word), ck["vocab"].index(word)
        assert torch.equal(got["classifier.weight"][i], old["classifier.weight"][j])
        assert torch.equal(got["classifier.bias"][i], old["classifier.bias"][j])
    for word in ("left", "right"):
        i = vocab.index(word)
        assert torch.equal(got["classifier.weight"][i], fresh["classifier.weight"][i])
        assert not torch.equal(got["classifier.weight"][i], old["classifier.weight"][i])
    for k, v in old.items():
        if not k.startswith("classifier."):
            assert torch.equal(got[k], v), k


def test_a_tc_model_starts_a_bilstm_model_with_its_trunk(source):
    path, _ = source
    ck = load_checkpoint(path)
    dims = ModelDims.for_arch("small", 4, 88, TOY_FRAMES, "lstm")
    model = _fresh(dims)
    fresh = _fresh(dims).state_dict()
    done = transfer(model, list(ck["vocab"]), ck, path)
    assert (done.backend_kept, done.shared_words) == (False, 0)
    got = model.state_dict()
    for k, v in _trunk(ck["model"]).items():
        assert torch.equal(got[k], v), k
    for k in got:
        if k.startswith(("backend.", "classifier.")):
            assert torch.equal(got[k], fresh[k]), k


def _accuracy_on(model, root: Path, vocab: list[str], words: tuple[str, ...]) -> float:
    cache = data.load_cache(root, "val", show=False)
    labels = cache.labels(vocab)
    keep = np.isin(np.asarray(cache.words), words)
    x = data.preprocess(np.asarray(cache.clips)[keep], model.dims.input_size, model.dims.downsample)
    with torch.no_grad():
        pred = model.eval().classify(x).argmax(1).numpy()
    return float((pred == labels[keep]).mean())


def test_a_started_model_reads_the_shared_words_before_training(source, target):
    """Measured: before any training on the new words, the shared words are read far above the
    chance of 1 in 4 (a fresh model reads them at about chance)."""
    path, result = source
    ck = load_checkpoint(path)
    vocab = list(TARGET_WORDS)
    dims = ModelDims.for_arch("small", len(vocab), 88, TOY_FRAMES, "tc")
    started, fresh = _fresh(dims), _fresh(dims)
    transfer(started, vocab, ck, path)
    shared = ("down", "up")
    a_started = _accuracy_on(started, target, vocab, shared)
    a_fresh = _accuracy_on(fresh, target, vocab, shared)
    print(f"source val top-1 {result.history[-1]['val_top1']:.3f}; shared words before training: "
          f"started {a_started:.3f}, fresh {a_fresh:.3f} (chance 0.25)")
    assert a_started >= 0.75
    assert a_started > a_fresh + 0.25


def test_init_from_on_the_command_line(source, target, tmp_path, in_tmp):
    path, _ = source
    out = tmp_path / "new.pt"
    r = CliRunner().invoke(cli, ["train", "--init-from", str(path), "--dataset", str(target), "--model", str(out),
                                 "--epochs", "1", "--batch-size", "16", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (f"initialised from {path}: front end, ResNet and TC kept; classifier rows of 2 shared words kept, "
            "2 new") in r.output
    model, vocab, dims = load_model(out)
    assert vocab == sorted(TARGET_WORDS) and (dims.arch, dims.backend, dims.input_size) == ("small", "tc", 44)
    # once the model exists, --init-from on the command line would be ignored: an error instead
    r = CliRunner().invoke(cli, ["train", "--init-from", str(path), "--dataset", str(target), "--model", str(out),
                                 "--epochs", "1", "--device", "cpu"])
    assert r.exit_code != 0
    assert (f"Error: --init-from {path}: {out} already exists and would be continued; add --new --force to "
            "replace it, or --model to name a new file") in r.output


def test_init_from_another_arch_is_one_error(source, target, tmp_path, in_tmp):
    path, _ = source
    r = CliRunner().invoke(cli, ["train", "--init-from", str(path), "--arch", "resnet18", "--dataset", str(target),
                                 "--model", str(tmp_path / "m.pt"), "--epochs", "1", "--device", "cpu"])
    assert r.exit_code != 0
    assert f"Error: {path}: a small model cannot start a resnet18 model (--init-from needs the same --arch)" \
        in r.output
    r = CliRunner().invoke(cli, ["train", "--init-from", str(tmp_path / "none.pt"), "--dataset", str(target),
                                 "--model", str(tmp_path / "m.pt"), "--epochs", "1", "--device", "cpu"])
    assert r.exit_code != 0 and "no model file" in r.output


def test_staged_training_continues_a_tc_model_with_a_bilstm(source, toy, tmp_path, in_tmp):
    """`train --backend lstm` on a TC model: the trunk carries over; --freeze-frontend 1 holds it
    still (weights and batch-norm statistics) through the first epoch."""
    path, _ = source
    model_path = tmp_path / "model.pt"
    shutil.copy(path, model_path)
    r = CliRunner().invoke(cli, ["train", "--backend", "lstm", "--freeze-frontend", "1", "--dataset", str(toy),
                                 "--model", str(model_path), "--epochs", "1", "--batch-size", "16",
                                 "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "staged training:" in r.output and "its TC back end is replaced" in r.output
    ck = load_checkpoint(model_path)
    assert ck["dims"]["backend"] == "lstm" and ck["epoch"] == 1
    old = load_checkpoint(path)["model"]
    for k, v in _trunk(old).items():
        assert torch.equal(ck["model"][k], v), k
    assert any(k.startswith("backend.weight_ih") for k in ck["model"])


def test_dry_run_says_what_init_from_would_keep(source, target, tmp_path, in_tmp):
    path, _ = source
    out = tmp_path / "new.pt"
    r = CliRunner().invoke(cli, ["train", "--init-from", str(path), "--dataset", str(target), "--model", str(out),
                                 "--dry-run", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert (f"new model -> {out}, initialised from {path}: front end, ResNet and TC kept; classifier rows of "
            "2 shared words kept, 2 new") in r.output
    assert "dry run: nothing trained" in r.output and not out.exists()
