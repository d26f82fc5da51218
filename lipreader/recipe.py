"""Training defaults that scale with the dataset.

The [training] defaults (lr 3e-4, batch 32, weight decay 1e-4, label smoothing 0.1, time
masking 6, one epoch per run on a 30-epoch schedule) suit an LRW-sized dataset. A first dataset of a few hundred clips underfits with
them; the small-data values below were chosen by `python -m benchmarks.recipes` on three
generated corpora (README, "Training recipes"). Only the options a person left unset change:
anything in options.toml or on the command line is kept.
"""

from __future__ import annotations

import dataclasses

from lipreader.config import Training

SMALL_DATA_CLIPS = 5000     # below this many training clips, `auto` means small-data
# 60 epochs of a few hundred clips is about 1,000-2,500 steps: minutes on a CPU for the small model
SMALL_DATA = {"lr": 3e-3, "batch_size": 16, "weight_decay": 0.05, "label_smoothing": 0.0, "time_mask": 0,
              "epochs": 60, "schedule_epochs": 60}


def choose(t: Training, clips: int) -> str:
    """The recipe `t.recipe` names for a training split of `clips` clips."""
    if t.recipe != "auto":
        return t.recipe
    return "small-data" if clips < SMALL_DATA_CLIPS else "large-data"


def apply(t: Training, explicit: frozenset[str], clips: int) -> tuple[Training, str]:
    """`t` with the chosen recipe's values for the options not set explicitly ("training.<key>"
    in `explicit`), and one line saying what changed ("" when nothing did)."""
    if choose(t, clips) != "small-data":
        return t, ""
    changed = {k: v for k, v in SMALL_DATA.items() if f"training.{k}" not in explicit and getattr(t, k) != v}
    if not changed:
        return t, ""
    why = f"{clips} training clips" + (f" < {SMALL_DATA_CLIPS:,}" if t.recipe == "auto" else "")
    values = ", ".join(f"{k} {v:g}" for k, v in changed.items())
    return dataclasses.replace(t, **changed), \
        f"recipe: small-data ({why}): {values}; options you set are kept ([training] recipe)"
