"""Manual caption text aligned onto automatic word times (builder.align)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from builder import align
from builder.captions import parse_captions

FIXTURES = Path(__file__).parent / "fixtures" / "captions"
VOCAB = ("people talk about money when they think the market will change because "
         "everyone wants a better price for what they sold last year and next").split()
# a talk's words: a few common ones and many that occur once (Zipf), so that many words
# are unique on both sides and anchor the alignment
ZIPF = tuple(f"w{k}" for k in random.Random(3).choices(range(1, 20001),
                                                        [1 / k for k in range(1, 20001)], k=20000))


def auto_json3(words: list[tuple[str, float]], per_line: int = 6) -> str:
    """YouTube's automatic json3: one event per line, each word a seg with its offset."""
    events = [{"tStartMs": 0, "dDurationMs": 10**7, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1}]
    for k in range(0, len(words), per_line):
        line = words[k:k + per_line]
        t0 = round(line[0][1] * 1000)
        stop = words[k + per_line][1] if k + per_line < len(words) else line[-1][1] + 0.5
        segs = [{"utf8": (" " if j else "") + w, "tOffsetMs": round(t * 1000) - t0, "acAsrConf": 0}
                for j, (w, t) in enumerate(line)]
        events.append({"tStartMs": t0, "dDurationMs": round(stop * 1000) - t0, "wWinId": 1,
                       "segs": segs})
        events.append({"tStartMs": round(stop * 1000) - 1, "dDurationMs": 1, "wWinId": 1,
                       "aAppend": 1, "segs": [{"utf8": "\n"}]})
    return json.dumps({"wireMagic": "pb3", "events": events})


def manual_json3(cues: list[tuple[str, float, float]]) -> str:
    """Manual json3: one text per cue, no word times."""
    return json.dumps({"events": [{"tStartMs": round(a * 1000), "dDurationMs": round((b - a) * 1000),
                                   "segs": [{"utf8": text}]} for text, a, b in cues]})


def made_tracks(n: int, seed: int, vocab: tuple[str, ...] | list[str] = VOCAB
                ) -> tuple[str, str, list[float | None]]:
    """An automatic track of `n` spoken words and the manual track a person would make of it.

    The automatic side mishears some words and has fillers; the manual side is in sentences
    with case and punctuation, corrects the mishearings, leaves the fillers out and has a few
    words the recogniser missed. Returns (auto json3, manual json3, for each manual word the
    automatic onset it corresponds to, or None for the words only the manual side has)."""
    rng = random.Random(seed)
    t = 0.3
    auto: list[tuple[str, float]] = []
    manual: list[tuple[str, float | None]] = []   # (word as written, corresponding onset)
    for _ in range(n):
        word = rng.choice(vocab)
        if rng.random() < 0.03:            # a filler only the recogniser writes
            auto.append((rng.choice(("um", "uh")), t))
            t += rng.uniform(0.2, 0.5)
        if rng.random() < 0.01:            # a word the recogniser missed
            manual.append((rng.choice(vocab), None))
            t += 0.25
        heard = rng.choice(vocab) if rng.random() < 0.03 else word   # a mishearing
        auto.append((heard, t))
        if rng.random() < 0.02:
            word = {"people": "People's", "money": "$1,000"}.get(word, word)
            heard_key = {"People's": "peoples", "$1,000": "1000"}.get(word)
            if heard_key:
                auto[-1] = (heard_key, t)
        manual.append((word, t))
        t += rng.uniform(0.15, 0.6) + (rng.uniform(1, 3) if rng.random() < 0.05 else 0)
    cues, truth = [], []
    k = 0
    while k < len(manual):
        size = rng.randint(5, 14)
        sentence = manual[k:k + size]
        texts = [w for w, _ in sentence]
        texts[0] = texts[0][:1].upper() + texts[0][1:]
        for j in range(len(texts) - 1):
            if rng.random() < 0.1:
                texts[j] += ","
        texts[-1] += rng.choice(".?!")
        times = [s for _, s in sentence if s is not None] or [auto[-1][1]]
        # a person's cue starts a little early or late and ends after the last word
        cues.append((" ".join(texts), max(0.0, times[0] + rng.uniform(-0.3, 0.3)),
                     times[-1] + rng.uniform(0.2, 0.8)))
        truth += [s for _, s in sentence]
        k += size
    return auto_json3(auto), manual_json3(cues), truth


