"""Stage 3, plan: the dataset's plan (vocabulary, the settings that decided it, each video's split),
then for each video which clips it gives, or why not.

The first `build-dataset` run decides the plan from the captions, before any video is tracked,
and records it in the dataset folder (plan.json). Re-runs, resumed runs and shards building
into the same folder reuse it, so a video that tracking skips later changes neither the
vocabulary nor the class balance: killed-and-resumed equals uninterrupted. A video that
appears later (a new fetch) joins with its split from the hash of its id; a changed deciding
setting, or `--replan`, decides the plan again.

Per video (`video_clips`), the plan is pure: words + track -> ClipRecords with the frames to cut,
and the reason each other vocabulary word gives no clip.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from builder import clips as clipmod
from builder import dataset as ds
from builder import sync as syncmod
from builder import voiced
from builder.captions import Word
from builder.layout import DatasetDir
from builder.stages import sync as syncstage
from builder.stages.state import VideoState, read_record
from builder.stages.track import faces as faces_of
from builder.stages.track import load_opening, load_view
from builder.stages.words import BEFORE_PLAN
from lipreader import atomic
from lipreader.constants import FPS
from lipreader.errors import InputError
from lipreader.manifest import ClipRecord

VERSION = 1
SYNC_UNKNOWN = "sync unknown (no sound)"


@dataclass(frozen=True)
class Plan:
    settings: dict[str, Any]     # the build settings that decide the dataset (deciding_settings)
    vocabulary: list[str]
    videos: dict[str, str]       # every video the vocabulary and balance count -> its split

    def as_json(self) -> dict[str, Any]:
        return {"version": VERSION, "settings": self.settings, "vocabulary": self.vocabulary,
                "videos": dict(sorted(self.videos.items()))}


@dataclass(frozen=True)
class PlanSettings:
    """What decides a dataset ([build] options; pipelines fill it from the config)."""

    words: int = 500
    vocab: str = ""                  # a word list file, or "" to choose from the captions
    min_count: int = 1
    min_length: int = 1
    stopwords: bool = False
    allow_estimated: bool = False
    max_per_word: int = 0
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    frames: int = 29
    padding: int = 3
    output: str = "train"            # "train", or the folder name all clips go to (`--output predict`)
    split_by: str = "video"          # video, channel or uploader: what one split holds whole


def deciding_settings(b: PlanSettings, vocab_file_words: list[str] | None) -> dict[str, Any]:
    """The settings a plan is valid for: those that choose the words, clips and splits."""
    return {"words": b.words, "vocab": vocab_file_words, "min_count": b.min_count,
            "min_length": b.min_length, "stopwords": b.stopwords,
            "allow_estimated": b.allow_estimated, "max_per_word": b.max_per_word,
            "splits": list(b.splits), "frames": b.frames, "padding": b.padding, "output": b.output,
            **({"split_by": b.split_by} if b.split_by != "video" else {})}  # older plans stay valid


def decide(settings: dict[str, Any], vocabulary: list[str], video_ids: Iterable[str],
           split_of: Callable[[str], str]) -> Plan:
    return Plan(dict(settings), sorted(vocabulary), {v: split_of(v) for v in sorted(video_ids)})


def with_videos(plan: Plan, video_ids: Iterable[str], split_of: Callable[[str], str]
                ) -> tuple[Plan, list[str]]:
    """The plan with the videos it does not know yet added (split by `split_of`), and those ids."""
    new = sorted(set(video_ids) - set(plan.videos))
    if not new:
        return plan, []
    return Plan(plan.settings, plan.vocabulary, {**plan.videos, **{v: split_of(v) for v in new}}), new


def _show(key: str, value: Any) -> str:
    if key == "vocab":
        return "none" if value is None else f"a list of {len(value)} word{'s' * (len(value) != 1)}"
    if isinstance(value, list):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _change(key: str, old: Any, new: Any) -> str:
    if key == "vocab" and old is not None and new is not None:
        return "the --vocab word list changed"
    return f"{key} {_show(key, old)} -> {_show(key, new)}"


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key old -> new' for each deciding setting that differs."""
    return [_change(k, old.get(k), new[k]) for k in new if old.get(k) != new[k]]


def load(path: Path) -> tuple[Plan | None, str]:
    """The recorded plan, or None and why it cannot be used ("" when there is none)."""
    path = Path(path)
    if not path.is_file():
        return None, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None, f"{path.name} has version {data.get('version')!r}, not {VERSION}"
        settings, vocab, videos = data["settings"], data["vocabulary"], data["videos"]
        if not (isinstance(settings, dict) and isinstance(vocab, list) and isinstance(videos, dict)
                and all(isinstance(w, str) for w in vocab)
                and all(isinstance(s, str) for s in videos.values())):
            raise TypeError("wrong types")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, f"{path.name} is unreadable ({type(e).__name__})"
    return Plan(settings, vocab, videos), ""


