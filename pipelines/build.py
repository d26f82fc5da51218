"""`lipreader build-dataset`: fetched videos -> dataset/<word>/<split>/ clips.

Stages, each resumable (its output exists and is complete -> skipped):
  1. words   captions -> <video>/words.json              (every video: the vocabulary is global)
     then the vocabulary, balance and splits -> dataset/plan.json (decided once, before tracking)
  2. track   video -> <video>/track.npz + mouth.npy      (worker processes; this shard's videos)
  3. plan    words + track -> which clips, or why not     (pure, in the main process)
  4. clips   mouth.npy -> <word>/<split>/<id>_<ms>.mp4 + .json sidecar (worker processes)
  5. report  manifest.jsonl, stats.json, contact_sheet.png, a summary table
A video a stage rejects gets <video>/skip.json with the reason, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from builder import clips as clipmod
from builder import dataset as ds
from builder.stages import plan as planmod
from builder.captions import Word, read_words, words_from_json, words_to_json
from builder.layout import DatasetDir, VideoDir, video_dirs
from builder.mouth import ROI
from lipreader import atomic, lock
from lipreader.config import Config
from lipreader.errors import InputError, SkipVideo
from lipreader.manifest import ClipRecord, manifest_text
from lipreader.progress import Progress
from lipreader.workers import process_pool


@dataclass
class VideoState:
    vd: VideoDir
    words: list[Word] = field(default_factory=list)
    skip: dict | None = None
    source_url: str = ""
    dropped: list[tuple[str, str]] = field(default_factory=list)  # caption text, reason


@dataclass
class BuildSummary:
    out: Path
    stats: dict
    manifest: Path
    contact_sheet: Path | None


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _read_record(path: Path) -> dict | None:
    """A JSON object file, or None when it is unreadable or not an object (damaged by hand,
    cut short by a full disk)."""
    try:
        rec = _read_json(path)
    except (OSError, ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


def record_skip(vd: VideoDir, stage: str, e: SkipVideo) -> dict:
    """Write <video>/skip.json: later runs (build and read) skip the video for this reason."""
    rec = {"stage": stage, "reason": e.reason, "detail": e.detail}
    atomic.write_json(vd.skip, rec)
    return rec


def words_stage(vd: VideoDir) -> VideoState:
    """words.json for one video (from its best caption file), or the recorded skip."""
    state = VideoState(vd)
    info = _read_record(vd.info) if vd.info.is_file() else None
    if info is not None:
        state.source_url = str(info.get("webpage_url") or info.get("source_url") or "")
    if vd.skip.is_file():
        skip = _read_record(vd.skip)
        if skip is not None and isinstance(skip.get("reason"), str):
            state.skip = skip
        else:
            vd.skip.unlink()  # damaged: the stages decide again
    if vd.words.is_file():
        try:
            saved = _read_json(vd.words)
            state.words = words_from_json(saved["words"])
            state.dropped = [tuple(d) for d in saved.get("dropped", [])]
            return state
        except (SkipVideo, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            vd.words.unlink()  # damaged by hand: derive it again from the captions
    if state.skip:
        return state
    try:
        captions = vd.captions()
        if not captions:
            raise SkipVideo("no captions", str(vd.root))
        parsed = read_words(captions[0])
    except SkipVideo as e:
        state.skip = record_skip(vd, "words", e)
        return state
    atomic.write_json(vd.words, {"captions": captions[0].name, "words": words_to_json(parsed.words),
                                 "dropped": [list(d) for d in parsed.dropped]})
    state.words, state.dropped = parsed.words, list(parsed.dropped)
    return state


# Skips that the captions (or `read`'s mark) decide, known to every run before tracking.
BEFORE_PLAN = ("words", "read")
READ_VIDEO = "fetched by read for evaluation"


def leave_out_read_videos(states: list[VideoState]) -> None:
    """A video `read` fetched is not trained on: it is skipped with a counted reason for as
    long as its mark (<video>/read.json) is there."""
    for s in states:
        if s.vd.read_mark.is_file():
            s.skip = {"stage": "read", "reason": READ_VIDEO, "detail": str(s.vd.read_mark)}


def plan_stage(cfg: Config, output: str, states: list[VideoState], dataset: DatasetDir,
               replan: bool = False) -> tuple[planmod.Plan, str]:
    """The dataset's plan: the recorded one when its settings are these (videos it does not
    know yet join it), else decided from the captions of every video not skipped before
    tracking. Returns the plan and a line that says what changed ("" when nothing did)."""
    b = cfg.build
    fractions = ds.check_splits(b.splits)
    vocab_file = ds.read_vocabulary(Path(b.vocab)) if b.vocab else None
    target = "train" if output == "train" else cfg.prediction.folder
    settings = planmod.deciding_settings(b, target, vocab_file)

    def split_for(vid: str) -> str:
        return ds.split_of(vid, fractions) if output == "train" else target

    ids = [s.vd.id for s in states if not (s.skip and s.skip.get("stage") in BEFORE_PLAN)]
    old, problem = planmod.load(dataset.plan)
    why = "--replan" if replan else problem
    if not why and old is not None and old.settings != settings:
        why = ", ".join(planmod.changes(old.settings, settings)) + " since the plan was made"
    if old is not None and not why:
        plan, new = planmod.with_videos(old, ids, split_for)
        shown = ", ".join(new[:5]) + (", ..." if len(new) > 5 else "")
        note = (f"plan: {len(new)} new video{'s' if len(new) != 1 else ''} ({shown}) get their split "
                f"by the hash of their id; the vocabulary stays (--replan decides it again)") if new else ""
    else:
        considered = set(ids)
        vocabulary = vocab_file or ds.choose_vocabulary(
            (s.words for s in states if s.vd.id in considered), b.words, b.min_count, b.min_length,
            b.stopwords, b.allow_estimated)
        if not vocabulary:
            raise InputError(f"no word occurs often enough in the captions under "
                             f"{cfg.general.videos} (--min-count {b.min_count})")
        plan = planmod.decide(settings, vocabulary, ids, split_for)
        note = f"plan: {why}: the vocabulary, balance and splits are decided again" if why else ""
    if plan != old:
        planmod.save(dataset.plan, plan)
    return plan, note


def track_stage(states: list[VideoState], workers: int, mesh_every: int = 1) -> None:
    """track.npz + mouth.npy for the videos that lack them, in worker processes."""
    from builder import tracking

    todo = [s for s in states if not s.skip and not tracked(s.vd)]
    if not todo:
        return
    for s in todo:
        atomic.remove_stale_temps(s.vd.root)
    with Progress(len(todo), "tracking", "videos") as bar:
        for i, result in tracking.process_videos([(s.vd.video, s.vd.root) for s in todo], workers,
                                                     mesh_every=mesh_every):
            if isinstance(result, SkipVideo):
                todo[i].skip = record_skip(todo[i].vd, "track", result)
            bar.update(postfix=todo[i].vd.id)


def tracked(vd: VideoDir, remove: bool = True) -> bool:
    """Whether the video's track.npz and mouth.npy are there and whole. Damaged ones are
    removed (unless `remove` is False), so that the video is tracked again."""
    if not vd.track.is_file():
        return False
    try:
        frames = load_track_view(vd).frames
        mouth = clipmod.load_mouth(vd.mouth)
        whole = mouth.dtype == np.uint8 and mouth.shape == (frames, ROI, ROI)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        whole = False
    if not whole and remove:
        vd.track.unlink(missing_ok=True)
        vd.mouth.unlink(missing_ok=True)
    return whole


def load_track_view(vd: VideoDir) -> clipmod.TrackView:
    with np.load(vd.track) as z:
        segment = z["segment"]
        return clipmod.TrackView(usable=segment >= 0, face_width=z["face_width"], yaw=z["yaw"],
                                 segment=segment)


def _write_clip_job(job: tuple[str, list[tuple[str, str, tuple[int, ...]]]]) -> int:
    """Worker: cut and encode one video's clips. job: (mouth.npy, [(clip path, sidecar json, index)])."""
    from builder import media

    mouth_path, items = job
    mouth = clipmod.load_mouth(Path(mouth_path))
    for clip, sidecar_text, index in items:
        clip = Path(clip)
        clip.parent.mkdir(parents=True, exist_ok=True)
        media.write_video(clip, list(np.asarray(mouth[list(index)])), lossless=True)
        atomic.write_text(DatasetDir.sidecar(clip), sidecar_text)
    return len(items)


