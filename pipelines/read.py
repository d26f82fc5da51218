"""`lipreader read`: which word is spoken in each stretch of a video, or in each clip of a folder.

A URL or a video file is fetched into [prediction] videos/<id>/ (data/read-videos/, cached like
`fetch`, apart from the training videos; marked by read.json), then read with
the same code as `build-dataset`: words.json from its captions, track.npz + mouth.npy from
builder.tracking, windows from builder.clips.plan_clip (pipelines/windows.py). Then:
  captions   one window per caption word; predicted versus caption word, word accuracy and a
             transcript alignment (substitutions, deletions, insertions)
  sliding    no captions, captions that time only whole cues, or --captions none: a window
             every `stride` frames, skipping those where the mouth stays closed; neighbours
             that agree are merged into one word
A folder of clips (dataset/<word>/predict/ or any folder of 96x96 mp4 clips) gives one
prediction per clip, in time order where sidecars or names give it, with accuracy where the
folder (or the sidecar) names the true word. The report and its formats are pipelines/report.py;
the annotated copy of the video is builder/annotate.py. This module only orchestrates.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import click
import numpy as np

from builder import clips as clipmod
from builder.align import align
from builder.captions import Word
from builder.layout import DatasetDir, VideoDir
from builder.stages import plan as planstage
from builder.stages import track as trackstage
from builder.stages import words as wordstage
from lipreader import atomic, lock
from lipreader.config import Config
from lipreader.constants import FPS
from lipreader.errors import InputError, SkipVideo
from lipreader.predict import Reader
from lipreader.progress import Progress
from pipelines import settings
from pipelines.report import ReadItem, ReadReport, render
from pipelines.windows import (
    NO_FACE_SPEAKS,
    NO_SPEECH,
    caption_windows,
    merge_runs,
    seconds,
    sliding_windows,
    speaking_windows,
)

UNREADABLE_CLIP = "unreadable, or not a clip the model reads"


# ---------------------------------------------------------------- a video

def _track(vd: VideoDir, source: str, frames: int, mesh_every: int = 1, wait: bool = False,
           max_faces: int = 1, workers: int = 0) -> None:
    """track.npz + mouth.npy (and those of further face tracks) in the video folder (cached),
    or one clear InputError."""
    if trackstage.tracked(vd, remove=False, max_faces=max_faces):
        return
    with lock.hold(vd.root.parent, wait=wait):  # the videos folder: one writer at a time
        _track_now(vd, source, frames, mesh_every, max_faces, workers)


def _track_now(vd: VideoDir, source: str, frames: int, mesh_every: int, max_faces: int = 1,
               workers: int = 0) -> None:
    """Track in this process, or, for a video long enough to be tracked in parts (one face
    track, several cores), the parts on `workers` worker processes side by side as
    build-dataset does (0: one per core; the same files either way)."""
    from builder import media, tracking

    if trackstage.tracked(vd, max_faces=max_faces):  # tracked meanwhile; damaged files are removed
        return
    total = media.probe(vd.video).frames_at_25
    workers = workers or os.cpu_count() or 1
    settings = trackstage.TrackSettings(mesh_every, max_faces)
    bar = Progress(total or None, "tracking the face", "frames")
    try:
        if workers > 1 and max_faces == 1 and len(tracking.parts(total)) > 1:
            for _, skip in trackstage.run_many([vd], settings, workers,
                                               on_part=lambda _, n: bar.update(n)):
                if skip is not None:
                    raise SkipVideo(skip["reason"], skip["detail"])
        else:
            trackstage.run(vd, settings, on_frame=lambda n: bar.update(n - bar.n))
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


def _predictions(reader: Reader, mouth: np.ndarray, plans: Sequence[clipmod.ClipPlan],
                 spans: bool = False) -> np.ndarray:
    """Probabilities per window; `spans`: the plans' word frames feed a model's in-word channel
    (caption words), else it is all ones (sliding windows)."""
    from lipreader.predict import softmax, window_logits

    inword = [(p.word_start_frame, p.word_end_frame) for p in plans] if spans else None
    return softmax(window_logits(reader, mouth, [p.index for p in plans], spans=inword))


def _predictions_by_face(reader: Reader, mouths: Sequence[np.ndarray],
                         plans: Sequence[tuple[int, clipmod.ClipPlan]], spans: bool = False
                         ) -> np.ndarray:
    """`_predictions` of (face track, plan) pairs, each cut from its face's mouth.npy, in order."""
    out: list[np.ndarray | None] = [None] * len(plans)
    for face in sorted({f for f, _ in plans}):
        idx = [i for i, (f, _) in enumerate(plans) if f == face]
        for i, row in zip(idx, _predictions(reader, mouths[face], [plans[i][1] for i in idx], spans),
                          strict=True):
            out[i] = row
    if not plans:
        return _predictions(reader, mouths[0], [], spans)
    return np.stack(out)


