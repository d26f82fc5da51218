"""`lipreader train`: pack the dataset's clips when they are not packed yet, then train.

build-dataset packs what it builds (builder.stages.pack); a dataset built before packing was a
build stage, or clips put in <word>/<split>/ by hand, are packed here, once. A cache copied alone
(no clips beside it) is used as it is. Under torchrun only rank 0 packs; the trainer's other
ranks wait for it. lipreader.train itself only memory-maps the caches.
"""

from __future__ import annotations

import os

from lipreader.config import Config


def pack_for_training(cfg: Config, validate: bool) -> None:
    from builder.stages import pack

    splits = ["train"]
    if validate and cfg.validation.folder != "train":
        splits.append(cfg.validation.folder)
    for split in splits:
        pack.run(cfg.training.folder, split)


def run(cfg: Config, new: bool = False, force: bool = False, validate: bool = False,
        dry_run: bool = False, given: frozenset[str] = frozenset()):
    from lipreader import train

    if not dry_run and os.environ.get("RANK", "0") == "0":
        pack_for_training(cfg, validate)
    return train.run(cfg, new=new, force=force, validate=validate, dry_run=dry_run, given=given)
