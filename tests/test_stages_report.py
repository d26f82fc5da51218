"""The report stage: manifest.jsonl, stats.json and the contact sheet from the clip records."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np

from builder import media
from builder.layout import DatasetDir
from builder.stages import report
from lipreader.manifest import ClipRecord, manifest_text


def test_report_writes_the_manifest_stats_and_a_contact_sheet(tmp_path):
    dataset = DatasetDir(tmp_path / "ds")
    recs = [ClipRecord(f"hi/{split}/v1_{ms}.mp4", "hi", split, video_id="v1") for split, ms in
            (("train", 0), ("train", 2000), ("val", 4000))]
    for r in recs:
        media.write_video(dataset.root / r.path, np.full((8, 96, 96), 128, np.uint8), lossless=True)
    got = report.run(dataset, recs, Counter({"face too small": 2}), Counter(), 1, 60.0, ["hi", "yo"])
    assert dataset.manifest.read_text() == manifest_text(recs)
    assert json.loads(dataset.stats.read_text()) == got.stats
    assert got.stats["clips_per_word"] == {"hi": {"train": 2, "val": 1}, "yo": {}}
    assert got.stats["dropped"] == {"face too small": 2} and got.stats["hours"] == round(60 / 3600, 4)
    assert got.contact_sheet == dataset.contact_sheet and dataset.contact_sheet.stat().st_size > 100
    assert got.stats["caption_tokens_dropped"] == {}
    assert report.run(dataset, [], Counter(), Counter(), 0, 0.0, []).contact_sheet is None
    apart = report.run(dataset, recs, Counter({"face too small": 2}), Counter(), 1, 60.0, ["hi"],
                       Counter({"non-speech": 3, "speaker mark": 1})).stats
    assert apart["dropped"] == {"face too small": 2}
    assert apart["caption_tokens_dropped"] == {"non-speech": 3, "speaker mark": 1}
