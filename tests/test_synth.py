"""The talking-head generator: real faces, exact captions, lips that follow the script."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from builder import synth
from builder.landmarks import EYE_OUTER, INNER_LIP_MID
from builder.media import probe, read_video
from builder.synth import script
from builder.tracking import FaceMesh
from lipreader.cli import cli

pytestmark = pytest.mark.timeout(300)  # includes the module's rendered corpus

SMALL = dict(words=6, videos=3, seconds=5.0, speakers=3, holdout_speakers=1, height=360, seed=0)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return synth.make_corpus(out, workers=1, **SMALL)


@pytest.fixture(scope="module")
def tracked(corpus):
    """{video name: (landmarks per frame or None, truth)} from FaceMesh on the encoded videos."""
    result = {}
    for v in corpus.videos:
        folder = corpus.root / v["name"]
        frames = read_video(folder / "video.mp4", gray=False)
        with FaceMesh(video=True) as mesh:
            marks = [next(iter(mesh.faces(f)), None) for f in frames]
        result[v["name"]] = (marks, json.loads((folder / "truth.json").read_text()))
    return result


def test_layout_and_media(corpus):
    assert set(corpus.vocabulary) == set(synth.VOCABULARY[:6])
    for v in corpus.videos:
        folder = corpus.root / v["name"]
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["captions.en.json3", "captions.en.vtt", "index.html", "truth.json", "video.mp4"]
        info = probe(folder / "video.mp4")
        assert (info.width, info.height) == (480, 360)
        assert info.fps == pytest.approx(25.0)
        assert info.has_audio
        truth = json.loads((folder / "truth.json").read_text())
        assert len(truth["opening"]) == round(truth["duration"] * 25)
        assert abs(info.duration - truth["duration"]) < 0.2
        html = (folder / "index.html").read_text()
        assert '<source src="video.mp4" type="video/mp4">' in html
        tracks = re.findall(r"<track [^>]*>", html)
        assert len(tracks) == 2 and all('srclang="en"' in t for t in tracks)
    playlist = (corpus.root / "playlist.html").read_text()
    assert playlist.count("<video") == len(corpus.videos)
    assert all(f'{v["name"]}/video.mp4' in playlist for v in corpus.videos)
    assert not list(corpus.root.glob(".*"))                   # no temporary leftovers


def test_face_found_in_every_speakers_frames(tracked):
    speakers = set()
    for marks, truth in tracked.values():
        found = np.mean([m is not None for m in marks])
        assert found >= 0.95, (truth["speaker"], found)
        speakers.add(truth["person"])
    assert speakers == {"astronaut", "hopper", "carphone"}


def test_measured_lip_opening_follows_script(tracked):
    for marks, truth in tracked.values():
        ok = [i for i, m in enumerate(marks) if m is not None]
        (up, lo), (left, right) = INNER_LIP_MID, EYE_OUTER
        gap = np.array([np.linalg.norm(marks[i][up, :2] - marks[i][lo, :2])
                        / np.linalg.norm(marks[i][left, :2] - marks[i][right, :2]) for i in ok])
        intended = np.array(truth["opening"])[ok]
        r = np.corrcoef(gap, intended)[0, 1]
        assert r > 0.8, (truth["speaker"], r)


def test_same_seed_same_truth_and_captions(corpus):
    poses = synth.load_poses()
    args = {k: v for k, v in SMALL.items()}
    _, _, again = synth.plan_corpus(poses, **args)
    for spec in again:
        folder = corpus.root / spec.name
        assert json.loads((folder / "truth.json").read_text()) == json.loads(json.dumps(spec.truth()))
        lines = synth.caption_lines(spec.script.words, np.random.default_rng(spec.seed))
        assert (folder / "captions.en.json3").read_text() == synth.json3_text(lines)
        assert (folder / "captions.en.vtt").read_text() == synth.vtt_text(lines)
    _, _, other = synth.plan_corpus(poses, **{**args, "seed": 1})
    starts = [[w.start for w in s.script.words] for s in again]
    assert starts != [[w.start for w in s.script.words] for s in other]


def test_rerun_keeps_finished_videos(corpus):
    stamps = {p: p.stat().st_mtime_ns for p in corpus.root.glob("*/video.mp4")}
    synth.make_corpus(corpus.root, workers=1, **SMALL)
    assert {p: p.stat().st_mtime_ns for p in corpus.root.glob("*/video.mp4")} == stamps


def test_caption_files_parse_and_match_truth(corpus):
    for v in corpus.videos:
        folder = corpus.root / v["name"]
        truth = json.loads((folder / "truth.json").read_text())
        spoken = [w for w in truth["words"] if not w["filler"]]
        data = json.loads((folder / "captions.en.json3").read_text())
        words = []
        for ev in data["events"]:
            assert {"tStartMs", "dDurationMs", "segs"} <= set(ev)
            for seg in ev["segs"]:
                words.append((seg["utf8"].strip(), ev["tStartMs"] + seg["tOffsetMs"]))
        assert words == [(w["word"], round(w["start"] * 1000)) for w in spoken]
        vtt = (folder / "captions.en.vtt").read_text()
        assert vtt.startswith("WEBVTT")
        inline = re.findall(r"<(\d\d):(\d\d):(\d\d)\.(\d{3})><c> (\w+)</c>", vtt)
        assert inline
        for h, m, s, ms, word in inline:
            t = int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000
            assert any(w["word"] == word and abs(w["start"] - t) < 0.002 for w in spoken)
        assert all(w["word"] in synth.VOCABULARY for w in spoken)
        fillers = [w for w in truth["words"] if w["filler"]]
        assert all(w["word"] in synth.FILLERS for w in fillers)


def test_holdout_speakers_are_other_people(corpus):
    meta = json.loads((corpus.root / "corpus.json").read_text())
    held = {s["person"] for s in meta["speakers"] if s["holdout"]}
    train = {s["person"] for s in meta["speakers"] if not s["holdout"]}
    assert held and not held & train
    for v in meta["videos"]:
        assert v["holdout"] == (v["person"] in held)
    assert any(v["holdout"] for v in meta["videos"]) and not all(v["holdout"] for v in meta["videos"])
    speakers = synth.make_speakers(synth.load_poses(), 8, 3, np.random.default_rng(0))
    assert {s.person for s in speakers if s.holdout}.isdisjoint({s.person for s in speakers if not s.holdout})


def test_vocabulary_sequences_are_distinct():
    assert len(synth.VOCABULARY) >= 50 and len(set(synth.VOCABULARY)) == len(synth.VOCABULARY)
    seqs = [tuple(synth.word_visemes(w)) for w in synth.VOCABULARY]
    assert len(set(seqs)) == len(seqs)
    assert synth.word_visemes("hello") != synth.word_visemes("zero")
    assert not set(synth.FILLERS) & set(synth.VOCABULARY)


def test_duration_alone_is_near_chance():
    vocab = synth.vocabulary(10)
    durations: dict[str, list[float]] = {w: [] for w in vocab}
    for i in range(60):
        for w in script._timeline(vocab, 20.0, np.random.default_rng([7, i])):
            if not w.filler:
                durations[w.word].append(w.end - w.start)
    half = {w: (np.array(d[::2]), np.array(d[1::2])) for w, d in durations.items()}
    bins = np.linspace(*synth.WORD_SECONDS, 9)
    hist = {w: np.histogram(tr, bins)[0] + 1 for w, (tr, _) in half.items()}
    correct = total = 0
    for w, (_, te) in half.items():
        for d in te:
            b = min(np.searchsorted(bins, d) - 1, len(bins) - 2)
            correct += max(hist, key=lambda k: hist[k][b] / hist[k].sum()) == w
            total += 1
    assert total > 300
    assert correct / total < 0.2          # chance is 0.1


def test_contact_sheet_shows_every_word(corpus):
    import cv2

    sheet = cv2.imread(str(corpus.root / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] == len(corpus.vocabulary) * 100
    rows = [sheet[r * 100:r * 100 + 96, 130:130 + 7 * 96] for r in range(len(corpus.vocabulary))]
    assert all(row.std() > 10 for row in rows)                  # crops, not blank


def test_cli_rejects_bad_height(in_tmp):
    res = CliRunner().invoke(cli, ["synth", "out", "--height", "100"])
    assert res.exit_code == 1
    assert "--height must be between 360 and 720" in res.output
    assert not (in_tmp / "out").exists()