def _run_jobs(jobs: list, workers: int, total: int) -> None:
    with Progress(total, "writing clips", "clips") as bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                bar.update(_write_clip_job(job))
            return
        with process_pool(min(workers, len(jobs))) as pool:
            for n in pool.map(_write_clip_job, jobs):
                bar.update(n)


def _inside(root: Path, path: Path) -> bool:
    return root.resolve() in path.resolve().parents


def _clean_stale(out: Path, keep: set[Path], video_ids: set[str]) -> int:
    """Remove clips of this build's videos that the plan no longer has, and temp leftovers."""
    removed = 0
    for word_dir in [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]:
        for split_dir in [p for p in word_dir.iterdir() if p.is_dir()]:
            removed += atomic.remove_stale_temps(split_dir)
            for f in split_dir.iterdir():
                if f.suffix in (".mp4", ".json") and f.stem.rsplit("_", 1)[0] in video_ids \
                        and f.with_suffix(".mp4") not in keep:
                    f.unlink()
                    removed += 1
            if not any(split_dir.iterdir()):
                split_dir.rmdir()
        if not any(word_dir.iterdir()):
            word_dir.rmdir()
    return removed


def _splits_in(out: Path) -> set[str]:
    """The split folders (<word>/<split>/) that hold clips in `out`."""
    if not out.is_dir():
        return set()
    return {s.name for w in out.iterdir() if w.is_dir() and not w.name.startswith(".")
            for s in w.iterdir() if s.is_dir() and any(s.glob("*.mp4"))}