def save(path: Path, plan: Plan) -> None:
    atomic.write_json(path, plan.as_json())


def run(dataset: DatasetDir, states: list[VideoState], settings: PlanSettings,
        replan: bool = False) -> tuple[Plan, str]:
    """The dataset's plan: the recorded one when its settings are these (videos it does not
    know yet join it), else decided from the captions of every video not skipped before
    tracking. Returns the plan and a line that says what changed ("" when nothing did)."""
    b = settings
    fractions = ds.check_splits(b.splits)
    vocab_file = ds.read_vocabulary(Path(b.vocab)) if b.vocab else None
    deciding = deciding_settings(b, vocab_file)

    infos = {s.vd.id: read_record(s.vd.info) for s in states} if b.split_by != "video" else {}

    def split_for(vid: str) -> str:
        return ds.split_of(ds.split_key(vid, infos.get(vid), b.split_by), fractions) \
            if b.output == "train" else b.output

    ids = [s.vd.id for s in states if not (s.skip and s.skip.get("stage") in BEFORE_PLAN)]
    old, problem = load(dataset.plan)
    why = "--replan" if replan else problem
    if not why and old is not None and old.settings != deciding:
        why = ", ".join(changes(old.settings, deciding)) + " since the plan was made"
    if old is not None and not why:
        plan, new = with_videos(old, ids, split_for)
        shown = ", ".join(new[:5]) + (", ..." if len(new) > 5 else "")
        note = (f"plan: {len(new)} new video{'s' if len(new) != 1 else ''} ({shown}) get their split "
                f"by the hash of their id; the vocabulary stays (--replan decides it again)") if new else ""
    else:
        considered = set(ids)
        vocabulary = vocab_file or ds.choose_vocabulary(
            (s.words for s in states if s.vd.id in considered), b.words, b.min_count, b.min_length,
            b.stopwords, b.allow_estimated)
        if not vocabulary:
            where = f" under {states[0].vd.root.parent}" if states else ""
            raise InputError(f"no word occurs often enough in the captions{where} "
                             f"(--min-count {b.min_count})")
        plan = decide(deciding, vocabulary, ids, split_for)
        note = f"plan: {why}: the vocabulary, balance and splits are decided again" if why else ""
    if plan != old:
        save(dataset.plan, plan)
    return plan, note


def kept_words(states: list[VideoState], plan: Plan, max_per_word: int) -> set[tuple[str, int]]:
    """(video id, start ms) of the vocabulary words that --max-per-word keeps.

    Class balance is decided from the captions of the plan's videos, skipped later or not, so
    re-runs and shards agree without seeing each other."""
    vocab = set(plan.vocabulary)
    candidates = [(w.text, plan.videos[s.vd.id], s.vd.id, int(round(w.start * 1000)))
                  for s in states if s.vd.id in plan.videos for w in s.words if w.text in vocab]
    return ds.balance(candidates, max_per_word)


@dataclass
class VideoClips:
    """One video's planned clips: (record, source frame of each clip frame), and the drops.
    `mouths`: each face track's mouth.npy (a record's `face`, None for 0, indexes it).
    `word_drops`: each vocabulary word without a clip as (word, caption start ms, reason);
    `drops` counts their reasons."""

    mouths: tuple[Path, ...]
    clips: list[tuple[ClipRecord, tuple[int, ...]]] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    caption_drops: Counter = field(default_factory=Counter)   # caption tokens that are no word
    other_face: int = 0      # words the main face did not say, taken from another face that did
    word_drops: list[tuple[str, int, str]] = field(default_factory=list)

    def drop(self, word: str, start_ms: int, reason: str) -> None:
        self.drops[reason] += 1
        self.word_drops.append((word, start_ms, reason))


@dataclass(frozen=True)
class FaceTrack:
    """What planning needs of one face track: its view, and its opening (None: sound unknown)."""

    view: clipmod.TrackView
    opening: np.ndarray | None


@dataclass(frozen=True)
class Spoken:
    """The face track a word's clip comes from, its plan and its sync there."""

    face: int
    plan: clipmod.ClipPlan
    judged: syncmod.Judgement | None
    main_silent: bool        # the main face (0) had a clip for the word but did not say it


