"""build-dataset on a generated corpus: layout, counts, boundaries, splits, resume, SIGKILL, shards."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from click.testing import CliRunner

from builder import media
from builder.synth import make_corpus
from lipreader import data
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
    for split in {r["split"] for r in records}:  # packed for training, the last stage
        cache = data.load_cache(out, split)
        assert sorted(cache.paths) == sorted(r["path"] for r in records if r["split"] == split)


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


def wait_until_gone(group: int, limit: float = 60.0) -> None:
    """Until no process of the group is left (killed processes take a moment to end)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


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
    wait_until_gone(proc.pid)  # its workers too: a run's temporary files are left alone while it lives
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
    dataset = tmp_path / "data" / "dataset"
    shutil.copytree(work / "data" / "dataset", dataset)
    files = lambda: {p.relative_to(dataset): p.read_bytes() for p in sorted(dataset.rglob("*"))  # noqa: E731
                     if p.is_file() and p.name != ".lipreader.lock"}
    before = files()
    res = build(tmp_path, "--output", "predict")  # its own folder: the training clips stay
    assert res.exit_code == 0, res.output
    recs = manifest(tmp_path / "data" / "predict")
    assert recs and {r["split"] for r in recs} == {"predict"}
    assert all(Path(r["path"]).parts[1] == "predict" for r in recs)
    assert files() == before and any(p.parts[1] == "train" for p in before)
    res = build(tmp_path, "--max-per-word", "1", "--out", "capped")
    assert res.exit_code == 0, res.output
    per = defaultdict(int)
    for r in manifest(tmp_path / "capped"):
        per[(r["word"], r["split"])] += 1
    assert per and max(per.values()) == 1


def test_a_build_refuses_a_folder_holding_clips_of_another_kind(tmp_path):
    (tmp_path / "data" / "videos").mkdir(parents=True)
    for split in ("train", "val"):
        (tmp_path / "data" / "dataset" / "alpha" / split).mkdir(parents=True)
        (tmp_path / "data" / "dataset" / "alpha" / split / f"v1_{len(split)}.mp4").write_bytes(b"clip")
    res = build(tmp_path, "--output", "predict", "--out", "data/dataset")
    assert res.exit_code == 1
    assert res.output == ("Error: data/dataset holds other clips (<word>/train/, <word>/val/): `--output "
                          "predict` writes a folder of its own ([prediction] dataset); give --out a new "
                          "or empty folder\n")
    (tmp_path / "data" / "predict" / "alpha" / "predict").mkdir(parents=True)
    (tmp_path / "data" / "predict" / "alpha" / "predict" / "v1_0.mp4").write_bytes(b"clip")
    res = build(tmp_path, "--out", "data/predict")
    assert res.exit_code == 1
    assert res.output == ("Error: data/predict holds other clips (<word>/predict/): give --out a new or "
                          "empty folder, or the training dataset it was built as\n")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "data/dataset/alpha/train/v1_5.mp4", "data/dataset/alpha/val/v1_3.mp4",
        "data/predict/alpha/predict/v1_0.mp4"]


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
    assert folders <= {"hello", ".cache", ".pages"}
    for bad in ("con", "nul", "aux", "a", "b", "c", "d"):
        assert not (out / bad).exists()
    assert not (tmp_path / "data" / "evil").exists()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["vocabulary"] == ["hello"]
    assert set(stats["videos_skipped"]) >= {"no captions"}
    assert sum(stats["videos_skipped"].values()) == 2
    tokens = stats["caption_tokens_dropped"]
    assert any("reserved" in r or "unsafe" in r or "name" in r for r in tokens), tokens
    assert not set(tokens) & set(stats["dropped"])   # caption tokens and clips counted apart
    skip = json.loads((videos / "broken" / "skip.json").read_text())
    assert skip["stage"] == "track" and skip["reason"]
    assert not (videos / "broken" / "track.npz").exists()


