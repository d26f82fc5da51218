"""Shared fixtures. Tests never reach the internet: media comes from 127.0.0.1."""

from __future__ import annotations

import os

import pytest

# Keep worker processes and BLAS from fighting over the two cores of a small machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    """Run a test from an empty folder, so ./options.toml and ./data are the test's own."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
