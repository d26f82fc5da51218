"""The plan stage: the dataset's plan (plan.json) and each video's clips, from hand-made tracks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from builder.captions import Word
from builder.clips import Limits
from builder.layout import DatasetDir, VideoDir
from builder.stages import plan
from builder.stages.state import VideoState

LIMITS = Limits(frames=29, padding=3, min_face_fraction=0.9, min_face_size=40.0, max_yaw=45.0,
                allow_estimated=False)


def states(root, n=3):
    out = []
    for i in range(n):
        vd = VideoDir(root / f"v{i}")
        vd.root.mkdir(parents=True)
        out.append(VideoState(vd, [Word("hello", 2.0, 2.4, "json3-auto"), Word("world", 3.0, 3.3, "json3-auto"),
                                   Word("hello", 5.0, 5.4, "json3-auto")]))
    return out


def test_the_plan_is_decided_once_then_reused_and_a_changed_setting_decides_again(tmp_path):
    dataset = DatasetDir(tmp_path / "ds")
    dataset.root.mkdir()
    videos = states(tmp_path / "videos")
    settings = plan.PlanSettings(words=1)
    first, note = plan.run(dataset, videos, settings)
    assert (first.vocabulary, note) == (["hello"], "")
    assert set(first.videos) == {"v0", "v1", "v2"} and dataset.plan.is_file()
    assert plan.run(dataset, videos, settings) == (first, "")
    again, note = plan.run(dataset, videos, plan.PlanSettings(words=2))
    assert again.vocabulary == ["hello", "world"]
    assert note == "plan: words 1 -> 2 since the plan was made: the vocabulary, balance and splits are decided again"


def test_video_clips_gives_records_in_the_plans_split_and_counts_drops(tmp_path):
    dataset = DatasetDir(tmp_path / "ds")
    vs = states(tmp_path / "videos", 1)
    T = 200
    segment = np.zeros(T, np.int32)
    segment[120:] = -1  # no face from 4.8 s: the second "hello" has none
    np.savez(vs[0].vd.track, segment=segment, face_width=np.full(T, 100.0), yaw=np.zeros(T))
    decided = plan.Plan({}, ["hello"], {"v0": "val"})
    kept = plan.kept_words(vs, decided, max_per_word=0)
    got = plan.video_clips(vs[0], decided, kept, LIMITS, dataset)
    [(rec, index)] = got.clips
    assert (rec.path, rec.word, rec.split, rec.video_id, rec.start_ms) == ("hello/val/v0_2000.mp4", "hello", "val", "v0", 2000)
    assert len(index) == 29 and got.seconds == T / 25
    assert dict(got.drops) == {"no face during the word": 1}
    assert got.word_drops == [("hello", 5000, "no face during the word")]


def test_the_sound_ends_the_words_before_the_offset_moves_them(tmp_path):
    from builder import sync

    dataset = DatasetDir(tmp_path / "ds")
    vs = states(tmp_path / "videos", 2)
    T = 200
    energy = np.full(T, -13.0, np.float32)
    energy[50:60] = energy[75:83] = energy[125:135] = -4.0   # "hello" is voiced 2.0-2.4 s on the sound
    for s in vs:
        s.words = [replace(w, end_by="prior") for w in s.words]
        np.savez(s.vd.track, segment=np.zeros(T, np.int32), face_width=np.full(T, 100.0), yaw=np.zeros(T),
                 opening=np.zeros(T, np.float32))
    sync.save(vs[0].vd.sync, sync.Sync(energy, True, 2, 1.0, np.zeros((0, 3), np.float32)), T)
    sync.save(vs[1].vd.sync, sync.video_sync(np.zeros(T), None), T)      # no sound
    decided = plan.Plan({}, ["hello"], {"v0": "val", "v1": "val"})
    kept = plan.kept_words(vs, decided, max_per_word=0)
    with_sound = [r for r, _ in plan.video_clips(vs[0], decided, kept, LIMITS, dataset).clips]
    silent = [r for r, _ in plan.video_clips(vs[1], decided, kept, LIMITS, dataset).clips]
    assert [(r.start, r.end, r.end_by, r.av_offset, r.start_ms) for r in with_sound] == [
        (1.92, 2.27, "voiced", 2, 1920), (4.92, 5.27, "voiced", 2, 4920)]
    assert [(r.start, r.end, r.end_by, r.sync) for r in silent] == [
        (2.0, 2.4, "prior", "unknown"), (5.0, 5.4, "prior", "unknown")]
    small = plan.video_clips(vs[0], decided, kept, replace(LIMITS, min_face_size=200.0), dataset)
    assert small.word_drops == [("hello", 2000, "face too small"), ("hello", 5000, "face too small")]
    assert with_sound[0].sidecar()["end_by"] == "voiced"
