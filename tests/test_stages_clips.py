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


def test_a_few_clips_are_written_without_starting_worker_processes(tmp_path, monkeypatch):
    from pipelines import build

    def no_pool(*a, **k):
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(build, "process_pool", no_pool)
    dataset = DatasetDir(tmp_path / "ds")
    mouth = tmp_path / "mouth.npy"
    np.save(mouth, np.arange(40, dtype=np.uint8)[:, None, None].repeat(96, 1).repeat(96, 2))
    planned = [VideoClips((mouth,), [(ClipRecord(f"hi/train/v{v}_{ms}.mp4", "hi", "train", video_id=f"v{v}",
                                              frames=3), (ms // 100, 5, 6)) for ms in (100, 900)])
               for v in (1, 2, 3)]
    build._write_clips(clips.jobs(dataset, planned), workers=2)
    assert sorted(p.name for p in (dataset.root / "hi" / "train").glob("*.mp4")) == [
        f"v{v}_{ms}.mp4" for v in (1, 2, 3) for ms in (100, 900)]
    assert media.read_clip(dataset.root / "hi/train/v2_900.mp4")[:, 0, 0].tolist() == [9, 5, 6]
