"""Mouth frames -> top-k words with probabilities, for clips and for windows of a whole video.

Two paths give the same logits (within float tolerance; tests/test_read.py checks it):

* `clip_logits`: stand-alone clips (N, T, 96, 96) through the whole network, as validation does.
* `window_logits`: windows of one long mouth track (frame indices into mouth.npy). The front end
  and per-frame ResNet run once per video frame (`video_features`, in chunks) and every
  overlapping window's back end (BiLSTM or temporal convolutions) is served from those shared features.

The shared features are not exact everywhere. The 3D front end (kernel 5, padding 2) lets frame
t see frames t-2..t+2; a stand-alone window sees zeros beyond its ends, and a padded window
(plan_clip repeats an edge frame where the face is missing) sees repeated frames. So a window
position takes the shared feature only when its five-frame neighbourhood in the window is five
consecutive video frames; the others (at least the 2 + 2 edge frames) are recomputed from their
own neighbourhood, zeros included, exactly as a stand-alone window would see them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipreader import data
from lipreader.constants import ROI
from lipreader.errors import InputError
from lipreader.model import LipReader, ModelDims

REACH = 2          # frames the front end sees on each side of a frame (temporal kernel 5, padding 2)
CHUNK = 125        # video frames per ResNet batch of the shared features (5 s at 25 fps)
WINDOW_BATCH = 128  # windows per back-end batch
EDGE_BATCH = 512   # recomputed window positions per ResNet batch


@dataclass(frozen=True)
class Prediction:
    """The k best words, best first: `top` is [(word, probability)]."""

    top: tuple[tuple[str, float], ...]

    @property
    def word(self) -> str:
        return self.top[0][0]

    @property
    def prob(self) -> float:
        return self.top[0][1]


@dataclass
class Reader:
    """A model ready to read: eval mode on `device`, with its vocabulary and dimensions."""

    model: LipReader
    vocab: list[str]
    dims: ModelDims
    device: object
    path: Path
    bf16: bool = False              # the front end and ResNet under bfloat16 autocast

    @property
    def frames(self) -> int:
        return self.dims.frames

    def describe(self) -> str:
        d = self.dims
        return f"{self.path} ({d.arch}, {len(self.vocab)} words, {d.frames} frames)"


def cpu_threads() -> int:
    """Threads for the CPU: OMP_NUM_THREADS when set, else the CPUs this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_fit(vocab: Sequence[str], dims: ModelDims, where: str) -> None:
    """InputError when the checkpoint cannot read 96x96 mouth clips into its own vocabulary."""
    if len(vocab) != dims.num_classes:
        raise InputError(f"{where}: its vocabulary has {len(vocab)} words but its classifier "
                         f"{dims.num_classes} outputs (a damaged checkpoint?); train a new one "
                         "with `lipreader train --new`")
    if len(set(vocab)) != len(vocab) or not all(isinstance(w, str) and w for w in vocab):
        raise InputError(f"{where}: its vocabulary has empty or repeated words (a damaged "
                         "checkpoint?); train a new one with `lipreader train --new`")
    crop = data.crop_size(dims.input_size, dims.downsample)
    if not REACH * 2 < crop <= ROI:
        raise InputError(f"{where}: the model reads {crop}x{crop} crops, but mouth clips are "
                         f"{ROI}x{ROI}: train a model on this project's clips "
                         f"(`lipreader train --new`, [training] input_size at most {ROI})")
    if dims.frames < 1:
        raise InputError(f"{where}: the model was trained on {dims.frames}-frame clips")


def load_reader(path: str | os.PathLike, device: str = "auto", bf16: bool = False) -> Reader:
    """The checkpoint at `path`, checked and made ready for inference on `device` (auto: CUDA
    when present): BatchNorm folded into the convolutions, channels-last ResNet, CPU threads set."""
    import torch

    from lipreader.checkpoint import load_model
    from lipreader.device import resolve_device

    dev = resolve_device(device)
    model, vocab, dims = load_model(path, dev)
    check_fit(vocab, dims, str(path))
    fold_batchnorm(model).use_channels_last()
    if dev.type == "cpu":
        torch.set_num_threads(cpu_threads())
    return Reader(model, vocab, dims, dev, Path(path), bf16)


