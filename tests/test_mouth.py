"""builder.mouth on hand-made landmarks: similarity fit, reference placement, ROI warp, lip
opening, yaw, face boxes, and the streaming stage (gaps, segments, smoothing)."""

from __future__ import annotations

import numpy as np

from builder import landmarks as L
from builder import mouth
from lipreader.constants import ROI


def _template(rng: np.random.Generator, centre=(100.0, 100.0), eye=60.0) -> np.ndarray:
    """Fake (478, 3) landmarks: a face-sized cloud with the stable points and lips placed like
    the reference face, eye distance `eye` px."""
    lm = np.zeros((478, 3))
    lm[:, :2] = rng.uniform(-0.8, 0.8, (478, 2)) * eye + centre
    unit = (mouth.REFERENCE - mouth.REFERENCE[[0, 3]].mean(0)) / mouth.EYE_DISTANCE
    lm[list(mouth.STABLE_IDS), :2] = unit * eye + centre
    for (up, lo), x in zip(mouth.INNER_LIP_PAIRS, (-0.1, 0.0, 0.1), strict=True):
        lm[up, :2] = (centre[0] + x * eye, centre[1] + 0.68 * eye)
        lm[lo, :2] = (centre[0] + x * eye, centre[1] + 0.72 * eye)
    return lm


