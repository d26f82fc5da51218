"""Bring in a word model trained elsewhere: `lipreader import-weights FILE --format mpc001`.

mpc001's "Lipreading using Temporal Convolutional Networks" (Martinez et al. 2020, Ma et al.
2022) publishes LRW models: a 3D front end, a ResNet-18 without stem or classifier (`trunk`) and
a multi-scale TCN or a densely connected TCN (`tcn`). Our LipReader with arch "resnet18",
backend "mstcn" or "dctcn" and their activation has the same layers in the same order with the
same padding; only the names differ. `reference_name` is the whole mapping, ours -> theirs, rule
by rule:

    frontend.conv / .bn / .act                  frontend3D.0 / .1 / .2
    resnet.layers.{s}.{b}.act1 / .act2          trunk.layer{s+1}.{b}.relu1 / .relu2
    resnet.layers.{s}.{b}.<rest>                trunk.layer{s+1}.{b}.<rest>   (conv1, bn1, conv2,
                                                                                bn2, downsample.0/1)
    backend.blocks.{i}.first.{k}.<u>            tcn.mb_ms_tcn.network.{i}.cbcr0_{k}.<u'>
    backend.blocks.{i}.second.{k}.<u>           tcn.mb_ms_tcn.network.{i}.cbcr1_{k}.<u'>
        with <u> conv / bn / act                <u'> conv / batchnorm / non_lin
    backend.blocks.{i}.residual                 tcn.mb_ms_tcn.network.{i}.downsample
    backend.blocks.{i}.act                      tcn.mb_ms_tcn.network.{i}.relu_final

    DC-TCN (F = tcn.tcn_trunk.features; b, l counted from 1 in theirs):
    backend.transitions.{i}.conv / .bn / .act   F.transition{i}.conv / .norm / .prelu
    backend.blocks.{b}.layers.{l}.<x>           F.denseblock{b}.denselayer{l}.<x'>
        with <x> first.{k}.<u> / second.{k}.<u> <x'> cbcr0_{k}.net.<n> / cbcr1_{k}.net.<n>
             (<u> conv / bn / act               <n> 0 / 1 / 3; net.2 is the cut, no weights)
             excite.{k}                         cbcr0_se_{k}
             residual / act                     downsample / relu_final
    backend.norm                                F.norm5

    classifier                                  tcn.tcn_output

(activations carry weights only as PReLU; their DC-TCN's first transition is PReLU in every
model). Every tensor of the file must land on one of ours with the same shape, and every one of
ours must be in the file; anything else is refused with one line. The one exception: BatchNorm's `num_batches_tracked` counter, which files saved by old
torch versions lack and which inference never reads.

The LRW vocabulary is the 500 words of mpc001's `labels/500WordsSortedList.txt` (alphabetical;
the order of the classifier's rows), shipped as lipreader/lrw_words.txt in lower case. Their
models read LRW's mouth crops (`crop_profile` "lrw", builder.mouth) normalised with mean 0.421,
std 0.165. The weights are derived from LRW, which the BBC licenses for non-commercial research
only: lipreader never ships or downloads them; the user brings a file they obtained.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

from lipreader.checkpoint import new_checkpoint
from lipreader.errors import InputError
from lipreader.model import ACTIVATIONS, LATER_FIELDS, ModelDims, build_model

FORMATS = ("mpc001",)
WORDS_FILE = Path(__file__).with_name("lrw_words.txt")
OPTIONAL = ".num_batches_tracked"

_DENSE = "tcn.tcn_trunk.features."
_LAYER = r"backend\.blocks\.(\d+)\.layers\.(\d+)\."
_THEIR_LAYER = _DENSE + "denseblock{p[0]}.denselayer{p[1]}."
_RULES: tuple[tuple[str, str], ...] = (
    (r"frontend\.conv\.", "frontend3D.0."),
    (r"frontend\.bn\.", "frontend3D.1."),
    (r"frontend\.act\.", "frontend3D.2."),
    (r"resnet\.layers\.(\d+)\.(\d+)\.act([12])\.", "trunk.layer{p[0]}.{1}.relu{2}."),
    (r"resnet\.layers\.(\d+)\.(\d+)\.", "trunk.layer{p[0]}.{1}."),
    (r"backend\.transitions\.(\d+)\.(conv|bn|act)\.", _DENSE + "transition{0}.{t}."),
    (_LAYER + r"first\.(\d+)\.(conv|bn|act)\.", _THEIR_LAYER + "cbcr0_{2}.net.{n}."),
    (_LAYER + r"second\.(\d+)\.(conv|bn|act)\.", _THEIR_LAYER + "cbcr1_{2}.net.{n}."),
    (_LAYER + r"excite\.(\d+)\.", _THEIR_LAYER + "cbcr0_se_{2}."),
    (_LAYER + r"residual\.", _THEIR_LAYER + "downsample."),
    (_LAYER + r"act\.", _THEIR_LAYER + "relu_final."),
    (r"backend\.norm\.", _DENSE + "norm5."),
    (r"backend\.blocks\.(\d+)\.first\.(\d+)\.(conv|bn|act)\.", "tcn.mb_ms_tcn.network.{0}.cbcr0_{1}.{u}."),
    (r"backend\.blocks\.(\d+)\.second\.(\d+)\.(conv|bn|act)\.", "tcn.mb_ms_tcn.network.{0}.cbcr1_{1}.{u}."),
    (r"backend\.blocks\.(\d+)\.residual\.", "tcn.mb_ms_tcn.network.{0}.downsample."),
    (r"backend\.blocks\.(\d+)\.act\.", "tcn.mb_ms_tcn.network.{0}.relu_final."),
    (r"classifier\.", "tcn.tcn_output."),
)
_UNIT = {"conv": "conv", "bn": "batchnorm", "act": "non_lin"}          # MS-TCN branch
_NET = {"conv": 0, "bn": 1, "act": 3}                                   # DC-TCN branch (net.2: the cut)
_TRANSITION = {"conv": "conv", "bn": "norm", "act": "prelu"}            # DC-TCN transition


def reference_name(key: str) -> str:
    """The name mpc001's model gives our state-dict entry `key` (ValueError for none)."""
    for pattern, template in _RULES:
        m = re.match(pattern, key)
        if m:
            g = m.groups()
            plus = [int(x) + 1 if x.isdigit() else x for x in g]       # their layers count from 1
            last = g[-1] if g else ""
            return template.format(*g, p=plus, u=_UNIT.get(last), n=_NET.get(last),
                                   t=_TRANSITION.get(last)) + key[m.end():]
    raise ValueError(f"no reference name for {key}")


