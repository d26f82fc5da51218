"""The word classifier of Stafylakis & Tzimiropoulos (2017), "Combining Residual Networks
with LSTMs for Lipreading": a 3D convolutional front end, a per-frame ResNet, a 2-layer
bidirectional LSTM and a classifier applied at every time step.

    x (B, 1, T, S, S) gray, normalised
    -> Frontend3D       (B, C0, T, S/4, S/4)     conv 5x7x7 stride (1,2,2) + max-pool (1,2,2)
    -> ResNet per frame (B, T, D)                D = 512 for ResNet-18/34
    -> BiLSTM x2        (B, T, 2H)               or the temporal-convolution back end (below)
    -> classifier       (B, T, V)                the loss is taken at every step (as in the paper)
    -> mean over T      (B, V)                   for prediction

The paper trained first with a temporal-convolution back end and swapped in the BiLSTM later,
because the BiLSTM learns slowly from scratch. `backend="tc"` is that back end: two temporal
convolutions (kernel 5) with batch norm, same output width 2H, same classifier. On small
corpora it learns several times faster than the BiLSTM (measured on generated data).

`backend="mstcn"` is the multi-scale temporal convolutional network of Martinez et al. (2020),
"Lipreading using Temporal Convolutional Networks", as mpc001's public models build it: blocks of
parallel dilated convolutions (kernels 3, 5, 7; `hidden` channels per branch; dilation 2^i in
block i), per-step outputs of width `hidden` x branches, the classifier at every step and the
mean over time for prediction (the mean of a linear map is the linear map of the mean, so this
is their time-average consensus). `backend="dctcn"` is their densely connected TCN
(lipreader.dctcn): dense blocks of the same multi-scale units, squeeze-and-excitation, 1x1
transitions. `activation` (relu, swish, prelu) is used throughout, and the
ROI's gray-level `mean` and `std` and the `crop_profile` that made the ROIs travel with the model
(lipreader.importer brings their weights in).

`features` and `head` are split so that `lipreader read` computes the per-frame ResNet once
per frame and shares it across overlapping windows. `ModelDims` is stored in the checkpoint
and rebuilds the model without guessing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lipreader.config import BACKENDS, CROP_PROFILES
from lipreader.constants import CROP, MEAN, ROI, STD, WORD_FRAMES
from lipreader.errors import InputError

ARCHS = {
    # name: (blocks per stage, channels per stage, LSTM hidden size, ROI downsampling)
    "resnet34": ((3, 4, 6, 3), (64, 128, 256, 512), 256, 1),
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512), 256, 1),
    # the same design with a quarter of the channels at half the resolution (CPU tests, demo)
    "small": ((1, 1, 1, 1), (16, 32, 64, 128), 64, 2),
}
BACKEND_NAMES = {"lstm": "BiLSTM", "tc": "TC", "mstcn": "MS-TCN", "dctcn": "DC-TCN"}  # as summaries and logs print them
ACTIVATIONS = ("relu", "swish", "prelu")
# (least, most) of each dimension a checkpoint may ask for, and of the parameters in all
LIMITS = {"num_classes": (1, 100_000), "input_size": (8, 512), "frames": (1, 10_000), "hidden": (1, 4096),
          "lstm_layers": (1, 8), "downsample": (1, 8), "stages": (1, 8), "blocks": (1, 64), "widths": (1, 4096),
          "tcn_layers": (1, 16), "tcn_kernels": (1, 31), "dense_blocks": (1, 16), "dense_growth": (1, 4096),
          "dense_dilations": (1, 64), "dense_reduced": (1, 4096)}
# added after the first checkpoints: a file without them gets these (what the model was then)
LATER_FIELDS = {"backend": "lstm", "boundaries": False, "activation": "relu", "mean": MEAN, "std": STD,
                "crop_profile": "default", "tcn_kernels": (3, 5, 7), "tcn_layers": 4, "dense_blocks": (3, 3, 3, 3),
                "dense_growth": (384, 384, 384, 384), "dense_dilations": (1, 2, 5), "dense_reduced": 512,
                "dense_se": True}
DENSE_TUPLES = ("dense_blocks", "dense_growth", "dense_dilations")
MAX_PARAMETERS = 1_000_000_000


@dataclass(frozen=True)
class ModelDims:
    """Everything needed to rebuild the network; stored in the checkpoint as a plain dict."""

    arch: str = "resnet34"
    num_classes: int = 500
    input_size: int = CROP           # crop fed to the network, after `downsample`
    frames: int = WORD_FRAMES        # clip length trained on (any T works at inference)
    blocks: tuple[int, ...] = (3, 4, 6, 3)
    widths: tuple[int, ...] = (64, 128, 256, 512)
    hidden: int = 256                # LSTM units per direction
    lstm_layers: int = 2
    downsample: int = 1              # the 96x96 ROI is average-pooled by this before cropping
    backend: str = "lstm"            # "lstm" (2-layer BiLSTM) or "tc" (temporal convolutions)
    boundaries: bool = False         # a per-frame 0/1 "inside the word" channel follows the ResNet features
    activation: str = "relu"         # of the front end, the ResNet and the MS-TCN: relu, swish or prelu
    mean: float = MEAN               # input = (pixel / 255 - mean) / std
    std: float = STD
    crop_profile: str = "default"    # the mouth ROI geometry the model reads (builder.mouth)
    tcn_kernels: tuple[int, ...] = (3, 5, 7)  # MS-TCN and DC-TCN branches (hidden channels each in the MS-TCN)
    tcn_layers: int = 4              # MS-TCN blocks, dilation 2^i
    dense_blocks: tuple[int, ...] = (3, 3, 3, 3)  # DC-TCN: dense layers per block
    dense_growth: tuple[int, ...] = (384, 384, 384, 384)  # DC-TCN: channels each layer of a block adds
    dense_dilations: tuple[int, ...] = (1, 2, 5)  # DC-TCN: layer l of a block dilates by [l % len]
    dense_reduced: int = 512         # DC-TCN: channels out of each transition
    dense_se: bool = True            # DC-TCN: squeeze-and-excitation before each first-set branch

    @classmethod
    def for_arch(cls, arch: str, num_classes: int, input_size: int = CROP, frames: int = WORD_FRAMES,
                 backend: str = "lstm", boundaries: bool = False, **rest: Any) -> ModelDims:
        """`input_size` is the crop at full ROI resolution; "small" works at half of it. `rest`:
        activation, mean, std, crop_profile, tcn_kernels, tcn_layers, dense_*. A DC-TCN's widths
        scale with the arch's `hidden` (256: their 512 reduced, 384 growth)."""
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(ARCHS)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
        blocks, widths, hidden, down = ARCHS[arch]
        if backend == "dctcn":
            rest.setdefault("dense_reduced", 2 * hidden)
            rest.setdefault("dense_growth", (3 * hidden // 2,) * len(rest.get("dense_blocks", cls.dense_blocks)))
        dims = cls(arch=arch, num_classes=num_classes, input_size=input_size // down, frames=frames,
                   blocks=blocks, widths=widths, hidden=hidden, downsample=down, backend=backend,
                   boundaries=boundaries, **rest)
        problem = dims.problem()
        if problem:
            raise ValueError(problem)
        return dims

    @property
    def backend_width(self) -> int:
        """Width of the back end's per-step output (the classifier's input)."""
        if self.backend == "dctcn":
            return self.dense_reduced + self.dense_blocks[-1] * self.dense_growth[-1]
        return self.hidden * len(self.tcn_kernels) if self.backend == "mstcn" else 2 * self.hidden

    def inherit(self, src: ModelDims) -> ModelDims:
        """These dimensions with what a model started from `src` must keep: its activation, its
        input statistics and crop profile (the trunk was trained on them), and its MS-TCN's or
        DC-TCN's shape."""
        return dataclasses.replace(self, activation=src.activation, mean=src.mean, std=src.std,
                                   crop_profile=src.crop_profile, tcn_kernels=src.tcn_kernels,
                                   tcn_layers=src.tcn_layers, dense_blocks=src.dense_blocks,
                                   dense_growth=src.dense_growth, dense_dilations=src.dense_dilations,
                                   dense_reduced=src.dense_reduced, dense_se=src.dense_se)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: str = "checkpoint") -> ModelDims:
        """Rebuild from a checkpoint's dict, refusing a missing field, a wrong type or a size
        beyond `LIMITS` (a crafted file must not make torch allocate terabytes)."""
        def damaged(why: str) -> InputError:
            return InputError(f"{where}: damaged model dimensions ({why}); "
                              "train a model with `lipreader train --new`")

        if not isinstance(d, dict):
            raise damaged("no 'dims' table")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in d:
                if f.name in LATER_FIELDS:
                    continue  # made before these existed: the defaults are what the model then was
                raise damaged(f"{f.name} is missing")
            v = d[f.name]
            if f.name in ("arch", "backend", "activation", "crop_profile"):
                ok = isinstance(v, str)
            elif f.name in ("boundaries", "dense_se"):
                ok = isinstance(v, bool)
            elif f.name in ("mean", "std"):
                ok = isinstance(v, float) and math.isfinite(v)
            elif f.name in ("blocks", "widths", "tcn_kernels", *DENSE_TUPLES):
                ok = isinstance(v, (list, tuple)) and all(_is_int(x) for x in v)
                v = tuple(v) if ok else v
            else:
                ok = _is_int(v)
            if not ok:
                kind = {"arch": "text", "backend": "text", "activation": "text", "crop_profile": "text",
                        "boundaries": "true or false", "dense_se": "true or false", "mean": "a number",
                        "std": "a number"}.get(
                    f.name, "a list of whole numbers" if f.name in ("blocks", "widths", "tcn_kernels", *DENSE_TUPLES)
                    else "a whole number")
                raise damaged(f"{f.name} = {v!r} is not {kind}")
            values[f.name] = v
        dims = cls(**values)
        problem = dims.problem()
        if problem:
            raise damaged(problem)
        return dims

    def problem(self) -> str | None:
        """What makes these dimensions unbuildable or absurdly large, or None."""
        if self.arch not in ARCHS:
            return f"arch {self.arch!r} is not one of {', '.join(ARCHS)}"
        if self.backend not in BACKENDS:
            return f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}"
        if self.activation not in ACTIVATIONS:
            return f"activation {self.activation!r} is not one of {', '.join(ACTIVATIONS)}"
        if self.crop_profile not in CROP_PROFILES:
            return f"crop_profile {self.crop_profile!r} is not one of {', '.join(CROP_PROFILES)}"
        if not (0.0 <= self.mean <= 1.0 and 0.0 < self.std <= 1.0):
            return f"mean {self.mean} and std {self.std} must be in 0..1 (std above 0)"
        lo, hi = LIMITS["tcn_kernels"]
        if not (1 <= len(self.tcn_kernels) <= 8 and all(lo <= k <= hi and k % 2 for k in self.tcn_kernels)):
            return f"tcn_kernels {list(self.tcn_kernels)} must be 1..8 odd sizes of {lo}..{hi}"
        if not 1 <= len(self.blocks) == len(self.widths) <= LIMITS["stages"][1]:
            return f"blocks {list(self.blocks)} and widths {list(self.widths)} need 1..8 stages each, as many of both"
        for name, values in (("blocks", self.blocks), ("widths", self.widths)):
            lo, hi = LIMITS[name]
            if not all(lo <= v <= hi for v in values):
                return f"{name} {list(values)} must each be {lo}..{hi}"
        if not 1 <= len(self.dense_blocks) == len(self.dense_growth) <= LIMITS["stages"][1]:
            return (f"dense_blocks {list(self.dense_blocks)} and dense_growth {list(self.dense_growth)} need "
                    "1..8 blocks each, as many of both")
        if not 1 <= len(self.dense_dilations) <= 8:
            return f"dense_dilations {list(self.dense_dilations)} must hold 1..8 dilations"
        for name in DENSE_TUPLES:
            lo, hi = LIMITS[name]
            if not all(lo <= v <= hi for v in getattr(self, name)):
                return f"{name} {list(getattr(self, name))} must each be {lo}..{hi}"
        if self.backend == "dctcn" and any(g % len(self.tcn_kernels) for g in self.dense_growth):
            return (f"dense_growth {list(self.dense_growth)} must be multiples of the {len(self.tcn_kernels)} "
                    "branches (tcn_kernels)")
        if self.backend == "dctcn" and self.dense_se and self.dense_reduced < 16:
            return f"dense_reduced = {self.dense_reduced}: squeeze-and-excitation needs 16 or more channels"
        for name in ("num_classes", "input_size", "frames", "hidden", "lstm_layers", "downsample", "tcn_layers",
                     "dense_reduced"):
            lo, hi = LIMITS[name]
            if not lo <= getattr(self, name) <= hi:
                return f"{name} = {getattr(self, name)} must be {lo}..{hi}"
        n = self.parameter_estimate()
        if n > MAX_PARAMETERS:
            return f"about {n:,} parameters, more than the {MAX_PARAMETERS:,} allowed"
        return None

    def parameter_estimate(self) -> int:
        """Roughly the parameter count (an upper bound on the weights, not exact)."""
        w, h = self.widths, self.hidden
        n = 5 * 7 * 7 * w[0]
        cin = w[0]
        for blocks, cout in zip(self.blocks, self.widths, strict=True):
            n += blocks * 9 * 2 * max(cin, cout) * cout + cin * cout
            cin = cout
        out = self.backend_width
        dim = max(w[-1] + self.boundaries, out)
        if self.backend == "mstcn":
            n += self.tcn_layers * (2 * sum(self.tcn_kernels) * dim * h + dim * out + 8 * out)
        elif self.backend == "dctcn":
            r, k = self.dense_reduced, sum(self.tcn_kernels)
            c = w[-1] + self.boundaries
            for layers, g in zip(self.dense_blocks, self.dense_growth, strict=True):
                n, c = n + c * r + 8 * r, r
                for _ in range(layers):
                    n += k * (c + g) * g + c * g + 2 * len(self.tcn_kernels) * c * c // 16 + 16 * g
                    c += g
            n += 2 * c
        elif self.backend == "tc":
            n += 5 * 2 * dim * 2 * h
        else:
            n += self.lstm_layers * 2 * 4 * h * (dim + h + 2)
        return n + (out + 1) * self.num_classes


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Swish(nn.Module):
    """x * sigmoid(x) (also called SiLU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.silu(x)


def activation(name: str, channels: int) -> nn.Module:
    """The activation `name` for `channels` channels (PReLU learns one slope per channel)."""
    if name == "swish":
        return Swish()
    if name == "prelu":
        return nn.PReLU(channels)
    return nn.ReLU(inplace=True)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, cout: int, stride: int = 1, act: str = "relu"):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = activation(act, cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = activation(act, cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + identity)


class Frontend3D(nn.Module):
    """Conv3d(1, C, (5,7,7), stride (1,2,2)) + BN + activation + MaxPool3d((1,3,3), (1,2,2))."""

    def __init__(self, channels: int, act: str = "relu"):
        super().__init__()
        self.conv = nn.Conv3d(1, channels, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(channels)
        self.act = activation(act, channels)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class ResNet(nn.Module):
    """A torchvision-style ResNet without its stem and classifier: (N, C0, h, w) -> (N, D)."""

    def __init__(self, blocks: tuple[int, ...], widths: tuple[int, ...], act: str = "relu"):
        super().__init__()
        layers, cin = [], widths[0]
        for i, (n, cout) in enumerate(zip(blocks, widths, strict=True)):
            layers.append(self._make_layer(cin, cout, n, 1 if i == 0 else 2, act))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = widths[-1] * BasicBlock.expansion

    @staticmethod
    def _make_layer(cin: int, cout: int, n: int, stride: int, act: str) -> nn.Sequential:
        return nn.Sequential(BasicBlock(cin, cout, stride, act), *(BasicBlock(cout, cout, 1, act) for _ in range(n - 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(x)).flatten(1)


class TemporalConv(nn.Module):
    """The paper's first-stage back end: (B, T, D) -> (B, T, C), two convolutions over time."""

    def __init__(self, dim: int, channels: int, kernel: int = 5):
        super().__init__()
        pad = kernel // 2
        self.net = nn.Sequential(
            nn.Conv1d(dim, channels, kernel, padding=pad, bias=False), nn.BatchNorm1d(channels), nn.ReLU(inplace=True),
            nn.Conv1d(channels, channels, kernel, padding=pad, bias=False), nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f.transpose(1, 2)).transpose(1, 2)


