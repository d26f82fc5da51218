"""`build-dataset --split-by`: splits that keep a channel or an uploader whole (speakers apart)."""

from __future__ import annotations

import json

from builder import dataset as ds
from builder.captions import Word
from builder.layout import DatasetDir, VideoDir
from builder.stages import plan
from builder.stages.state import VideoState
from lipreader.train import split_by


def _states(root, channels=3, per=4):
    out = []
    for c in range(channels):
        for i in range(per):
            vd = VideoDir(root / f"c{c}v{i}")
            vd.root.mkdir(parents=True)
            info = {"id": vd.id, "channel_id": f"UC{c}", "uploader_id": f"@up{c % 2}"}
            vd.info.write_text(json.dumps(info))
            out.append(VideoState(vd, [Word("hello", 2.0, 2.4, "json3-auto")]))
    return out


def test_split_key_falls_back_to_the_video():
    assert ds.split_key("v", {"channel_id": "UC1", "channel": "x"}, "channel") == "channel:UC1"
    assert ds.split_key("v", {"uploader": "Ann"}, "uploader") == "uploader:Ann"
    assert ds.split_key("v", {}, "channel") == "v"
    assert ds.split_key("v", {"channel_id": "UC1"}, "video") == "v"


def test_a_channel_stays_in_one_split_and_the_plan_records_it(tmp_path):
    videos = _states(tmp_path / "videos")
    splits = (0.4, 0.3, 0.3)
    by_video = DatasetDir(tmp_path / "a")
    by_video.root.mkdir()
    p, _ = plan.run(by_video, videos, plan.PlanSettings(words=1, splits=splits))
    per_channel = {c: {p.videos[f"c{c}v{i}"] for i in range(4)} for c in range(3)}
    assert any(len(s) > 1 for s in per_channel.values())          # per video: channels straddle splits
    assert "split_by" not in json.loads(by_video.plan.read_text())["settings"]  # older plans stay valid
    assert split_by(by_video.root) == "by video (a speaker may be in several splits)"

    by_channel = DatasetDir(tmp_path / "b")
    by_channel.root.mkdir()
    p, _ = plan.run(by_channel, videos, plan.PlanSettings(words=1, splits=splits, split_by="channel"))
    per_channel = {c: {p.videos[f"c{c}v{i}"] for i in range(4)} for c in range(3)}
    assert all(len(s) == 1 for s in per_channel.values())
    assert json.loads(by_channel.plan.read_text())["settings"]["split_by"] == "channel"
    assert split_by(by_channel.root) == "by channel (no channel in two splits)"
    # a changed --split-by decides the plan again
    _, note = plan.run(by_channel, videos, plan.PlanSettings(words=1, splits=splits, split_by="uploader"))
    assert "split_by" in note and "decided again" in note
    p, _ = plan.run(by_channel, videos, plan.PlanSettings(words=1, splits=splits, split_by="uploader"))
    assert len({p.videos[v.vd.id] for v in videos if v.vd.id.startswith(("c0", "c2"))}) == 1
