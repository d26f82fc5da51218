"""build-dataset on a generated corpus: layout, counts, boundaries, splits, resume, SIGKILL, shards."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from builder import media
from builder.synth import make_corpus
from lipreader.cli import cli

pytestmark = pytest.mark.timeout(300)  # with the module fixtures: corpus, clean build

WORDS = 4
KILL_AFTER = 5.5  # seconds into build-dataset: mid-way through tracking and cutting on 2 cores


def copy_as_fetched(corpus: Path, videos: Path, names=None, with_build_outputs: Path | None = None) -> Path:
    """Lay generated videos out as `fetch` would: <videos>/<id>/video.mp4 + captions."""
    videos.mkdir(parents=True, exist_ok=True)
    for d in sorted(p for p in corpus.iterdir() if (p / "truth.json").is_file()):
        if names and d.name not in names:
            continue
        dst = videos / d.name
        dst.mkdir()
        shutil.copy(d / "video.mp4", dst / "video.mp4")
        shutil.copy(d / "captions.en.json3", dst / "captions.en.json3")
        if with_build_outputs:
            for f in ("words.json", "track.npz", "mouth.npy"):
                shutil.copy(with_build_outputs / d.name / f, dst / f)
    return videos


def build(cwd: Path, *args: str):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, ["build-dataset", "--words", str(WORDS), "--splits", "0.5,0.25,0.25",
                                        "--workers", "2", *args])
    finally:
        os.chdir(old)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root, words=WORDS, videos=4, seconds=6, speakers=2, holdout_speakers=0, height=360,
                seed=1)
    return root


@pytest.fixture(scope="module")
def clean(corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("clean")
    copy_as_fetched(corpus, work / "data" / "videos")
    res = build(work)
    assert res.exit_code == 0, res.output
    return work, res.output


def truth_words(corpus: Path) -> dict[str, list[dict]]:
    out = {}
    for d in corpus.iterdir():
        if (d / "truth.json").is_file():
            t = json.loads((d / "truth.json").read_text())
            out[d.name] = [w for w in t["words"] if not w["filler"]]
    return out


def test_layout_and_outputs(clean):
    work, output = clean
    out = work / "data" / "dataset"
    records = manifest(out)
    assert records
    for r in records:
        clip = out / r["path"]
        assert clip.parts[-3:-1] == (r["word"], r["split"])
        assert clip.name == f"{r['video_id']}_{r['start_ms']}.mp4"
        side = json.loads(clip.with_suffix(".json").read_text())
        assert side["word"] == r["word"] and side["video_id"] == r["video_id"]
    clip = media.read_video(out / records[0]["path"])
    assert clip.shape == (29, 96, 96) and clip.dtype == np.uint8 and clip.std() > 5
    stats = json.loads((out / "stats.json").read_text())
    assert stats["clips"] == len(records) and stats["videos"] == 4
    assert (out / "contact_sheet.png").stat().st_size > 1000
    assert "total" in output and "contact sheet" in output
    assert not list(out.rglob(".*.tmp*"))


def test_clip_counts_equal_truth_minus_drops(clean, corpus):
    work, _ = clean
    out = work / "data" / "dataset"
    stats = json.loads((out / "stats.json").read_text())
    vocab = set(stats["vocabulary"])
    truth = truth_words(corpus)
    spoken = sum(1 for words in truth.values() for w in words if w["word"] in vocab)
    assert len(vocab) == WORDS
    assert stats["clips"] + sum(stats["dropped"].values()) == spoken
    for word in vocab:
        n = sum(stats["clips_per_word"][word].values())
        assert n <= sum(1 for ws in truth.values() for w in ws if w["word"] == word)


def test_word_boundaries_match_truth_within_one_frame(clean, corpus):
    work, _ = clean
    truth = truth_words(corpus)
    for r in manifest(work / "data" / "dataset"):
        t = min(truth[r["video_id"]], key=lambda w: abs(w["start"] - r["start"]))
        assert t["word"] == r["word"]
        assert abs(t["start"] * 25 - r["first"] - r["word_start_frame"]) <= 1.0
        # Captions time only word starts; a word ends at the next captioned word's start (or
        # its line's end), so the end lies between the truth end and the next word's start.
        later = [w["start"] for w in truth[r["video_id"]] if w["start"] > t["start"]]
        end = r["first"] + r["word_end_frame"] + 1
        assert t["end"] * 25 - 1.0 <= end <= (min(later) if later else t["end"]) * 25 + 1.0


def test_no_video_in_two_splits(clean):
    work, _ = clean
    splits = defaultdict(set)
    for r in manifest(work / "data" / "dataset"):
        splits[r["video_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values())


def test_rerun_is_a_no_op_with_identical_outputs(clean):
    work, _ = clean
    out = work / "data" / "dataset"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")}
    text, stats = (out / "manifest.jsonl").read_bytes(), (out / "stats.json").read_bytes()
    res = build(work)
    assert res.exit_code == 0, res.output
    assert (out / "manifest.jsonl").read_bytes() == text
    assert (out / "stats.json").read_bytes() == stats
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.mp4")} == before


def test_sigkill_then_rerun_gives_the_clean_dataset(clean, corpus, tmp_path):
    work, _ = clean
    copy_as_fetched(corpus, tmp_path / "data" / "videos")
    cmd = [sys.executable, "-m", "lipreader", "build-dataset", "--words", str(WORDS),
           "--splits", "0.5,0.25,0.25", "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(KILL_AFTER)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    res = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    clean_out, out = work / "data" / "dataset", tmp_path / "data" / "dataset"
    assert (out / "manifest.jsonl").read_text() == (clean_out / "manifest.jsonl").read_text()
    assert (out / "stats.json").read_text() == (clean_out / "stats.json").read_text()
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    clean_files = sorted(p.relative_to(clean_out).as_posix() for p in clean_out.rglob("*") if p.is_file())
    assert files == clean_files
    assert not list((tmp_path / "data" / "videos").rglob(".*.tmp*"))


def test_shards_together_equal_the_whole(clean, corpus, tmp_path):
    work, _ = clean
    copy_as_fetched(corpus, tmp_path / "data" / "videos", with_build_outputs=work / "data" / "videos")
    lines = []
    for k in (1, 2):
        res = build(tmp_path, "--shard", f"{k}/2", "--out", f"shard{k}")
        assert res.exit_code == 0, res.output
        lines += (tmp_path / f"shard{k}" / "manifest.jsonl").read_text().splitlines()
    whole = (work / "data" / "dataset" / "manifest.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted(whole)


def test_predict_output_and_max_per_word(clean, corpus, tmp_path):
    work, _ = clean
    copy_as_fetched(corpus, tmp_path / "data" / "videos", with_build_outputs=work / "data" / "videos")
    res = build(tmp_path, "--output", "predict", "--out", "pred")
    assert res.exit_code == 0, res.output
    recs = manifest(tmp_path / "pred")
    assert recs and {r["split"] for r in recs} == {"predict"}
    assert all(Path(r["path"]).parts[1] == "predict" for r in recs)
    res = build(tmp_path, "--max-per-word", "1", "--out", "capped")
    assert res.exit_code == 0, res.output
    per = defaultdict(int)
    for r in manifest(tmp_path / "capped"):
        per[(r["word"], r["split"])] += 1
    assert per and max(per.values()) == 1


HOSTILE_VTT = """WEBVTT