@dataclass(frozen=True)
class Speakers:
    """Several visible face tracks and the sound: which face speaks, as build-dataset decides
    (builder.stages.plan.speaking_face, pipelines.windows.speaking_windows)."""

    tracks: list[planstage.FaceTrack]
    mouths: list[np.ndarray]
    energy: np.ndarray
    offset: int

    def word(self, w: Word, limits: clipmod.Limits) -> tuple[int, clipmod.ClipPlan] | str:
        """(face, window) of a caption word (its times taken to the mouth's clock), or why none."""
        shifted = replace(w, start=w.start - self.offset / FPS, end=w.end - self.offset / FPS)
        spoken = planstage.speaking_face(shifted, self.tracks, self.energy, self.offset, limits)
        return spoken if isinstance(spoken, str) else (spoken.face, spoken.plan)

    def windows(self, limits: clipmod.Limits, stride: int
                ) -> list[tuple[int, int, clipmod.ClipPlan | str]]:
        per_face = [sliding_windows(t.view, t.opening, limits, stride) for t in self.tracks]
        return speaking_windows(per_face, [t.opening for t in self.tracks], self.energy,
                                self.offset, limits)


def _speakers(vd: VideoDir, wait: bool, profile: str = "default") -> Speakers | None:
    """The video's visible face tracks with their sync, or None when it shows one face (or has
    no sound): then `read` reads the main face, as it always has."""
    from builder.stages import sync as syncstage

    face_dirs = [f for f in trackstage.faces(vd) if trackstage.load_view(f).usable.any()]
    if len(face_dirs) < 2:
        return None
    if None in syncstage.load_faces(vd):
        with lock.hold(vd.root.parent, wait=wait):
            syncstage.run_faces(vd)
    syncs = [syncstage.load(f) for f in face_dirs]
    if syncs[0] is None or not syncs[0].known:
        return None
    tracks = [planstage.FaceTrack(trackstage.load_view(f), trackstage.load_opening(f)) for f in face_dirs]
    return Speakers(tracks, [clipmod.load_mouth(trackstage.profile_mouth(f, profile)) for f in face_dirs],
                    syncs[0].energy, syncstage.video_offset(syncs))


