"""The densely connected TCN (DC-TCN) back end and `import-weights` of mpc001's DC-TCN models:
their names and shapes, written down here from the architecture's description (not from our
model), import strictly; the forward pass, output length and receptive field are checked against
re-derivations written here with torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from lipreader.checkpoint import load_checkpoint, load_model
from lipreader.cli import cli
from lipreader.dctcn import dense_receptive_field
from lipreader.importer import reference_name
from lipreader.model import ModelDims, build_model
from tests.test_import_weights import (
    _bn,
    _import,
    _swish,
    assert_refused,
    bn,
    random_state,
    reference_trunk,
    trunk_shapes,
)

pytestmark = pytest.mark.timeout(300)

F_ = "tcn.tcn_trunk.features"
RELEASED = {"blocks": (3, 3, 3, 3), "growth": (384, 384, 384, 384), "kernels": (3, 5, 7),
            "dilations": (1, 2, 5), "reduced": 512, "se": True}        # configs/lrw_resnet18_dctcn.json
TINY = {"blocks": (2, 1), "growth": (24, 30), "kernels": (3, 5, 7), "dilations": (1, 2, 5),
        "reduced": 32, "se": True}


def dense_shapes(act: str = "swish", blocks=(3, 3, 3, 3), growth=(384,) * 4, kernels=(3, 5, 7), reduced: int = 512,
                 se: bool = True, boundary: bool = False, classes: int = 500, **_) -> dict[str, tuple]:
    """mpc001's Lipreading(backbone resnet, densetcn_options) state dict: names and shapes.
    Transition 0 is PReLU in every model; the others take relu_type. Dense layer l of a block
    reads reduced + l x growth channels; each kernel's branch outputs growth / kernels."""
    prelu = act == "prelu"
    s = trunk_shapes(act)
    c = 512 + int(boundary)
    for b, (layers, g) in enumerate(zip(blocks, growth, strict=True)):
        t = f"{F_}.transition{b}"
        s[f"{t}.conv.weight"] = (reduced, c, 1)
        s.update(bn(f"{t}.norm", reduced))
        if b == 0 or prelu:
            s[f"{t}.prelu.weight"] = (reduced,)
        c, per = reduced, g // len(kernels)
        for i in range(layers):
            p = f"{F_}.denseblock{b + 1}.denselayer{i + 1}"
            for j, k in enumerate(kernels):
                if se:
                    s[f"{p}.cbcr0_se_{j}.fc.0.weight"] = (c // 16, c)
                    s[f"{p}.cbcr0_se_{j}.fc.2.weight"] = (c, c // 16)
                for half, cin in (("cbcr0", c), ("cbcr1", g)):
                    s[f"{p}.{half}_{j}.net.0.weight"] = (per, cin, k)
                    s[f"{p}.{half}_{j}.net.0.bias"] = (per,)
                    s.update(bn(f"{p}.{half}_{j}.net.1", per))
                    if prelu:
                        s[f"{p}.{half}_{j}.net.3.weight"] = (per,)
            if c != g:
                s[f"{p}.downsample.weight"] = (g, c, 1)
                s[f"{p}.downsample.bias"] = (g,)
            if prelu:
                s[f"{p}.relu_final.weight"] = (g,)
            c += g
    s.update(bn(f"{F_}.norm5", c))
    s["tcn.tcn_output.weight"] = (classes, c)
    s["tcn.tcn_output.bias"] = (classes,)
    return s


def dense_forward(s: dict, y: torch.Tensor, blocks, kernels, dilations, se: bool, **_) -> torch.Tensor:
    """(B, C, T) -> (B, C', T): their DenseTemporalConvNet.forward in eval mode, swish."""
    x = y
    for b, layers in enumerate(blocks):
        t = f"{F_}.transition{b}"
        x = _bn(F.conv1d(x, s[f"{t}.conv.weight"]), s, f"{t}.norm")
        x = F.prelu(x, s[f"{t}.prelu.weight"]) if b == 0 else _swish(x)
        features = [x]
        for i in range(layers):
            p, d = f"{F_}.denseblock{b + 1}.denselayer{i + 1}", dilations[i % len(dilations)]
            h = torch.cat(features, 1)
            z = h
            for half in ("cbcr0", "cbcr1"):
                outs = []
                for j, k in enumerate(kernels):
                    q, pad, u = f"{p}.{half}_{j}", (k - 1) * d, z
                    if se and half == "cbcr0":
                        gate = _swish(z.mean(2) @ s[f"{p}.cbcr0_se_{j}.fc.0.weight"].T)
                        u = z * torch.sigmoid(gate @ s[f"{p}.cbcr0_se_{j}.fc.2.weight"].T).unsqueeze(-1)
                    u = F.conv1d(u, s[f"{q}.net.0.weight"], s[f"{q}.net.0.bias"], padding=pad, dilation=d)
                    outs.append(_swish(_bn(u, s, f"{q}.net.1")[:, :, pad // 2:-(pad // 2)]))
                z = torch.cat(outs, 1)
            res = h if f"{p}.downsample.weight" not in s else F.conv1d(h, s[f"{p}.downsample.weight"],
                                                                       s[f"{p}.downsample.bias"])
            features.append(_swish(z + res))
        x = torch.cat(features, 1)
    return _bn(x, s, f"{F_}.norm5")


def save_reference(path, shapes: dict, seed: int = 0) -> dict:
    state = random_state(shapes, seed)
    torch.save({"model_state_dict": state}, path)
    return state


def _clip(B: int = 2, T: int = 5, seed: int = 5) -> torch.Tensor:
    return torch.randn(B, 1, T, 88, 88, generator=torch.Generator().manual_seed(seed))


def test_the_released_dctcn_imports_strictly(tmp_path):
    """configs/lrw_resnet18_dctcn.json's model: every tensor maps one to one, the dimensions are
    read off the shapes (dilations assumed and said), and the result loads as a normal model."""
    path = tmp_path / "lrw_resnet18_dctcn_video.pth"
    state = save_reference(path, dense_shapes(**RELEASED))
    out = tmp_path / "lrw.pt"
    r = _import([str(path), "--format", "mpc001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "note: dilations 1/2/5 assumed (as in their released LRW models; the weights do not show them)" in r.output
    assert "resnet18 + DC-TCN(1664), 500 words" in r.output and f"wrote {out} (500 words, lrw crops)" in r.output
    ck = torch.load(out, map_location="cpu", weights_only=True)        # what `read --model` loads
    dims = ModelDims.from_dict(ck["dims"])
    assert (dims.backend, dims.activation, dims.crop_profile, dims.boundaries) == ("dctcn", "swish", "lrw", False)
    assert (dims.dense_blocks, dims.dense_growth, dims.tcn_kernels, dims.dense_dilations, dims.dense_reduced,
            dims.dense_se) == (RELEASED["blocks"], RELEASED["growth"], RELEASED["kernels"], RELEASED["dilations"],
                               512, True)
    assert dims.backend_width == 512 + 3 * 384 == 1664
    assert len(ck["model"]) == len(state)
    for ours, tensor in ck["model"].items():
        assert torch.equal(tensor, state[reference_name(ours)]), ours
    model, vocab, _ = load_model(out)
    with torch.no_grad():
        logits = model.classify(_clip(T=3))
    assert logits.shape == (2, 500) and torch.isfinite(logits).all() and len(vocab) == 500


@pytest.mark.parametrize("boundary", [False, True])
def test_imported_dctcn_computes_what_the_reference_does(tmp_path, boundary):
    """Their forward pass, re-derived: transitions, dense concatenation, squeeze-and-excitation,
    symmetric cuts, final BatchNorm, time average, Linear; with word boundaries, a 0/1 channel
    after the ResNet's 512 features."""
    shapes = dense_shapes(**TINY, boundary=boundary, classes=500)
    path = tmp_path / "tiny.pth"
    state = save_reference(path, shapes, seed=1)
    cfg = tmp_path / "tiny.json"
    cfg.write_text('{"backbone_type": "resnet", "relu_type": "swish", "width_mult": 1.0, '
                   '"densetcn_block_config": [2, 1], "densetcn_growth_rate_set": [24, 30], '
                   '"densetcn_kernel_size_set": [3, 5, 7], "densetcn_dilation_size_set": [1, 2, 5], '
                   '"densetcn_reduced_size": 32, "densetcn_se": true, "densetcn_dropout": 0.2, '
                   f'"use_boundary": {str(boundary).lower()}}}')
    out = tmp_path / "tiny.pt"
    r = _import([str(path), "--format", "mpc001", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "assumed" not in r.output                                   # the configuration said all
    model, _, dims = load_model(out)
    assert dims.boundaries is boundary
    x = _clip(T=7)
    inword = torch.tensor([[0, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=torch.float32)
    with torch.no_grad():
        ours = model.classify(x, inword if boundary else None)
        y = reference_trunk(state, x)                                  # (B, 512, T)
        if boundary:
            y = torch.cat([y, inword.unsqueeze(1)], 1)                 # their torch.cat([x, boundaries], -1)
        theirs = F.linear(dense_forward(state, y, **TINY).mean(2), state["tcn.tcn_output.weight"],
                          state["tcn.tcn_output.bias"])
    assert ours.shape == (2, 500)
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4), (ours - theirs).abs().max()


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory):
    state = random_state(dense_shapes(**TINY), seed=2)
    path = tmp_path_factory.mktemp("dense") / "tiny.pth"
    torch.save({"model_state_dict": state}, path)
    return path, state


TITLE = "resnet18 + DC-TCN (blocks 2/1, growth 24/30, kernels 3/5/7, swish)"


@pytest.mark.parametrize("change,message", [
    ("missing", f"tensor {F_}.denseblock1.denselayer2.cbcr1_1.net.1.running_var is missing (a {TITLE} model needs it)"),
    ("extra", f"unexpected tensor {F_}.denseblock2.denselayer1.cbcr0_se_3.fc.0.weight (not part of a {TITLE} model)"),
    ("shape", f"tensor {F_}.denseblock2.denselayer1.cbcr1_2.net.0.weight has shape [10, 30, 5], a {TITLE} "
              "model needs [10, 30, 7]"),
])
def test_one_wrong_dense_tensor_is_one_line(tiny_reference, tmp_path, change, message):
    _, good = tiny_reference
    state = dict(good)
    if change == "missing":
        del state[f"{F_}.denseblock1.denselayer2.cbcr1_1.net.1.running_var"]
    elif change == "extra":
        state[f"{F_}.denseblock2.denselayer1.cbcr0_se_3.fc.0.weight"] = torch.zeros(4, 64)
    else:
        state[f"{F_}.denseblock2.denselayer1.cbcr1_2.net.0.weight"] = torch.zeros(10, 30, 5)
    assert_refused(tmp_path, state, message)


def test_a_bad_configuration_value_is_one_line(tiny_reference, tmp_path):
    path, _ = tiny_reference
    cfg = tmp_path / "c.json"
    cfg.write_text('{"relu_type": "swish", "densetcn_block_config": [2, 1], "densetcn_growth_rate_set": "24"}')
    r = _import([str(path), "--format", "mpc001", "--config", str(cfg), "--out", str(tmp_path / "o.pt")])
    assert r.output == f"Error: {path}: densetcn_growth_rate_set = '24' is not a list of whole numbers\n"
    cfg.write_text('{"relu_type": "swish", "densetcn_block_config": [2, 1], "densetcn_growth_rate_set": [24]}')
    r = _import([str(path), "--format", "mpc001", "--config", str(cfg), "--out", str(tmp_path / "o.pt")])
    assert r.output == (f"Error: {path}: dense_blocks [2, 1] and dense_growth [24] need 1..8 blocks each, "
                        "as many of both\n")


def test_prelu_dctcn_carries_its_slopes(tmp_path):
    """PReLU models: every transition, branch and layer has slopes (transition 0 in any model)."""
    dims = {**TINY, "se": False}
    state = random_state(dense_shapes("prelu", **dims), seed=4)
    path = tmp_path / "prelu.pth"
    torch.save(state, path)
    out = tmp_path / "p.pt"
    r = _import([str(path), "--format", "mpc001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(out)
    d = ModelDims.from_dict(ck["dims"])
    assert (d.activation, d.dense_se) == ("prelu", False)
    assert torch.equal(ck["model"]["backend.transitions.1.act.weight"], state[f"{F_}.transition1.prelu.weight"])
    assert torch.equal(ck["model"]["backend.blocks.0.layers.1.second.2.act.weight"],
                       state[f"{F_}.denseblock1.denselayer2.cbcr1_2.net.3.weight"])


def _small(**over) -> torch.nn.Module:
    torch.manual_seed(0)
    dims = ModelDims.for_arch("small", 6, frames=12, backend="dctcn", activation="swish",
                              dense_reduced=24, dense_growth=(12, 12, 12, 12), **over)
    return build_model(dims).eval()


@pytest.mark.parametrize("T", [1, 2, 29])
def test_dctcn_keeps_the_length(T):
    model = _small()
    with torch.no_grad():
        assert model.backend(torch.randn(2, T, 128)).shape == (2, T, 24 + 3 * 12)
        assert model.head(torch.randn(2, T, 128)).shape == (2, T, 6)


def test_dctcn_receptive_field():
    """Without squeeze-and-excitation: every dense layer holds two convolutions of the widest
    kernel (7) dilated 1, 2, 5 in turn, transitions are 1x1, so 4 blocks of 3 layers see
    1 + 4 * 2 * 6 * (1 + 2 + 5) = 385 frames, 192 either side. The impulse goes through
    convolutions made non-negative (no bias) from silence, so nothing it reaches can cancel
    (random weights shrink the far ends of the field below double precision)."""
    assert dense_receptive_field((3, 5, 7), (3, 3, 3, 3), (1, 2, 5)) == 385 == 1 + 4 * 2 * 6 * (1 + 2 + 5)
    model = _small(dense_se=False).double()
    for m in model.backend.modules():
        if isinstance(m, torch.nn.Conv1d):
            m.weight.data.abs_()
            if m.bias is not None:
                m.bias.data.zero_()
    T, t0 = 481, 240
    f = torch.zeros(1, T, 128, dtype=torch.float64)
    g = f.clone()
    g[0, t0] = 1.0
    with torch.no_grad():
        diff = (model.backend(g) - model.backend(f)).abs().amax(-1)[0]
    assert torch.nonzero(diff > 0).flatten().tolist() == list(range(t0 - 192, t0 + 193))


def test_squeeze_excitation_sees_the_whole_clip():
    """With squeeze-and-excitation every output frame depends on every input frame: the gates
    are the time-mean of each layer's input."""
    model = _small(dense_se=True).double()
    T, t0 = 481, 240
    f = torch.randn(1, T, 128, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    g = f.clone()
    g[0, t0] += 1.0
    with torch.no_grad():
        diff = (model.backend(g) - model.backend(f)).abs().amax(-1)[0]
    assert bool((diff > 0).all())


def test_train_dry_run_with_the_dctcn_backend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["train", "--dry-run", "--dataset", "nowhere", "--arch", "small", "--backend", "dctcn"])
    assert r.exit_code == 0, r.output
    assert "small + DC-TCN(416), 500 words" in r.output
    assert "dense blocks of 3/3/3/3 layers, growth 96, kernels 3/5/7, dilations 1/2/5; each step sees the whole " \
           "clip (squeeze-and-excitation)" in r.output


def test_init_from_an_imported_dctcn(tiny_reference, tmp_path):
    """A new model started from an imported DC-TCN keeps its shape, and with it the back end."""
    from lipreader.config import Training
    from lipreader.train import _new_dims
    from lipreader.transfer import transfer

    path, state = tiny_reference
    out = tmp_path / "lrw.pt"
    assert _import([str(path), "--format", "mpc001", "--out", str(out)]).exit_code == 0
    ck = load_checkpoint(out)
    vocab = ["zebra", "about"]
    dims = _new_dims(Training(), vocab, 29, (ck, out), frozenset())
    assert (dims.backend, dims.dense_blocks, dims.dense_growth, dims.dense_reduced) == ("dctcn", (2, 1), (24, 30), 32)
    model = build_model(dims)
    kept = transfer(model, vocab, ck, out)
    assert (kept.backend_kept, kept.shared_words, kept.new_words) == (True, 1, 1)
    assert torch.equal(model.state_dict()["backend.blocks.1.layers.0.excite.2.fc.2.weight"],
                       state[f"{F_}.denseblock2.denselayer1.cbcr0_se_2.fc.2.weight"])
