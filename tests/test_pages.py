"""The web pages (lipreader.pages) and `lipreader report` (pipelines.pages)."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
from click.testing import CliRunner

from builder import media
from builder.layout import DatasetDir
from builder.stages import report
from lipreader import pages
from lipreader.cli import cli
from lipreader.manifest import ClipRecord


def test_what_a_video_or_its_source_says_is_shown_as_text():
    hostile = '<script>alert(1)</script>"'
    card = pages.clip_card({"path": "hi/train/v_0.mp4", "word": "hi", "split": "train",
                            "video_id": hostile, "start": 1.5, "preview": None,
                            "source_url": 'https://www.youtube.com/watch?v=x"><b>'}, "../")
    assert "<script>" not in card and "&lt;script&gt;" in card and "<b>" not in card
    assert 'href="https://www.youtube.com/watch?v=x&quot;&gt;&lt;b&gt;&amp;t=1s"' in card
    page = pages.video_page({"id": hostile, "skipped": hostile, "words": []})
    assert "<script>alert" not in page and "<title>Video: &lt;script&gt;" in page


def test_source_links_go_to_the_time_of_the_word():
    assert pages.source_at("https://www.youtube.com/watch?v=abc", 75.9) == \
        "https://www.youtube.com/watch?v=abc&t=75s"
    assert pages.source_at("https://example.org/talk.mp4", 3.2) == "https://example.org/talk.mp4#t=3"
    assert pages.source_at("/home/me/talk.mp4", 3.2) is None and pages.source_at("", 1.0) is None


def test_a_word_page_shows_at_most_its_share_taken_from_each_split_in_turn():
    recs = [ClipRecord(f"hi/{s}/v{i}_0.mp4", "hi", s) for s in ("train", "val") for i in range(5)]
    shown = report.shown_clips(recs, per_word=4)["hi"]
    assert [r.path for r in shown] == ["hi/train/v0_0.mp4", "hi/val/v0_0.mp4",
                                       "hi/train/v1_0.mp4", "hi/val/v1_0.mp4"]


def small_dataset(root) -> DatasetDir:
    dataset = DatasetDir(root)
    rng = np.random.default_rng(0)
    recs = [ClipRecord(f"hi/{split}/v1_{ms}.mp4", "hi", split, video_id="v1", start=ms / 1000,
                       source="json3-auto", face_width=120.0, max_yaw=5.0, frames=8)
            for split, ms in (("train", 0), ("train", 2000), ("val", 4000))]
    for r in recs:
        media.write_video(dataset.root / r.path, rng.integers(0, 255, (8, 96, 96), np.uint8), lossless=True)
    report.run(dataset, recs, Counter({"face too small": 2}), Counter({"no captions": 1}), 2, 60.0,
               ["hi", "yo"], outcomes=[report.VideoOutcome("v1", "train", 60.0, drops={"face too small": 2},
                                                                 word_drops=[("hi", 1000, "face too small"),
                                                                             ("yo", 3000, "face too small")]),
                                       report.VideoOutcome("v2", skipped="no captions")])
    return dataset


def test_previews_are_made_once_and_again_only_for_a_newer_clip(tmp_path):
    dataset = small_dataset(tmp_path / "ds")
    got = report.write_pages(dataset)
    assert (got.words, got.videos, got.previews_made) == (2, 2, 3)
    preview = dataset.preview("hi/train/v1_0.mp4")
    from PIL import Image

    with Image.open(preview) as im:
        assert im.size == (96, 8 * 96)      # the 8 frames one above the other
    page = dataset.word_page("hi").read_text()
    assert "steps(8, jump-none)" in page and "animation-duration: 0.32s" in page
    first = preview.stat().st_mtime_ns
    assert report.write_pages(dataset).previews_made == 0 and preview.stat().st_mtime_ns == first
    clip = dataset.root / "hi/train/v1_0.mp4"
    os.utime(clip, ns=(first + 10**9, first + 10**9))
    assert report.write_pages(dataset).previews_made == 1
    index = dataset.index.read_text()
    assert 'data-figure="used">1<' in index and 'data-figure="skipped">1<' in index
    assert 'href=".pages/word-hi.html"' in index and 'href=".pages/word-yo.html"' in index
    assert 'data-figure="clips">0<' in dataset.word_page("yo").read_text()   # a word without clips
    v2 = dataset.video_page("v2").read_text()
    assert "Skipped: no captions" in v2


def test_report_makes_the_pages_again_and_says_what_is_missing(tmp_path):
    dataset = small_dataset(tmp_path / "ds")
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(dataset.root)])
    assert res.exit_code == 0, res.output
    assert f"pages: {dataset.index} (2 words, 2 videos, 3 new previews)" in res.output
    assert dataset.word_page("hi").is_file() and dataset.stylesheet.is_file()
    res = runner.invoke(cli, ["report", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert res.output == f"Error: {tmp_path / 'none'}: no such dataset folder (build it with `lipreader build-dataset`)\n"
    res = runner.invoke(cli, ["report", str(dataset.root), "--model", str(tmp_path / "m.pt")])
    assert res.output == f"Error: {tmp_path / 'm.pt'}: no m.metrics.json beside it: `lipreader train` writes it\n"
    (tmp_path / "m.metrics.json").write_text(json.dumps([{"epoch": 1, "loss": 1.0, "top1": 0.5}]))
    (tmp_path / "m.predictions.json").write_text(json.dumps(pages.predictions_json(
        "val", ["hi", "yo"], [("hi/val/v1_4000.mp4", 0, 1)])))
    res = runner.invoke(cli, ["report", str(dataset.root), "--model", str(tmp_path / "m.pt")])
    assert res.exit_code == 0, res.output
    page = dataset.model_page(tmp_path / "m.pt").read_text()
    assert 'data-pair="hi&gt;yo"' in page and 'src="previews/hi/val/v1_4000.jpg"' in page
    assert 'href=".pages/model-m.html"' in dataset.index.read_text()


def test_a_video_page_says_why_each_word_gave_no_clip_and_older_datasets_still_report(tmp_path):
    dataset = small_dataset(tmp_path / "ds")
    saved = json.loads(dataset.videos.read_text())
    assert saved["v1"]["word_drops"] == [["hi", 1000, "face too small"], ["yo", 3000, "face too small"]]
    assert saved["v2"]["word_drops"] == []
    report.write_pages(dataset)     # no video folders: the rows come from the manifest and videos.json
    page = dataset.video_page("v1").read_text()
    assert '<tr data-row="yo@3.0"><td>yo</td><td>0:03.00</td><td></td><td></td><td></td>' \
           "<td>no clip: face too small</td></tr>" in page
    assert 'data-row="hi@1.0"' in page and 'data-row="hi@2.0"' in page
    assert page.count("no clip: face too small") == 2
    for v in saved.values():
        del v["word_drops"]         # videos.json as builds wrote it before it named each word
    dataset.videos.write_text(json.dumps(saved))
    res = CliRunner().invoke(cli, ["report", str(dataset.root)])
    assert res.exit_code == 0, res.output
    page = dataset.video_page("v1").read_text()
    assert "no clip:" not in page and 'data-row="hi@2.0"' in page