00:00:00.500 --> 00:00:05.500
con .. nul hello a/b c\\\\d hello ... aux hello
"""


def test_hostile_labels_and_broken_videos_never_stop_the_batch(clean, corpus, tmp_path):
    work, _ = clean
    videos = copy_as_fetched(corpus, tmp_path / "data" / "videos", names={"v000-astronaut-0"},
                             with_build_outputs=work / "data" / "videos")
    v = videos / "v000-astronaut-0"
    (v / "words.json").unlink()
    (v / "captions.en.json3").unlink()
    (v / "captions.en.vtt").write_text(HOSTILE_VTT)
    (videos / "broken").mkdir()
    (videos / "broken" / "video.mp4").write_bytes(b"")
    (videos / "broken" / "captions.en.vtt").write_text(HOSTILE_VTT)
    (videos / "nocaps").mkdir()
    shutil.copy(v / "video.mp4", videos / "nocaps" / "video.mp4")
    res = build(tmp_path, "--words", "50", "--allow-estimated")
    assert res.exit_code == 0, res.output
    out = tmp_path / "data" / "dataset"
    folders = {p.name for p in out.iterdir() if p.is_dir()}
    assert folders <= {"hello", ".cache"}
    for bad in ("con", "nul", "aux", "a", "b", "c", "d"):
        assert not (out / bad).exists()
    assert not (tmp_path / "data" / "evil").exists()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["vocabulary"] == ["hello"]
    assert set(stats["videos_skipped"]) >= {"no captions"}
    assert sum(stats["videos_skipped"].values()) == 2
    assert any("reserved" in r or "unsafe" in r or "name" in r for r in stats["dropped"]), stats["dropped"]
    skip = json.loads((videos / "broken" / "skip.json").read_text())
    assert skip["stage"] == "track" and skip["reason"]
    assert not (videos / "broken" / "track.npz").exists()


def test_bad_vocab_file_and_no_videos_are_one_line_errors(tmp_path):
    (tmp_path / "words.txt").write_text("hello\na/b\n")
    (tmp_path / "data" / "videos" / "x").mkdir(parents=True)
    res = build(tmp_path, "--vocab", "words.txt")
    assert res.exit_code == 1
    assert res.output.startswith("Error: words.txt:2: 'a/b' cannot be a word folder (")
    res = build(tmp_path, "--videos", "nowhere")
    assert res.exit_code == 1
    assert res.output.strip() == "Error: no fetched videos in nowhere: run `lipreader fetch URL` first"