def check_output_folder(out: Path, output: str, predict_split: str) -> None:
    """Refuse a folder holding clips this kind of build does not make: a build removes the
    clips of its videos that its plan lacks, so it would delete them."""
    ours = {predict_split} if output == "predict" else set(ds.SPLITS)
    other = sorted(_splits_in(out) - ours)
    if not other:
        return
    held = ", ".join(f"<word>/{s}/" for s in other)
    if output == "predict":
        raise InputError(f"{out} holds other clips ({held}): `--output predict` writes a folder of "
                         "its own ([prediction] dataset); give --out a new or empty folder")
    raise InputError(f"{out} holds other clips ({held}): give --out a new or empty folder, or the "
                     "training dataset it was built as")


def run(cfg: Config, output: str = "train", shard: str | None = None,
        replan: bool = False) -> BuildSummary:
    """Build [general] dataset (with output "predict": [prediction] dataset) from [general] videos.

    The dataset folder is locked for the whole build, the videos folder until tracking is done.
    """
    out = Path(cfg.prediction.dataset if output == "predict" else cfg.general.dataset)
    videos_root = Path(cfg.general.videos)
    check_output_folder(out, output, cfg.prediction.folder)
    atomic.check_writable(out, "dataset", "--out or [general] dataset")
    atomic.check_writable(videos_root, "videos folder (tracking writes there)", "--videos or [general] videos")
    with lock.hold(out, wait=cfg.general.wait), contextlib.ExitStack() as videos_lock:
        if videos_root.is_dir():
            videos_lock.enter_context(lock.hold(videos_root, wait=cfg.general.wait))
        return _run(cfg, out, output, shard, replan, videos_lock.close)