def read_reference(path: Path) -> dict[str, Any]:
    """The state dict in one of their files: a dict with `model_state_dict` (what their training
    saves) or a bare state dict; names saved through DataParallel lose their `module.`."""
    import torch

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged or foreign file fails anywhere in zip reading or the safe unpickler
        raise InputError(f"{path}: not a PyTorch weights file ({str(e).splitlines()[0][:120]})") from e
    state = obj.get("model_state_dict", obj.get("state_dict", obj)) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{path}: no model weights in it (expected a dict with model_state_dict)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def read_words(path: Path | None) -> list[str]:
    """The vocabulary, one word per line (lower-cased); the LRW list when `path` is None."""
    p = WORDS_FILE if path is None else Path(path)
    try:
        words = [w.strip().lower() for w in p.read_text(encoding="utf-8").splitlines() if w.strip()]
    except OSError as e:
        raise InputError(f"{p}: cannot read the word list ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: the word list is not UTF-8 text") from e
    if len(set(words)) != len(words):
        dup = next(w for i, w in enumerate(words) if w in words[:i])
        raise InputError(f"{p}: {dup!r} is listed twice")
    return words


def read_config(path: Path) -> dict[str, Any]:
    """Their model's JSON configuration (configs/lrw_resnet18_mstcn.json and the like)."""
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read the configuration ({e.strerror})") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a JSON configuration ({e})") from e
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: not a JSON configuration (no object at the top)")
    return cfg