class TemporalUnit(nn.Module):
    """One MS-TCN branch: Conv1d (kernel k, dilation d, padding (k-1)d on both sides) + BN, then
    (k-1)d/2 steps cut from each end (same length out as in), then the activation."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, act: str):
        super().__init__()
        self.cut = (kernel - 1) * dilation // 2
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=2 * self.cut)
        self.bn = nn.BatchNorm1d(cout)
        self.act = activation(act, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        if self.cut:
            y = y[:, :, self.cut:-self.cut]
        return self.act(y)


class MultiscaleBlock(nn.Module):
    """Two sets of parallel branches (one kernel size each, outputs concatenated), dropout after
    each, a residual (a 1x1 convolution in every block: mpc001's test is `cin // branches !=
    cout`, true for all their widths) and the activation of the sum. (B, cin, T) -> (B, cout, T)."""

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...], dilation: int, act: str,
                 dropout: float = 0.2):
        super().__init__()
        per = cout // len(kernels)
        self.first = nn.ModuleList(TemporalUnit(cin, per, k, dilation, act) for k in kernels)
        self.drop1 = nn.Dropout(dropout)
        self.second = nn.ModuleList(TemporalUnit(cout, per, k, dilation, act) for k in kernels)
        self.drop2 = nn.Dropout(dropout)
        self.residual = nn.Conv1d(cin, cout, 1) if cin // len(kernels) != cout else None
        self.act = activation(act, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop1(torch.cat([b(x) for b in self.first], 1))
        y = self.drop2(torch.cat([b(y) for b in self.second], 1))
        return self.act(y + (x if self.residual is None else self.residual(x)))


class MultiscaleTCN(nn.Module):
    """The multi-scale TCN back end: (B, T, D) -> (B, T, hidden x branches); block i dilates by 2^i."""

    def __init__(self, dim: int, per_branch: int, kernels: tuple[int, ...], layers: int, act: str):
        super().__init__()
        width = per_branch * len(kernels)
        self.blocks = nn.Sequential(*(MultiscaleBlock(dim if i == 0 else width, width, kernels, 2 ** i, act)
                                      for i in range(layers)))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.blocks(f.transpose(1, 2)).transpose(1, 2)


def receptive_field(kernels: tuple[int, ...], layers: int) -> int:
    """Frames an MS-TCN output step sees: two convolutions of the widest kernel per block."""
    return 1 + sum(2 * (max(kernels) - 1) * 2 ** i for i in range(layers))


class LipReader(nn.Module):
    def __init__(self, dims: ModelDims):
        super().__init__()
        self.dims = dims
        self.channels_last = False  # see use_channels_last
        self.frontend = Frontend3D(dims.widths[0], dims.activation)
        self.resnet = ResNet(dims.blocks, dims.widths, dims.activation)
        back_in = self.resnet.out_dim + int(dims.boundaries)
        if dims.backend == "mstcn":
            self.backend = MultiscaleTCN(back_in, dims.hidden, dims.tcn_kernels, dims.tcn_layers, dims.activation)
        elif dims.backend == "dctcn":
            from lipreader.dctcn import DenseTCN  # it builds on this module's units

            self.backend = DenseTCN(back_in, dims.dense_blocks, dims.dense_growth, dims.dense_reduced,
                                    dims.tcn_kernels, dims.dense_dilations, dims.activation, dims.dense_se)
        elif dims.backend == "tc":
            self.backend = TemporalConv(back_in, 2 * dims.hidden)
        else:
            self.backend = nn.LSTM(back_in, dims.hidden, num_layers=dims.lstm_layers,
                                   batch_first=True, bidirectional=True)
        self.classifier = nn.Linear(dims.backend_width, dims.num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor, keep: slice = slice(None)) -> torch.Tensor:
        """Per-frame embeddings: (B, 1, T, S, S) -> (B, t, D), t the frames in `keep` (all of
        them by default; the ResNet runs on those only). Frame t depends on frames t-2..t+2."""
        y = self.frontend(x)[:, :, keep]                      # (B, C0, t, h, w)
        B, C, T, h, w = y.shape
        if self.channels_last:
            y = y.permute(0, 2, 3, 4, 1).reshape(B * T, h, w, C)  # (B*t, h, w, C0)
            y = y.permute(0, 3, 1, 2)                             # (B*t, C0, h, w) NHWC in memory
        else:
            y = y.transpose(1, 2).reshape(B * T, C, h, w)         # (B*t, C0, h, w)
        y = self.resnet(y)                                    # (B*t, D)
        return y.view(B, T, -1)                               # (B, t, D)

    def use_channels_last(self) -> LipReader:
        """Run the per-frame ResNet NHWC, weights and activations (faster with cuDNN and oneDNN)."""
        self.resnet.to(memory_format=torch.channels_last)
        self.channels_last = True
        return self

    def head(self, f: torch.Tensor, inword: torch.Tensor | None = None) -> torch.Tensor:
        """Logits at every time step: (B, T, D) -> (B, T, V). With `dims.boundaries`, `inword`
        (B, T) is 1 on the word's frames and 0 around them (None: every frame is the word)."""
        if self.dims.boundaries:
            b = torch.ones(f.shape[:2], device=f.device) if inword is None else inword
            f = torch.cat([f, b.to(device=f.device, dtype=f.dtype).unsqueeze(-1)], dim=-1)  # (B, T, D+1)
        if not isinstance(self.backend, nn.LSTM):
            return self.classifier(self.backend(f))           # (B, T, V)
        with torch.autocast(f.device.type, enabled=False):  # the LSTM stays in fp32 under AMP
            y, _ = self.backend(f.float())                    # (B, T, 2H)
        return self.classifier(y)                             # (B, T, V)

    def forward(self, x: torch.Tensor, inword: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x), inword)            # (B, T, V)

    def classify(self, x: torch.Tensor, inword: torch.Tensor | None = None) -> torch.Tensor:
        """Clip logits for prediction: the mean over time of the per-step logits, (B, V)."""
        return self.forward(x, inword).mean(dim=1)            # (B, V)


def build_model(dims: ModelDims) -> LipReader:
    return LipReader(dims)


def sequence_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy at every time step against the clip's word, averaged: (B, T, V), (B,) -> ()."""
    B, T, V = logits.shape
    return nn.functional.cross_entropy(logits.reshape(B * T, V).float(), labels.repeat_interleave(T),
                                       label_smoothing=label_smoothing)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _dense_summary(d: ModelDims) -> str:
    from lipreader.dctcn import dense_receptive_field

    blocks = "/".join(map(str, d.dense_blocks))
    growth = "/".join(map(str, sorted(set(d.dense_growth))))
    seen = ("the whole clip (squeeze-and-excitation)" if d.dense_se else
            f"{dense_receptive_field(d.tcn_kernels, d.dense_blocks, d.dense_dilations)} frames")
    return (f"dense blocks of {blocks} layers, growth {growth}, kernels {'/'.join(map(str, d.tcn_kernels))}, "
            f"dilations {'/'.join(map(str, d.dense_dilations))}; each step sees {seen}")


def describe(model: LipReader) -> str:
    """A few lines: the shapes through the network and the parameters of each part."""
    d = model.dims
    S, T, C0 = d.input_size, d.frames, d.widths[0]
    h = (S + 1) // 2
    h = (h + 1) // 2
    stages = " ".join(f"{n}x{w}" for n, w in zip(d.blocks, d.widths, strict=True))
    rows = [
        ("input", f"(B, 1, {T}, {S}, {S})", None),
        ("frontend3d", f"(B, {C0}, {T}, {h}, {h})  conv 5x7x7 + max-pool", model.frontend),
        ("resnet", f"(B, {T}, {model.resnet.out_dim})  blocks {stages}, per frame", model.resnet),
        {"lstm": ("bilstm", f"(B, {T}, {2 * d.hidden})  {d.lstm_layers} layers x {d.hidden} per direction",
                  model.backend),
         "tc": ("tempconv", f"(B, {T}, {2 * d.hidden})  2 convolutions over time, kernel 5", model.backend),
         "mstcn": ("mstcn", f"(B, {T}, {d.backend_width})  {d.tcn_layers} blocks, kernels "
                            f"{'/'.join(map(str, d.tcn_kernels))} x {d.hidden}, receptive field "
                            f"{receptive_field(d.tcn_kernels, d.tcn_layers)} frames", model.backend),
         "dctcn": ("dctcn", f"(B, {T}, {d.backend_width})  {_dense_summary(d)}", model.backend)}[d.backend],
        ("classifier", f"(B, {T}, {d.num_classes})  mean over time -> (B, {d.num_classes})",
         model.classifier),
    ]
    back = f"{BACKEND_NAMES[d.backend]}({d.hidden if d.backend == 'lstm' else d.backend_width})"
    title = f"{d.arch} + {back}, {d.num_classes} words, input {S}x{S}"
    if d.boundaries:
        title += ", word boundaries"
    if d.activation != "relu":
        title += f", {d.activation}"
    if d.crop_profile != "default":
        title += f", {d.crop_profile} crops"
    if d.downsample > 1:
        title += f" (ROI {ROI}x{ROI} pooled by {d.downsample})"
    lines = [title]
    for name, shape, module in rows:
        n = f"{count_parameters(module):>12,}" if module is not None else " " * 12
        lines.append(f"  {name:<11}{n}  {shape}")
    lines.append(f"  {'total':<11}{count_parameters(model):>12,}  parameters")
    return "\n".join(lines)
