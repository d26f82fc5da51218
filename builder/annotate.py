"""A copy of a video with words written under the speaker's face (`read --annotate`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from builder import media
from builder.layout import VideoDir
from lipreader.constants import FPS


def annotate_video(vd: VideoDir, labels: Sequence[tuple[float, float, str]], out: Path) -> Path:
    """A copy of the video (25 fps, no sound) with each (start s, end s, text) written under
    the face (from the video's track.npz) while it lasts."""
    import cv2

    info = media.probe(vd.video)
    W, H = info.width - info.width % 2, info.height - info.height % 2
    with np.load(vd.track) as z:
        box = z["box"]                                            # (T, 4) source px, NaN: no face
    label = [""] * len(box)
    for start, end, text in labels:
        for t in range(max(0, int(round(start * FPS))), min(len(label), int(round(end * FPS)))):
            label[t] = text
    scale = max(0.5, H / 600)

    def frames():
        last = None
        for t, rgb in enumerate(media.iter_frames(vd.video, fps=FPS, size=(W, H))):
            img = rgb.copy()
            if t < len(box) and not np.isnan(box[t]).any():
                last = box[t] * [W / info.width, H / info.height, W / info.width, H / info.height]
            text = label[t] if t < len(label) else ""
            if text:
                (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
                cx, y = ((last[0] + last[2]) / 2, last[3] + 1.6 * th) if last is not None \
                    else (W / 2, H - th)
                x = int(np.clip(cx - tw / 2, 0, max(0, W - tw)))
                y = int(np.clip(y, th + 2, H - 4))
                cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 5, cv2.LINE_AA)
                cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 2, cv2.LINE_AA)
            yield img

    return media.write_video(out, frames(), fps=FPS)
