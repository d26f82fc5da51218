"""`lipreader import-weights`: another project's published word model -> a lipreader checkpoint."""

from __future__ import annotations

from pathlib import Path

from lipreader.errors import InputError
from lipreader.say import note, say

LICENCE = ("LRW-derived weights: BBC terms, for non-commercial research and benchmarking only "
           "(see the README)")


def run(source: Path, out: Path, fmt: str = "mpc001", config: Path | None = None,
        words: Path | None = None, force: bool = False) -> None:
    from lipreader.checkpoint import save_checkpoint
    from lipreader.importer import import_weights
    from lipreader.model import ModelDims, build_model, describe

    if out.exists() and not force:
        raise InputError(f"{out} exists; add --force to replace it")
    ck, notes = import_weights(source, fmt, config, words)
    for line in notes:
        note(f"note: {line}")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, ck)
    say(describe(build_model(ModelDims.from_dict(ck["dims"]))))
    say(f"wrote {out} ({len(ck['vocab'])} words, {ck['dims']['crop_profile']} crops)")
    note(LICENCE)
