"""Manual caption text aligned onto automatic word times, and the edit-distance alignment it uses.

Manual captions carry the text a person checked but time only whole cues; automatic captions
time each word's onset but mishear words and add fillers. `align_manual` keeps the manual words
and takes their times from the automatic ones. Each word's `source` says how:

- "aligned": the manual word matched an automatic word spelled the same (case, punctuation,
  apostrophes and digit grouping aside: "It's" = "its", "1,000" = "1000") and takes its times.
- "aligned-corrected": the manual word stands one-for-one in the place of a different automatic
  word (a corrected mishearing) between matches, and takes that word's times.
- "interpolated": the manual word has no automatic partner; its start is shared out between
  the times of the nearest timed words around it, in proportion to word length.

A stretch of `LONG_UNMATCHED` or more manual words in a row with no match (music, another
language, a track that belongs to another cut of the video) is dropped with `UNMATCHED`.
The alignment's memory grows with the transcript length, not its square (Hirschberg).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from builder.captions import MAX_WORD_S, CaptionWords, Word, finish_words, read_words
from builder.layout import is_automatic_beside
from lipreader.errors import SkipVideo

MATCHED = "aligned"
CORRECTED = "aligned-corrected"
INTERPOLATED = "interpolated"
LONG_UNMATCHED = 5
UNMATCHED = "not in the automatic captions (music, another language or a misaligned track)"

_NOT_KEY = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Alignment:
    """Edit-distance alignment of a predicted word sequence against a reference (the captions).

    ops: ("=" | "S" | "D" | "I", reference word or None, predicted word or None), in order.
    """

    ops: tuple[tuple[str, str | None, str | None], ...]

    def count(self, op: str) -> int:
        return sum(o[0] == op for o in self.ops)

    @property
    def reference(self) -> int:
        return sum(o[0] != "I" for o in self.ops)

    @property
    def errors(self) -> int:
        return sum(o[0] != "=" for o in self.ops)

    @property
    def wer(self) -> float:
        return self.errors / max(1, self.reference)

    def summary(self) -> dict:
        return {"reference": self.reference, "matches": self.count("="),
                "substitutions": self.count("S"), "deletions": self.count("D"),
                "insertions": self.count("I"), "wer": round(self.wer, 4)}


ALIGN_CELLS = 4_000_000  # alignments up to this many cells keep the whole cost matrix (16 MB)

Op = tuple[str, str | None, str | None]


def align(reference: Sequence[str], predicted: Sequence[str]) -> Alignment:
    """Levenshtein alignment (unit costs) with its operations, matches preferred on ties.

    Memory grows with the longer sequence only: above ALIGN_CELLS cells the reference is halved
    where an optimal path crosses its middle (Hirschberg), and the halves are aligned apart.
    """
    index: dict[str, int] = {}
    ref = np.array([index.setdefault(w, len(index)) for w in reference], np.int64)
    hyp = np.array([index.setdefault(w, len(index)) for w in predicted], np.int64)
    ops: list[Op] = []
    _align(ref, hyp, list(reference), list(predicted), ops)
    return Alignment(tuple(ops))


def _cost_row(prev: np.ndarray, word: int, hyp: np.ndarray) -> np.ndarray:
    """The next row of the edit-distance table, from the row above it and the reference word."""
    best = np.empty_like(prev)
    best[0] = prev[0] + 1
    np.minimum(prev[:-1] + (hyp != word), prev[1:] + 1, out=best[1:])
    steps = np.arange(len(prev), dtype=prev.dtype)
    return np.minimum.accumulate(best - steps) + steps


def _last_row(ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    row = np.arange(len(hyp) + 1, dtype=np.int32)
    for word in ref:
        row = _cost_row(row, word, hyp)
    return row


def _align(ref: np.ndarray, hyp: np.ndarray, ref_words: list[str], hyp_words: list[str],
           ops: list[Op]) -> None:
    n, m = len(ref), len(hyp)
    if (n + 1) * (m + 1) <= ALIGN_CELLS or n <= 1 or m == 0:
        ops += _align_table(ref, hyp, ref_words, hyp_words)
        return
    mid = n // 2
    ahead = _last_row(ref[:mid], hyp)
    behind = _last_row(ref[mid:][::-1], hyp[::-1])[::-1]
    j = int(np.argmin(ahead + behind))
    _align(ref[:mid], hyp[:j], ref_words[:mid], hyp_words[:j], ops)
    _align(ref[mid:], hyp[j:], ref_words[mid:], hyp_words[j:], ops)


def _align_table(ref: np.ndarray, hyp: np.ndarray, ref_words: list[str], hyp_words: list[str]
                 ) -> list[Op]:
    """The whole cost table, then the path back from the end: diagonal first, then deletion."""
    n, m = len(ref), len(hyp)
    cost = np.empty((n + 1, m + 1), np.int32)
    cost[0] = np.arange(m + 1)
    for i in range(1, n + 1):
        cost[i] = _cost_row(cost[i - 1], ref[i - 1], hyp)
    ops: list[Op] = []
    i, j = n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("=" if ref[i - 1] == hyp[j - 1] else "S", ref_words[i - 1], hyp_words[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("D", ref_words[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, hyp_words[j - 1]))
            j -= 1
    return ops[::-1]


# ---------------------------------------------------------------- manual text on automatic times

def match_key(label: str) -> str:
    """What two spellings of one word share: the label without punctuation or apostrophes."""
    return _NOT_KEY.sub("", label) or label


def align_anchored(reference: Sequence[str], predicted: Sequence[str]) -> list[Op]:
    """`align`'s operations, found faster for long, mostly equal transcripts: words that occur
    once on each side, with a neighbour that matches too, and that keep their order (the
    longest such chain) are taken as matches, and only the stretches between them are aligned."""
    ops: list[Op] = []
    i0 = j0 = 0
    for i, j in _anchors(reference, predicted) + [(len(reference), len(predicted))]:
        ops += align(reference[i0:i], predicted[j0:j]).ops
        if i < len(reference):
            ops.append(("=", reference[i], predicted[j]))
        i0, j0 = i + 1, j + 1
    return ops


def _anchors(a: Sequence[str], b: Sequence[str]) -> list[tuple[int, int]]:
    count_a, count_b = Counter(a), Counter(b)
    in_b = {k: j for j, k in enumerate(b) if count_b[k] == 1}
    pairs = [(i, in_b[k]) for i, k in enumerate(a) if count_a[k] == 1 and k in in_b]
    pairs = [(i, j) for i, j in pairs
             if (i + 1 < len(a) and j + 1 < len(b) and a[i + 1] == b[j + 1])
             or (i and j and a[i - 1] == b[j - 1])]
    # the longest chain increasing in both (pairs are in increasing i): patience sorting
    tails: list[int] = []          # tails[k]: index in pairs of the chain of length k+1's end
    tail_j: list[int] = []         # ... and its j
    back: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tail_j, j)
        back[n] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(n)
            tail_j.append(j)
        else:
            tails[k], tail_j[k] = n, j
    chain = []
    n = tails[-1] if tails else -1
    while n >= 0:
        chain.append(pairs[n])
        n = back[n]
    return chain[::-1]


def align_manual(manual: CaptionWords, auto: CaptionWords) -> CaptionWords:
    """The manual words with times taken from the automatic words (see the module docstring).

    `dropped` keeps the manual captions' own drops and adds the unmatched stretches.
    """
    m_words, a_words = manual.words, auto.words
    ops = align_anchored([match_key(w.text) for w in m_words], [match_key(w.text) for w in a_words])
    partner: list[int | None] = []          # per manual word: its automatic word, if any
    matched: list[bool] = []
    j = 0
    for op, _, _ in ops:
        if op == "I":
            j += 1
            continue
        partner.append(j if op in "=S" else None)
        matched.append(op == "=")
        j += op in "=S"
    dropped = list(manual.dropped)
    keep = _keep(matched)
    timed: list[tuple[int, float, float, str, str]] = []   # manual index, start, end, source, end_by
    for i, w in enumerate(m_words):
        if not keep[i]:
            dropped.append((w.text, UNMATCHED))
        elif partner[i] is not None:
            a = a_words[partner[i]]
            timed.append((i, a.start, a.end, MATCHED if matched[i] else CORRECTED, a.end_by))
    words = [Word(m_words[i].text, s, e, src, end_by) for i, s, e, src, end_by in timed]
    words += _interpolate(m_words, keep, partner, timed)
    return CaptionWords(finish_words(words, estimate_ends=False), dropped,
                        f"{manual.format}+{auto.format}")


def _keep(matched: list[bool]) -> list[bool]:
    """False for the words of each run of LONG_UNMATCHED or more unmatched words."""
    keep = [True] * len(matched)
    run = 0
    for i in range(len(matched) + 1):
        if i < len(matched) and not matched[i]:
            run += 1
            continue
        if run >= LONG_UNMATCHED:
            keep[i - run:i] = [False] * run
        run = 0
    return keep


def _interpolate(m_words: Sequence[Word], keep: list[bool], partner: list[int | None],
                 timed: list[tuple[int, float, float, str, str]]) -> list[Word]:
    """Kept manual words without a partner, timed between the timed words around them."""
    if not timed:
        return []
    out = []
    k = 0   # timed[k] is the first timed word after manual word i
    i = 0
    n = len(m_words)
    while i < n:
        if not keep[i] or partner[i] is not None:
            i += 1
            continue
        first = i
        while i < n and keep[i] and partner[i] is None:
            i += 1
        run = range(first, i)
        while k < len(timed) and timed[k][0] < first:
            k += 1
        before = timed[k - 1] if k else None
        after = timed[k] if k < len(timed) else None
        if before is not None and after is not None:
            # the word before and the run share the time up to the next timed word
            lengths = [len(m_words[before[0]].text)] + [len(m_words[r].text) for r in run]
            span = after[1] - before[1]
            t = before[1] + span * lengths[0] / sum(lengths)
            for r, length in zip(run, lengths[1:], strict=True):
                dt = span * length / sum(lengths)
                out.append(Word(m_words[r].text, t, t + min(dt, MAX_WORD_S), INTERPOLATED, INTERPOLATED))
                t += dt
        else:   # at either end: the cue estimate, moved by the nearest timed word's offset
            ref = before if before is not None else after
            assert ref is not None
            shift = ref[1] - m_words[ref[0]].start
            for r in run:
                w = m_words[r]
                out.append(Word(w.text, max(0.0, w.start + shift), max(0.0, w.end + shift) + 0.001,
                                INTERPOLATED, INTERPOLATED))
    return out


# ---------------------------------------------------------------- a video's caption files

MIN_ALIGNED = 0.5   # below this share of manual words timed, the automatic track is not trusted


@dataclass(frozen=True)
class VideoWords:
    """A video's words, the caption files they came from and, when the automatic times could
    not be used, why (the words then keep their cue estimates)."""

    captions: CaptionWords
    files: tuple[str, ...]
    note: str = ""


def video_words(files: Sequence[Path]) -> VideoWords:
    """Words of a video's caption files (in `VideoDir.captions()` order, at least one): the
    first manual or single track, timed from the automatic track kept beside it when it has
    only cue times and there is one. Raises SkipVideo when the text track has no usable word."""
    text = [Path(f) for f in files if not is_automatic_beside(f)]
    timing = [Path(f) for f in files if is_automatic_beside(f)]
    source = text[0] if text else Path(files[0])
    words = read_words(source)
    if not timing or source == timing[0] or not any(w.estimated for w in words.words):
        return VideoWords(words, (source.name,))
    try:
        auto = read_words(timing[0])
    except SkipVideo as e:
        return VideoWords(words, (source.name,), f"automatic captions not used: {e}")
    aligned = align_manual(words, auto)
    if len(aligned.words) < MIN_ALIGNED * len(words.words):
        return VideoWords(words, (source.name,),
                          f"automatic captions not used: only {len(aligned.words)} of "
                          f"{len(words.words)} words found in them")
    return VideoWords(aligned, (source.name, timing[0].name))