def test_damaged_files_in_video_folders_are_skipped_or_rebuilt(clean, corpus, tmp_path):
    work, _ = clean
    videos = copy_as_fetched(corpus, tmp_path / "data" / "videos",
                             with_build_outputs=work / "data" / "videos")
    a, b, c, d = sorted(p for p in videos.iterdir())
    (a / "info.json").write_text('{"webpage_url": "http://')   # cut short
    (a / "skip.json").write_text("[" * 100_000)               # nested past Python's recursion limit
    (b / "track.npz").write_bytes((b / "track.npz").read_bytes()[:5000])
    (c / "mouth.npy").write_bytes((c / "mouth.npy").read_bytes()[:100_000])
    (d / "words.json").write_text("[" * 100_000)
    res = build(tmp_path)
    assert res.exit_code == 0, res.output
    clean_out, out = work / "data" / "dataset", tmp_path / "data" / "dataset"
    assert (out / "manifest.jsonl").read_text() == (clean_out / "manifest.jsonl").read_text()
    assert not (a / "skip.json").exists()
    for v in (b, c):
        assert np.load(v / "mouth.npy").shape == np.load(clean_out.parent / "videos" / v.name / "mouth.npy").shape


def test_bad_vocab_file_and_no_videos_are_one_line_errors(tmp_path):
    (tmp_path / "words.txt").write_text("hello\na/b\n")
    (tmp_path / "data" / "videos" / "x").mkdir(parents=True)
    res = build(tmp_path, "--vocab", "words.txt")
    assert res.exit_code == 1
    assert res.output.startswith("Error: words.txt:2: 'a/b' cannot be a word folder (")
    res = build(tmp_path, "--videos", "nowhere")
    assert res.exit_code == 1
    assert res.output.strip() == "Error: no fetched videos in nowhere: run `lipreader fetch URL` first"


# ---- the plan: vocabulary, balance and splits decided once ---------------------------------

PLANNED = ("--words", "1", "--max-per-word", "2", "--workers", "1")


