"""Model files: save, load and check a checkpoint, and rebuild its model.

A checkpoint is a plain dict that torch.save writes and torch.load(weights_only=True) reads
back (so loading one can never run code):

    format, version   FORMAT and VERSION: what wrote it
    dims              ModelDims.as_dict(): everything that rebuilds the network, no guessing
    vocab             [word]: class index -> word
    model             the weights (state_dict)
    ... and from `lipreader train`: config, optimizer, optimizer_name, scheduler, epoch,
        history, best_top1

`load_checkpoint` refuses a missing, damaged, foreign or newer file, and dimensions beyond
ModelDims' limits, with one line each, before any model is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lipreader.atomic import write_bytes
from lipreader.errors import InputError
from lipreader.model import LipReader, ModelDims, build_model

FORMAT = "lipreader-checkpoint"
VERSION = 1


def new_checkpoint(dims: ModelDims, vocab: list[str], model: LipReader, **rest: Any) -> dict:
    """The checkpoint of `model` (its weights, dims and vocabulary) with the fields in `rest`."""
    return {"format": FORMAT, "version": VERSION, "dims": dims.as_dict(), "vocab": vocab,
            "model": model.state_dict(), **rest}


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint as plain data (torch.load with weights_only: it can never run code)."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no model file; train one with `lipreader train --new` "
                         "(or point --model / [general] pretrainedmodelpath at one)")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file fails anywhere in zip reading or the safe unpickler
        raise InputError(f"{p}: truncated or not a lipreader checkpoint "
                         f"({str(e).splitlines()[0][:120]})") from e
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise InputError(f"{p}: not a lipreader checkpoint (a model file from another program?)")
    version = ck.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise InputError(f"{p}: made by a newer lipreader (checkpoint version {ck['version']}); upgrade")
    dims_of(ck, p)
    vocab = ck.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(w, str) for w in vocab):
        raise InputError(f"{p}: damaged vocabulary (not a list of words); train a model with `lipreader train --new`")
    return ck


def dims_of(ck: dict, path: str | os.PathLike) -> ModelDims:
    """The checked ModelDims of a checkpoint read from `path`."""
    return ModelDims.from_dict(ck.get("dims"), str(path))


def model_from(ck: dict, path: str | os.PathLike) -> tuple[LipReader, ModelDims]:
    """The model a loaded checkpoint describes, with its weights (on the CPU, train mode)."""
    dims = dims_of(ck, path)
    model = build_model(dims)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise InputError(f"{path}: its weights do not match its own dimensions (damaged file?)") from e
    return model, dims


def load_model(path: str | os.PathLike, device="cpu") -> tuple[LipReader, list[str], ModelDims]:
    """(model in eval mode on `device`, vocab (index -> word), dims) from a checkpoint."""
    ck = load_checkpoint(path)
    model, dims = model_from(ck, Path(path))
    return model.to(device).eval(), list(ck["vocab"]), dims


def save_checkpoint(path: Path, state: dict) -> None:
    """Serialised in memory first: torch's own file writer turns a full disk into an unnamed
    RuntimeError, a plain write into a DiskFull error."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    write_bytes(path, buf.getbuffer())
