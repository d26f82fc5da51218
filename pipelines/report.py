"""What `read` found: the report (items, accuracy, the transcript alignment) and its formats.

Formats: table (for people), json (one object a line and a summary), csv, srt and vtt subtitles.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from builder.align import Alignment
from lipreader.config import FORMATS
from lipreader.constants import WORD_SECONDS
from lipreader.errors import InputError
from lipreader.predict import Prediction


@dataclass
class ReadItem:
    """One read word: a caption word's window, a merged run of sliding windows, or a clip."""

    start: float | None                 # seconds in the video (None: unknown)
    end: float | None
    prediction: Prediction | None       # None: no window could be cut (see `note`)
    truth: str | None = None            # caption word or the clip's labelled word
    frames: tuple[int, int] | None = None  # first and last video frame of the window(s)
    windows: int = 1                    # sliding windows merged into this word
    clip: str = ""                      # folder mode: the clip's path
    note: str = ""                      # why there is no prediction
    scored: bool = False                # truth is a word of the model's vocabulary

    @property
    def correct(self) -> bool | None:
        if not self.scored or self.prediction is None:
            return None
        return self.prediction.word == self.truth


@dataclass
class ReadReport:
    source: str
    mode: str                           # "captions", "sliding" or "folder"
    model: str
    items: list[ReadItem]
    top_k: int
    seconds: float = 0.0                # video read (or clips' total length), seconds
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> windows or clips
    alignment: Alignment | None = None
    timings: dict[str, float] = field(default_factory=dict)
    video: Path | None = None
    text: str = ""
    note: str = ""                      # why the mode is not the one the captions suggest

    @property
    def scored(self) -> list[ReadItem]:
        return [i for i in self.items if i.correct is not None]

    @property
    def accuracy(self) -> float | None:
        s = self.scored
        return sum(i.correct for i in s) / len(s) if s else None

    def summary(self) -> dict:
        s = self.scored
        out = {"source": self.source, "mode": self.mode, "model": self.model,
               "words": sum(i.prediction is not None for i in self.items),
               "scored": len(s), "correct": sum(bool(i.correct) for i in s),
               "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
               "skipped": dict(self.skipped), "seconds": round(self.seconds, 3),
               "timings": {k: round(v, 3) for k, v in self.timings.items()}}
        if self.note:
            out["note"] = self.note
        if self.alignment is not None:
            out["transcript"] = self.alignment.summary()
        return out


# ---------------------------------------------------------------- output formats

def _top_text(p: Prediction) -> str:
    return ", ".join(f"{w} {q:.2f}" for w, q in p.top)


def format_table(r: ReadReport) -> str:
    head = {"captions": "one window per caption word",
            "sliding": "sliding windows, agreeing neighbours merged",
            "folder": "one prediction per clip"}[r.mode]
    lines = [f"read {r.source} with {r.model}: {head}"]
    first = "clip" if r.mode == "folder" else "time"
    width = max([len(Path(i.clip).name) for i in r.items] + [12]) if r.mode == "folder" else 13
    truth_w = max([len(i.truth or "") for i in r.items] + [8])
    pred_w = max([len(i.prediction.word) for i in r.items if i.prediction] + [9])
    lines.append(f"{first:<{width}}  {'truth' if r.mode == 'folder' else 'caption':<{truth_w}}  "
                 f"{'predicted':<{pred_w}}  {'prob':>5}     top-{r.top_k}")
    for i in r.items:
        where = Path(i.clip).name if r.mode == "folder" else \
            (f"{i.start:6.2f}-{i.end:<6.2f}" if i.start is not None else "")
        mark = {True: "ok", False: "x", None: ""}[i.correct]
        if i.prediction is None:
            lines.append(f"{where:<{width}}  {i.truth or '':<{truth_w}}  {'-':<{pred_w}}  "
                         f"{'':>5}  {'':2}  ({i.note})")
            continue
        p = i.prediction
        lines.append(f"{where:<{width}}  {i.truth or '':<{truth_w}}  {p.word:<{pred_w}}  "
                     f"{p.prob:5.2f}  {mark:<2}  {_top_text(p)}")
    lines += _summary_lines(r)
    return "\n".join(lines) + "\n"