def test_fit_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    angle, scale, t = 0.3, 2.5, np.array([40.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = (mouth.REFERENCE - t) @ np.linalg.inv(rot).T + rng.normal(0, 1e-9, mouth.REFERENCE.shape)
    p = mouth.fit_similarity(src)
    assert np.allclose(mouth.apply_affine(mouth.to_matrix(p), src), mouth.REFERENCE, atol=1e-6)
    assert np.isclose(np.hypot(p[0], p[1]), scale)


def test_lip_opening_is_scale_free_and_align_mouth_shape():
    rng = np.random.default_rng(1)
    lm = _template(rng)
    assert np.isclose(mouth.lip_opening(lm), 0.04 * 60 / 60)
    assert np.isclose(mouth.lip_opening(lm * 3), mouth.lip_opening(lm))
    assert mouth.lip_opening(np.stack([lm, lm])).shape == (2,)
    roi = mouth.align_mouth(np.full((200, 200, 3), 128, np.uint8), lm)
    assert roi.shape == (96, 96) and roi.dtype == np.uint8 and (roi == 128).all()


def _run_stream(seq, cuts=(), smooth=3, frame=None):
    frame = np.zeros((200, 220), np.uint8) if frame is None else frame
    stream = mouth.MouthStream(smooth=smooth)
    out, held = [], 0
    for k, lm in enumerate(seq):
        out += stream.push(frame, lm, cut=k in cuts, score=0.9)
        held = max(held, len(stream._items))
    out += stream.finish()
    assert [f.index for f in out] == list(range(len(seq)))
    assert held <= 2 * smooth + mouth.MAX_GAP + 2
    return out


def test_stream_bridges_short_gaps_and_splits_long_ones():
    base = _template(np.random.default_rng(2))
    seq = [base + [k, 0, 0] for k in range(12)]
    short = _run_stream([None if k in (5, 6) else lm for k, lm in enumerate(seq)])
    assert [f.segment for f in short] == [0] * 12
    assert [f.filled for f in short] == [k in (5, 6) for k in range(12)]
    assert np.allclose(short[5].landmarks, seq[5])
    long = _run_stream([None if k in (5, 6, 7) else lm for k, lm in enumerate(seq)])
    assert [f.segment for f in long] == [0] * 5 + [-1] * 3 + [1] * 4
    assert long[6].matrix is None and not long[6].roi.any()


def test_stream_cuts_on_shot_change_and_face_jump():
    base = _template(np.random.default_rng(3))
    seq = [base + [k, 0, 0] for k in range(10)]
    assert [f.segment for f in _run_stream(seq, cuts={6})] == [0] * 6 + [1] * 4
    jumped = seq[:6] + [lm + [80, 0, 0] for lm in seq[6:]]
    assert [f.segment for f in _run_stream(jumped)] == [0] * 6 + [1] * 4


def test_smoothing_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(4)
    base = _template(rng)
    jitter = [base + np.r_[rng.normal(0, 0.4, 2), 0] for _ in range(30)]
    raw = np.array([mouth.to_matrix(mouth.similarity_params(lm))[:, 2] for lm in jitter])
    smoothed = np.array([f.matrix[:, 2] for f in _run_stream(jitter)])
    assert smoothed[3:-3].std(0).max() < 0.6 * raw[3:-3].std(0).max()
    moving = [base + [4.0 * k, 0, 0] for k in range(30)]
    exact = np.array([mouth.to_matrix(mouth.similarity_params(lm)) for lm in moving])
    followed = np.array([f.matrix for f in _run_stream(moving)])
    assert np.abs(followed - exact)[:, :, 2].max() < 0.5                # no lag behind a moving head

def test_the_stable_points_are_eye_corners_and_the_nose_line():
    assert mouth.STABLE_IDS == (33, 133, 362, 263, 168, 6, 195, 4)
    assert {L.EYE_OUTER[0], L.EYE_OUTER[1], L.EYE_INNER[0], L.EYE_INNER[1]} < set(mouth.STABLE_IDS)
    assert not set(mouth.STABLE_IDS) & set(L.UPPER_OUTER + L.LOWER_OUTER)  # lips move: never used


def test_reference_puts_the_mouth_at_the_roi_centre_whatever_the_head_does():
    lm = _template(np.random.default_rng(5))
    below = np.array([100.0, 100.0 + mouth.MOUTH_BELOW_EYES * 60.0])   # eye midpoint + 0.74 eyes
    lm[list(L.MOUTH_CORNERS), :2] = below + [[-20.0, 0.0], [20.0, 0.0]]
    lm[list(L.INNER_LIP_MID), :2] = below
    angle, scale = 0.4, 1.7
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = lm.copy()
    moved[:, :2] = lm[:, :2] @ rot.T + [300.0, -40.0]
    for face in (lm, moved):
        m = mouth.to_matrix(mouth.similarity_params(face))
        centre = mouth.mouth_centre(mouth.apply_affine(m, face))
        assert np.allclose(centre, (ROI / 2, ROI / 2), atol=1e-6)
        eyes = mouth.apply_affine(m, face[list(L.EYE_OUTER)])
        assert np.isclose(np.linalg.norm(eyes[1] - eyes[0]), mouth.EYE_DISTANCE)


def test_warp_roi_averages_when_it_shrinks_and_gives_gray():
    stripes = np.zeros((400, 400), np.uint8)
    stripes[:, 1::2] = 255                                       # 1-pixel stripes
    quarter = np.array([[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]])
    roi = mouth.warp_roi(stripes, quarter)
    assert roi.shape == (ROI, ROI) and roi.dtype == np.uint8
    assert np.abs(roi[:, :90].astype(float) - 127.5).max() <= 2  # no aliasing into bars
    rgb = np.zeros((200, 200, 3), np.uint8)
    rgb[..., 1] = 200
    same = mouth.warp_roi(rgb, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    assert same.shape == (ROI, ROI) and abs(int(same[10, 10]) - round(0.587 * 200)) <= 1


def test_yaw_is_zero_frontal_and_signed_by_the_farther_cheek():
    lm = np.zeros((L.N_LANDMARKS, 3))
    lm[L.FACE_EDGES[0]] = (50.0, 100.0, 0.0)
    lm[L.FACE_EDGES[1]] = (150.0, 100.0, 0.0)
    assert mouth.yaw_degrees(lm) == 0.0
    lm[L.FACE_EDGES[1], 2] = 100.0                               # image-right cheek farther away
    assert np.isclose(mouth.yaw_degrees(lm), 45.0)
    lm[L.FACE_EDGES[1], 2] = -100.0
    assert np.isclose(mouth.yaw_degrees(lm), -45.0)
    assert mouth.yaw_degrees(np.stack([lm, lm])).shape == (2,)


def test_face_box_and_same_face():
    lm = np.array([[10.0, 20.0, 5.0], [50.0, 5.0, 0.0], [30.0, 90.0, -5.0]])
    assert mouth.face_box(lm).tolist() == [10.0, 5.0, 50.0, 90.0]
    box = np.array([100.0, 100.0, 200.0, 200.0])
    assert mouth.same_face(box, box + 10)                        # a small move
    assert not mouth.same_face(box, box + [0, 0, 100, 100])      # twice as wide
    sideways = box + [30.0, 0.0, 30.0, 0.0]                      # 0.3 face widths
    assert not mouth.same_face(box, sideways)                    # in one frame: a jump
    assert mouth.same_face(box, sideways, frames_apart=2)        # over two: a moving head


def test_smooth_params_without_sigma_keeps_the_frames_own_transform():
    lm = _template(np.random.default_rng(6))
    own = mouth.similarity_params(lm)
    window = np.stack([own + [0, 0, 5.0, 0], own, own + [0, 0, 0, -5.0]])
    assert np.allclose(mouth.smooth_params(window, lm, sigma=0), own)
    assert np.allclose(mouth.smooth_params(window, lm, sigma=1e6), window.mean(0))
