"""The densely connected TCN (DC-TCN) back end of Ma et al. (2021), "Lip-reading with Densely
Connected Temporal Convolutional Networks", as mpc001's public LRW models build it:

    (B, T, D) -> transition 0: 1x1 conv D -> reduced, BN, PReLU (PReLU whatever the activation)
    -> dense block 1: layers of the multi-scale unit below; each one reads the concatenation of
       the block's input and every earlier layer's output and adds `growth` channels
    -> transition i (1x1 conv -> reduced, BN, activation), dense block i+1, ... (no transition
       after the last block)
    -> BatchNorm   (B, T, reduced + layers_last x growth_last)

A dense layer is an MS-TCN block (model.MultiscaleBlock) with per-layer dilation
`dilations[l % len(dilations)]`, a 1x1 convolution on the residual whenever its input width
differs from `growth` and, with `squeeze_excite`, one squeeze-and-excitation gate per branch of
its first set: channel weights from the time-mean of the input (so every output frame depends
on the whole clip). Layer order and padding are theirs (convolution, BN, symmetric cut,
activation), so lipreader.importer maps their weights tensor by tensor.
"""

from __future__ import annotations

import torch
from torch import nn

from lipreader.model import Swish, TemporalUnit, activation

DROPOUT = 0.2  # their released configurations' densetcn_dropout


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 swish(W1 mean_t(x))): one weight per channel, W1 reducing by `reduction`."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction, bias=False), Swish(),
                                nn.Linear(channels // reduction, channels, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=2)).unsqueeze(-1)


class DenseLayer(nn.Module):
    """(B, cin, T) -> (B, growth, T): two sets of parallel branches (kernel k, dilation d), dropout
    after each, the residual (1x1 when cin != growth) and the activation of the sum."""

    def __init__(self, cin: int, growth: int, kernels: tuple[int, ...], dilation: int, act: str,
                 squeeze_excite: bool):
        super().__init__()
        per = growth // len(kernels)
        self.excite = nn.ModuleList(SqueezeExcite(cin) for _ in kernels) if squeeze_excite else None
        self.first = nn.ModuleList(TemporalUnit(cin, per, k, dilation, act) for k in kernels)
        self.drop1 = nn.Dropout(DROPOUT)
        self.second = nn.ModuleList(TemporalUnit(growth, per, k, dilation, act) for k in kernels)
        self.drop2 = nn.Dropout(DROPOUT)
        self.residual = nn.Conv1d(cin, growth, 1) if cin != growth else None
        self.act = activation(act, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ins = [x] * len(self.first) if self.excite is None else [g(x) for g in self.excite]
        y = self.drop1(torch.cat([b(z) for z, b in zip(ins, self.first, strict=True)], 1))
        y = self.drop2(torch.cat([b(y) for b in self.second], 1))
        return self.act(y + (x if self.residual is None else self.residual(x)))


class DenseBlock(nn.Module):
    """(B, cin, T) -> (B, cin + layers x growth, T): input, then each layer's output, concatenated."""

    def __init__(self, cin: int, layers: int, growth: int, kernels: tuple[int, ...],
                 dilations: tuple[int, ...], act: str, squeeze_excite: bool):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(cin + i * growth, growth, kernels, dilations[i % len(dilations)], act, squeeze_excite)
            for i in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x


class Transition(nn.Module):
    """1x1 convolution (no bias) to `cout` channels, BN, activation."""

    def __init__(self, cin: int, cout: int, act: str):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm1d(cout)
        self.act = activation(act, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class DenseTCN(nn.Module):
    """The DC-TCN back end: (B, T, dim) -> (B, T, reduced + blocks[-1] x growth[-1])."""

    def __init__(self, dim: int, blocks: tuple[int, ...], growth: tuple[int, ...], reduced: int,
                 kernels: tuple[int, ...], dilations: tuple[int, ...], act: str, squeeze_excite: bool):
        super().__init__()
        self.transitions = nn.ModuleList(
            Transition(dim if i == 0 else reduced + blocks[i - 1] * growth[i - 1], reduced,
                       "prelu" if i == 0 else act)
            for i in range(len(blocks)))
        self.blocks = nn.ModuleList(DenseBlock(reduced, n, g, kernels, dilations, act, squeeze_excite)
                                    for n, g in zip(blocks, growth, strict=True))
        self.norm = nn.BatchNorm1d(reduced + blocks[-1] * growth[-1])

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        x = f.transpose(1, 2)
        for transition, block in zip(self.transitions, self.blocks, strict=True):
            x = block(transition(x))
        return self.norm(x).transpose(1, 2)


def dense_receptive_field(kernels: tuple[int, ...], blocks: tuple[int, ...], dilations: tuple[int, ...]) -> int:
    """Frames a DC-TCN output step sees without squeeze-and-excitation: the longest path runs
    through every dense layer, two convolutions of the widest kernel each (transitions are 1x1)."""
    return 1 + sum(2 * (max(kernels) - 1) * dilations[i % len(dilations)] for n in blocks for i in range(n))
