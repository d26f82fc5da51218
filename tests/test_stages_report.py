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


def test_contact_sheet_from_the_packed_clips_is_the_one_from_the_files(tmp_path, monkeypatch):
    """Once the clips are packed, the contact sheet takes their frames from the cache (nothing
    decoded again) and is the same picture; a clip the cache lacks is decoded from its file."""
    import cv2

    from builder.stages import pack

    dataset = DatasetDir(tmp_path / "ds")
    rng = np.random.default_rng(0)
    recs = [ClipRecord(f"{w}/train/v1_{ms}.mp4", w, "train", video_id="v1", face=1 if ms == 0 else None)
            for w in ("hi", "yo") for ms in (0, 1000, 2000, 3000)]
    for r in recs:
        media.write_video(dataset.root / r.path, rng.integers(0, 256, (8, 96, 96), np.uint8),
                          lossless=True)
    report.run(dataset, recs, Counter(), Counter(), 1, 60.0, ["hi", "yo"])
    from_files = cv2.imread(str(dataset.contact_sheet), cv2.IMREAD_UNCHANGED)
    assert pack.run(dataset.root, "train", pack.PackSettings(show=False)).clips == len(recs)
    decoded = []
    real_read = media.read_clip
    monkeypatch.setattr(media, "read_clip", lambda p: decoded.append(p) or real_read(p))
    assert report.contact_sheet(dataset, recs) == dataset.contact_sheet
    assert decoded == []
    assert np.array_equal(cv2.imread(str(dataset.contact_sheet), cv2.IMREAD_UNCHANGED), from_files)
    extra = ClipRecord("hi/train/v2_0.mp4", "hi", "train", video_id="v2")
    media.write_video(dataset.root / extra.path, np.full((8, 96, 96), 7, np.uint8), lossless=True)
    got = dict(report.clip_frames(dataset, [recs[1], extra]))
    assert decoded == [dataset.root / extra.path] and np.all(got[extra] == 7)
