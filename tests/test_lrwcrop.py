"""The `lrw` crop profile (builder.lrwcrop) and `read` with an imported MS-TCN model on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from builder import lrwcrop
from builder.landmarks import DLIB68, N_LANDMARKS
from lipreader.cli import cli
from tests.test_import_weights import random_state, reference_shapes

pytestmark = pytest.mark.timeout(600)


def _mean_face_68() -> np.ndarray:
    """A 68-point face whose 8 stable points are the mean face's, the mouth around them."""
    pts = np.zeros((68, 2))
    pts[list(lrwcrop.STABLE)] = lrwcrop.MEAN_FACE_STABLE
    left, right = lrwcrop.MEAN_FACE_STABLE[6], lrwcrop.MEAN_FACE_STABLE[7]
    for i in set(range(49, 68)) - {54}:       # the other lip points on an ellipse between the corners
        a = 2 * np.pi * (i - 48) / 20
        pts[i] = (left + right) / 2 + (np.cos(a) * 22.5, np.sin(a) * 8.0)
    for i in set(range(68)) - set(lrwcrop.STABLE) - set(range(48, 68)):
        pts[i] = (128.0, 128.0)
    return pts


def _facemesh(points68: np.ndarray) -> np.ndarray:
    lm = np.zeros((*points68.shape[:-2], N_LANDMARKS, 3))
    lm[..., DLIB68, :2] = points68
    return lm


def _similarity(points: np.ndarray, scale: float, angle: float, shift) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return points @ np.array([[c, s], [-s, c]]) + np.asarray(shift)


def test_a_face_anywhere_lands_on_the_mean_face_with_the_mouth_centred():
    face = _mean_face_68()
    moved = _similarity(face, 2.5, 0.3, (400, -50))       # the same face, bigger, turned, elsewhere
    seq = np.repeat(moved[None], 5, 0)
    for fit in (lrwcrop.matrices, lrwcrop.recipe_matrices):
        m = fit(seq)
        placed = np.einsum("ij,nj->ni", m[2][:, :2], moved) + m[2][:, 2]
        mouth = face[48:68].mean(0)
        shift = np.round(mouth) - 48                      # the 96x96 patch's corner in the 256 frame
        np.testing.assert_allclose(placed, face - shift, atol=1e-4)  # LMEDS refines iteratively
        assert np.abs(placed[48:68].mean(0) - 48).max() <= 0.5


def test_smoothing_is_their_centred_mean_shifted_to_the_frames_own_centroid():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(9, 68, 2))
    out = lrwcrop.smooth(pts)
    for t in (0, 3, 8):
        m = min(6, t, 8 - t)
        mean = pts[t - m:t + m + 1].mean(0)
        np.testing.assert_allclose(out[t], mean - mean.mean(0) + pts[t].mean(0))
    np.testing.assert_allclose(out[0], pts[0])            # the ends are their own frame


def test_segments_are_smoothed_apart_and_no_face_is_nan():
    face = _facemesh(_similarity(_mean_face_68(), 1.0, 0.0, (0, 0)))
    far = _facemesh(_similarity(_mean_face_68(), 1.0, 0.0, (300, 0)))
    lm = np.stack([face, face, far, far, face])
    mats = lrwcrop.segment_matrices(lm, np.array([0, 0, 1, 1, -1]))
    assert np.isnan(mats[4]).all()
    np.testing.assert_allclose(mats[2], mats[3])
    np.testing.assert_allclose(mats[2][:, 2] - mats[0][:, 2], (-300, 0), atol=1e-6)


def test_the_mean_face_points_are_the_stable_dlib_points():
    assert lrwcrop.STABLE == (28, 33, 36, 39, 42, 45, 48, 54)
    assert [DLIB68[i] for i in (36, 39, 42, 45, 48, 54)] == [33, 133, 362, 263, 61, 291]
    nose, base = lrwcrop.MEAN_FACE_STABLE[0], lrwcrop.MEAN_FACE_STABLE[1]
    assert abs(nose[0] - base[0]) < 1 and base[1] > nose[1]   # the nose runs down the middle


# -------------------------------------------------------- read with an imported model, lrw crops


@pytest.fixture(scope="module")
def talking_head(tmp_path_factory):
    from builder import synth

    root = tmp_path_factory.mktemp("head")
    poses = [p for p in synth.builtin_poses() if p.person == "hopper"]
    _, _, specs = synth.plan_corpus(poses, words=4, videos=1, speakers=1, holdout_speakers=0,
                                    seconds=4, height=360, seed=3)
    synth.write_video_dir(specs[0], root)
    return root / specs[0].name / "video.mp4"


def test_read_with_an_imported_model_uses_the_lrw_crops(talking_head, in_tmp):
    state = random_state(reference_shapes("swish", layers=1, per_branch=16), seed=1)
    torch.save({"model_state_dict": state}, "ref.pth")
    r = CliRunner().invoke(cli, ["import-weights", "ref.pth", "--format", "mpc001", "--out", "lrw.pt"])
    assert r.exit_code == 0, r.output
    Path("options.toml").write_text('[prediction]\nvideos = "readvideos"\nstride = 10\n')
    r = CliRunner().invoke(cli, ["read", str(talking_head), "--model", "lrw.pt", "--captions", "none",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    items = [row for row in rows if row.get("type") != "summary"]
    vocab = set(lrwcrop_words())
    assert items and all(row["word"] in vocab for row in items)
    folder = next(Path("readvideos").iterdir())
    default, lrw = np.load(folder / "mouth.npy"), np.load(folder / "mouth-lrw.npy")
    assert lrw.shape == default.shape and lrw.shape[0] > 29 and lrw.shape[1:] == (96, 96)
    assert (lrw > 0).mean() > 0.9 and np.abs(lrw.astype(int) - default).mean() > 5  # another geometry
    # the same windows as a default-crop model reads (windows do not depend on the crops)
    from lipreader.checkpoint import new_checkpoint, save_checkpoint
    from lipreader.model import ModelDims, build_model

    dims = ModelDims.for_arch("small", 3, frames=29)
    save_checkpoint(Path("small.pt"), new_checkpoint(dims, ["a", "b", "c"], build_model(dims)))
    r2 = CliRunner().invoke(cli, ["read", str(talking_head), "--model", "small.pt", "--captions", "none",
                                  "--format", "json"])
    assert r2.exit_code == 0, r2.output
    assert len([line for line in r2.stdout.splitlines() if '"type": "summary"' not in line]) == len(items)


def lrwcrop_words() -> list[str]:
    from lipreader.importer import read_words

    return read_words(None)