def fold_batchnorm(model: LipReader) -> LipReader:
    """Fold each eval-mode BatchNorm into the convolution before it, in place: the same outputs
    up to float rounding, one pass less over every activation. The pairs are a child `bnX`
    after `convX`, and (conv, bn) inside a Sequential (the ResNet's downsampling)."""
    import torch
    from torch import nn

    def fold(conv: nn.Module, bn: nn.Module) -> None:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)                     # (C,)
        shape = (-1,) + (1,) * (conv.weight.dim() - 1)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight = nn.Parameter(conv.weight * scale.reshape(shape), requires_grad=False)
        conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)

    with torch.no_grad():
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if not isinstance(child, (nn.BatchNorm2d, nn.BatchNorm3d)):
                    continue
                conv_name = "conv" + name[2:] if name.startswith("bn") else \
                    str(int(name) - 1) if name.isdigit() and int(name) > 0 else ""
                conv = getattr(module, conv_name, None) if conv_name else None
                if isinstance(conv, (nn.Conv2d, nn.Conv3d)):
                    fold(conv, child)
                    setattr(module, name, nn.Identity())
    return model


def check_clip(reader: Reader, frames: np.ndarray, where: str) -> None:
    """InputError unless `frames` is a (T, 96, 96) clip of the length the model was trained on."""
    if frames.ndim != 3 or frames.shape[1:] != (ROI, ROI):
        size = "x".join(str(s) for s in frames.shape[1:][::-1])
        raise InputError(f"{where}: frames are {size}, the model reads {ROI}x{ROI} mouth "
                         "clips (made by `lipreader build-dataset`)")
    if len(frames) != reader.frames:
        raise InputError(f"{where}: {len(frames)} frames, but the model reads {reader.frames}-frame "
                         f"clips (build them with `lipreader build-dataset --frames {reader.frames}`)")


def _features(reader: Reader, x, keep: slice = slice(None)):
    """model.features(x, keep) under the reader's autocast: (B, 1, T, S, S) -> (B, t, D) float32."""
    import torch

    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=reader.bf16):
        return reader.model.features(x, keep).float()


def _inputs(reader: Reader, frames: np.ndarray):
    """(B, T, 96, 96) uint8 -> (B, 1, T, S, S) normalised, exactly as validation prepares clips."""
    d = reader.dims
    return data.preprocess(np.asarray(frames), d.input_size, d.downsample, reader.device, d.mean, d.std)


def _inword(spans, n: int, rows: int):
    """(rows, n) float 0/1 in-word channel from [first, last] spans (None: all ones)."""
    import torch

    return torch.from_numpy(data.in_word(spans if spans is not None else [None] * rows, n)).float()


def clip_logits(reader: Reader, clips: np.ndarray, batch: int = 32, spans=None) -> np.ndarray:
    """Stand-alone clips (N, T, 96, 96) uint8 -> clip logits (N, V): the mean over time.
    spans: N [first, last] word frames (or None each) for a model with word boundaries."""
    import torch

    out = []
    T = clips.shape[1] if clips.ndim == 4 else 0
    inword = _inword(spans, T, len(clips))                              # (N, T)
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            x = _inputs(reader, clips[i:i + batch])                     # (B, 1, T, S, S)
            f = _features(reader, x)                                    # (B, T, D)
            b = inword[i:i + batch].to(f.device)
            out.append(reader.model.head(f, b).float().mean(dim=1).cpu())  # (B, V)
    V = len(reader.vocab)
    return torch.cat(out).numpy() if out else np.zeros((0, V), np.float32)


def video_features(reader: Reader, mouth: np.ndarray, needed: np.ndarray | None = None,
                   chunk: int = CHUNK):
    """Per-frame features of the whole video, the network's own view with its real neighbours.

    mouth: (T, 96, 96) uint8 (a memory map is fine); needed: (T,) bool, the frames any window
    takes from here (chunks without one are skipped, their rows left zero). -> (T, D) float32.
    """
    import torch

    T = len(mouth)
    D = reader.model.resnet.out_dim
    feats = torch.zeros(T, D, dtype=torch.float32)
    with torch.inference_mode():
        for a in range(0, T, chunk):
            b = min(T, a + chunk)
            if needed is not None and not needed[a:b].any():
                continue
            lo, hi = max(0, a - REACH), min(T, b + REACH)
            x = _inputs(reader, mouth[lo:hi][None])                     # (1, 1, hi-lo, S, S)
            feats[a:b] = _features(reader, x, slice(a - lo, b - lo))[0].cpu()
    return feats


