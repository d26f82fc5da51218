"""Start a model from another one: `--init-from FILE` and staged training.

The front end and the ResNet always carry over (the arch and the activation must match; a new
model takes its source's activation, input statistics and crop profile: ModelDims.inherit), so
a model imported with `lipreader import-weights` starts one too. The back end carries
over when both models have the same kind of back end with the same shapes; otherwise it starts
fresh, as in the paper's second stage (a temporal-convolution model's trunk under a new
BiLSTM). The classifier row of every word both vocabularies share is copied (with its bias)
when the back end carried over; new words keep their fresh rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from lipreader.errors import InputError
from lipreader.model import BACKEND_NAMES, LipReader, ModelDims

TRUNK = ("frontend.", "resnet.")


@dataclass(frozen=True)
class Transferred:
    source: str
    backend_kept: bool
    shared_words: int                   # classifier rows copied (0 when the back end is new)
    new_words: int

    def note(self, dims: ModelDims) -> str:
        back = BACKEND_NAMES[dims.backend]
        if self.backend_kept:
            return (f"initialised from {self.source}: front end, ResNet and {back} kept; classifier rows of "
                    f"{self.shared_words} shared words kept, {self.new_words} new")
        return f"initialised from {self.source}: front end and ResNet kept; {back} back end and classifier new"


def check_compatible(src: ModelDims, dst: ModelDims, source: str | os.PathLike) -> None:
    """One line when `src`'s trunk cannot start a `dst` model."""
    if (src.arch, src.blocks, src.widths, src.downsample) != (dst.arch, dst.blocks, dst.widths, dst.downsample):
        raise InputError(f"{source}: a {src.arch} model cannot start a {dst.arch} model "
                         f"(--init-from needs the same --arch)")
    if src.activation != dst.activation:
        raise InputError(f"{source}: its {src.activation} trunk cannot start a {dst.activation} model")


def transfer(model: LipReader, vocab: list[str], ck: dict, source: str | os.PathLike) -> Transferred:
    """Copy into `model` (vocabulary `vocab`) what fits of a loaded checkpoint `ck`."""
    src_dims = ModelDims.from_dict(ck.get("dims"), str(source))
    check_compatible(src_dims, model.dims, source)
    weights: dict[str, torch.Tensor] = ck["model"]
    own = model.state_dict()
    update = {k: v for k, v in weights.items() if k.startswith(TRUNK)}
    missing = [k for k in own if k.startswith(TRUNK) and (k not in update or update[k].shape != own[k].shape)]
    if missing:
        raise InputError(f"{source}: its weights do not fit a {model.dims.arch} model ({missing[0]}); damaged file?")
    back = {k: v for k, v in weights.items() if k.startswith("backend.")}
    own_back = {k: v for k, v in own.items() if k.startswith("backend.")}
    backend_kept = (src_dims.backend == model.dims.backend and back.keys() == own_back.keys()
                    and all(back[k].shape == own_back[k].shape for k in back)
                    and weights["classifier.weight"].shape[1] == own["classifier.weight"].shape[1])
    shared = 0
    if backend_kept:
        update.update(back)
        old_index = {w: i for i, w in enumerate(ck["vocab"])}
        w, b = own["classifier.weight"].clone(), own["classifier.bias"].clone()
        for i, word in enumerate(vocab):
            j = old_index.get(word)
            if j is not None:
                w[i], b[i] = weights["classifier.weight"][j], weights["classifier.bias"][j]
                shared += 1
        update["classifier.weight"], update["classifier.bias"] = w, b
    model.load_state_dict({**own, **update})
    return Transferred(str(source), backend_kept, shared, len(vocab) - shared)


def trunk_parameters(model: LipReader) -> list[torch.nn.Parameter]:
    """The front end's and the ResNet's parameters (what `--freeze-frontend` holds still)."""
    return [*model.frontend.parameters(), *model.resnet.parameters()]
