"""builder.pictures.grid: the one PNG-grid maker (contact sheets, ROI strips)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from builder.pictures import grid


def test_gray_tiles_land_where_the_layout_says(tmp_path):
    a = np.full((10, 20), 7, np.uint8)
    b = np.full((6, 5), 90, np.uint8)
    path = grid([[a, b], [b]], tmp_path / "g.png", gap=(3, 2))
    sheet = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert sheet.shape == (10 + 2 + 6 + 2, 20 + 3 + 5 + 3)     # trailing gaps included
    assert (sheet[0:10, 0:20] == 7).all() and (sheet[0:6, 23:28] == 90).all()
    assert (sheet[12:18, 0:5] == 90).all()
    assert (sheet[6:10, 23:28] == 255).all()                     # a short tile sits at the top
    assert (sheet[10:12] == 255).all() and (sheet[12:, 5:] == 255).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]   # no temporary left


def test_labels_take_a_column_and_rgb_stays_rgb(tmp_path):
    red = np.zeros((30, 30, 3), np.uint8)
    red[..., 0] = 255
    path = grid([[red], [red, red]], tmp_path / "c.png", ["one", "two"], gap=(0, 4), label_width=50)
    sheet = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert sheet.shape == (2 * 34, 50 + 60, 3)
    assert (sheet[0:30, 50:80] == (255, 0, 0)).all() and (sheet[34:64, 50:110] == (255, 0, 0)).all()
    assert (sheet[0:30, 80:] == 255).all()
    for y in (0, 34):                                            # each label is drawn, in black
        assert sheet[y:y + 30, :50].min() < 100


def test_nothing_to_draw_is_a_bug(tmp_path):
    with pytest.raises(ValueError, match="at least one tile"):
        grid([[], []], tmp_path / "e.png")
    with pytest.raises(ValueError, match="1 labels for 2 rows"):
        grid([[np.zeros((2, 2), np.uint8)]] * 2, tmp_path / "e.png", ["x"])
    assert not list(tmp_path.iterdir())
