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