def dims_for(state: dict[str, Any], cfg: dict[str, Any] | None, num_classes: int,
             where: str) -> tuple[ModelDims, list[str]]:
    """The ModelDims of their model, from its configuration or (without one) from its tensors,
    and notes on what was assumed."""
    notes: list[str] = []
    act = _activation(state, cfg, where, notes)
    dense = bool(cfg.get("densetcn_block_config")) if cfg else any(k.startswith("tcn.tcn_trunk.") for k in state)
    if dense:
        return _dense_dims(state, cfg, act, num_classes, where, notes)
    if cfg is None:
        kernels = tuple(sorted({int(m.group(1)) for k in state
                                if (m := re.match(r"tcn\.mb_ms_tcn\.network\.0\.cbcr0_(\d+)\.", k))}))
        kernel_sizes = tuple(int(state[f"tcn.mb_ms_tcn.network.0.cbcr0_{i}.conv.weight"].shape[-1])
                             for i in kernels if f"tcn.mb_ms_tcn.network.0.cbcr0_{i}.conv.weight" in state)
        layers = len({k for k in state if re.fullmatch(r"tcn\.mb_ms_tcn\.network\.\d+\.cbcr0_0\.conv\.weight", k)})
        first = state.get("tcn.mb_ms_tcn.network.0.cbcr0_0.conv.weight")
        per_branch = int(first.shape[0]) if first is not None else 256
        boundary = first is not None and first.shape[1] == 513
        if not kernel_sizes or not layers:
            raise InputError(f"{where}: no multi-scale TCN tensors (tcn.mb_ms_tcn.*) in it; "
                             "pass their --config to say what model it is")
    else:
        if cfg.get("tcn_dwpw"):
            raise InputError(f"{where}: depthwise-separable TCN (tcn_dwpw) models cannot be imported")
        kernel_sizes = tuple(cfg.get("tcn_kernel_size") or ())
        if len(kernel_sizes) < 2:
            raise InputError(f"{where}: not a multi-scale TCN configuration (tcn_kernel_size needs 2 or more sizes)")
        layers = cfg.get("tcn_num_layers", 4)
        per_branch = int(256 * cfg.get("tcn_width_mult", 1))
        boundary = bool(cfg.get("use_boundary", False))
    try:
        dims = ModelDims.for_arch("resnet18", num_classes, backend="mstcn", boundaries=boundary,
                                  activation=act, crop_profile="lrw", tcn_kernels=kernel_sizes,
                                  tcn_layers=int(layers))
    except ValueError as e:
        raise InputError(f"{where}: {e}") from e
    return dataclasses.replace(dims, hidden=per_branch), notes


def _activation(state: dict[str, Any], cfg: dict[str, Any] | None, where: str, notes: list[str]) -> str:
    """Their relu_type: from --config (which must describe a ResNet model), else PReLU when the
    front end has slopes, else swish (said in `notes`)."""
    if cfg is None:
        if "frontend3D.2.weight" in state:
            return "prelu"
        notes.append("no --config: swish activations assumed (as in their released LRW models)")
        return "swish"
    if cfg.get("backbone_type", "resnet") != "resnet":
        raise InputError(f"{where}: backbone {cfg.get('backbone_type')!r}; only the ResNet-18 models can be imported")
    act = cfg.get("relu_type", "prelu")
    if act not in ACTIVATIONS:
        raise InputError(f"{where}: relu_type {act!r} is not one of {', '.join(ACTIVATIONS)}")
    return act


def _dense_dims(state: dict[str, Any], cfg: dict[str, Any] | None, act: str, num_classes: int, where: str,
                notes: list[str]) -> tuple[ModelDims, list[str]]:
    """A DC-TCN model's dimensions: each from --config when it says, else read off the tensors'
    shapes, else their released LRW configuration's (the dilations: no shape shows them)."""

    def size(name: str, dim: int, default: int) -> int:
        return int(state[name].shape[dim]) if name in state else default

    layers: dict[int, int] = {}
    for k in state:
        if m := re.match(r"tcn\.tcn_trunk\.features\.denseblock(\d+)\.denselayer(\d+)\.", k):
            b, n = int(m.group(1)), int(m.group(2))
            layers[b] = max(layers.get(b, 0), n)
    branch = _DENSE + "denseblock{}.denselayer1.cbcr0_{}.net.0.weight"
    n_branches = len({k for k in state if re.fullmatch(
        re.escape(_DENSE) + r"denseblock1\.denselayer1\.cbcr0_\d+\.net\.0\.weight", k)})
    found = {
        "dense_blocks": tuple(layers[b] for b in sorted(layers)),
        "tcn_kernels": tuple(size(branch.format(1, j), -1, 0) for j in range(n_branches)),
        "dense_growth": tuple(size(branch.format(b, 0), 0, 0) * n_branches for b in sorted(layers)),
        "dense_reduced": size(_DENSE + "transition0.conv.weight", 0, 0),
        "dense_se": any(".cbcr0_se_" in k for k in state),
    }
    dims: dict[str, Any] = {}
    for ours, theirs in _THEIR_KEYS.items():
        v = cfg[theirs] if cfg and theirs in cfg else found.get(ours)
        if not v and v is not False:                   # not in the file either: their released value
            v = LATER_FIELDS[ours]
            if ours == "dense_dilations":
                notes.append("dilations 1/2/5 assumed (as in their released LRW models; the weights do not show them)")
        dims[ours] = _checked(v, ours, theirs, where)
    boundary = cfg.get("use_boundary", False) if cfg else size(_DENSE + "transition0.conv.weight", 1, 512) == 513
    if not isinstance(boundary, bool):
        raise InputError(f"{where}: use_boundary = {boundary!r} is not true or false")
    try:
        return ModelDims.for_arch("resnet18", num_classes, backend="dctcn", boundaries=boundary, activation=act,
                                  crop_profile="lrw", **dims), notes
    except ValueError as e:
        raise InputError(f"{where}: {e}") from e


