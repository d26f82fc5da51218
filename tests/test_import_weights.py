"""`lipreader import-weights --format mpc001`: their names and shapes, written down here from the
architecture's description (not from our model), import strictly; anything else is one line.
The MS-TCN back end, Swish and the time-average consensus are checked against re-derivations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from lipreader.checkpoint import load_checkpoint, load_model
from lipreader.cli import cli
from lipreader.importer import WORDS_FILE, reference_name
from lipreader.model import ModelDims, Swish, build_model, receptive_field

pytestmark = pytest.mark.timeout(300)


def bn(name: str, c: int) -> dict[str, tuple]:
    return {f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
            f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()}


def trunk_shapes(act: str = "swish") -> dict[str, tuple]:
    """mpc001's front end and ResNet-18 (`frontend3D`, `trunk`): names and shapes."""
    prelu = act == "prelu"
    s = {"frontend3D.0.weight": (64, 1, 5, 7, 7), **bn("frontend3D.1", 64)}
    if prelu:
        s["frontend3D.2.weight"] = (64,)
    cin = 64
    for layer, planes in enumerate((64, 128, 256, 512), 1):
        for b in range(2):
            p = f"trunk.layer{layer}.{b}"
            block_in = cin if b == 0 else planes
            s[f"{p}.conv1.weight"] = (planes, block_in, 3, 3)
            s.update(bn(f"{p}.bn1", planes))
            s[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            s.update(bn(f"{p}.bn2", planes))
            if prelu:
                s[f"{p}.relu1.weight"] = s[f"{p}.relu2.weight"] = (planes,)
            if b == 0 and (layer > 1 or cin != planes):
                s[f"{p}.downsample.0.weight"] = (planes, cin, 1, 1)
                s.update(bn(f"{p}.downsample.1", planes))
        cin = planes
    return s


def reference_shapes(act: str = "swish", kernels=(3, 5, 7), layers: int = 4, per_branch: int = 256,
                     classes: int = 500) -> dict[str, tuple]:
    """mpc001's Lipreading(backbone resnet, tcn_options) state dict: names and shapes."""
    prelu = act == "prelu"
    s = trunk_shapes(act)
    width = per_branch * len(kernels)
    for i in range(layers):
        n_in = 512 if i == 0 else width
        p = f"tcn.mb_ms_tcn.network.{i}"
        for half, c in (("cbcr0", n_in), ("cbcr1", width)):
            for j, k in enumerate(kernels):
                q = f"{p}.{half}_{j}"
                s[f"{q}.conv.weight"] = (per_branch, c, k)
                s[f"{q}.conv.bias"] = (per_branch,)
                s.update(bn(f"{q}.batchnorm", per_branch))
                if prelu:
                    s[f"{q}.non_lin.weight"] = (per_branch,)
        s[f"{p}.downsample.weight"] = (width, n_in, 1)
        s[f"{p}.downsample.bias"] = (width,)
        if prelu:
            s[f"{p}.relu_final.weight"] = (width,)
    s["tcn.tcn_output.weight"] = (classes, width)
    s["tcn.tcn_output.bias"] = (classes,)
    return s


def random_state(shapes: dict[str, tuple], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith("num_batches_tracked"):
            out[name] = torch.tensor(1000)
        elif name.endswith("running_var"):
            out[name] = 0.5 + torch.rand(shape, generator=g)
        elif name.endswith(("bn1.weight", "bn2.weight", "batchnorm.weight", ".1.weight")) or "relu" in name \
                or "non_lin" in name or name == "frontend3D.2.weight":
            out[name] = 0.5 + 0.5 * torch.rand(shape, generator=g)
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 4
            out[name] = torch.randn(shape, generator=g) / math.sqrt(fan_in)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    state = random_state(reference_shapes())
    path = tmp_path_factory.mktemp("ref") / "lrw_resnet18_mstcn.pth"
    torch.save({"model_state_dict": state}, path)
    return path, state


def _import(args: list[str]):
    return CliRunner().invoke(cli, ["import-weights", *args])


def assert_refused(tmp_path, state: dict, message: str) -> None:
    """Importing `state` fails with exactly `message`, one line, and writes nothing."""
    path = tmp_path / "bad.pth"
    torch.save({"model_state_dict": state}, path)
    out = tmp_path / "out.pt"
    r = _import([str(path), "--format", "mpc001", "--out", str(out)])
    assert r.exit_code == 1
    assert r.output == f"Error: {path}: {message}\n"
    assert not out.exists()


def test_reference_names_and_shapes_import_strictly(reference, tmp_path):
    path, state = reference
    out = tmp_path / "lrw.pt"
    r = _import([str(path), "--format", "mpc001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert f"wrote {out} (500 words, lrw crops)" in r.output
    ck = load_checkpoint(out)
    dims = ModelDims.from_dict(ck["dims"])
    assert (dims.arch, dims.backend, dims.activation, dims.crop_profile) == ("resnet18", "mstcn", "swish", "lrw")
    assert (dims.tcn_kernels, dims.tcn_layers, dims.hidden, dims.mean, dims.std) == ((3, 5, 7), 4, 256, 0.421, 0.165)
    assert ck["vocab"][:3] == ["about", "absolutely", "abuse"] and len(ck["vocab"]) == 500
    assert ck["vocab"] == sorted(ck["vocab"])
    assert len(ck["model"]) == len(state)                       # one to one
    for ours, tensor in ck["model"].items():
        assert torch.equal(tensor, state[reference_name(ours)]), ours


def test_their_config_and_a_word_list(reference, tmp_path):
    path, _ = reference
    cfg = tmp_path / "lrw_resnet18_mstcn.json"
    cfg.write_text('{"backbone_type": "resnet", "relu_type": "swish", "tcn_dropout": 0.2, "tcn_dwpw": false,'
                   ' "tcn_kernel_size": [3, 5, 7], "tcn_num_layers": 4, "tcn_width_mult": 1, "width_mult": 1.0}')
    words = tmp_path / "words.txt"
    words.write_text("\n".join(f"w{i:03d}" for i in range(500)) + "\n")
    out = tmp_path / "m.pt"
    r = _import([str(path), "--format", "mpc001", "--config", str(cfg), "--words", str(words), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert load_checkpoint(out)["vocab"][499] == "w499"
    words.write_text("a\nb\n")
    r = _import([str(path), "--format", "mpc001", "--words", str(words), "--out", str(tmp_path / "n.pt")])
    assert r.output == f"Error: {path}: 500 classes, but the word list has 2 words\n"


@pytest.mark.parametrize("change,message", [
    ("missing", "tensor trunk.layer2.1.conv2.weight is missing (a resnet18 + MS-TCN (4 blocks, kernels 3/5/7, "
                "swish) model needs it)"),
    ("extra", "unexpected tensor tcn.mb_ms_tcn.network.4.downsample.weight (not part of a resnet18 + MS-TCN "
              "(4 blocks, kernels 3/5/7, swish) model)"),
    ("shape", "tensor tcn.mb_ms_tcn.network.1.cbcr1_2.conv.weight has shape [256, 768, 5], a resnet18 + MS-TCN "
              "(4 blocks, kernels 3/5/7, swish) model needs [256, 768, 7]"),
])
def test_one_wrong_tensor_is_one_line(reference, tmp_path, change, message):
    _, good = reference
    state = dict(good)
    if change == "missing":
        del state["trunk.layer2.1.conv2.weight"]
    elif change == "extra":
        state["tcn.mb_ms_tcn.network.4.downsample.weight"] = torch.zeros(768, 768, 1)
    else:
        state["tcn.mb_ms_tcn.network.1.cbcr1_2.conv.weight"] = torch.zeros(256, 768, 5)
    assert_refused(tmp_path, state, message)


def test_not_a_weights_file_and_an_existing_out(tmp_path, reference):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip")
    r = _import([str(junk), "--format", "mpc001", "--out", str(tmp_path / "o.pt")])
    assert r.exit_code == 1 and r.output.startswith(f"Error: {junk}: not a PyTorch weights file (")
    existing = tmp_path / "o.pt"
    existing.write_bytes(b"")
    r = _import([str(reference[0]), "--format", "mpc001", "--out", str(existing)])
    assert r.output == f"Error: {existing} exists; add --force to replace it\n"


def test_prelu_models_carry_their_slopes(tmp_path):
    shapes = reference_shapes("prelu", layers=1, per_branch=16, classes=500)
    state = random_state(shapes, seed=3)
    path = tmp_path / "prelu.pth"
    torch.save(state, path)                                      # a bare state dict works too
    out = tmp_path / "p.pt"
    assert _import([str(path), "--format", "mpc001", "--out", str(out)]).exit_code == 0
    ck = load_checkpoint(out)
    assert torch.equal(ck["model"]["resnet.layers.3.1.act2.weight"], state["trunk.layer4.1.relu2.weight"])
    assert torch.equal(ck["model"]["backend.blocks.0.act.weight"], state["tcn.mb_ms_tcn.network.0.relu_final.weight"])
    assert ModelDims.from_dict(ck["dims"]).activation == "prelu"


# -- the reference forward pass, written from the architecture description with torch.nn.functional


def _bn(x, s, p):
    return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"], s[f"{p}.bias"],
                        False, 0.0, 1e-5)


def _swish(x):
    return x / (1 + torch.exp(-x))


def reference_trunk(s: dict, x: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, 88, 88) -> (B, 512, T): their front end and ResNet-18 in eval mode, swish."""
    B, _, T = x.shape[:3]
    y = F.conv3d(x, s["frontend3D.0.weight"], stride=(1, 2, 2), padding=(2, 3, 3))
    y = F.max_pool3d(_swish(_bn(y, s, "frontend3D.1")), (1, 3, 3), (1, 2, 2), (0, 1, 1))
    y = y.transpose(1, 2).reshape(B * T, 64, *y.shape[-2:])
    for layer in range(1, 5):
        for b in range(2):
            p = f"trunk.layer{layer}.{b}"
            stride = 2 if layer > 1 and b == 0 else 1
            out = _swish(_bn(F.conv2d(y, s[f"{p}.conv1.weight"], stride=stride, padding=1), s, f"{p}.bn1"))
            out = _bn(F.conv2d(out, s[f"{p}.conv2.weight"], padding=1), s, f"{p}.bn2")
            if f"{p}.downsample.0.weight" in s:
                y = _bn(F.conv2d(y, s[f"{p}.downsample.0.weight"], stride=stride), s, f"{p}.downsample.1")
            y = _swish(out + y)
    return y.mean(dim=(2, 3)).view(B, T, -1).transpose(1, 2)              # (B, 512, T)


def reference_forward(s: dict, x: torch.Tensor, kernels=(3, 5, 7), layers: int = 4) -> torch.Tensor:
    """(B, 1, T, 88, 88) -> (B, classes): their Lipreading.forward in eval mode, swish."""
    y = reference_trunk(s, x)
    for i in range(layers):
        d, p = 2 ** i, f"tcn.mb_ms_tcn.network.{i}"
        h = y
        for half in ("cbcr0", "cbcr1"):
            outs = []
            for j, k in enumerate(kernels):
                q, pad = f"{p}.{half}_{j}", (k - 1) * d
                z = F.conv1d(h, s[f"{q}.conv.weight"], s[f"{q}.conv.bias"], padding=pad, dilation=d)
                z = _bn(z, s, f"{q}.batchnorm")[:, :, pad // 2:-(pad // 2)]  # the symmetric chomp
                outs.append(_swish(z))
            h = torch.cat(outs, 1)
        y = _swish(h + F.conv1d(y, s[f"{p}.downsample.weight"], s[f"{p}.downsample.bias"]))
    return F.linear(y.mean(2), s["tcn.tcn_output.weight"], s["tcn.tcn_output.bias"])  # consensus, then Linear


def test_imported_model_computes_what_the_reference_does(reference, tmp_path):
    path, state = reference
    out = tmp_path / "lrw.pt"
    assert _import([str(path), "--format", "mpc001", "--out", str(out)]).exit_code == 0
    model, vocab, dims = load_model(out)
    x = torch.randn(2, 1, 9, 88, 88, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = model.classify(x)
        theirs = reference_forward(state, x)
    assert ours.shape == (2, 500)
    assert torch.allclose(ours, theirs, atol=1e-4, rtol=1e-4), (ours - theirs).abs().max()


def test_swish_is_x_times_sigmoid():
    x = np.linspace(-8, 8, 161)
    expected = x / (1 + np.exp(-x))
    got = Swish()(torch.tensor(x, dtype=torch.float64)).numpy()
    assert np.allclose(got, expected, atol=1e-12)
    assert got[80] == 0 and got[-1] == pytest.approx(8 / (1 + math.exp(-8)))


@pytest.fixture(scope="module")
def small_tcn():
    torch.manual_seed(0)
    dims = ModelDims.for_arch("small", 6, frames=12, backend="mstcn", activation="swish")
    return build_model(dims).eval()


@pytest.mark.parametrize("T", [1, 2, 29, 60])
def test_mstcn_keeps_the_length(small_tcn, T):
    with torch.no_grad():
        assert small_tcn.backend(torch.randn(2, T, 128)).shape == (2, T, 64 * 3)
        assert small_tcn.head(torch.randn(2, T, 128)).shape == (2, T, 6)


def test_mstcn_receptive_field(small_tcn):
    """Each block holds two convolutions of the widest kernel dilated 2^i: with kernels 3/5/7 and
    4 blocks, 1 + 2 * 6 * (1 + 2 + 4 + 8) = 181 frames; a change at one input frame reaches exactly
    90 frames either side."""
    assert receptive_field((3, 5, 7), 4) == 181 == 1 + 2 * 6 * (1 + 2 + 4 + 8)
    T, t0 = 301, 150
    f = torch.randn(1, T, 128)
    g = f.clone()
    g[0, t0] += 1.0
    with torch.no_grad():
        diff = (small_tcn.backend(g) - small_tcn.backend(f)).abs().amax(-1)[0]
    touched = torch.nonzero(diff > 0).flatten()
    assert (int(touched.min()), int(touched.max())) == (t0 - 90, t0 + 90)


def test_time_average_consensus(small_tcn):
    """classify = the classifier applied to the time-mean of the back end's outputs."""
    x = torch.randn(3, 1, 10, 44, 44)
    with torch.no_grad():
        per_step = small_tcn.backend(small_tcn.features(x))                  # (B, T, 192)
        theirs = per_step.mean(1) @ small_tcn.classifier.weight.T + small_tcn.classifier.bias
        assert torch.allclose(small_tcn.classify(x), theirs, atol=1e-5)


def test_lrw_word_list_is_500_sorted_words():
    words = WORDS_FILE.read_text().split()
    assert len(words) == len(set(words)) == 500 and words == sorted(words)


def test_old_checkpoints_keep_relu_and_lrw_statistics():
    old = {k: v for k, v in ModelDims.for_arch("small", 3).as_dict().items()
           if k not in ("activation", "mean", "std", "crop_profile", "tcn_kernels", "tcn_layers")}
    d = ModelDims.from_dict(old)
    assert (d.activation, d.mean, d.std, d.crop_profile) == ("relu", 0.421, 0.165, "default")
    assert ModelDims.from_dict(d.as_dict()) == d


def test_words_file_path_is_packaged():
    assert Path(WORDS_FILE).parent.name == "lipreader"


def test_init_from_an_imported_model(tmp_path):
    """A new model started from an imported one takes its trunk, activation, statistics and crop
    profile; its MS-TCN too when the shapes agree (classifier rows of shared words), else only the trunk."""
    from lipreader.config import Training
    from lipreader.errors import InputError
    from lipreader.train import _new_dims
    from lipreader.transfer import transfer

    state = random_state(reference_shapes("swish", layers=1), seed=2)
    torch.save({"model_state_dict": state}, tmp_path / "ref.pth")
    out = tmp_path / "lrw.pt"
    assert _import([str(tmp_path / "ref.pth"), "--format", "mpc001", "--out", str(out)]).exit_code == 0
    ck = load_checkpoint(out)
    vocab = ["about", "zebra", "absolutely"]
    same = _new_dims(Training(), vocab, 29, (ck, out), frozenset())
    assert (same.arch, same.backend, same.activation, same.crop_profile, same.tcn_layers) == (
        "resnet18", "mstcn", "swish", "lrw", 1)
    torch.manual_seed(0)
    tcn = build_model(same)
    kept = transfer(tcn, vocab, ck, out)
    assert (kept.backend_kept, kept.shared_words, kept.new_words) == (True, 2, 1)
    w = tcn.state_dict()
    assert torch.equal(w["classifier.weight"][2], state["tcn.tcn_output.weight"][1])      # absolutely
    assert torch.equal(w["backend.blocks.0.first.2.conv.weight"], state["tcn.mb_ms_tcn.network.0.cbcr0_2.conv.weight"])
    lstm_dims = _new_dims(Training(backend="lstm"), vocab, 29, (ck, out), frozenset({"backend"}))
    lstm = build_model(lstm_dims)
    trunk_only = transfer(lstm, vocab, ck, out)
    assert not trunk_only.backend_kept and lstm_dims.activation == "swish"
    assert torch.equal(lstm.state_dict()["resnet.layers.3.1.conv2.weight"], state["trunk.layer4.1.conv2.weight"])
    relu = build_model(ModelDims.for_arch("resnet18", 3, backend="lstm"))
    with pytest.raises(InputError, match="its swish trunk cannot start a relu model"):
        transfer(relu, vocab, ck, out)
