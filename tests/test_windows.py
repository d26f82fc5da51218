"""Where `read` looks: sliding windows merged into words."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import windows


def test_merge_runs_joins_agreeing_neighbours_and_drops_flickers():
    stride = 4
    centres = [10, 14, 18, 22, 26, 30, 34, 50, 54]       # a gap (skipped windows) before 50
    words = [0, 0, 1, 0, 0, 2, 2, 2, 2]                   # 1 flickers inside a run of 0
    probs = np.eye(3)[words] * 0.8 + 0.2 / 3
    runs = windows.merge_runs(centres, probs, stride, min_frames=6)
    assert [(a, b, int(p.argmax()), n) for a, b, p, n in runs] == [
        (8, 27, 0, 5), (28, 35, 2, 2), (48, 55, 2, 2)]
    assert runs[0][2] == pytest.approx(probs[0])          # averaged over its own windows only
    assert windows.merge_runs([], np.zeros((0, 3)), 4) == []