def _summary_lines(r: ReadReport) -> list[str]:
    lines = [f"note: {r.note}"] if r.note else []
    s = r.scored
    what = {"captions": "in-vocabulary caption words", "folder": "clips of labelled words",
            "sliding": ""}[r.mode]
    if r.mode != "sliding":
        if s:
            ok = sum(bool(i.correct) for i in s)
            lines.append(f"word accuracy: {ok}/{len(s)} = {100 * ok / len(s):.1f}% ({what})")
        else:
            lines.append(f"word accuracy: n/a (no {what})")
    if r.skipped:
        unit = "clips" if r.mode == "folder" else ("windows" if r.mode == "sliding" else "caption words")
        lines.append(f"skipped {unit}: " + ", ".join(f"{n} {why}" for why, n in
                                                     sorted(r.skipped.items(), key=lambda x: -x[1])))
    a = r.alignment
    if a is not None:
        lines.append(f"transcript: {a.reference} caption words, "
                     f"{sum(o[0] != 'D' for o in a.ops)} predicted: {a.count('=')} correct, "
                     f"{a.count('S')} substituted, {a.count('D')} deleted, {a.count('I')} inserted "
                     f"(WER {100 * a.wer:.1f}%)")
        ref = [o[1] or "*" for o in a.ops]
        hyp = [o[2] or "*" for o in a.ops]
        widths = [max(len(x), len(y)) for x, y in zip(ref, hyp, strict=True)]
        shown = 30
        def row(ws, words, ops):  # noqa: E306
            return " ".join((w.upper() if o[0] != "=" else w).ljust(k)
                            for w, k, o in zip(words[:shown], ws[:shown], ops[:shown], strict=True))
        more = f" ... ({len(a.ops) - shown} more)" if len(a.ops) > shown else ""
        lines.append(f"  caption:   {row(widths, ref, a.ops)}{more}")
        lines.append(f"  predicted: {row(widths, hyp, a.ops)}")
    t = r.timings
    if r.seconds and t.get("total"):
        lines.append(f"speed: {r.seconds:.1f} s of video in {t['total']:.1f} s "
                     f"({r.seconds / t['total']:.1f}x real time; model {t.get('model', 0):.1f} s, "
                     f"tracking {t.get('track', 0):.1f} s)")
    return lines


def format_json(r: ReadReport) -> str:
    lines = []
    for i in r.items:
        rec = {"type": "word", "start": i.start, "end": i.end,
               "first_frame": i.frames[0] if i.frames else None,
               "last_frame": i.frames[1] if i.frames else None,
               "truth": i.truth, "word": i.prediction.word if i.prediction else None,
               "prob": round(i.prediction.prob, 4) if i.prediction else None,
               "top": [{"word": w, "prob": round(p, 4)} for w, p in i.prediction.top] if i.prediction else [],
               "correct": i.correct, "windows": i.windows}
        if i.clip:
            rec["clip"] = i.clip
        if i.note:
            rec["note"] = i.note
        lines.append(json.dumps(rec, ensure_ascii=False))
    lines.append(json.dumps({"type": "summary", **r.summary()}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def format_csv(r: ReadReport) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["start", "end", "clip", "truth", "word", "prob", "correct", "top", "note"])
    for i in r.items:
        p = i.prediction
        w.writerow(["" if i.start is None else i.start, "" if i.end is None else i.end, i.clip,
                    i.truth or "", p.word if p else "", f"{p.prob:.4f}" if p else "",
                    "" if i.correct is None else int(i.correct),
                    " ".join(f"{x}:{q:.4f}" for x, q in p.top) if p else "", i.note])
    return buf.getvalue()


def _cues(r: ReadReport) -> list[tuple[float, float, str]]:
    """(start, end, text) subtitle cues; clips without times follow one another."""
    cues, clock = [], 0.0
    for i in r.items:
        if i.prediction is None:
            continue
        if i.start is None or r.mode == "folder":
            start, end = clock, clock + (i.windows or 1) * WORD_SECONDS
            clock = end
        else:
            start, end = i.start, max(i.end, i.start + 0.04)
        cues.append((start, end, i.prediction.word))
    return cues


def _stamp(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_srt(r: ReadReport) -> str:
    return "".join(f"{k}\n{_stamp(a, ',')} --> {_stamp(b, ',')}\n{text}\n\n"
                   for k, (a, b, text) in enumerate(_cues(r), 1))


def format_vtt(r: ReadReport) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(a, '.')} --> {_stamp(b, '.')}\n{text}\n\n"
                                  for a, b, text in _cues(r))


def render(r: ReadReport, fmt: str) -> str:
    fn = {"table": format_table, "json": format_json, "srt": format_srt, "vtt": format_vtt,
          "csv": format_csv}.get(fmt)
    if fn is None:
        raise InputError(f"[prediction] format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fn(r)
