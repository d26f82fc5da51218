"""`lipreader read`: which word is spoken in each stretch of a video, or in each clip of a folder.

A URL or a video file is fetched into [prediction] videos/<id>/ (data/read-videos/, cached like
`fetch`, apart from the training videos; marked by read.json), then read with
the same code as `build-dataset`: words.json from its captions, track.npz + mouth.npy from
builder.tracking, windows from builder.clips.plan_clip. Then:
  captions   one window per caption word; predicted versus caption word, word accuracy and a
             transcript alignment (substitutions, deletions, insertions)
  sliding    no captions (or --captions none): a window every `stride` frames, skipping those
             where the mouth stays closed; neighbours that agree are merged into one word
A folder of clips (dataset/<word>/predict/ or any folder of 96x96 mp4 clips) gives one
prediction per clip, in time order where sidecars or names give it, with accuracy where the
folder (or the sidecar) names the true word.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from builder import clips as clipmod
from builder.captions import Word
from builder.layout import VideoDir
from builder.stages import track as trackstage
from builder.stages import words as wordstage
from lipreader import atomic, lock
from lipreader.config import FORMATS, Config
from lipreader.errors import InputError, SkipVideo
from lipreader.predict import Prediction, Reader
from lipreader.progress import Progress
from pipelines import settings

FPS = 25.0
CLOSED_OPENING = 0.03   # lip opening (track.npz "opening") below which a mouth counts as closed
CENTRE = 9              # frames at a sliding window's centre that must show speech
MIN_WORD_FRAMES = 6     # sliding windows agreeing over fewer frames (0.24 s) make no word
SLIDING = "sliding-window"
NO_SPEECH = "mouth closed and still"
UNREADABLE_CLIP = "unreadable, or not a clip the model reads"


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
        if self.alignment is not None:
            out["transcript"] = self.alignment.summary()
        return out


# ---------------------------------------------------------------- pure pieces

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


def _seconds(frame: int) -> float:
    return round(frame / FPS, 3)


# ---------------------------------------------------------------- output formats

def _top_text(p: Prediction) -> str:
    return ", ".join(f"{w} {q:.2f}" for w, q in p.top)


def _time(t: float | None) -> str:
    return "" if t is None else f"{t:.2f}"


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
    lines = []
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
            start, end = clock, clock + (i.windows or 1) * 29 / FPS
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


# ---------------------------------------------------------------- a video

def _track(vd: VideoDir, source: str, frames: int, mesh_every: int = 1, wait: bool = False) -> None:
    """track.npz + mouth.npy in the video folder (cached), or one clear InputError."""
    if trackstage.tracked(vd, remove=False):
        return
    with lock.hold(vd.root.parent, wait=wait):  # the videos folder: one writer at a time
        _track_now(vd, source, frames, mesh_every)


def _track_now(vd: VideoDir, source: str, frames: int, mesh_every: int) -> None:
    from builder import media

    if trackstage.tracked(vd):  # another run tracked it meanwhile; damaged files are removed
        return
    total = media.probe(vd.video).frames_at_25
    bar = Progress(total or None, "tracking the face", "frames")
    try:
        trackstage.run(vd, trackstage.TrackSettings(mesh_every), on_frame=lambda n: bar.update(n - bar.n))
    except SkipVideo as e:
        raise _track_error(source, e.reason, e.detail, frames) from e
    finally:
        bar.close()


def _track_error(source: str, reason: str, detail: str, frames: int) -> InputError:
    if reason == "no face":
        return InputError(f"{source}: no face found in the video; lipreading needs a visible face")
    if reason == "too short":
        return InputError(f"{source}: the video is shorter than one {frames}-frame window "
                          f"({frames / FPS:.2f} s)")
    return InputError(f"{source}: cannot read the video: {reason}" + (f" ({detail})" if detail else ""))


def _predictions(reader: Reader, mouth: np.ndarray, plans: Sequence[clipmod.ClipPlan]) -> np.ndarray:
    from lipreader.predict import softmax, window_logits

    return softmax(window_logits(reader, mouth, [p.index for p in plans]))


def read_video(cfg: Config, reader: Reader, vd: VideoDir, source: str, captions: str = "auto"
               ) -> ReadReport:
    """Read one fetched video: caption-guided when it has captions (and `captions` is auto)."""
    from lipreader.predict import top_k

    timings: dict[str, float] = {}
    k = cfg.prediction.top_k
    n = reader.frames
    state = wordstage.run(vd)
    if state.skip and state.skip.get("stage") == "track":
        raise _track_error(source, state.skip.get("reason", ""), state.skip.get("detail", ""), n)
    t0 = time.perf_counter()
    _track(vd, source, n, cfg.build.mesh_every, cfg.general.wait)
    timings["track"] = time.perf_counter() - t0
    track = trackstage.load_view(vd)
    opening = trackstage.load_opening(vd)
    T = track.frames
    if T < n:
        raise InputError(f"{source}: the video ({T / FPS:.2f} s) is shorter than one {n}-frame "
                         f"window ({n / FPS:.2f} s)")
    mouth = clipmod.load_mouth(vd.mouth)
    limits = settings.limits(cfg, n)
    vocab = set(reader.vocab)
    words = state.words
    t0 = time.perf_counter()
    if words and captions == "auto":
        mode = "captions"
        plans = caption_windows(words, track, limits)
        good = [p for p in plans if not isinstance(p, str)]
        probs = _predictions(reader, mouth, good)
        preds = iter(top_k(probs, reader.vocab, k))
        items = []
        for w, p in zip(words, plans, strict=True):
            if isinstance(p, str):
                items.append(ReadItem(w.start, w.end, None, w.text, note=p, scored=w.text in vocab))
            else:
                items.append(ReadItem(w.start, w.end, next(preds), w.text,
                                      (p.first, p.first + p.frames - 1), scored=w.text in vocab))
        skipped = Counter(p for p in plans if isinstance(p, str))
    else:
        mode = "sliding"
        stride = cfg.prediction.stride
        windows = sliding_windows(track, opening, limits, stride)
        good = [(c, p) for c, p in windows if not isinstance(p, str)]
        skipped = Counter(p for _, p in windows if isinstance(p, str))
        if not good and not skipped.get(NO_SPEECH):
            raise InputError(f"{source}: no stretch of {n} frames shows a usable face "
                             f"({', '.join(sorted(skipped))})")
        probs = _predictions(reader, mouth, [p for _, p in good])
        items = []
        for first, last, pr, count in merge_runs([c for c, _ in good], probs, stride):
            pred = top_k(pr[None], reader.vocab, k)[0]
            items.append(ReadItem(_seconds(first), _seconds(last + 1), pred,
                                  frames=(first, last), windows=count))
    timings["model"] = time.perf_counter() - t0
    alignment = None
    if words:
        alignment = align([w.text for w in words], [i.prediction.word for i in items if i.prediction])
    return ReadReport(source, mode, reader.describe(), items, k, seconds=T / FPS,
                      skipped=dict(skipped), alignment=alignment, timings=timings, video=vd.root)


# ---------------------------------------------------------------- a folder of clips

_NAME_TIME = re.compile(r"^(.*)_(\d+)$")
SPLIT_NAMES = ("train", "val", "test", "predict")


def list_clips(folder: Path) -> list[Path]:
    """The folder's .mp4 clips, or those below it (dataset/<word>/<split>/), hidden ones left out."""
    found = [p for p in folder.glob("*.mp4") if not p.name.startswith(".")]
    if not found:
        found = [p for p in folder.rglob("*.mp4")
                 if not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(found)


def _sidecar(clip: Path) -> dict:
    try:
        rec = json.loads(clip.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def clip_order(clip: Path, sidecar: dict) -> tuple:
    """Sort key: (source video, start in ms, name) from the sidecar, else from <video>_<ms>.mp4."""
    if "video_id" in sidecar and isinstance(sidecar.get("start_ms"), (int, float)):
        return (str(sidecar["video_id"]), int(sidecar["start_ms"]), clip.name)
    m = _NAME_TIME.match(clip.stem)
    if m:
        return (m.group(1), int(m.group(2)), clip.name)
    return (clip.stem, 0, clip.name)


def clip_truth(clip: Path, sidecar: dict, vocab: set[str], splits: Sequence[str]) -> str | None:
    """The clip's word: the sidecar's, else the folder's name (dataset/<word>/<split>/ or <word>/)."""
    word = sidecar.get("word")
    if isinstance(word, str) and word:
        return word
    parent = clip.parent.name
    if parent in vocab:
        return parent
    if parent in splits and clip.parent.parent.name in vocab:
        return clip.parent.parent.name
    return None


def read_folder(cfg: Config, reader: Reader, folder: Path, batch: int = 32) -> ReadReport:
    from builder.media import read_video as decode
    from lipreader.predict import check_clip, clip_logits, softmax, top_k

    clips = list_clips(folder)
    if not clips:
        raise InputError(f"{folder}: no .mp4 clips in this folder or below it")
    sidecars = {c: _sidecar(c) for c in clips}
    clips.sort(key=lambda c: clip_order(c, sidecars[c]))
    vocab = set(reader.vocab)
    splits = (*SPLIT_NAMES, cfg.prediction.folder)
    items: list[ReadItem] = []
    skipped: Counter[str] = Counter()
    first_error = None
    t0 = time.perf_counter()
    model_s = 0.0

    def load(clip: Path) -> np.ndarray | InputError:
        """The clip's frames, or why it cannot be read (one bad clip never stops the folder)."""
        try:
            frames = decode(clip, gray=True)
            check_clip(reader, frames, str(clip))
        except InputError as e:
            return e
        return frames

    with Progress(len(clips), "reading clips", "clips") as bar, ThreadPoolExecutor(4) as pool:
        for a in range(0, len(clips), batch):
            part = clips[a:a + batch]
            loaded = dict(zip(part, pool.map(load, part), strict=True))
            good = [c for c in part if not isinstance(loaded[c], InputError)]
            preds = {}
            if good:
                t1 = time.perf_counter()
                probs = softmax(clip_logits(reader, np.stack([loaded[c] for c in good])))
                model_s += time.perf_counter() - t1
                preds = dict(zip(good, top_k(probs, reader.vocab, cfg.prediction.top_k), strict=True))
            for c in part:
                sc = sidecars[c]
                truth = clip_truth(c, sc, vocab, splits)
                start, end = sc.get("start"), sc.get("end")
                item = ReadItem(start if isinstance(start, (int, float)) else None,
                                end if isinstance(end, (int, float)) else None, preds.get(c), truth,
                                clip=str(c), scored=truth in vocab)
                if c not in preds:
                    first_error = first_error or loaded[c]
                    item.note = str(loaded[c]).removeprefix(f"{c}: ")
                    skipped[UNREADABLE_CLIP] += 1
                items.append(item)
            bar.update(len(part))
    if first_error is not None and skipped[UNREADABLE_CLIP] == len(clips):  # not a folder of clips
        raise first_error
    seconds = (len(items) - sum(skipped.values())) * reader.frames / FPS
    return ReadReport(str(folder), "folder", reader.describe(), items, cfg.prediction.top_k,
                      seconds=seconds, skipped=dict(skipped),
                      timings={"model": model_s, "total": time.perf_counter() - t0})


# ---------------------------------------------------------------- annotation

def annotate_video(vd: VideoDir, items: Sequence[ReadItem], out: Path) -> Path:
    """A copy of the video (25 fps, no sound) with each predicted word written under the face."""
    import cv2

    from builder import media

    info = media.probe(vd.video)
    W, H = info.width - info.width % 2, info.height - info.height % 2
    with np.load(vd.track) as z:
        box = z["box"]                                            # (T, 4) source px, NaN: no face
    label = [""] * len(box)
    for i in items:
        if i.prediction is not None and i.start is not None and i.end is not None:
            text = i.prediction.word if i.truth is None else f"{i.prediction.word} ({i.truth})"
            for t in range(max(0, int(round(i.start * FPS))), min(len(label), int(round(i.end * FPS)))):
                label[t] = text
    scale = max(0.5, H / 600)

    def frames():
        last = None
        for t, rgb in enumerate(media.iter_frames(vd.video, fps=FPS, size=(W, H))):
            img = rgb.copy()
            if t < len(box) and not np.isnan(box[t]).any():
                last = box[t] * [W / info.width, H / info.height, W / info.width, H / info.height]
            text = label[t] if t < len(label) else ""
            if text:
                (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
                cx, y = ((last[0] + last[2]) / 2, last[3] + 1.6 * th) if last is not None \
                    else (W / 2, H - th)
                x = int(np.clip(cx - tw / 2, 0, max(0, W - tw)))
                y = int(np.clip(y, th + 2, H - 4))
                cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 5, cv2.LINE_AA)
                cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 2, cv2.LINE_AA)
            yield img

    return media.write_video(out, frames(), fps=FPS)


# ---------------------------------------------------------------- the command

def read_mark(source: str) -> dict:
    """<video>/read.json of a video `read` fetches: build-dataset does not train on it."""
    return {"fetched_by": "lipreader read", "source": source,
            "note": "build-dataset leaves this video out of training; delete this file to train on it"}


def run(cfg: Config, source: str, out: Path | None = None, captions: str = "auto",
        annotate: Path | None = None) -> ReadReport:
    """Read SOURCE (URL, video file or folder of clips); print or write the report."""
    from lipreader.predict import load_reader
    from pipelines.fetch import fetch_one

    t0 = time.perf_counter()
    fmt = cfg.prediction.format
    if out is not None:
        atomic.check_writable(out, "report", "--out")
    if annotate is not None:
        atomic.check_writable(annotate, "annotated video", "--annotate")
    if captions not in ("auto", "none"):
        raise InputError(f"--captions must be auto or none, got {captions!r}")
    reader = load_reader(cfg.general.pretrainedmodelpath, cfg.general.device, cfg.prediction.bf16)
    path = Path(source).expanduser()
    if "://" not in source and path.is_dir():
        if annotate is not None:
            raise InputError("--annotate needs a video, not a folder of clips")
        report = read_folder(cfg, reader, path)
    else:
        t1 = time.perf_counter()
        vd = fetch_one(cfg.override("general", videos=cfg.prediction.videos), source,
                       mark=read_mark(source))
        fetch_s = time.perf_counter() - t1
        report = read_video(cfg, reader, vd, source, captions)
        report.timings["fetch"] = fetch_s
        if annotate is not None:
            annotate_video(vd, report.items, Path(annotate))
    report.timings["total"] = time.perf_counter() - t0
    report.text = render(report, fmt)
    if out is not None:
        atomic.write_text(out, report.text)
        acc = report.accuracy
        click.echo(f"wrote {len(report.items)} words to {out}"
                   + (f"; word accuracy {100 * acc:.1f}%" if acc is not None else ""), err=True)
    else:
        click.echo(report.text, nl=False)
    if annotate is not None:
        click.echo(f"annotated video: {annotate}", err=True)
    return report
