"""Clip planning and dataset decisions: pure functions, checked on hand-made tracks."""

from dataclasses import replace

import numpy as np
import pytest

from builder import clips as C
from builder import dataset as ds
from builder.captions import Word
from lipreader.config import Config
from lipreader.errors import ConfigError
from pipelines.settings import limits


def track(T=200, segment=None, width=100.0, yaw=0.0):
    seg = np.zeros(T, np.int32) if segment is None else np.asarray(segment, np.int32)
    return C.TrackView(usable=seg >= 0, face_width=np.full(T, width, np.float32),
                       yaw=np.full(T, yaw, np.float32), segment=seg)


def w(start, end, text="hello", source="json3-auto"):
    return Word(text, start, end, source)


LIM = limits(Config().override("build", frames=29, padding=3))


def test_clip_is_centred_on_the_word_and_knows_its_boundary():
    plan = C.plan_clip(w(2.0, 2.4), track(), LIM)  # frames 50..59
    assert isinstance(plan, C.ClipPlan)
    assert plan.first == 41  # word centre 54.5: window [41, 70), centre frame 55
    assert plan.word_start_frame == 50 - plan.first and plan.word_end_frame == 59 - plan.first
    mid = (plan.word_start_frame + plan.word_end_frame) / 2
    assert abs(mid - (plan.frames - 1) / 2) <= 0.5
    assert plan.index == tuple(range(plan.first, plan.first + 29))
    assert plan.padded == 0 and plan.start_ms == 2000


def test_edge_padding_within_allowance_else_dropped():
    # word at the very start: window starts before frame 0
    near = C.plan_clip(w(0.36, 0.6), track(), LIM)   # frames 9..14, window starts at -3
    assert isinstance(near, C.ClipPlan)
    assert near.first < 0 and near.padded == -near.first <= 3
    assert near.index[: -near.first] == (0,) * (-near.first)
    far = C.plan_clip(w(0.1, 0.3), track(), LIM)
    assert far == C.PAST_VIDEO
    assert C.plan_clip(w(7.9, 8.1), track(T=200), LIM) == C.PAST_VIDEO


def test_shot_cut_and_missing_face():
    seg = np.zeros(200, np.int32)
    seg[55:] = 1
    assert C.plan_clip(w(2.0, 2.4), track(segment=seg), LIM) == C.CROSSES_CUT
    seg2 = np.zeros(200, np.int32)
    seg2[70:] = 1          # cut 10 frames after the word: too far into the clip to pad
    seg2[:45] = -1
    plan = C.plan_clip(w(2.0, 2.4), track(segment=seg2), LIM)
    assert plan in (C.CLIP_CROSSES_CUT, C.FEW_FACE_FRAMES)
    nof = np.zeros(200, np.int32)
    nof[52] = -1
    assert C.plan_clip(w(2.0, 2.4), track(segment=nof), LIM) == C.NO_FACE


def test_interior_gap_filled_from_nearest_frame():
    seg = np.zeros(200, np.int32)
    seg[42] = -1
    plan = C.plan_clip(w(2.0, 2.4), track(segment=seg), LIM)
    assert isinstance(plan, C.ClipPlan) and plan.padded == 1
    i = 42 - plan.first
    assert plan.index[i] in (41, 43)


def test_quality_drops():
    assert C.plan_clip(w(2.0, 2.4), track(width=20), LIM) == C.FACE_TOO_SMALL
    assert C.plan_clip(w(2.0, 2.4), track(yaw=60), LIM) == C.EXTREME_YAW
    assert C.plan_clip(w(2.0, 2.4, source="cue-estimate"), track(), LIM) == C.ESTIMATED_TIMING
    ok = C.plan_clip(w(2.0, 2.4, source="cue-estimate"), track(), replace(LIM, allow_estimated=True))
    assert isinstance(ok, C.ClipPlan)


def test_cut_clip_takes_planned_frames():
    mouth = np.arange(200, dtype=np.uint8)[:, None, None] * np.ones((1, 96, 96), np.uint8)
    plan = C.plan_clip(w(0.36, 0.6), track(), LIM)
    clip = C.cut_clip(mouth, plan)
    assert clip.shape == (29, 96, 96)
    assert list(clip[:, 0, 0]) == list(plan.index)


def test_splits_are_per_video_deterministic_and_follow_fractions():
    ids = [f"vid{i}" for i in range(2000)]
    splits = [ds.split_of(v, (0.8, 0.1, 0.1)) for v in ids]
    assert splits == [ds.split_of(v, (0.8, 0.1, 0.1)) for v in ids]
    share = {s: splits.count(s) / len(ids) for s in ds.SPLITS}
    assert abs(share["train"] - 0.8) < 0.03 and abs(share["val"] - 0.1) < 0.03


def test_shards_partition_the_videos():
    ids = [f"v{i}" for i in range(500)]
    parts = [{v for v in ids if ds.in_shard(v, (k, 3))} for k in (1, 2, 3)]
    assert set().union(*parts) == set(ids)
    assert sum(len(p) for p in parts) == len(ids)
    assert all(len(p) > 100 for p in parts)
    assert ds.parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1-2"):
        with pytest.raises(ConfigError):
            ds.parse_shard(bad)


def test_vocabulary_by_frequency_with_filters():
    videos = [[w(0, 1, "the"), w(1, 2, "hello"), w(2, 3, "hello"), w(3, 4, "zero")],
              [w(0, 1, "the"), w(1, 2, "the"), w(2, 3, "con"), w(3, 4, "zero"), w(5, 6, "a")]]
    assert ds.choose_vocabulary(videos, 2, 1) == ["hello", "the"]
    assert ds.choose_vocabulary(videos, 10, 2) == ["hello", "the", "zero"]
    assert ds.choose_vocabulary(videos, 10, 1, stopwords=True) == ["hello", "zero"]
    assert ds.choose_vocabulary(videos, 10, 1, min_length=2) == ["hello", "the", "zero"]
    assert "con" not in ds.choose_vocabulary(videos, 10, 1)  # unsafe as a folder name


def test_balance_caps_each_word_and_split_independently_of_other_videos():
    cands = [("hi", "train", f"v{i}", 100 * j) for i in range(10) for j in range(3)]
    kept = ds.balance(cands, 5)
    assert len(kept) == 5
    # dropping unrelated videos never changes the choice among the kept ones' own rivals
    assert ds.balance(cands, 0) == {(v, ms) for _, _, v, ms in cands}

