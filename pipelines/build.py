"""`lipreader build-dataset`: fetched videos -> dataset/<word>/<split>/ clips.

The stages live in builder/stages/, one module each; this module runs them in order, holds the
locks, the progress bars and the worker pools, and prints the summary. Each stage is resumable
(its output exists and is complete -> skipped):
  1. words   captions -> <video>/words.json              (every video: the vocabulary is global)
     then the vocabulary, balance and splits -> dataset/plan.json (decided once, before tracking)
  2. track   video -> <video>/track.npz + mouth.npy      (worker processes; this shard's videos)
     sync    sound + mouth opening -> <video>/sync.npz (the sound's offset; builder.sync)
             (with [build] max_faces > 1: track.<k>.npz, mouth.<k>.npy, sync.<k>.npz per face)
  3. plan    words + track -> which clips, or why not     (pure, in the main process)
  4. clips   mouth.npy -> <word>/<split>/<id>_<ms>.mp4 + .json sidecar (worker processes)
  5. report  manifest.jsonl, stats.json, videos.json, a summary table
  6. pack    each split's clips -> .cache/<split>.npy, the uint8 array training memory-maps;
     then, from the packed clips, contact_sheet.png and the web pages: index.html and .pages/
     (a page per word, per video; moving previews)
A video a stage rejects gets <video>/skip.json with the reason, and the batch goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder import dataset as ds
from builder.layout import DatasetDir, video_dirs
from builder.stages import clips as clipstage
from builder.stages import pack as packstage
from builder.stages import plan as planstage
from builder.stages import report as reportstage
from builder.stages import sync as syncstage
from builder.stages import track as trackstage
from builder.stages import words as wordstage
from builder.stages.state import VideoState, record_skip
from lipreader import atomic, lock
from lipreader.config import Config
from lipreader.errors import InputError, SkipVideo
from lipreader.manifest import ClipRecord
from lipreader.progress import Progress
from lipreader.workers import process_pool
from pipelines import settings


@dataclass
class BuildSummary:
    out: Path
    stats: dict
    manifest: Path
    contact_sheet: Path | None
    seconds: dict[str, float]   # wall time of each stage: words, track, sync, plan, clips, report, pack


def _track(states: list[VideoState], cfg: Config, workers: int) -> None:
    """track.npz + mouth.npy for the videos that lack them, in worker processes."""
    track = settings.track(cfg)
    todo = [s for s in states if not s.skip and not trackstage.tracked(s.vd, max_faces=track.max_faces)]
    if not todo:
        return
    with Progress(len(todo), "tracking", "videos") as bar:
        for i, skip in trackstage.run_many([s.vd for s in todo], track, workers):
            if skip is not None:
                todo[i].skip = skip
            bar.update(postfix=todo[i].vd.id)


def _crop(states: list[VideoState], cfg: Config) -> None:
    """The [build] crop profile's mouth crops of the tracked videos (nothing for "default")."""
    if cfg.build.crop == "default":
        return
    todo = [s for s in states if not s.skip and trackstage.tracked(s.vd, remove=False)]
    if not todo:
        return
    with Progress(len(todo), f"{cfg.build.crop} crops", "videos") as bar:
        for s in todo:
            try:
                for face in trackstage.faces(s.vd):
                    trackstage.profile_mouth(face, cfg.build.crop)
            except SkipVideo as e:
                s.skip = record_skip(s.vd, "track", e)
            bar.update(postfix=s.vd.id)


def _sync(states: list[VideoState], workers: int) -> None:
    """sync.npz (the sound's offset and envelope) for the tracked videos that lack it."""
    todo = [s.vd for s in states if not s.skip and trackstage.tracked(s.vd, remove=False)
            and None in syncstage.load_faces(s.vd)]
    if not todo:
        return
    with Progress(len(todo), "sync", "videos") as bar:
        if workers <= 1 or len(todo) <= 1:
            for vd in todo:
                syncstage.offset_of(vd)
                bar.update(postfix=vd.id)
            return
        with process_pool(min(workers, len(todo))) as pool:
            for vd, _ in zip(todo, pool.map(syncstage.offset_of, todo), strict=True):
                bar.update(postfix=vd.id)


