"""The track stage's checks: whether a video's track.npz and mouth.npy are whole."""

from __future__ import annotations

import numpy as np

from builder.layout import VideoDir
from builder.stages import track


def test_damaged_outputs_are_removed_so_the_video_is_tracked_again(tmp_path):
    vd = VideoDir(tmp_path / "v1")
    vd.root.mkdir()
    T = 5
    np.savez(vd.track, segment=np.zeros(T, np.int32), face_width=np.full(T, 80.0), yaw=np.zeros(T),
             opening=np.full(T, 0.1))
    np.save(vd.mouth, np.zeros((T, 96, 96), np.uint8))
    assert track.tracked(vd)
    assert track.load_view(vd).frames == T and track.load_opening(vd).tolist() == [0.1] * T
    np.save(vd.mouth, np.zeros((T - 1, 96, 96), np.uint8))  # cut short
    assert not track.tracked(vd, remove=False) and vd.track.is_file()
    assert not track.tracked(vd)
    assert not vd.track.exists() and not vd.mouth.exists()


def test_tracked_for_another_number_of_faces_is_tracked_again(tmp_path):
    from builder.stages.track import face_count, tracked

    vd = VideoDir(tmp_path)
    for face in (0, 1):
        f = vd.for_face(face)
        np.savez(f.track, segment=np.zeros(5, np.int32), face_width=np.ones(5), yaw=np.zeros(5))
        np.save(f.mouth, np.zeros((5, 96, 96), np.uint8))
    assert face_count(vd) == 2 and tracked(vd, max_faces=2) and tracked(vd, remove=False)
    assert not tracked(vd, max_faces=1)                  # tracked with two faces: removed
    assert not any(tmp_path.iterdir())