CUE_TIMES_ONLY = ("the captions time whole cues, not words (manual captions without automatic "
                  "ones): sliding windows instead, the transcript still compared")


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
    _track(vd, source, n, cfg.build.mesh_every, cfg.general.wait, cfg.build.max_faces,
           cfg.build.workers)
    timings["track"] = time.perf_counter() - t0
    track = trackstage.load_view(vd)
    opening = trackstage.load_opening(vd)
    T = track.frames
    if T < n:
        raise InputError(f"{source}: the video ({T / FPS:.2f} s) is shorter than one {n}-frame "
                         f"window ({n / FPS:.2f} s)")
    limits = settings.limits(cfg, n)
    profile = reader.dims.crop_profile
    try:
        speakers = _speakers(vd, cfg.general.wait, profile)
        mouths = [clipmod.load_mouth(trackstage.profile_mouth(vd, profile))] if speakers is None \
            else speakers.mouths
    except SkipVideo as e:
        raise _track_error(source, e.reason, e.detail, n) from e
    timings["track"] = time.perf_counter() - t0
    vocab = set(reader.vocab)
    words = state.words
    note = ""
    if words and captions == "auto" and not limits.allow_estimated \
            and all(w.estimated for w in words):
        note = CUE_TIMES_ONLY
    t0 = time.perf_counter()
    if words and captions == "auto" and not note:
        mode = "captions"
        if speakers is None:
            plans = [p if isinstance(p, str) else (0, p) for p in caption_windows(words, track, limits)]
        else:
            plans = [speakers.word(w, limits) for w in words]
        good = [p for p in plans if not isinstance(p, str)]
        probs = _predictions_by_face(reader, mouths, good, spans=True)
        preds = iter(top_k(probs, reader.vocab, k))
        items = []
        for w, p in zip(words, plans, strict=True):
            if isinstance(p, str):
                items.append(ReadItem(w.start, w.end, None, w.text, note=p, scored=w.text in vocab))
            else:
                items.append(ReadItem(w.start, w.end, next(preds), w.text,
                                      (p[1].first, p[1].first + p[1].frames - 1), scored=w.text in vocab))
        skipped = Counter(p for p in plans if isinstance(p, str))
    else:
        mode = "sliding"
        stride = cfg.prediction.stride
        if speakers is None:
            windows = [(c, 0, p) for c, p in sliding_windows(track, opening, limits, stride)]
        else:
            windows = speakers.windows(limits, stride)
        good = [(c, (f, p)) for c, f, p in windows if not isinstance(p, str)]
        skipped = Counter(p for _, _, p in windows if isinstance(p, str))
        if not good and not skipped.get(NO_SPEECH) and not skipped.get(NO_FACE_SPEAKS):
            raise InputError(f"{source}: no stretch of {n} frames shows a usable face "
                             f"({', '.join(sorted(skipped))})")
        probs = _predictions_by_face(reader, mouths, [p for _, p in good])
        items = []
        for first, last, pr, count in merge_runs([c for c, _ in good], probs, stride):
            pred = top_k(pr[None], reader.vocab, k)[0]
            items.append(ReadItem(seconds(first), seconds(last + 1), pred,
                                  frames=(first, last), windows=count))
    timings["model"] = time.perf_counter() - t0
    alignment = None
    if words:
        alignment = align([w.text for w in words], [i.prediction.word for i in items if i.prediction])
    return ReadReport(source, mode, reader.describe(), items, k, seconds=T / FPS,
                      skipped=dict(skipped), alignment=alignment, timings=timings, video=vd.root,
                      note=note)


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
        rec = json.loads(DatasetDir.sidecar(clip).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _sidecar_span(sidecar: dict, frames: int) -> tuple[int, int] | None:
    """The word's first and last frame in a clip from its sidecar, or None (the whole clip)."""
    a, b = sidecar.get("word_start_frame"), sidecar.get("word_end_frame")
    if isinstance(a, int) and isinstance(b, int) and 0 <= a <= b < frames:
        return a, b
    return None


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
                spans = [_sidecar_span(sidecars[c], reader.frames) for c in good]
                probs = softmax(clip_logits(reader, np.stack([loaded[c] for c in good]), spans=spans))
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

def _labels(items: Sequence[ReadItem]) -> list[tuple[float, float, str]]:
    """(start, end, text) to write under the face: the predicted word (and the caption's)."""
    return [(i.start, i.end, i.prediction.word if i.truth is None else f"{i.prediction.word} ({i.truth})")
            for i in items if i.prediction is not None and i.start is not None and i.end is not None]


# ---------------------------------------------------------------- the command

def read_mark(source: str) -> dict:
    """<video>/read.json of a video `read` fetches: build-dataset does not train on it."""
    return {"fetched_by": "lipreader read", "source": source,
            "note": "build-dataset leaves this video out of training; delete this file to train on it"}


def run(cfg: Config, source: str, out: Path | None = None, captions: str = "auto",
        annotate: Path | None = None) -> ReadReport:
    """Read SOURCE (URL, video file or folder of clips); print or write the report."""
    from builder.annotate import annotate_video
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
            annotate_video(vd, _labels(report.items), Path(annotate))
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