def _write_clips(jobs: list[clipstage.Job], workers: int) -> None:
    """Write the clips, in worker processes when there are enough of them to pay for starting
    the workers (clipstage.WORKER_CLIPS each), else in this process: with two cores or more, in
    two threads (x264 lets go of the GIL while it encodes: the 62 clips of a 52.6 s video,
    0.22 -> 0.17 s), every other clip of each video in each."""
    import concurrent.futures as cf

    total = sum(len(j.items) for j in jobs)
    with Progress(total, "writing clips", "clips") as bar:
        if workers <= 1 or len(jobs) <= 1 or total < 2 * clipstage.WORKER_CLIPS:
            threads = 2 if workers > 1 and total > 1 else 1
            pieces = [clipstage.Job(j.mouth, j.items[k::threads]) for j in jobs
                      for k in range(threads) if j.items[k::threads]]
            with cf.ThreadPoolExecutor(threads) as pool:
                for n in pool.map(clipstage.write, pieces):
                    bar.update(n)
            return
        with process_pool(min(workers, len(jobs), total // clipstage.WORKER_CLIPS)) as pool:
            for n in pool.map(clipstage.write, jobs):
                bar.update(n)


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
    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = round(now - clock[0], 3)
        clock[0] = now

    # 1. words, for every video (cheap; the vocabulary is chosen over all of them), and the plan
    states = [wordstage.run(vd) for vd in all_dirs]
    if output == "train":
        wordstage.leave_out_read_videos(states)
    decided, note = planstage.run(dataset, states, settings.plan(cfg, output), replan)
    if note:
        print(note)
    kept = planstage.kept_words(states, decided, b.max_per_word)
    mine = [s for s in states if ds.in_shard(s.vd.id, shard_kn)]
    lap("words")

    # 2. tracking, for this shard's videos
    _track(mine, cfg, workers)
    _crop(mine, cfg)
    lap("track")
    _sync(mine, workers)
    lap("sync")
    release_videos()

    # 3. plan each video's clips
    limits = settings.limits(cfg)
    skipped: Counter[str] = Counter()
    planned: list[planstage.VideoClips] = []
    outcomes: list[reportstage.VideoOutcome] = []
    for s in mine:
        if s.skip:
            skipped[s.skip["reason"]] += 1
            outcomes.append(reportstage.VideoOutcome(s.vd.id, decided.videos.get(s.vd.id),
                                                     skipped=s.skip["reason"], source_url=s.source_url))
            continue
        planned.append(planstage.video_clips(s, decided, kept, limits, dataset))
        v = planned[-1]
        outcomes.append(reportstage.VideoOutcome(s.vd.id, decided.videos.get(s.vd.id), round(v.seconds, 3),
                                                 drops=dict(sorted(v.drops.items())),
                                                 caption_drops=dict(sorted(v.caption_drops.items())),
                                                 source_url=s.source_url, word_drops=v.word_drops))
    records: list[ClipRecord] = [rec for v in planned for rec, _ in v.clips]
    drops: Counter[str] = sum((v.drops for v in planned), Counter())
    caption_drops: Counter[str] = sum((v.caption_drops for v in planned), Counter())
    lap("plan")

    # 4. clips
    out.mkdir(parents=True, exist_ok=True)
    clipstage.clean_stale(dataset, {out / r.path for r in records}, {s.vd.id for s in mine})
    _write_clips(clipstage.jobs(dataset, planned, cfg.build.crop), workers)
    lap("clips")

    # 5. report (the contact sheet waits for the packed clips)
    rep = reportstage.run(dataset, records, drops, skipped, len(mine),
                          sum(v.seconds for v in planned), decided.vocabulary, caption_drops,
                          other_face=sum(v.other_face for v in planned), outcomes=outcomes,
                          sheet=False)
    st = rep.stats
    lap("report")

    # 6. pack the clips for training, then the contact sheet and the web pages (from the packed
    # clips: nothing is decoded again)
    for split in sorted({r.split for r in records}):
        packstage.run(out, split)
    lap("pack")
    sheet = reportstage.contact_sheet(dataset, records)
    pages = reportstage.write_pages(dataset, videos_root)
    lap("pages")
    print(ds.summary_table(st))
    print(f"{st['clips']} clips from {len(mine) - sum(skipped.values())} of {len(mine)} videos "
          f"({st['hours'] * 60:.1f} min) in {out}")
    print(f"manifest: {rep.manifest}\nstats: {rep.stats_file}\npages: {pages.index}")
    if sheet:
        print(f"contact sheet: {sheet}")
    return BuildSummary(out, st, rep.manifest, sheet, seconds)
