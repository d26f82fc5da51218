"""Word ends from the sound (builder.voiced) on hand-made energy envelopes."""

from __future__ import annotations

import numpy as np
import pytest

from builder import voiced
from builder.align import INTERPOLATED
from builder.captions import ESTIMATED, LINE_END, NEXT_ONSET, PAUSE_PRIOR, Word

QUIET, LOUD = -13.0, -4.0


def envelope(frames: int, *voiced_frames: tuple[int, int]) -> np.ndarray:
    """Log energy per frame: LOUD over each [first, stop) of `voiced_frames`, QUIET elsewhere."""
    e = np.full(frames, QUIET, np.float32)
    for first, stop in voiced_frames:
        e[first:stop] = LOUD
    return e


def test_the_level_comes_from_the_videos_own_energy():
    assert voiced.quiet_level(envelope(100, (10, 60))) == pytest.approx(QUIET + 0.4 * (LOUD - QUIET))
    assert voiced.quiet_level(np.full(100, LOUD)) is None        # no quiet: no evidence
    assert voiced.quiet_level(np.zeros(0)) is None               # no sound


def test_a_word_ends_where_its_voice_falls_quiet():
    energy = envelope(200, (50, 60), (100, 112), (120, 130))
    words = [Word("great", 2.0, 3.0, "json3-auto", PAUSE_PRIOR),       # voiced 2.00-2.40: its last loud frame holds the tail
             Word("people", 4.0, 4.5, "json3-auto", NEXT_ONSET),       # 4.00-4.48, then 80 ms quiet
             Word("today", 4.8, 5.2, "aligned", LINE_END)]            # voiced to 5.20
    got = voiced.voiced_ends(words, energy)
    assert [(w.end, w.end_by) for w in got] == [(2.35, "voiced"), (4.43, "voiced"), (5.15, "voiced")]
    assert [(w.text, w.start, w.source) for w in got] == [(w.text, w.start, w.source) for w in words]


def test_a_word_keeps_its_caption_end_without_evidence():
    # voiced on past the next onset, and past MAX_WORD_S (connected speech, a left-out filler)
    energy = envelope(200, (50, 92), (110, 120))
    words = [Word("great", 2.0, 2.5, "json3-auto", NEXT_ONSET), Word("day", 2.5, 2.9, "json3-auto", PAUSE_PRIOR),
             Word("later", 4.0, 4.4, "json3-auto", PAUSE_PRIOR),          # quiet at its onset, 0.4 s on
             Word("cue", 4.4, 4.7, ESTIMATED, ""),                       # cue times: not an onset
             Word("guess", 4.7, 4.75, INTERPOLATED, INTERPOLATED)]
    assert voiced.voiced_ends(words, energy) == words
    assert voiced.voiced_ends(words, np.zeros(0, np.float32)) == words


def test_a_late_voice_start_is_found_but_no_end_runs_past_the_next_onset():
    # the caption onset 80 ms before the voice; the next word's voice follows after 40 ms only
    energy = envelope(200, (52, 62), (63, 80), (100, 110))
    words = [Word("great", 2.0, 2.4, "json3-auto", PAUSE_PRIOR), Word("day", 2.52, 3.0, "json3-auto", PAUSE_PRIOR)]
    got = voiced.voiced_ends(words, energy)
    assert [(w.end, w.end_by) for w in got] == [(2.4, PAUSE_PRIOR), (3.15, "voiced")]
