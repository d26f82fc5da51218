"""Where `read` looks: one window per caption word, or sliding windows merged into words.

Both plan their windows with builder.clips.plan_clip, so the face, cut and padding rules are
build-dataset's. Pure functions of the track and the model's probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from builder import clips as clipmod
from builder.captions import Word
from lipreader.constants import FPS

CLOSED_OPENING = 0.03   # lip opening (track.npz "opening") below which a mouth counts as closed
CENTRE = 9              # frames at a sliding window's centre that must show speech
MIN_WORD_FRAMES = 6     # sliding windows agreeing over fewer frames (0.24 s) make no word
SLIDING = "sliding-window"
NO_SPEECH = "mouth closed and still"
NO_FACE_SPEAKS = "no visible face speaks"


def caption_windows(words: Sequence[Word], track: clipmod.TrackView, limits: clipmod.Limits
                    ) -> list[clipmod.ClipPlan | str]:
    """One plan per caption word (as build-dataset cuts it), or the reason it has none."""
    return [clipmod.plan_clip(w, track, limits) for w in words]


def sliding_windows(track: clipmod.TrackView, opening: np.ndarray, limits: clipmod.Limits,
                    stride: int) -> list[tuple[int, clipmod.ClipPlan | str]]:
    """(centre frame, plan or reason) for windows every `stride` frames.

    Each window is planned as a pseudo-word of the CENTRE frames in its middle, so the face,
    cut and padding rules are build-dataset's; it is skipped when the lip opening stays below
    CLOSED_OPENING over those frames (a closed, still mouth says nothing).
    """
    n, T = limits.frames, track.frames
    core = min(CENTRE, n)
    lead = (n - core) // 2
    out = []
    for first in range(0, T - n + 1, stride):
        ws, we = first + lead, first + lead + core - 1
        centre = first + n // 2
        word = Word("", ws / FPS, (we + 1) / FPS, SLIDING)
        plan = clipmod.plan_clip(word, track, limits)
        if not isinstance(plan, str) and np.nanmax(np.nan_to_num(opening[ws:we + 1])) < CLOSED_OPENING:
            plan = NO_SPEECH
        out.append((centre, plan))
    return out


def speaking_windows(per_face: Sequence[Sequence[tuple[int, clipmod.ClipPlan | str]]],
                     openings: Sequence[np.ndarray], energy: np.ndarray, offset: int,
                     limits: clipmod.Limits) -> list[tuple[int, int, clipmod.ClipPlan | str]]:
    """Several face tracks: `sliding_windows` of each (same centres) -> per centre (centre, face,
    plan or reason): the face whose mouth follows the sound best around the window (kept by
    builder.sync.verdict, as build-dataset keeps clips), else NO_FACE_SPEAKS when some face
    showed a usable, moving mouth, else the main face's reason."""
    from builder import sync

    out = []
    for i, (centre, main) in enumerate(per_face[0]):
        best: tuple[float, int, clipmod.ClipPlan] | None = None
        seen = False
        for k, windows in enumerate(per_face):
            plan = windows[i][1]
            if isinstance(plan, str):
                continue
            seen = True
            j = sync.clip_judgement(openings[k], energy, centre, offset)
            if sync.verdict(j, offset, limits.min_sync, limits.max_sync_drift,
                            limits.min_sync_confidence) is not None:
                continue
            score = -2.0 if j is None else j.score
            if best is None or score > best[0]:
                best = (score, k, plan)
        if best is not None:
            out.append((centre, best[1], best[2]))
        else:
            out.append((centre, 0, NO_FACE_SPEAKS if seen else main))
    return out


def _runs(centres: Sequence[int], labels: Sequence[int], stride: int) -> list[list[int]]:
    """Groups of windows `stride` apart with the same label, in order."""
    runs: list[list[int]] = []
    for k, c in enumerate(centres):
        if runs and c - centres[runs[-1][-1]] == stride and labels[k] == labels[runs[-1][-1]]:
            runs[-1].append(k)
        else:
            runs.append([k])
    return runs


def merge_runs(centres: Sequence[int], probs: np.ndarray, stride: int,
               min_frames: int = MIN_WORD_FRAMES) -> list[tuple[int, int, np.ndarray, int]]:
    """Neighbouring windows (`stride` apart) with the same best word merged into one word.

    centres: (W,) centre frames in order; probs: (W, V). Each window stands for the `stride`
    frames around its centre. A run shorter than `min_frames` is no word: its windows go to the
    neighbours when both sides agree, else are dropped. -> [(first frame, last frame, mean
    probabilities (V,) of the run's own windows, windows in the run)].
    """
    if not len(centres):
        return []
    best = probs.argmax(axis=1)
    labels = best.tolist()
    for r in _runs(centres, labels, stride):
        if len(r) * stride < min_frames:
            for k in r:
                labels[k] = -1
    # A short run between two runs of one word belongs to that word.
    runs = _runs(centres, labels, stride)
    for i in range(1, len(runs) - 1):
        a, mid, b = runs[i - 1], runs[i], runs[i + 1]
        if labels[mid[0]] == -1 and labels[a[0]] == labels[b[0]] != -1 and \
                centres[mid[0]] - centres[a[-1]] == stride and centres[b[0]] - centres[mid[-1]] == stride:
            for k in mid:
                labels[k] = labels[a[0]]
    half = stride // 2
    out = []
    for r in _runs(centres, labels, stride):
        if labels[r[0]] == -1:
            continue
        own = [k for k in r if best[k] == labels[r[0]]]
        out.append((centres[r[0]] - half, centres[r[-1]] - half + stride - 1, probs[own].mean(axis=0), len(r)))
    return out


def seconds(frame: int) -> float:
    return round(frame / FPS, 3)