def add_broken_video(videos: Path) -> str:
    """A folder whose captions are fine but whose mp4 is corrupt: it passes the words stage and
    is skipped when tracked. Its captions repeat the least frequent word of the others often
    enough to make it the most frequent word overall. Returns that word."""
    from collections import Counter

    from builder.synth import Word as SpokenWord
    from builder.synth import json3_text

    counts: Counter[str] = Counter()
    for d in videos.iterdir():
        counts.update(w["word"] for w in json.loads((d / "words.json").read_text())["words"])
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    word = ranked[-1]
    n = counts[ranked[0]] - counts[word] + 1
    spoken = [SpokenWord(word, 0.4 + 0.5 * i, 0.8 + 0.5 * i) for i in range(n)]
    d = videos / "broken"
    d.mkdir()
    (d / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    (d / "captions.en.json3").write_text(json3_text([spoken[i:i + 4] for i in range(0, n, 4)]))
    return word


def videos_with_a_broken_one(corpus: Path, clean_work: Path, root: Path) -> tuple[Path, str]:
    videos = copy_as_fetched(corpus, root / "data" / "videos",
                             with_build_outputs=clean_work / "data" / "videos")
    return videos, add_broken_video(videos)


@pytest.fixture(scope="module")
def skipped(clean, corpus, tmp_path_factory):
    """An uninterrupted build over the corpus plus a video skipped while tracking."""
    work = tmp_path_factory.mktemp("skipped")
    videos, word = videos_with_a_broken_one(corpus, clean[0], work)
    res = build(work, *PLANNED)
    assert res.exit_code == 0, res.output
    out = work / "data" / "dataset"
    assert json.loads((videos / "broken" / "skip.json").read_text())["stage"] == "track"
    return work, word, (out / "manifest.jsonl").read_text(), json.loads((out / "stats.json").read_text())


def test_a_video_skipped_while_tracking_changes_nothing_on_a_rerun(skipped, corpus):
    work, word, text, stats = skipped
    out = work / "data" / "dataset"
    assert stats["vocabulary"] == [word] and sum(stats["videos_skipped"].values()) == 1
    for attempt in ("again", "retried, still broken"):
        if attempt != "again":
            (work / "data" / "videos" / "broken" / "skip.json").unlink()
        res = build(work, *PLANNED)
        assert res.exit_code == 0, res.output
        assert "plan:" not in res.output
        assert (out / "manifest.jsonl").read_text() == text, attempt
        assert json.loads((out / "stats.json").read_text()) == stats, attempt
    # fixed: a readable video (and its track) in place of the corrupt file
    broken, donor = work / "data" / "videos" / "broken", work / "data" / "videos" / "v000-astronaut-0"
    for f in ("video.mp4", "track.npz", "mouth.npy"):
        shutil.copy(donor / f, broken / f)
    (broken / "skip.json").unlink()
    res = build(work, *PLANNED)
    assert res.exit_code == 0, res.output
    fixed = manifest(out)
    assert json.loads((out / "stats.json").read_text())["vocabulary"] == [word]
    assert any(r["video_id"] == "broken" for r in fixed)
    assert [r for r in fixed if r["video_id"] != "broken"] == [json.loads(x) for x in text.splitlines()]
    plan = json.loads((out / "plan.json").read_text())
    assert plan["vocabulary"] == [word] and "broken" in plan["videos"]


class Killed(Exception):
    pass


def test_killed_after_tracking_a_skipped_video_then_resumed_equals_uninterrupted(
        skipped, clean, corpus, tmp_path, monkeypatch):
    from builder import clips as clipmod

    _, _, text, stats = skipped
    videos, _ = videos_with_a_broken_one(corpus, clean[0], tmp_path)

    def killed(*a, **k):
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(clipmod, "plan_clip", killed)  # dies after tracking, before any clip
        res = build(tmp_path, *PLANNED)
    assert isinstance(res.exception, Killed)
    assert (videos / "broken" / "skip.json").is_file()
    res = build(tmp_path, *PLANNED)
    assert res.exit_code == 0, res.output
    out = tmp_path / "data" / "dataset"
    assert (out / "manifest.jsonl").read_text() == text
    assert json.loads((out / "stats.json").read_text()) == stats


def test_shards_agree_when_one_skips_a_video(skipped, clean, corpus, tmp_path):
    from builder.dataset import in_shard

    _, word, text, _ = skipped
    videos_with_a_broken_one(corpus, clean[0], tmp_path)
    first = 1 if in_shard("broken", (1, 2)) else 2
    lines = []
    for k in (first, 3 - first):  # the shard that skips the video runs first
        res = build(tmp_path, *PLANNED, "--shard", f"{k}/2", "--out", f"shard{k}")
        assert res.exit_code == 0, res.output
        assert json.loads((tmp_path / f"shard{k}" / "stats.json").read_text())["vocabulary"] == [word]
        lines += (tmp_path / f"shard{k}" / "manifest.jsonl").read_text().splitlines()
    assert sorted(lines) == sorted(text.splitlines())


def test_new_videos_keep_the_plan_and_changed_settings_decide_again(skipped, clean, corpus, tmp_path):
    from builder.captions import words_from_json
    from builder.dataset import choose_vocabulary, split_of

    _, word, _, _ = skipped
    videos, _ = videos_with_a_broken_one(corpus, clean[0], tmp_path)
    res = build(tmp_path, *PLANNED)
    assert res.exit_code == 0 and "plan:" not in res.output, res.output
    out = tmp_path / "data" / "dataset"
    # a later fetch: two more videos join the plan; the vocabulary is not chosen again
    for name in ("v001-hopper-0", "v003-hopper-0"):
        shutil.copytree(videos / name, videos / f"later-{name}")
    res = build(tmp_path, *PLANNED)
    assert res.exit_code == 0, res.output
    assert "plan: 2 new videos (later-v001-hopper-0, later-v003-hopper-0) get their split " \
           "by the hash of their id; the vocabulary stays" in res.output
    plan = json.loads((out / "plan.json").read_text())
    assert plan["vocabulary"] == [word]
    assert plan["videos"]["later-v001-hopper-0"] == split_of("later-v001-hopper-0", (0.5, 0.25, 0.25))
    assert json.loads((out / "stats.json").read_text())["videos"] == 7
    # the broken video is gone for good: only --replan forgets it
    shutil.rmtree(videos / "broken")
    res = build(tmp_path, *PLANNED)
    assert res.exit_code == 0 and "plan:" not in res.output, res.output
    assert json.loads((out / "stats.json").read_text())["vocabulary"] == [word]
    res = build(tmp_path, *PLANNED, "--replan")
    assert res.exit_code == 0, res.output
    assert "plan: --replan: the vocabulary, balance and splits are decided again" in res.output
    words = [words_from_json(json.loads((d / "words.json").read_text())["words"])
             for d in sorted(videos.iterdir())]
    fresh = choose_vocabulary(words, 1, 1)
    assert fresh != [word]
    assert json.loads((out / "stats.json").read_text())["vocabulary"] == fresh
    res = build(tmp_path, *PLANNED, "--words", "2")
    assert res.exit_code == 0, res.output
    assert "plan: words 1 -> 2 since the plan was made: the vocabulary, balance and splits are " \
           "decided again" in res.output
    assert json.loads((out / "plan.json").read_text())["vocabulary"] == choose_vocabulary(words, 2, 1)
    (out / "plan.json").write_text('{"version": 1, "vocabulary": ')  # damaged by hand
    res = build(tmp_path, *PLANNED, "--words", "2")
    assert res.exit_code == 0, res.output
    assert "plan: plan.json is unreadable (JSONDecodeError): the vocabulary, balance and splits " \
           "are decided again" in res.output
    assert json.loads((out / "plan.json").read_text())["vocabulary"] == choose_vocabulary(words, 2, 1)


# ---- videos that `read` fetched ----------------------------------------------------------

def test_read_keeps_its_videos_apart_and_build_dataset_leaves_them_out(clean, corpus, in_tmp):
    import torch

    from builder.localvideo import local_id
    from lipreader import checkpoint
    from lipreader.model import ModelDims, build_model
    from tests.readcorpus import stage

    work, _ = clean
    vocab = json.loads((work / "data" / "dataset" / "stats.json").read_text())["vocabulary"]
    torch.manual_seed(0)
    dims = ModelDims.for_arch("small", len(vocab), frames=29)
    torch.save({"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "dims": dims.as_dict(),
                "vocab": vocab, "model": build_model(dims).state_dict()}, in_tmp / "model.pt")
    talk = stage(corpus, "v000-astronaut-0", in_tmp / "inputs")
    res = CliRunner().invoke(cli, ["read", str(talk), "--model", "model.pt"])
    assert res.exit_code == 0, res.output
    vid = local_id(talk)
    fetched = in_tmp / "data" / "read-videos" / vid
    assert (fetched / "track.npz").is_file() and not (in_tmp / "data" / "videos").exists()
    assert json.loads((fetched / "read.json").read_text())["fetched_by"] == "lipreader read"
    # among the training videos all the same (moved there, or [prediction] videos set to them)
    videos = copy_as_fetched(corpus, in_tmp / "data" / "videos", with_build_outputs=work / "data" / "videos")
    shutil.move(fetched, videos / vid)
    res = build(in_tmp, "--workers", "1")
    assert res.exit_code == 0, res.output
    out = in_tmp / "data" / "dataset"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["videos_skipped"] == {"fetched by read for evaluation": 1}
    assert "skipped videos: fetched by read for evaluation 1" in res.output
    assert vid not in {r["video_id"] for r in manifest(out)}
    assert vid not in json.loads((out / "plan.json").read_text())["videos"]
    # clips to read are not training: --output predict takes it
    res = build(in_tmp, "--workers", "1", "--output", "predict", "--out", "to-read")
    assert res.exit_code == 0, res.output
    assert vid in {r["video_id"] for r in manifest(in_tmp / "to-read")}
    # the user's deliberate step: deleting the mark
    (videos / vid / "read.json").unlink()
    res = build(in_tmp, "--workers", "1")
    assert res.exit_code == 0, res.output
    assert vid in {r["video_id"] for r in manifest(out)}
    assert json.loads((out / "stats.json").read_text())["videos_skipped"] == {}


# ---------------------------------------------------------------- the web pages

class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def page_files(out: Path) -> list[Path]:
    return [out / "index.html", *sorted((out / ".pages").glob("*.html"))]


def local_links(page: Path) -> list[Path]:
    """The files a page links to or shows; web addresses and in-page anchors left out."""
    parser = _Links()
    parser.feed(page.read_text())
    return [page.parent / unquote(x.split("#")[0]) for x in parser.links
            if not re.match(r"^[a-z]+:", x) and not x.startswith("#")]


def figure(text: str, key: str) -> str:
    return re.search(rf'data-figure="{re.escape(key)}">([^<]*)<', text).group(1)


def test_every_link_and_preview_of_the_pages_is_a_file(clean):
    work, output = clean
    out = work / "data" / "dataset"
    records = manifest(out)
    pages = page_files(out)
    words = {r["word"] for r in records}
    assert {p.name for p in pages} >= {"index.html", *(f"word-{w}.html" for w in words),
                                       *(f"video-{r['video_id']}.html" for r in records)}
    seen = set()
    for page in pages:
        for target in local_links(page):
            assert target.is_file(), f"{page.name} links to a missing {target}"
            seen.add(target.resolve())
    previews = {p.resolve() for p in (out / ".pages" / "previews").rglob("*.jpg")}
    assert previews and previews <= seen      # every preview is shown, and each shown one is there
    assert {(out / r["path"]).resolve() for r in records} <= seen   # every clip is linked
    assert "pages: data/dataset/index.html" in output


def test_the_pages_show_the_numbers_of_stats_and_the_manifest(clean):
    work, _ = clean
    out = work / "data" / "dataset"
    st = json.loads((out / "stats.json").read_text())
    records = manifest(out)
    index = (out / "index.html").read_text()
    assert figure(index, "clips") == str(st["clips"]) == str(len(records))
    assert figure(index, "videos") == str(st["videos"])
    assert figure(index, "skipped") == str(sum(st["videos_skipped"].values()))
    assert figure(index, "hours") == str(st["hours"])
    assert figure(index, "vocabulary") == str(len(st["vocabulary"]))
    splits = sorted(st["clips_per_split"])
    for word, per in st["clips_per_word"].items():
        row = re.search(rf'<tr data-row="{word}">(.*?)</tr>', index).group(1)
        cells = re.findall(r'<td class="n">(\d+)</td>', row)
        assert cells == [str(per.get(s, 0)) for s in splits] + [str(sum(per.values()))]
        page = (out / ".pages" / f"word-{word}.html").read_text()
        mine = [r for r in records if r["word"] == word]
        assert figure(page, "clips") == str(len(mine))
        assert sorted(re.findall(r'<li data-clip="([^"]+)"', page)) == sorted(r["path"] for r in mine)
    for vid in {r["video_id"] for r in records}:
        page = (out / ".pages" / f"video-{vid}.html").read_text()
        assert figure(page, "clips") == str(sum(r["video_id"] == vid for r in records))
    by_source = defaultdict(int)
    for r in records:
        by_source[r["source"]] += 1
    for source, n in by_source.items():
        assert f'<tr data-row="source:{source}"><td>{source}</td><td class="n">{n}</td></tr>' in index


def test_a_video_page_says_why_each_vocabulary_word_gave_no_clip(clean, corpus, tmp_path):
    work, _ = clean
    copy_as_fetched(corpus, tmp_path / "data" / "videos", with_build_outputs=work / "data" / "videos")
    widths = sorted(r["face_width"] for r in manifest(work / "data" / "dataset"))
    (tmp_path / "options.toml").write_text(f"[build]\nmin_face_size = {widths[len(widths) // 2]}\n")
    res = build(tmp_path, "--max-per-word", "2")
    assert res.exit_code == 0, res.output
    out = tmp_path / "data" / "dataset"
    st = json.loads((out / "stats.json").read_text())
    videos = json.loads((out / "videos.json").read_text())
    assert {"face too small", "over --max-per-word"} <= set(st["dropped"])
    shown_in_all: Counter[str] = Counter()
    for vid, v in videos.items():
        assert Counter(reason for _, _, reason in v["word_drops"]) == Counter(v["drops"])
        page = (out / ".pages" / f"video-{vid}.html").read_text()
        for word, ms, reason in v["word_drops"]:
            row = re.search(rf'<tr data-row="{re.escape(f"{word}@{ms / 1000}")}">(.*?)</tr>', page).group(1)
            assert row.endswith(f"<td>no clip: {reason}</td>")
        shown = Counter(re.findall(r"<td>no clip: ([^<]*)</td></tr>", page))
        assert shown == Counter(v["drops"])
        shown_in_all += shown
    assert shown_in_all == Counter(st["dropped"])


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([exe, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                               "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr",
                               "--v=0", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="no chromium here to open the pages in (.ci/run installs it where it can)")
def test_the_pages_open_in_chromium_without_errors_and_the_previews_move(clean, tmp_path):
    from PIL import Image

    work, _ = clean
    out = work / "data" / "dataset"
    word = manifest(out)[0]["word"]
    for page in page_files(out):
        res = chromium("--virtual-time-budget=300", "--dump-dom", page.as_uri())
        assert res.returncode == 0, res.stderr[-2000:]
        assert "</main>" in res.stdout, page.name
        console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
        assert console == [], f"{page.name}: {console}"
    shots = []
    for budget in (200, 700):   # two moments of the page's own clock
        shot = tmp_path / f"{budget}.png"
        res = chromium("--window-size=900,700", f"--virtual-time-budget={budget}",
                       f"--screenshot={shot}", (out / ".pages" / f"word-{word}.html").as_uri())
        assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
        shots.append(np.asarray(Image.open(shot).convert("L"), np.int16))
    moved = np.abs(shots[0] - shots[1]) > 8
    rows = np.flatnonzero(moved.any(axis=1))
    assert moved.sum() > 500                   # the previews play...
    assert rows.min() > 150                    # ...and nothing above the grid (title, figures) moves
