"""Stage 5, report: dataset/manifest.jsonl, stats.json and contact_sheet.png from the clip records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder import dataset as ds
from builder.layout import DatasetDir
from lipreader import atomic
from lipreader.manifest import ClipRecord, manifest_text


@dataclass(frozen=True)
class Report:
    stats: dict
    manifest: Path
    stats_file: Path
    contact_sheet: Path | None


def run(dataset: DatasetDir, records: list[ClipRecord], drops: Counter, skipped: Counter,
        videos: int, seconds: float, vocabulary: list[str],
        caption_drops: Counter | None = None) -> Report:
    """Write the manifest, stats.json and the contact sheet of `records`."""
    atomic.write_text(dataset.manifest, manifest_text(records))
    st = ds.stats(records, drops, skipped, videos, seconds, vocabulary, caption_drops)
    atomic.write_json(dataset.stats, st)
    return Report(st, dataset.manifest, dataset.stats, contact_sheet(dataset, records))


def contact_sheet(dataset: DatasetDir, records: list[ClipRecord], per_word: int = 3) -> Path | None:
    """A few clips of each word in one PNG (None when there are no clips)."""
    from builder import media

    chosen: dict[str, list[np.ndarray]] = {}
    for r in sorted(records, key=lambda r: r.path):
        if len(chosen.setdefault(r.word, [])) < per_word:
            chosen[r.word].append(media.read_clip(dataset.root / r.path))
    if not records:
        return None
    return ds.contact_sheet(chosen, dataset.contact_sheet)
