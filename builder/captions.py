"""Caption files -> spoken words with start and end times.

Reads every caption form yt-dlp brings from YouTube, detected from the content:

- json3 (YouTube's own): automatic captions give each word its own start
  (`tStartMs + tOffsetMs`); manual captions give one text per cue.
- srv3 (YouTube's XML, same structure as json3), and the older srv1/srv2 `<text>` cues.
- WebVTT: automatic captions with inline word times (`<00:00:01.200><c> word</c>`) in
  YouTube's rolling layout, where each cue repeats the previous line and 10 ms
  "transition" cues sit between cues; or plain cues (manual captions).
- SRT: plain cues.

Every word carries a `source` saying how its times were found:

- "json3-auto", "srv3", "vtt-inline": the start is the word's own time from the file. These
  files time onsets only; the end comes from evidence, recorded in `end_by`:
  "next-onset" (the next word's onset, in the same caption line or after the line's last
  word, comes no later than the word usually lasts), "line-end" (a line's last word, when the
  line ends before the next onset and no later than the word usually lasts) or "prior" (the
  next onset comes later: a pause, a filler the captions leave out; the end is the onset plus
  the word's usual duration). The usual duration (`DurationPrior`) is learnt from the video's own words that
  the next onset in their line ends. A word never runs into the next one nor lasts more than
  `MAX_WORD_S`. Where the video has sound, builder.voiced moves these ends to where the voice
  after the onset falls quiet (end_by "voiced") once the sound is decoded (the plan stage).
- "cue-estimate": the file only times whole cues; each cue's duration is shared among its
  words in proportion to their length. The builder may trust these less or skip them.

Labels are normalised (`normalize_label`) and checked as folder names
(`unsafe_label_reason`); what is dropped is listed with a reason, never silently lost.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from builder.labels import labels_of, unsafe_label_reason
from lipreader.constants import FRAME_SECONDS
from lipreader.errors import SkipVideo

ESTIMATED = "cue-estimate"
EXACT_SOURCES = ("json3-auto", "srv3", "vtt-inline")

MAX_WORD_S = 1.0         # longest a word with only a start time is taken to last
PAUSE_FACTOR = 1.0       # onset to next onset longer than this times the usual duration: a pause
PRIOR_MIN_SAMPLES = 3    # a word's own usual duration needs this many well-timed occurrences
DEFAULT_CHAR_S = 0.06    # seconds per character (plus two) when the video has no well-timed word
NEXT_ONSET = "next-onset"
PAUSE_PRIOR = "prior"
LINE_END = "line-end"    # the last word of a caption line that ends before the next onset
MIN_WORD_S = FRAME_SECONDS  # one frame: what each word of a cue with no duration gets
TRANSITION_S = 0.05      # YouTube's rolling VTT shows the old line alone for 10 ms between cues
_TS = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}")
_INLINE_TS = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})>")
_TAG = re.compile(r"<[^>\n]*>|\{\\[^}\n]*\}")     # HTML-like tags; ASS overrides such as {\an8}
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Word:
    """One spoken word; times in seconds. `source`: "json3-auto", "srv3", "vtt-inline"
    (the file times the word itself) or "cue-estimate" (shared out from a cue's time)."""

    text: str
    start: float
    end: float
    source: str
    end_by: str = ""   # how the end was found (exact sources): NEXT_ONSET, LINE_END, PAUSE_PRIOR, voiced

    @property
    def estimated(self) -> bool:
        return self.source == ESTIMATED


@dataclass
class CaptionWords:
    """`words` in time order; `dropped` lists (original text, reason) for every caption
    token that did not become a word (non-speech, speaker marks, unsafe labels)."""

    words: list[Word]
    dropped: list[tuple[str, str]] = field(default_factory=list)
    format: str = ""


@dataclass(frozen=True)
class _Piece:
    """Caption text with a time span; `exact` names the source if `start` is a word's own time."""

    text: str
    start: float
    end: float
    exact: str | None
    last: bool = False   # the last word of its caption line: `end` is the line's, not the word's


# ---------------------------------------------------------------- pieces -> words

def _words(pieces: Iterable[_Piece], fmt: str) -> CaptionWords:
    dropped: list[tuple[str, str]] = []
    words: list[Word] = []
    for p in pieces:
        labels = labels_of(p.text, dropped)
        if not labels:
            continue
        if p.exact and len(labels) == 1:
            end = p.end if p.end > p.start else p.start + MAX_WORD_S   # capped in finish_words
            words.append(Word(labels[0], p.start, end, p.exact, LINE_END if p.last else NEXT_ONSET))
            continue
        end = p.end if p.end > p.start else p.start + MIN_WORD_S * len(labels)
        total = sum(len(lb) for lb in labels)
        t = p.start
        for lb in labels:
            dt = (end - p.start) * len(lb) / total
            words.append(Word(lb, t, t + dt, ESTIMATED))
            t += dt
    if not words:
        raise SkipVideo("captions have no usable words",
                        f"{len(dropped)} tokens dropped"
                        + (f", e.g. {dropped[0][0]!r}" if dropped else ""))
    return CaptionWords(finish_words(words), dropped, fmt)


@dataclass(frozen=True)
class DurationPrior:
    """How long a word usually lasts in one video, from its words that the next onset ends
    without a pause: the word's own median with PRIOR_MIN_SAMPLES occurrences, else the
    median seconds per (character + 2) times its length."""

    own: dict[str, float]
    per_char: float

    @classmethod
    def fit(cls, words: Iterable[Word]) -> DurationPrior:
        by_word: dict[str, list[float]] = {}
        for w in words:
            if w.end_by == NEXT_ONSET and w.source != ESTIMATED and 0 < w.end - w.start <= MAX_WORD_S:
                by_word.setdefault(w.text, []).append(w.end - w.start)
        rates = [d / (len(t) + 2) for t, ds in by_word.items() for d in ds]
        own = {t: _median(ds) for t, ds in by_word.items() if len(ds) >= PRIOR_MIN_SAMPLES}
        return cls(own, _median(rates) if rates else DEFAULT_CHAR_S)

    def __call__(self, text: str) -> float:
        return min(MAX_WORD_S, self.own.get(text, self.per_char * (len(text) + 2)))


def _median(values: list[float]) -> float:
    v = sorted(values)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def _evidence_end(w: Word, next_start: float, prior: DurationPrior) -> tuple[float, str]:
    """(end, end_by) of a word timed by its onset only (see the module docstring)."""
    usual = prior(w.text)
    until = min(next_start, w.end)
    if until - w.start <= PAUSE_FACTOR * usual:
        return until, LINE_END if w.end_by == LINE_END and w.end < next_start else NEXT_ONSET
    return w.start + usual, PAUSE_PRIOR


def finish_words(words: list[Word], estimate_ends: bool = True) -> list[Word]:
    """Sort, drop repeats (same label, same start), end onset-only words from evidence (unless
    their ends are estimated already), never past the next word's start, and round to
    milliseconds with start < end."""
    words.sort(key=lambda w: w.start)   # stable: words at one time keep the file order
    seen: set[tuple[str, int]] = set()
    unique = []
    for w in words:
        key = (w.text, round(w.start * 1000))
        if key not in seen:
            seen.add(key)
            unique.append(w)
    prior = DurationPrior.fit(unique)
    out: list[Word] = []
    next_start = math.inf
    for i in range(len(unique) - 1, -1, -1):
        w = unique[i]
        end, end_by = w.end, w.end_by
        if estimate_ends and end_by in (NEXT_ONSET, LINE_END):
            end, end_by = _evidence_end(w, next_start, prior)
        if w.source != ESTIMATED:
            end = min(end, next_start, w.start + MAX_WORD_S)
        start = round(w.start, 3)
        end = max(round(end, 3), start + 0.001)
        out.append(Word(w.text, start, round(end, 3), w.source, end_by))
        if i and unique[i - 1].start < w.start:
            next_start = w.start
    out.reverse()
    return out


# ---------------------------------------------------------------- json3 / srv3

def _number(obj: dict, key: str, where: str, default: float | None = None) -> float:
    """A finite, non-negative number (json3 and srv3 numbers may come as strings)."""
    value = obj.get(key, default)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise SkipVideo("captions unreadable", f"{where}: {key}={obj.get(key)!r}")
    return float(value)


def _event_pieces(events: list[dict[str, Any]], auto: bool, source: str) -> list[_Piece]:
    """json3-shaped events -> pieces (event: tStartMs, dDurationMs, segs [{utf8, tOffsetMs}])."""
    pieces = []
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise SkipVideo("captions unreadable", f"event {i} is not an object")
        segs = event.get("segs") or []
        if not isinstance(segs, list) or not all(isinstance(s, dict) for s in segs):
            raise SkipVideo("captions unreadable", f"event {i}: segs is not a list of objects")
        segs = [s for s in segs if str(s.get("utf8", "")).strip()]
        if not segs:
            continue
        where = f"event {i}"
        start = _number(event, "tStartMs", where) / 1000
        end = start + _number(event, "dDurationMs", where, 0) / 1000
        if not auto:
            pieces.append(_Piece("".join(str(s.get("utf8", "")) for s in segs), start, end, None))
            continue
        starts = [start + _number(s, "tOffsetMs", where, 0) / 1000 for s in segs]
        for j, seg in enumerate(segs):
            stop = starts[j + 1] if j + 1 < len(segs) else end
            pieces.append(_Piece(str(seg.get("utf8", "")), starts[j], min(stop, end), source,
                                 j + 1 == len(segs)))
    return pieces


def _json3(text: str) -> CaptionWords:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise SkipVideo("captions unreadable", f"not valid JSON: {e}") from e
    except RecursionError as e:
        raise SkipVideo("captions unreadable", "JSON nested too deeply") from e
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise SkipVideo("captions unknown format", "JSON without an 'events' list (not json3)")
    auto = any(isinstance(s, dict) and ("tOffsetMs" in s or "acAsrConf" in s)
               for e in events if isinstance(e, dict) and isinstance(e.get("segs"), list)
               for s in e["segs"])
    pieces = _event_pieces(events, auto, "json3-auto")
    if not pieces:
        raise SkipVideo("captions empty", "json3 without caption text")
    return _words(pieces, "json3")


def _xml(text: str) -> CaptionWords:
    """srv3 (<p t d><s t>...</s></p>, milliseconds) and srv1/srv2 (<text start dur> seconds
    or <text t d> milliseconds)."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as e:
        raise SkipVideo("captions unreadable", f"bad XML: {e}") from e
    paras = list(root.iter("p"))
    if paras:
        events = []
        auto = False
        for p in paras:
            segs = [{"utf8": p.text or ""}]
            for child in p:
                if child.tag == "s":
                    seg = {"utf8": "".join(child.itertext())}
                    if "t" in child.attrib:
                        seg["tOffsetMs"] = child.attrib["t"]
                    auto = auto or "t" in child.attrib or "ac" in child.attrib
                    segs.append(seg)
                elif child.tag == "br":
                    segs.append({"utf8": "\n"})
                if child.tail:
                    segs[-1]["utf8"] += child.tail
            events.append({"tStartMs": p.get("t"), "dDurationMs": p.get("d", 0), "segs": segs})
        pieces = _event_pieces(events, auto, "srv3")
        fmt = "srv3"
    else:
        pieces = []
        for i, el in enumerate(root.iter("text")):
            a = el.attrib
            if "start" in a:
                start = _number(a, "start", f"text {i}")
                end = start + _number(a, "dur", f"text {i}", 0)
            else:
                start = _number(a, "t", f"text {i}") / 1000
                end = start + _number(a, "d", f"text {i}", 0) / 1000
            pieces.append(_Piece("".join(el.itertext()), start, end, None))
        fmt = "srv1"
        if root.tag not in ("transcript", "timedtext"):
            raise SkipVideo("captions unknown format", f"XML root <{root.tag}>")
    if not any(p.text.strip() for p in pieces):
        raise SkipVideo("captions empty", f"{fmt} without caption text")
    return _words(pieces, fmt)


# ---------------------------------------------------------------- WebVTT / SRT

def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def _inline_seconds(ts: str) -> float:
    parts = re.fullmatch(_TS, ts)
    assert parts is not None
    return _seconds(*parts.groups())


@dataclass
class _Cue:
    start: float
    end: float
    lines: list[str]


def _cues(text: str) -> list[_Cue]:
    """Cues of a WebVTT or SRT file; a cue's text runs until an empty line (YouTube puts
    lines holding one space inside cues, so only a truly empty line ends one)."""
    cues: list[_Cue] = []
    current: _Cue | None = None
    for line in text.split("\n"):
        m = _TIMING.match(line)
        if m:
            if current is not None and current.lines and current.lines[-1].strip().isdigit():
                current.lines.pop()        # an SRT index with no blank line before it
            g = m.groups()
            current = _Cue(_seconds(*g[:4]), _seconds(*g[4:]), [])
            cues.append(current)
        elif current is not None:
            if line == "":
                current = None
            else:
                current.lines.append(line)
    return cues


def _plain(line: str) -> str:
    return _SPACES.sub(" ", _TAG.sub("", line)).strip()


def _rolling_pieces(cues: list[_Cue]) -> list[_Piece]:
    """Cues with inline word times. A line with times is new speech; a line without is a
    repeat (YouTube's rolling layout) unless it is the last line of a real cue and differs
    from the line before it (a one-word line carries no inline time)."""
    pieces = []
    last_line = None
    for cue in cues:
        lines = [ln for ln in cue.lines if _plain(ln)]
        transition = cue.end - cue.start < TRANSITION_S
        for k, line in enumerate(lines):
            plain = _plain(line)
            if _INLINE_TS.search(line):
                parts = _INLINE_TS.split(line)
                times = [cue.start] + [_inline_seconds(ts) for ts in parts[1::2]]
                texts = [_TAG.sub("", t) for t in parts[0::2]]
                for j, (t, txt) in enumerate(zip(times, texts, strict=True)):
                    stop = times[j + 1] if j + 1 < len(times) else cue.end
                    pieces.append(_Piece(txt, t, max(stop, t), "vtt-inline", j + 1 == len(times)))
                last_line = plain
            elif not transition and k == len(lines) - 1 and plain != last_line:
                pieces.append(_Piece(plain, cue.start, cue.end, "vtt-inline", True))
                last_line = plain
    return pieces


def _cue_pieces(cues: list[_Cue]) -> list[_Piece]:
    """Plain cues; a cue of two or more lines whose first line is the previous cue's last
    line (roll-up captions) contributes only its new lines."""
    pieces = []
    prev_last = None
    for cue in cues:
        lines = [p for p in (_plain(ln) for ln in cue.lines) if p]
        if len(lines) >= 2 and lines[0] == prev_last:
            lines = lines[1:]
        if lines:
            pieces.append(_Piece("\n".join(lines), cue.start, cue.end, None))
            prev_last = lines[-1]
    return pieces


def _vtt_or_srt(text: str, fmt: str) -> CaptionWords:
    cues = _cues(text)
    if not cues:
        raise SkipVideo("captions empty", f"{fmt} without cues")
    inline = any(_INLINE_TS.search(line) for cue in cues for line in cue.lines)
    pieces = _rolling_pieces(cues) if inline else _cue_pieces(cues)
    if not pieces:
        raise SkipVideo("captions empty", f"{fmt} without caption text")
    return _words(pieces, fmt)


# ---------------------------------------------------------------- entry points

def _decode(raw: bytes) -> str:
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SkipVideo("captions unreadable",
                        f"not UTF-8 text ({e.reason} at byte {e.start})") from e
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse_captions(text: str, hint: str = "") -> CaptionWords:
    """Words of caption file content `text`; `hint` is the file's extension (json3, vtt, ...)."""
    head = text.lstrip()
    if not head:
        raise SkipVideo("captions empty")
    if head[0] in "{[":
        return _json3(head)
    if head.startswith("WEBVTT"):
        return _vtt_or_srt(head, "vtt")
    if head[0] == "<":
        return _xml(head)
    if any(_TIMING.match(line) for line in head[:4000].split("\n")):
        return _vtt_or_srt(head, "vtt" if hint == "vtt" else "srt")
    raise SkipVideo("captions unknown format", f"{hint or 'file'} starting {head[:30]!r}")


MAX_CAPTION_BYTES = 64 * 2**20


def read_words(path: Path) -> CaptionWords:
    """Words of one caption file, format detected from its content (extension as a hint).

    Raises SkipVideo for a missing, empty, corrupt or unknown-format file, or one
    with no usable word.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CAPTION_BYTES:
            raise SkipVideo("captions too large", f"{path.name}: {size:,} bytes, over the "
                            f"{MAX_CAPTION_BYTES // 2**20} MB a caption file may have (a 10-hour "
                            "talk's is about 20 MB)")
        raw = path.read_bytes()
    except OSError as e:
        raise SkipVideo("captions unreadable", f"{path.name}: {e.strerror or e}") from e
    try:
        return parse_captions(_decode(raw), path.suffix.lstrip(".").lower())
    except SkipVideo as e:
        raise SkipVideo(e.reason, f"{path.name}: {e.detail}" if e.detail else path.name) from e


def words_to_json(words: Iterable[Word]) -> list[dict]:
    """Words -> the words.json list [{"word", "start", "end", "source", "end_by"}]."""
    return [{"word": w.text, "start": w.start, "end": w.end, "source": w.source, "end_by": w.end_by}
            for w in words]


def words_from_json(items: list[dict]) -> list[Word]:
    """The words.json list -> Words; SkipVideo("words.json unreadable") if it is malformed
    or holds an unsafe label."""
    if not isinstance(items, list):
        raise SkipVideo("words.json unreadable", "not a list")
    words = []
    for i, item in enumerate(items):
        try:
            word = Word(item["word"], float(item["start"]), float(item["end"]), item["source"],
                        str(item.get("end_by", "")))
        except (TypeError, KeyError, ValueError) as e:
            raise SkipVideo("words.json unreadable", f"item {i}: {e!r}") from e
        reason = unsafe_label_reason(word.text)
        if reason or not isinstance(word.source, str) or not word.start < word.end:
            raise SkipVideo("words.json unreadable", f"item {i}: {reason or 'bad source or times'}")
        words.append(word)
    return words
