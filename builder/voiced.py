"""Word ends from the sound: where the voiced stretch after a word's onset falls quiet.

Automatic captions time onsets only, and `captions.finish_words` ends each word from caption
evidence (`end_by`): the next onset (which takes in the gap before the next word), the line's
end or the usual duration (a guess). The sound's energy envelope (builder.sync: one log energy
per video frame, on the captions' clock) says more: the word ends where the sound after its
onset stays below the video's own quiet level for QUIET_FRAMES frames (80 ms: longer than most
stop closures inside a word). Such a word gets end_by VOICED. No end moves past the next word's
onset or MAX_WORD_S after the onset; where the sound does not fall quiet before then (connected
speech, a filler the captions leave out) or is not voiced near the onset, the word keeps its
caption end. Cue-estimated and interpolated words keep theirs: their onsets are guesses too.

The constants come from a sweep on generated speech (tests/test_word_ends.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from builder.captions import ESTIMATED, LINE_END, MAX_WORD_S, NEXT_ONSET, PAUSE_PRIOR, Word
from lipreader.constants import FPS

VOICED = "voiced"
UNCERTAIN = (NEXT_ONSET, LINE_END, PAUSE_PRIOR)  # the caption ends the sound may replace
QUIET_PERCENTILE = 5       # the video's quiet level (the floor between words) ...
LOUD_PERCENTILE = 90       # ... and its speech level, log energy
QUIET_LEVEL = 0.4          # quiet: below floor + this share of the way up to the speech level
MIN_RANGE = 2.0            # log energy (about 9 dB) speech must stand above the floor, or no evidence
QUIET_FRAMES = 2           # frames in a row below the level that end a voiced stretch
ONSET_SLACK_S = 0.12       # a caption onset may come this early before the voice starts
END_SHIFT_S = 0.05         # the frame before the first quiet one still holds the voice's tail


def quiet_level(energy: np.ndarray) -> float | None:
    """The log energy below which the video is quiet, from its own distribution; None when the
    speech does not stand out from the floor (no sound, constant noise or music)."""
    if not len(energy):
        return None
    floor, loud = np.percentile(np.asarray(energy, np.float64), [QUIET_PERCENTILE, LOUD_PERCENTILE])
    if loud - floor < MIN_RANGE:
        return None
    return float(floor + QUIET_LEVEL * (loud - floor))


def voiced_end(quiet: np.ndarray, start: float, bound: float, fps: float = FPS) -> float | None:
    """The time the voiced stretch starting at `start` falls quiet (`quiet`: (T,) bool per frame),
    if it does before `bound`; None when it is not voiced near the onset or still voiced then."""
    first = max(0, int(np.ceil(start * fps - 1e-6)))
    last = min(len(quiet), int(np.floor(bound * fps + END_SHIFT_S * fps + 1e-6)) + QUIET_FRAMES)
    voiced_from = first
    while voiced_from < min(last, first + int(round(ONSET_SLACK_S * fps)) + 1) and quiet[voiced_from]:
        voiced_from += 1
    if voiced_from >= last or quiet[voiced_from]:
        return None
    run = 0
    for f in range(voiced_from + 1, last):
        run = run + 1 if quiet[f] else 0
        if run == QUIET_FRAMES:
            end = (f - QUIET_FRAMES + 1) / fps - END_SHIFT_S
            return end if start < end <= bound else None
    return None


def voiced_ends(words: Sequence[Word], energy: np.ndarray, fps: float = FPS) -> list[Word]:
    """`words` (in time order, times on the sound's clock) with each UNCERTAIN end replaced by
    the end of the voiced stretch after its onset where the sound shows one (end_by VOICED)."""
    level = quiet_level(energy)
    if level is None:
        return list(words)
    quiet = np.asarray(energy) < level
    out = list(words)
    next_start = float("inf")
    for i in range(len(out) - 1, -1, -1):
        w = out[i]
        if w.end_by in UNCERTAIN and w.source != ESTIMATED:
            end = voiced_end(quiet, w.start, min(next_start, w.start + MAX_WORD_S), fps)
            if end is not None:
                out[i] = replace(w, end=round(end, 3), end_by=VOICED)
        if i and out[i - 1].start < w.start:
            next_start = w.start
    return out
