"""Word ends from evidence: clip centres on generated speech with exact word times, from
automatic-style captions that carry word onsets only, with and without the sound's word ends
(builder.voiced). The generated voice follows the mouth (builder.synth.voice), so the truth is
exact."""

from __future__ import annotations

import json

import numpy as np

from builder.captions import parse_captions
from builder.clips import word_frames
from builder.sync import energy_envelope
from builder.synth.script import caption_lines, make_script, vocabulary
from builder.synth.voice import speech
from builder.voiced import VOICED, voiced_ends
from lipreader.constants import FPS

SOUND_RATE = 8000   # Hz: the envelope per frame is the sync stage's; half its rate keeps the test short


def onset_only_json3(lines) -> str:
    """YouTube's automatic json3: each word's onset; a line stays on screen until the next
    one appears (its end says nothing about when the last word ends)."""
    events = []
    for k, line in enumerate(lines):
        start = round(line[0].start * 1000)
        stop = round(lines[k + 1][0].start * 1000) if k + 1 < len(lines) else start + 5000
        events.append({"tStartMs": start, "dDurationMs": stop - start, "wWinId": 1,
                       "segs": [{"utf8": (" " if i else "") + w.word,
                                 "tOffsetMs": round(w.start * 1000) - start}
                                for i, w in enumerate(line)]})
    return json.dumps({"events": events})


def centre_errors(videos: int = 30, seconds: float = 60.0, sound: bool = False
                  ) -> tuple[np.ndarray, dict[str, int]]:
    """|clip centre - true word middle| in ms for every captioned word of generated videos, and
    how many words each end_by ended; with `sound`, the ends the voice gives (builder.voiced)."""
    errors = []
    ended_by: dict[str, int] = {}
    vocab = vocabulary(40)
    for v in range(videos):
        rng = np.random.default_rng([7, v])
        script = make_script(vocab, seconds, FPS, rng)
        truth = [w for w in script.words if not w.filler]
        words = parse_captions(onset_only_json3(caption_lines(script.words, rng))).words
        assert [w.text for w in words] == [w.word for w in truth]
        if sound:
            pcm = np.round(speech(script, v, SOUND_RATE) * 32767).astype(np.int16)
            words = voiced_ends(words, energy_envelope([pcm], SOUND_RATE))
        for got, true in zip(words, truth, strict=True):
            first, last = word_frames(got)
            errors.append(abs((first + last + 1) / 2 / FPS - (true.start + true.end) / 2) * 1000)
            ended_by[got.end_by] = ended_by.get(got.end_by, 0) + 1
    return np.array(errors), ended_by


def test_clips_are_centred_on_the_word():
    err, _ = centre_errors()
    median, p90 = np.percentile(err, [50, 90])
    print(f"word-centre error: median {median:.0f} ms, p90 {p90:.0f} ms over {len(err)} words")
    assert median <= 50 and p90 <= 105, (median, p90)   # onset + 1 s cap: 75 and 212 ms


def test_the_voice_ends_words_closer_to_the_truth():
    """The same videos with their sound: the sweep in builder.voiced gave median 12 ms and
    p90 51 ms, from 45 and 99 ms by the captions alone."""
    before, _ = centre_errors()
    after, ended_by = centre_errors(sound=True)
    (m0, p0), (m1, p1) = np.percentile(before, [50, 90]), np.percentile(after, [50, 90])
    print(f"word-centre error: median {m0:.0f} -> {m1:.0f} ms, p90 {p0:.0f} -> {p1:.0f} ms "
          f"over {len(after)} words; ends by {ended_by}")
    assert ended_by[VOICED] >= 0.4 * len(after), ended_by
    assert m1 <= m0 and m1 <= 20, (m0, m1)
    assert p1 <= 0.7 * p0 and p1 <= 60, (p0, p1)