@pytest.mark.parametrize("vocab, cells", [(VOCAB, align.ALIGN_CELLS), (VOCAB, 5000), (ZIPF, 5000)],
                         ids=["few-words", "few-words-split", "zipf-anchored"])
def test_manual_words_get_their_automatic_onsets(vocab, cells, monkeypatch):
    monkeypatch.setattr(align, "ALIGN_CELLS", cells)
    auto_text, manual_text, truth = made_tracks(3000, seed=1, vocab=vocab)
    manual = parse_captions(manual_text)
    assert {w.source for w in manual.words} == {"cue-estimate"}
    got = align.align_manual(manual, parse_captions(auto_text))
    assert len(manual.words) == len(truth)
    by_word = {}
    for w in got.words:
        by_word.setdefault(w.text, []).append(w)
    corresponding = [s for s in truth if s is not None]
    starts = sorted(w.start for w in got.words)
    close = sum(1 for s in corresponding if _nearest(starts, s) <= 0.040)
    assert close / len(corresponding) >= 0.98, close / len(corresponding)
    assert len(got.words) >= 0.99 * len(manual.words)
    sources = {w.source for w in got.words}
    assert sources == {align.MATCHED, align.CORRECTED, align.INTERPOLATED}
    assert all(a.start < b.start for a, b in zip(got.words, got.words[1:], strict=False))
    assert "um" not in by_word and "uh" not in by_word


def _nearest(sorted_starts: list[float], t: float) -> float:
    import bisect
    i = bisect.bisect_left(sorted_starts, t)
    return min(abs(sorted_starts[j] - t) for j in (i - 1, i) if 0 <= j < len(sorted_starts))


def test_the_real_automatic_fixture_with_a_manual_track_made_from_it():
    auto = parse_captions((FIXTURES / "auto.en.json3").read_text())
    manual = parse_captions(manual_json3([("Hello, everyone! It's great.", 0.0, 2.5),
                                          ("We sold 1000 AT&T shares.", 4.0, 6.5),
                                          ("Thanks.", 7.0, 9.0)]))
    got = align.align_manual(manual, auto)
    assert [(w.text, w.start, w.source) for w in got.words] == [
        (a.text, a.start, "aligned") for a in auto.words]
    assert got.format == "json3+json3"


def test_unmatched_stretches_are_dropped_and_short_gaps_interpolated():
    auto = parse_captions(auto_json3([(w, 1 + 0.5 * i) for i, w in enumerate(
        "we think people talk about money and the market".split())]))
    manual = parse_captions(manual_json3([
        ("We think people really talk about money", 1.0, 4.0),
        ("ein ganz anderer Satz auf Deutsch hier", 4.0, 6.0),
        ("and the market.", 6.0, 7.0)]))
    got = align.align_manual(manual, auto)
    assert [(w.text, w.start, w.source) for w in got.words] == [
        ("we", 1.0, "aligned"), ("think", 1.5, "aligned"), ("people", 2.0, "aligned"),
        ("really", 2.25, "interpolated"), ("talk", 2.5, "aligned"), ("about", 3.0, "aligned"),
        ("money", 3.5, "aligned"), ("and", 4.0, "aligned"), ("the", 4.5, "aligned"),
        ("market", 5.0, "aligned")]
    assert [d for d in got.dropped if d[1] == align.UNMATCHED] == [
        (w, align.UNMATCHED) for w in "ein ganz anderer satz auf deutsch hier".split()]


def test_manual_words_keep_the_automatic_word_ends():
    auto_text, manual_text, _ = made_tracks(400, seed=4)
    auto = parse_captions(auto_text)
    got = align.align_manual(parse_captions(manual_text), auto).words
    ends = {(w.start, w.text): (w.end, w.end_by) for w in auto.words}
    matched = [(w, nxt) for w, nxt in zip(got, got[1:], strict=False) if w.source == align.MATCHED]
    assert len(matched) > 300
    for w, nxt in matched:
        end, end_by = ends[(w.start, w.text)]
        assert (w.end, w.end_by) == (min(end, nxt.start), end_by), (w, nxt, end)
    assert {w.end_by for w, _ in matched} == {"next-onset", "line-end", "prior"}
