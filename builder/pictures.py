"""PNG grids of pictures for people to look at: contact sheets of mouth crops, strips of ROIs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lipreader.atomic import atomic_path
from lipreader.errors import InputError

LABEL_WIDTH = 130          # pixels of the label column, when rows have labels


def grid(rows: Sequence[Sequence[np.ndarray]], path: str | os.PathLike,
         labels: Sequence[str] | None = None, *, gap: tuple[int, int] = (4, 4),
         label_width: int = LABEL_WIDTH) -> Path:
    """Write `rows` of tiles on white as a PNG at `path` (atomically) and return the path.

    Tiles are (h, w) gray or (h, w, 3) RGB uint8, all of one kind, of any size: a row is as
    high as its highest tile, tiles sit at its top. `gap` = (x, y): white pixels after each
    tile and after each row. `labels`: one text per row, in a column `label_width` wide on
    the left (no column without labels).
    """
    import cv2

    if not any(len(r) for r in rows):
        raise ValueError("a grid needs at least one tile")
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"{len(labels)} labels for {len(rows)} rows")
    gx, gy = gap
    left = label_width if labels is not None else 0
    heights = [max((t.shape[0] for t in r), default=0) for r in rows]
    width = left + max(sum(t.shape[1] + gx for t in r) for r in rows)
    tile = next(t for r in rows for t in r)
    sheet = np.full((sum(h + gy for h in heights), width, *tile.shape[2:]), 255, np.uint8)
    ink = (0,) * sheet.shape[2] if sheet.ndim == 3 else 0
    y = 0
    for i, (row, h) in enumerate(zip(rows, heights, strict=True)):
        if labels is not None:
            cv2.putText(sheet, labels[i], (6, y + h // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink,
                        1, cv2.LINE_AA)
        x = left
        for t in row:
            sheet[y:y + t.shape[0], x:x + t.shape[1]] = t
            x += t.shape[1] + gx
        y += h + gy
    if sheet.ndim == 3:
        sheet = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), sheet):
            raise InputError(f"could not write {path}")
    return path