def _run(cfg: Config, out: Path, output: str, shard: str | None, replan: bool,
         release_videos: Callable[[], None]) -> BuildSummary:
    b = cfg.build
    videos_root = Path(cfg.general.videos)
    shard_kn = ds.parse_shard(shard)
    ds.check_splits(b.splits)
    all_dirs = video_dirs(videos_root)
    if not all_dirs:
        raise InputError(f"no fetched videos in {videos_root}: run `lipreader fetch URL` first")
    workers = b.workers or os.cpu_count() or 1

    dataset = DatasetDir(out)

    # 1. words, for every video (cheap; the vocabulary is chosen over all of them), and the plan
    states = [words_stage(vd) for vd in all_dirs]
    if output == "train":
        leave_out_read_videos(states)
    decided, note = plan_stage(cfg, output, states, dataset, replan)
    if note:
        print(note)
    vocabulary = decided.vocabulary
    vocab_set = set(vocabulary)
    mine = [s for s in states if ds.in_shard(s.vd.id, shard_kn)]

    def split_for(vid: str) -> str:
        return decided.videos[vid]

    # Class balance is decided from the captions of the plan's videos, skipped later or not, so
    # re-runs and shards agree without seeing each other.
    candidates = [(w.text, split_for(s.vd.id), s.vd.id, int(round(w.start * 1000)))
                  for s in states if s.vd.id in decided.videos for w in s.words if w.text in vocab_set]
    kept = ds.balance(candidates, b.max_per_word)

    # 2. tracking, for this shard's videos
    track_stage(mine, workers, b.mesh_every)
    release_videos()

    # 3. plan
    limits = clipmod.Limits.from_config(b)
    drops: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    records: list[ClipRecord] = []
    jobs: list[tuple[str, list]] = []
    seconds = 0.0
    for s in mine:
        if s.skip:
            skipped[s.skip["reason"]] += 1
            continue
        drops.update(reason for _, reason in s.dropped)
        track = load_track_view(s.vd)
        seconds += track.frames / 25.0
        split = split_for(s.vd.id)
        todo = []
        for w in s.words:
            if w.text not in vocab_set:
                continue
            if (s.vd.id, int(round(w.start * 1000))) not in kept:
                drops["over --max-per-word"] += 1
                continue
            plan = clipmod.plan_clip(w, track, limits)
            if isinstance(plan, str):
                drops[plan] += 1
                continue
            clip = dataset.clip(plan.word, split, s.vd.id, plan.start_ms)
            if not _inside(out, clip):
                raise InputError(f"refusing to write outside {out}: {clip}")
            rec = ClipRecord(path=clip.relative_to(out).as_posix(), video_id=s.vd.id,
                             source_url=s.source_url, split=split, **plan.sidecar())
            records.append(rec)
            sidecar_text = json.dumps(rec.sidecar(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            sidecar = DatasetDir.sidecar(clip)
            if clip.is_file() and sidecar.is_file() and sidecar.read_text(encoding="utf-8") == sidecar_text:
                continue
            todo.append((str(clip), sidecar_text, plan.index))
        if todo:
            jobs.append((str(s.vd.mouth), todo))

    # 4. clips
    out.mkdir(parents=True, exist_ok=True)
    _clean_stale(out, {out / r.path for r in records}, {s.vd.id for s in mine})
    _run_jobs(jobs, workers, sum(len(j[1]) for j in jobs))

    # 5. report
    atomic.write_text(dataset.manifest, manifest_text(records))
    st = ds.stats(records, drops, skipped, len(mine), seconds, vocabulary)
    atomic.write_json(dataset.stats, st)
    sheet = _contact_sheet(out, records, dataset)
    print(ds.summary_table(st))
    print(f"{st['clips']} clips from {len(mine) - sum(skipped.values())} of {len(mine)} videos "
          f"({st['hours'] * 60:.1f} min) in {out}")
    print(f"manifest: {dataset.manifest}\nstats: {dataset.stats}")
    if sheet:
        print(f"contact sheet: {sheet}")
    return BuildSummary(out, st, dataset.manifest, sheet)


def _contact_sheet(out: Path, records: list[ClipRecord], dataset: DatasetDir, per_word: int = 3) -> Path | None:
    from builder import media

    chosen: dict[str, list[np.ndarray]] = {}
    for r in sorted(records, key=lambda r: r.path):
        if len(chosen.setdefault(r.word, [])) < per_word:
            chosen[r.word].append(media.read_video(out / r.path))
    if not records:
        return None
    return ds.contact_sheet(chosen, dataset.contact_sheet)