def shareable(index: np.ndarray) -> np.ndarray:
    """(W, n) frame indices of windows -> (W, n) bool: the position's five-frame neighbourhood
    in the window is five consecutive video frames, so the shared feature is exact there."""
    W, n = index.shape
    ok = np.zeros((W, n), bool)
    if n > 2 * REACH:
        inner = np.ones((W, n - 2 * REACH), bool)
        mid = index[:, REACH:n - REACH]
        for d in range(-REACH, REACH + 1):
            if d:
                inner &= index[:, REACH + d:n - REACH + d] == mid + d
        ok[:, REACH:n - REACH] = inner
    return ok


def _edge_features(reader: Reader, mouth: np.ndarray, index: np.ndarray, where: np.ndarray):
    """Features of window positions recomputed from their own neighbourhood.

    index: (W, n) frame indices; where: (M, 2) (window, position) pairs -> (M, D) float32.
    """
    import torch

    n = index.shape[1]
    offsets = np.arange(-REACH, REACH + 1)
    out = []
    with torch.inference_mode():
        for i in range(0, len(where), EDGE_BATCH):
            w, p = where[i:i + EDGE_BATCH].T
            pos = p[:, None] + offsets[None, :]                         # (m, 5) window positions
            inside = (pos >= 0) & (pos < n)
            frames = index[w[:, None], np.clip(pos, 0, n - 1)]          # (m, 5) video frames
            x = _inputs(reader, mouth[frames.ravel()].reshape(*frames.shape, *mouth.shape[1:]))
            mask = torch.as_tensor(inside, device=x.device, dtype=x.dtype)
            x = x * mask[:, None, :, None, None]                        # zeros beyond the window
            out.append(_features(reader, x, slice(REACH, REACH + 1))[:, 0].cpu())
    D = reader.model.resnet.out_dim
    return torch.cat(out) if out else torch.zeros(0, D)


def window_logits(reader: Reader, mouth: np.ndarray, windows: Sequence[Sequence[int]],
                  feats=None, spans=None) -> np.ndarray:
    """Windows of one video -> clip logits (W, V), the same as `clip_logits(mouth[window])`.

    mouth: (T, 96, 96) uint8; windows: W lists of n frame indices (a ClipPlan's `index`);
    feats: `video_features(reader, mouth)` when already computed (else computed here, only
    for the frames the windows take from it); spans: W [first, last] word positions in the
    windows (a caption word's), None for all ones (sliding windows).
    """
    import torch

    V = len(reader.vocab)
    if not len(windows):
        return np.zeros((0, V), np.float32)
    index = np.asarray(windows, np.int64)                               # (W, n)
    if index.ndim != 2 or index.min() < 0 or index.max() >= len(mouth):
        raise ValueError("windows must be equal-length lists of frame indices inside the video")
    ok = shareable(index)
    inword = _inword(spans, index.shape[1], len(index))                 # (W, n)
    if feats is None:
        needed = np.zeros(len(mouth), bool)
        needed[index[ok]] = True
        feats = video_features(reader, mouth, needed)
    out = []
    with torch.inference_mode():
        for a in range(0, len(index), WINDOW_BATCH):
            idx, good = index[a:a + WINDOW_BATCH], ok[a:a + WINDOW_BATCH]
            f = feats[torch.as_tensor(idx)]                             # (w, n, D)
            redo = np.argwhere(~good)                                   # (m, 2)
            if len(redo):
                f[redo[:, 0], redo[:, 1]] = _edge_features(reader, mouth, idx, redo)
            b = inword[a:a + WINDOW_BATCH].to(reader.device)
            logits = reader.model.head(f.to(reader.device), b)          # (w, n, V)
            out.append(logits.float().mean(dim=1).cpu())                # (w, V)
    return torch.cat(out).numpy()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probs: np.ndarray, vocab: Sequence[str], k: int) -> list[Prediction]:
    """(N, V) probabilities -> N Predictions of the k most probable words."""
    k = max(1, min(k, probs.shape[-1]))
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return [Prediction(tuple((vocab[j], float(p[j])) for j in row)) for p, row in zip(probs, order, strict=True)]
