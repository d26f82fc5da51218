"""The ResNet-LSTM: parameter count by hand, shapes, the features/head split, the loss."""

from __future__ import annotations

import copy

import pytest
import torch

from lipreader.model import ModelDims, build_model, count_parameters, describe, sequence_loss


def hand_count(blocks, widths, hidden, classes, front=5 * 7 * 7, backend="lstm") -> int:
    """Parameters from the layer shapes: conv weights, BN (weight+bias), LSTM or TC, linear."""
    c0 = widths[0]
    n = c0 * front + 2 * c0                                   # conv3d (no bias) + BN3d
    cin = c0
    for i, (nb, cout) in enumerate(zip(blocks, widths, strict=True)):
        for j in range(nb):
            stride = 2 if (i > 0 and j == 0) else 1
            n += 9 * cin * cout + 2 * cout + 9 * cout * cout + 2 * cout
            if stride != 1 or cin != cout:
                n += cin * cout + 2 * cout                    # 1x1 projection + BN
            cin = cout
    if backend == "lstm":
        for layer_in in (widths[-1], 2 * hidden):            # two bidirectional layers
            n += 2 * (4 * hidden * (layer_in + hidden) + 2 * 4 * hidden)
    else:
        for layer_in in (widths[-1], 2 * hidden):            # two kernel-5 convolutions + BN
            n += 5 * layer_in * 2 * hidden + 2 * 2 * hidden
    n += 2 * hidden * classes + classes
    return n


def test_resnet34_bilstm_500_words_parameter_count():
    model = build_model(ModelDims.for_arch("resnet34", 500))
    expected = hand_count((3, 4, 6, 3), (64, 128, 256, 512), 256, 500)
    assert count_parameters(model) == expected
    assert 24_000_000 < expected < 25_000_000
    text = describe(model)
    assert f"{expected:,}" in text and "resnet34" in text and "(B, 29, 500)" in text


@pytest.mark.parametrize("arch,blocks,widths,hidden", [
    ("resnet18", (2, 2, 2, 2), (64, 128, 256, 512), 256),
    ("small", (1, 1, 1, 1), (16, 32, 64, 128), 64),
])
def test_other_archs_parameter_count(arch, blocks, widths, hidden):
    assert count_parameters(build_model(ModelDims.for_arch(arch, 10))) == hand_count(blocks, widths, hidden, 10)


@pytest.mark.parametrize("arch", ["small", "resnet34"])
def test_temporal_conv_backend_parameter_count_and_shapes(arch):
    blocks, widths, hidden = {"small": ((1, 1, 1, 1), (16, 32, 64, 128), 64),
                              "resnet34": ((3, 4, 6, 3), (64, 128, 256, 512), 256)}[arch]
    dims = ModelDims.for_arch(arch, 10, frames=12, backend="tc")
    model = build_model(dims).eval()
    assert count_parameters(model) == hand_count(blocks, widths, hidden, 10, backend="tc")
    assert ModelDims.from_dict(dims.as_dict()) == dims
    assert f"{arch} + TC({2 * hidden}), 10 words" in describe(model)
    S = dims.input_size
    with torch.no_grad():
        for T in (12, 7):                                     # any clip length, like the BiLSTM
            assert model(torch.randn(2, 1, T, S, S)).shape == (2, T, 10)


def test_backend_is_checked_and_old_checkpoints_mean_lstm():
    with pytest.raises(ValueError, match="unknown backend"):
        ModelDims.for_arch("small", 3, backend="gru")
    old = {k: v for k, v in ModelDims.for_arch("small", 3).as_dict().items() if k != "backend"}
    assert ModelDims.from_dict(old).backend == "lstm"


def test_small_runs_at_half_resolution():
    d = ModelDims.for_arch("small", 5, input_size=88, frames=29)
    assert (d.input_size, d.downsample) == (44, 2)
    assert ModelDims.from_dict(d.as_dict()) == d
    assert ModelDims.from_dict({**d.as_dict(), "blocks": [1, 1, 1, 1]}) == d  # lists from JSON-ish data


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return build_model(ModelDims.for_arch("small", 7, frames=12)).eval()


def test_shapes_and_split(small):
    x = torch.randn(3, 1, 12, 44, 44)
    with torch.no_grad():
        f = small.features(x)
        assert f.shape == (3, 12, 128)
        logits = small.head(f)
        assert logits.shape == (3, 12, 7)
        assert torch.equal(small(x), logits)
        assert torch.allclose(small.classify(x), logits.mean(dim=1))


def test_per_frame_features_depend_only_on_nearby_frames(small):
    """`read` shares features across overlapping windows: frame t sees frames t-2..t+2 only."""
    x = torch.randn(1, 1, 12, 44, 44)
    y = x.clone()
    y[:, :, 6] += 1.0
    with torch.no_grad():
        changed = (small.features(x) - small.features(y)).abs().amax(dim=2)[0]  # (T,)
    assert (changed[4:9] > 1e-4).all()
    assert (changed[:4] < 1e-6).all() and (changed[9:] < 1e-6).all()


def test_channels_last_gives_the_same_output(small):
    x = torch.randn(2, 1, 12, 44, 44)
    with torch.no_grad():
        a = small(x)
        small.channels_last = True
        try:
            b = small(x)
        finally:
            small.channels_last = False
    assert torch.allclose(a, b, atol=1e-5)


def test_features_of_kept_frames_equal_the_whole_then_cut_with_either_layout(small):
    """`read` runs the ResNet only on the frames it keeps; the front end still sees their neighbours."""
    x = torch.randn(2, 1, 12, 44, 44)
    with torch.no_grad():
        whole = small.features(x)
        assert torch.allclose(small.features(x, slice(3, 8)), whole[:, 3:8], atol=1e-5)
        fast = copy.deepcopy(small).use_channels_last()
        assert fast.resnet.layers[0][0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(fast.features(x, slice(3, 8)), whole[:, 3:8], atol=1e-5)


def test_sequence_loss_is_the_mean_over_time_steps():
    torch.manual_seed(1)
    logits = torch.randn(2, 5, 4)
    labels = torch.tensor([1, 3])
    per_step = [torch.nn.functional.cross_entropy(logits[:, t], labels) for t in range(5)]
    assert torch.allclose(sequence_loss(logits, labels), torch.stack(per_step).mean())
    assert sequence_loss(logits, labels, 0.1) != sequence_loss(logits, labels)


def test_the_arch_choices_of_options_toml_are_the_architectures():
    from lipreader import config, model

    assert tuple(model.ARCHS) == config.ARCHS and set(model.BACKEND_NAMES) == set(config.BACKENDS)
