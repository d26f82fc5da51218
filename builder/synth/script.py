"""What a video says: words -> viseme sequences, a timeline of words, pauses and fillers, the
per-frame mouth parameters and head motion that follow it, and the caption files (YouTube json3
and WebVTT with inline word times) that give its exact word times."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lipreader.errors import InputError

# A built-in vocabulary of common spoken English words; `--words N` takes the first N.
VOCABULARY = (
    "about", "people", "think", "world", "money", "water", "family", "school", "little",
    "problem", "change", "question", "morning", "should", "happen", "every", "story", "place",
    "before", "great", "public", "night", "other", "years", "right", "could", "where", "first",
    "thing", "going", "number", "country", "system", "million", "always", "house", "minute",
    "hundred", "party", "power", "between", "become", "month", "early", "today", "again",
    "under", "never", "music", "friend", "inside", "moment", "simple", "business", "children",
    "nothing", "important", "different", "government", "something",
)
# Spoken between words, never captioned (YouTube's automatic captions drop hesitations too).
FILLERS = ("um", "uh", "hmm", "ah", "er")

# Mouth-shape parameters: open (jaw/inner-lip opening), round (lips pushed in and forward),
# spread (corners out), teeth (how much of the teeth shows), tuck (lower lip up under the
# upper teeth), press (lips pressed together).
PARAMS = ("open", "round", "spread", "teeth", "tuck", "press")
VISEMES: dict[str, tuple[float, ...]] = {
    "rest": (0.00, 0.0, 0.0, 0.0, 0.0, 0.0),
    "M":    (0.00, 0.0, 0.0, 0.0, 0.0, 1.0),   # p b m
    "F":    (0.15, 0.0, 0.3, 1.0, 1.0, 0.0),   # f v
    "TH":   (0.28, 0.0, 0.3, 0.9, 0.0, 0.0),   # th
    "T":    (0.20, 0.0, 0.5, 1.0, 0.0, 0.0),   # t d n s z
    "L":    (0.42, 0.0, 0.2, 0.7, 0.0, 0.0),   # l
    "K":    (0.45, 0.0, 0.1, 0.4, 0.0, 0.0),   # k g h c
    "SH":   (0.25, 0.8, 0.0, 1.0, 0.0, 0.0),   # sh ch j
    "R":    (0.22, 0.5, 0.0, 0.3, 0.0, 0.0),   # r, er
    "W":    (0.10, 1.0, 0.0, 0.0, 0.0, 0.0),   # w, oo
    "A":    (1.00, 0.0, 0.3, 0.4, 0.0, 0.0),   # a
    "E":    (0.60, 0.0, 0.7, 0.6, 0.0, 0.0),   # e, ai
    "I":    (0.35, 0.0, 1.0, 0.8, 0.0, 0.0),   # i, ee, y
    "O":    (0.75, 0.8, 0.0, 0.1, 0.0, 0.0),   # o
    "U":    (0.50, 0.5, 0.0, 0.1, 0.0, 0.0),   # u, ou
}
_VOWEL_VISEMES = {"A", "E", "I", "O", "U"}
_DIGRAPHS = {
    "th": ["TH"], "sh": ["SH"], "ch": ["SH"], "ph": ["F"], "wh": ["W"], "qu": ["K", "W"],
    "ng": ["K"], "ck": ["K"], "ee": ["I"], "ea": ["I"], "ie": ["I"], "oo": ["W"], "ou": ["U"],
    "ow": ["A", "W"], "ai": ["E"], "ay": ["E"], "oa": ["O"], "er": ["R"], "ir": ["R"],
    "ur": ["R"], "wo": ["W", "R"],
}
_LETTERS = {
    "a": ["A"], "b": ["M"], "c": ["K"], "d": ["T"], "e": ["E"], "f": ["F"], "g": ["K"],
    "h": ["K"], "i": ["I"], "j": ["SH"], "k": ["K"], "l": ["L"], "m": ["M"], "n": ["T"],
    "o": ["O"], "p": ["M"], "q": ["K"], "r": ["R"], "s": ["T"], "t": ["T"], "u": ["U"],
    "v": ["F"], "w": ["W"], "x": ["K", "T"], "y": ["I"], "z": ["T"],
}

WORD_SECONDS = (0.40, 0.80)    # every vocabulary word's duration is drawn from this one range
FILLER_SECONDS = (0.25, 0.50)


def word_visemes(word: str) -> list[str]:
    """Letters -> viseme names, digraphs first, a silent final e dropped, repeats merged."""
    w = word.lower()
    if len(w) > 3 and w.endswith("e") and w[-2] not in "aeiouy":
        w = w[:-1]
    out: list[str] = []
    i = 0
    while i < len(w):
        pair = w[i:i + 2]
        if pair in _DIGRAPHS:
            seq, i = _DIGRAPHS[pair], i + 2
        elif w[i] in _LETTERS:
            seq, i = _LETTERS[w[i]], i + 1
        else:
            seq, i = [], i + 1
        for v in seq:
            if not out or out[-1] != v:
                out.append(v)
    return out or ["K"]


def vocabulary(n: int) -> list[str]:
    if not 1 <= n <= len(VOCABULARY):
        raise InputError(f"--words must be between 1 and {len(VOCABULARY)}, got {n}")
    return list(VOCABULARY[:n])


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    filler: bool = False


@dataclass
class Script:
    """What one video says: word times and per-frame mouth parameters and head motion.

    params: (T, 6) float32 in PARAMS order; motion: (T, 4) float32 (degrees, scale-1,
    dx, dy as fractions of the frame height).
    """

    words: list[Word]
    fps: float
    params: np.ndarray
    motion: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.params)

    @property
    def opening(self) -> np.ndarray:
        return np.clip(self.params[:, 0], 0.0, 1.0)


def _timeline(vocab: Sequence[str], seconds: float, rng: np.random.Generator) -> list[Word]:
    words: list[Word] = []
    deck: list[str] = []
    t = float(rng.uniform(0.3, 0.9))
    while True:
        filler = bool(words) and not words[-1].filler and rng.random() < 0.12
        if filler:
            text = str(rng.choice(FILLERS))
            dur = float(rng.uniform(*FILLER_SECONDS))
        else:
            if not deck:
                deck = list(rng.permutation(list(vocab)))
            text = deck.pop()
            dur = float(rng.uniform(*WORD_SECONDS))
        if t + dur > seconds - 0.3:
            break
        words.append(Word(text, round(t, 3), round(t + dur, 3), filler))
        gap = rng.uniform(0.5, 0.8) if rng.random() < 0.08 else rng.uniform(0.03, 0.22)
        t += dur + float(gap)
    return words


def _keyframes(words: Sequence[Word], amp: float, rng: np.random.Generator):
    """(times, targets) of plateau keyframes: each viseme holds the middle of its segment."""
    rest = np.array(VISEMES["rest"], np.float32)
    times, targets = [0.0], [rest]
    prev_end = 0.0
    for w in words:
        if w.start - prev_end >= 0.12:
            times += [prev_end + 0.06, w.start - 0.06]
            targets += [rest, rest]
        vis = word_visemes(w.word)
        weights = np.array([1.4 if v in _VOWEL_VISEMES else 1.0 for v in vis])
        weights *= rng.uniform(0.7, 1.3, len(vis))
        edges = w.start + (w.end - w.start) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
        word_amp = amp * rng.uniform(0.8, 1.15)
        for v, a, b in zip(vis, edges[:-1], edges[1:], strict=True):
            target = np.array(VISEMES[v], np.float32)
            target[:3] *= word_amp
            target[3:] *= rng.uniform(0.85, 1.1)
            times += [a + 0.3 * (b - a), a + 0.7 * (b - a)]
            targets += [target, target]
        prev_end = w.end
    return np.array(times), np.stack(targets)


def _smooth_motion(n: int, fps: float, rng: np.random.Generator, amplitude) -> np.ndarray:
    t = np.arange(n) / fps
    out = np.zeros((n, len(amplitude)), np.float32)
    for j, a in enumerate(amplitude):
        for _ in range(3):
            f = rng.uniform(0.05, 0.5)
            out[:, j] += a / 3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def make_script(vocab: Sequence[str], seconds: float, fps: float, rng: np.random.Generator,
                amplitude: float = 1.0) -> Script:
    """A random utterance of about `seconds`: words, pauses, fillers, mouth parameters."""
    words = _timeline(vocab, seconds, rng)
    n = int(round(seconds * fps))
    times, targets = _keyframes(words, amplitude, rng)
    times = np.append(times, seconds)
    targets = np.vstack([targets, targets[:1] * 0])
    step = 0.002
    fine_t = np.arange(0, seconds + 0.1, step)
    fine = np.stack([np.interp(fine_t, times, targets[:, j]) for j in range(len(PARAMS))], 1)
    # Articulators are smooth (Gaussian, 15 ms) and each frame integrates its exposure (1/fps).
    sigma = int(0.015 / step)
    kernel = np.exp(-0.5 * (np.arange(-3 * sigma, 3 * sigma + 1) / sigma) ** 2)
    kernel = np.convolve(kernel, np.ones(max(1, int(1 / fps / step))))
    kernel /= kernel.sum()
    fine = np.stack([np.convolve(fine[:, j], kernel, mode="same") for j in range(len(PARAMS))], 1)
    idx = np.clip(np.round(np.arange(n) / fps / step).astype(int), 0, len(fine_t) - 1)
    params = fine[idx].astype(np.float32)
    motion = _smooth_motion(n, fps, rng, (1.8, 0.015, 0.015, 0.012))
    return Script(words, fps, params, motion)


def caption_lines(words: Sequence[Word], rng: np.random.Generator) -> list[list[Word]]:
    """The spoken words (no fillers) grouped into caption lines of 3-7 words, a long pause
    starting a new line."""
    spoken = [w for w in words if not w.filler]
    lines: list[list[Word]] = []
    cur: list[Word] = []
    limit = int(rng.integers(3, 8))
    for w in spoken:
        if cur and (len(cur) >= limit or w.start - cur[-1].end > 0.6):
            lines.append(cur)
            cur, limit = [], int(rng.integers(3, 8))
        cur.append(w)
    if cur:
        lines.append(cur)
    return lines


def _ms(t: float) -> int:
    return int(round(t * 1000))


def json3_text(lines: Sequence[Sequence[Word]]) -> str:
    """YouTube json3: one event per line, one seg per word with its offset from the event."""
    events = []
    for line in lines:
        start = _ms(line[0].start)
        segs = [{"utf8": (" " if i else "") + w.word, "tOffsetMs": _ms(w.start) - start}
                for i, w in enumerate(line)]
        events.append({"tStartMs": start, "dDurationMs": _ms(line[-1].end) - start,
                       "wWinId": 1, "segs": segs})
    return json.dumps({"wireMagic": "pb3", "pens": [{}], "wsWinStyles": [{}],
                       "wpWinPositions": [{}], "events": events}, indent=1) + "\n"


def _vtt_time(t: float) -> str:
    ms = _ms(t)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def vtt_text(lines: Sequence[Sequence[Word]]) -> str:
    """WebVTT with YouTube's inline word times: `first<00:00:01.200><c> next</c>...`."""
    out = ["WEBVTT", "Kind: captions", "Language: en", ""]
    for line in lines:
        out.append(f"{_vtt_time(line[0].start)} --> {_vtt_time(line[-1].end)} align:start position:0%")
        out.append(line[0].word + "".join(f"<{_vtt_time(w.start)}><c> {w.word}</c>" for w in line[1:]))
        out.append("")
    return "\n".join(out)

