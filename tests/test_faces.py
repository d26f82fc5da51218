"""Several faces ([build] max_faces): each word's clip comes from the face that says it, on
generated split frames where one face speaks and the other moves its mouth out of time with
the sound (builder.synth `second_face`)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from builder.synth import make_corpus

SECONDS = 5.0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from lipreader.config import Config
    from pipelines import build, fetch

    root = tmp_path_factory.mktemp("faces")
    corpus = make_corpus(root / "c", videos=3, seconds=SECONDS, height=360, seed=7, speakers=3,
                         second_face=True, workers=1)
    (root / "staged").mkdir()
    truths = {}
    for v in corpus.videos:
        folder = corpus.root / v["name"]
        shutil.copyfile(folder / "video.mp4", root / "staged" / f"{v['name']}.mp4")
        shutil.copyfile(folder / "captions.en.json3", root / "staged" / f"{v['name']}.en.json3")
        truths[v["name"]] = json.loads((folder / "truth.json").read_text())
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / "dataset"))
    cfg = cfg.override("build", words=10, splits="1,0,0", workers=1, max_faces=2)
    fetch.fetch_all(cfg, fetch.gather([str(root / "staged")], None), quiet=True)
    summary = build.run(cfg)
    return root, truths, summary


def _speaking_side_of(root, clip, truths) -> bool:
    """Whether the clip's face track is on the speaking face's side of the frame at the word."""
    folder = next(p for p in (root / "videos").iterdir() if p.name in clip["video_id"]
                  or clip["video_id"] in p.name)
    truth = next(t for name, t in truths.items() if name in folder.name)
    face = clip["face"]
    with np.load(folder / ("track.npz" if face == 0 else f"track.{face}.npz")) as z:
        box, width = z["box"], int(z["size"][0])
    middle = clip["first"] + (clip["word_start_frame"] + clip["word_end_frame"]) // 2
    left = (box[middle, 0] + box[middle, 2]) / 2 < width / 2
    return left == (truth["second_face"]["speaking_side"] == "left")


def test_two_faces_clips_come_from_the_speaking_face(built):
    root, truths, summary = built
    clips = [json.loads(line) for line in (root / "dataset" / "manifest.jsonl").read_text().splitlines()]
    words = sum(len(e["segs"]) for name in truths
                for e in json.loads((root / "staged" / f"{name}.en.json3").read_text())["events"])
    right = [_speaking_side_of(root, c, truths) for c in clips]
    faces = summary.stats["faces"]
    print(f"{sum(right)}/{len(right)} clips from the speaking face; {len(clips)} clips of {words} "
          f"caption words; {faces}; dropped {summary.stats['dropped']}")
    assert sum(right) >= 0.95 * len(right)
    assert len(clips) >= 0.7 * words                       # the speaking face's words are kept
    assert {c["face"] for c in clips} == {0, 1}            # the speaker is not always the main face
    assert sum(faces["clips_per_face"].values()) == len(clips)
    assert faces["other_face_spoke"] >= 1


def test_one_face_tracked_keeps_todays_records(tmp_path):
    """max_faces 1 (the default): no face field, today's file names."""
    from lipreader.manifest import ClipRecord

    assert "face" not in ClipRecord("a/train/x_1.mp4", "a", "train").to_json()
    from builder.layout import VideoDir

    vd = VideoDir(tmp_path)
    assert (vd.track.name, vd.mouth.name, vd.sync.name) == ("track.npz", "mouth.npy", "sync.npz")
    assert (vd.for_face(2).track.name, vd.for_face(2).mouth.name, vd.for_face(2).sync.name) == \
        ("track.2.npz", "mouth.2.npy", "sync.2.npz")


def _side(vd, face: int, frame: int) -> str:
    with np.load(vd.for_face(face).track) as z:
        box, width = z["box"][frame], int(z["size"][0])
    return "left" if (box[0] + box[2]) / 2 < width / 2 else "right"


def test_read_picks_the_speaking_face(built):
    """read's choice on the same videos: caption words and sliding windows from the face that
    speaks; windows where no face speaks are skipped."""
    from builder.captions import read_words
    from builder.layout import VideoDir
    from lipreader.config import Config
    from pipelines import read, settings
    from pipelines.windows import NO_FACE_SPEAKS

    root, truths, _ = built
    limits = settings.limits(Config())
    words_right, words, windows_right, windows, skipped = 0, 0, 0, 0, 0
    for folder in sorted((root / "videos").iterdir()):
        if not folder.is_dir():
            continue
        vd = VideoDir(folder)
        truth = next(t for name, t in truths.items() if name in folder.name)
        speaking = truth["second_face"]["speaking_side"]
        speakers = read._speakers(vd, False)
        assert speakers is not None and len(speakers.tracks) == 2
        for w in read_words(vd.captions()[0]).words:
            chosen = speakers.word(w, limits)
            if not isinstance(chosen, str):
                face, plan = chosen
                words += 1
                words_right += _side(vd, face, plan.first + plan.word_start_frame) == speaking
        for centre, face, plan in speakers.windows(limits, 4):
            if isinstance(plan, str):
                skipped += plan == NO_FACE_SPEAKS
                continue
            windows += 1
            windows_right += _side(vd, face, centre) == speaking
    print(f"read: words {words_right}/{words}, windows {windows_right}/{windows}, {skipped} skipped "
          "where no face speaks")
    assert words >= 10 and words_right >= 0.95 * words
    assert windows >= 20 and windows_right >= 0.9 * windows