def speaking_face(word: Word, faces: list[FaceTrack], energy: np.ndarray | None, offset: int,
                  limits: clipmod.Limits) -> Spoken | str:
    """The face track that says `word` (times already on the mouth's clock), or why none does.

    Each face's clip is planned as for one face; with the sound known, the faces whose mouth
    follows it over the word (`sync.verdict`) are kept and the best correlated one wins. Without
    sound only the main face is planned. None: the main face's plan problem when no face has a
    clip, else "out of sync" when some face follows the sound at another lag, else "not speaking".
    """
    verdicts: list[str] = []
    first_problem = ""
    best: Spoken | None = None
    main_silent = False
    for k, f in enumerate(faces if energy is not None else faces[:1]):
        plan = clipmod.plan_clip(word, f.view, limits)
        if isinstance(plan, str):
            first_problem = first_problem or plan
            continue
        if energy is None or f.opening is None:
            return Spoken(k, plan, None, False)
        centre = (plan.first + plan.word_start_frame + plan.first + plan.word_end_frame + 1) / 2
        judged = syncmod.clip_judgement(f.opening, energy, centre, offset)
        why = syncmod.verdict(judged, offset, limits.min_sync, limits.max_sync_drift,
                              limits.min_sync_confidence)
        if why is not None:
            verdicts.append(why)
            main_silent = main_silent or k == 0
            continue
        score = -2.0 if judged is None else judged.score
        if best is None or score > (-2.0 if best.judged is None else best.judged.score):
            best = Spoken(k, plan, judged, False)
    if best is not None:
        return replace(best, main_silent=main_silent)
    if not verdicts:
        return first_problem
    return syncmod.OUT_OF_SYNC if syncmod.OUT_OF_SYNC in verdicts else syncmod.NOT_SPEAKING


def video_clips(state: VideoState, plan: Plan, kept: set[tuple[str, int]],
                limits: clipmod.Limits, dataset: DatasetDir) -> VideoClips:
    """The clips a tracked video gives (in the plan's split for it), and why its other
    vocabulary words give none. With several face tracks, each word's clip comes from the face
    that says it (`speaking_face`), and records name that face."""
    vd, out = state.vd, dataset.root
    face_dirs = faces_of(vd)
    views = [load_view(f) for f in face_dirs]
    split = plan.videos[vd.id]
    vocab = set(plan.vocabulary)
    result = VideoClips(tuple(f.mouth for f in face_dirs), seconds=views[0].frames / FPS)
    result.caption_drops.update(reason for _, reason in state.dropped)
    syncs = [syncstage.load(f, v.frames) for f, v in zip(face_dirs, views, strict=True)]
    synced = syncs[0]
    known = synced is not None and synced.known
    offset = syncstage.video_offset(syncs) if known else 0
    tracks = [FaceTrack(v, load_opening(f) if known else None)
              for f, v in zip(face_dirs, views, strict=True)]
    several = len(face_dirs) > 1
    # Captions and sound share a clock: the sound ends the words, before the offset moves them.
    for w in voiced.voiced_ends(state.words, synced.energy) if known else state.words:
        if w.text not in vocab:
            continue
        start_ms = int(round(w.start * 1000))
        if (vd.id, start_ms) not in kept:
            result.drop(w.text, start_ms, "over --max-per-word")
            continue
        if not known and not limits.keep_sync_unknown:
            result.drop(w.text, start_ms, SYNC_UNKNOWN)
            continue
        # Captions are timed on the sound: the mouth says the word `offset` frames earlier.
        w = replace(w, start=w.start - offset / FPS, end=w.end - offset / FPS)
        spoken = speaking_face(w, tracks, synced.energy if known else None, offset, limits)
        if isinstance(spoken, str):
            result.drop(w.text, start_ms, spoken)
            continue
        clip_plan, judged = spoken.plan, spoken.judged
        sync_fields: dict[str, Any] = {"sync": "unknown"}
        if known:
            sync_fields = {"sync": "measured", "av_offset": offset,
                           "sync_score": None if judged is None else round(judged.score, 3)}
        if several:
            sync_fields["face"] = spoken.face
            result.other_face += spoken.main_silent
        clip = dataset.clip(clip_plan.word, split, vd.id, clip_plan.start_ms)
        if out.resolve() not in clip.resolve().parents:
            raise InputError(f"refusing to write outside {out}: {clip}")
        rec = ClipRecord(path=clip.relative_to(out).as_posix(), video_id=vd.id,
                         source_url=state.source_url, split=split, **clip_plan.sidecar(), **sync_fields)
        result.clips.append((rec, clip_plan.index))
    return result
