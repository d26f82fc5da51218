"""The clips stage: which clips are still to write, writing them, and removing stale ones."""

from __future__ import annotations

import numpy as np

from builder import media
from builder.layout import DatasetDir
from builder.stages import clips
from builder.stages.plan import VideoClips
from lipreader.manifest import ClipRecord


def test_clips_are_written_once_and_stale_ones_of_this_builds_videos_removed(tmp_path):
    dataset = DatasetDir(tmp_path / "ds")
    mouth = tmp_path / "mouth.npy"
    np.save(mouth, np.arange(40, dtype=np.uint8)[:, None, None].repeat(96, 1).repeat(96, 2))
    rec = ClipRecord("hi/train/v1_1000.mp4", "hi", "train", video_id="v1", frames=3)
    planned = [VideoClips((mouth,), [(rec, (4, 5, 5))])]
    [job] = clips.jobs(dataset, planned)
    assert clips.write(job) == 1
    clip = dataset.root / rec.path
    assert media.read_video(clip)[:, 0, 0].tolist() == [4, 5, 5]
    assert DatasetDir.sidecar(clip).read_text() == clips.sidecar_text(rec.sidecar())
    assert clips.jobs(dataset, planned) == []  # there, with the same sidecar: not written again
    other = dataset.clip("hi", "train", "v2", 0)  # another build's video: kept
    other.write_bytes(b"x")
    assert clips.clean_stale(dataset, set(), {"v1"}) == 2  # the mp4 and its sidecar
    assert not clip.exists() and other.exists()
