"""Shared fixtures. Tests never reach the internet: media comes from 127.0.0.1.

Every run of the suite computes the same numbers on any machine of one torch build: torch and
BLAS use a fixed number of threads (a float sum's order follows the thread count), torch's
deterministic algorithms are on, and every random source is seeded in the test that uses it.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

# One thread: the same reduction order everywhere, and worker processes and BLAS do not fight
# over the two cores of a small machine. Set before torch loads, so its pools start with it.
THREADS = 1
os.environ["OMP_NUM_THREADS"] = str(THREADS)

import torch  # noqa: E402

torch.set_num_threads(THREADS)
torch.use_deterministic_algorithms(True)


@pytest.fixture(autouse=True)
def seeded():
    """Each test starts from the same global random state, whichever tests ran before it."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    """Run a test from an empty folder, so ./options.toml and ./data are the test's own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------- the toy dataset

TOY_WORDS = ("down", "grow", "shrink", "up")
TOY_FRAMES = 12


def toy_clip(word: str, rng: np.random.Generator, T: int = TOY_FRAMES) -> np.ndarray:
    """(T, 96, 96) uint8: a soft disc on noise whose path over time is the word.

    The toy words are a bright blob that moves up, moves down, grows or shrinks: every single
    frame could belong to either class of a pair, so only motion over time tells them apart."""
    s = np.linspace(0.0, 1.0, T)
    cx = np.full(T, rng.uniform(34, 62))
    if word in ("left", "right"):  # more words for datasets that share some with TOY_WORDS
        a, b = rng.uniform(64, 72), rng.uniform(24, 32)
        cx = a + (b - a) * (s if word == "left" else 1 - s)
        cy = np.full(T, rng.uniform(40, 56))
        r = np.full(T, rng.uniform(9, 13))
    elif word in ("up", "down"):
        a, b = rng.uniform(64, 72), rng.uniform(24, 32)
        cy = a + (b - a) * (s if word == "up" else 1 - s)
        r = np.full(T, rng.uniform(9, 13))
    else:
        cy = np.full(T, rng.uniform(40, 56))
        lo, hi = rng.uniform(4, 7), rng.uniform(18, 24)
        r = lo + (hi - lo) * (s if word == "grow" else 1 - s)
    yy, xx = np.mgrid[0:96, 0:96]
    frames = []
    for t in range(T):
        d = np.hypot(yy - cy[t], xx - cx[t])
        disc = np.clip(r[t] + 1.5 - d, 0, 1.5) / 1.5
        img = 70 + 140 * disc + rng.normal(0, 8, (96, 96))
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_toy_dataset(root, words=TOY_WORDS, per_split=(("train", 16), ("val", 6)), seed: int = 0):
    """Real lossless mp4 clips with sidecars in the dataset layout <word>/<split>/<id>_<ms>.mp4."""
    import json

    from builder.media import write_video

    rng = np.random.default_rng(seed)
    for split, n in per_split:
        for word in words:
            for i in range(n):
                clip = root / word / split / f"toy{i:02d}_{1000 * i}.mp4"
                write_video(clip, toy_clip(word, rng), lossless=True)
                clip.with_suffix(".json").write_text(json.dumps({
                    "word": word, "video_id": f"toy{i:02d}", "start_ms": 1000 * i, "word_start_frame": 2,
                    "word_end_frame": TOY_FRAMES - 3, "frames": TOY_FRAMES}))
    return root


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """The toy dataset, its train and val splits packed (as build-dataset leaves a dataset)."""
    from builder.stages import pack

    root = write_toy_dataset(tmp_path_factory.mktemp("toy") / "dataset")
    for split in ("train", "val"):
        pack.run(root, split, pack.PackSettings(show=False))
    return root
