"""Word ends from evidence: clip centres on generated speech with exact word times, from
automatic-style captions that carry word onsets only."""

from __future__ import annotations

import json

import numpy as np

from builder.captions import parse_captions
from builder.clips import word_frames
from builder.synth.script import caption_lines, make_script, vocabulary
from lipreader.constants import FPS


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


def centre_errors(videos: int = 30, seconds: float = 60.0) -> np.ndarray:
    """|clip centre - true word middle| in ms, for every captioned word of generated videos."""
    errors = []
    vocab = vocabulary(40)
    for v in range(videos):
        rng = np.random.default_rng([7, v])
        script = make_script(vocab, seconds, FPS, rng)
        truth = [w for w in script.words if not w.filler]
        words = parse_captions(onset_only_json3(caption_lines(script.words, rng))).words
        assert [w.text for w in words] == [w.word for w in truth]
        for got, true in zip(words, truth, strict=True):
            first, last = word_frames(got)
            errors.append(abs((first + last + 1) / 2 / FPS - (true.start + true.end) / 2) * 1000)
    return np.array(errors)


def test_clips_are_centred_on_the_word():
    err = centre_errors()
    median, p90 = np.percentile(err, [50, 90])
    print(f"word-centre error: median {median:.0f} ms, p90 {p90:.0f} ms over {len(err)} words")
    assert median <= 50 and p90 <= 105, (median, p90)   # onset + 1 s cap: 75 and 212 ms