# our ModelDims field: the key of their JSON configuration
_THEIR_KEYS = {"dense_blocks": "densetcn_block_config", "dense_growth": "densetcn_growth_rate_set",
               "tcn_kernels": "densetcn_kernel_size_set", "dense_dilations": "densetcn_dilation_size_set",
               "dense_reduced": "densetcn_reduced_size", "dense_se": "densetcn_se"}


def _checked(v: Any, ours: str, theirs: str, where: str) -> Any:
    """`v` as ModelDims holds `ours`; a configuration's value of the wrong type is one line."""
    def whole(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if ours == "dense_se":
        if isinstance(v, bool):
            return v
        kind = "true or false"
    elif ours == "dense_reduced":
        if whole(v):
            return v
        kind = "a whole number"
    else:
        if isinstance(v, (list, tuple)) and all(whole(x) for x in v):
            return tuple(v)
        kind = "a list of whole numbers"
    raise InputError(f"{where}: {theirs} = {v!r} is not {kind}")


def import_weights(path: str | os.PathLike, fmt: str = "mpc001", config: str | os.PathLike | None = None,
                   words: str | os.PathLike | None = None) -> tuple[dict, list[str]]:
    """(a lipreader checkpoint holding their model, notes). InputError, one line, on any tensor
    missing, unexpected or of the wrong shape."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    path = Path(path)
    state = read_reference(path)
    vocab = read_words(Path(words) if words else None)
    dims, notes = dims_for(state, read_config(Path(config)) if config else None, len(vocab), str(path))
    model = build_model(dims)
    own = model.state_dict()
    expected = {reference_name(k): k for k in own}
    for name in state:
        if name not in expected:
            raise InputError(f"{path}: unexpected tensor {name} (not part of a {_title(dims)} model)")
    for name in expected:
        if name not in state and not name.endswith(OPTIONAL):
            raise InputError(f"{path}: tensor {name} is missing (a {_title(dims)} model needs it)")
    out = {}
    for name, key in expected.items():
        if name not in state:
            out[key] = own[key]
            continue
        have, need = tuple(state[name].shape), tuple(own[key].shape)
        if have != need:
            if name == "tcn.tcn_output.weight" and have[1:] == need[1:]:
                raise InputError(f"{path}: {have[0]} classes, but the word list has {len(vocab)} words")
            raise InputError(f"{path}: tensor {name} has shape {list(have)}, a {_title(dims)} model needs {list(need)}")
        out[key] = state[name].to(own[key].dtype)
    model.load_state_dict(out)
    ck = new_checkpoint(dims, vocab, model, imported={"format": fmt, "source": path.name})
    return ck, notes


def _title(dims: ModelDims) -> str:
    kernels = "/".join(map(str, dims.tcn_kernels))
    if dims.backend == "dctcn":
        blocks = "/".join(map(str, dims.dense_blocks))
        growth = "/".join(map(str, sorted(set(dims.dense_growth))))
        return f"resnet18 + DC-TCN (blocks {blocks}, growth {growth}, kernels {kernels}, {dims.activation})"
    return f"resnet18 + MS-TCN ({dims.tcn_layers} blocks, kernels {kernels}, {dims.activation})"


def import_to(path: str | os.PathLike, out: str | os.PathLike, fmt: str = "mpc001",
              config: str | os.PathLike | None = None, words: str | os.PathLike | None = None) -> list[str]:
    """import_weights, written to `out`; returns the notes."""
    from lipreader.checkpoint import save_checkpoint

    ck, notes = import_weights(path, fmt, config, words)
    save_checkpoint(Path(out), ck)
    return notes
