"""Stage 5, report: dataset/manifest.jsonl, stats.json, videos.json and contact_sheet.png from
the clip records; after packing, the web pages (index.html and .pages/, lipreader.pages) with a
moving preview of each clip they show.

The pages are made again from those files and the video folders alone (`lipreader report`).
A preview is the clip's frames one above the other in one JPEG, which the page's stylesheet
steps through (a CSS animation of the image's object-position: it plays from disk in any browser, without JavaScript, and costs
a few milliseconds a clip to make where an animated WebP or GIF costs tens). Previews are made
from the packed clips when the cache is there; one that exists is never made again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from builder import dataset as ds
from builder.layout import DatasetDir, VideoDir
from lipreader import atomic
from lipreader import pages as pg
from lipreader.constants import FPS
from lipreader.manifest import ClipRecord, manifest_text, parse_manifest

PREVIEWS_PER_WORD = 48     # clips shown (with a moving preview) on a word's page
PREVIEW_QUALITY = 80       # JPEG quality: a 29-frame clip is about 40 kB


@dataclass(frozen=True)
class VideoOutcome:
    """What a build made of one video: the facts of its page that no file of its folder holds."""

    id: str
    split: str | None = None
    seconds: float = 0.0
    skipped: str | None = None          # the reason the video was skipped
    drops: dict[str, int] = field(default_factory=dict)          # vocabulary words without a clip
    caption_drops: dict[str, int] = field(default_factory=dict)
    source_url: str = ""
    word_drops: list[tuple[str, int, str]] = field(default_factory=list)  # (word, caption start ms, reason)


@dataclass(frozen=True)
class Report:
    stats: dict
    manifest: Path
    stats_file: Path
    contact_sheet: Path | None


def run(dataset: DatasetDir, records: list[ClipRecord], drops: Counter, skipped: Counter,
        videos: int, seconds: float, vocabulary: list[str],
        caption_drops: Counter | None = None, other_face: int = 0,
        outcomes: Iterable[VideoOutcome] = (), sheet: bool = True) -> Report:
    """Write the manifest, stats.json, videos.json and (with `sheet`) the contact sheet of
    `records`. With several face tracks, stats.json's `faces` gives the clips per face track
    and `other_face_spoke`, the words the main face did not say, taken from another face that
    did. A build makes the contact sheet after packing (`contact_sheet`): from the packed
    clips, without decoding them again."""
    atomic.write_text(dataset.manifest, manifest_text(records))
    st = ds.stats(records, drops, skipped, videos, seconds, vocabulary, caption_drops)
    if any(r.face is not None for r in records):
        per_face = Counter(str(r.face or 0) for r in records)
        st["faces"] = {"clips_per_face": dict(sorted(per_face.items())), "other_face_spoke": other_face}
    atomic.write_json(dataset.stats, st)
    atomic.write_json(dataset.videos, {o.id: {k: v for k, v in asdict(o).items() if k != "id"}
                                       for o in sorted(outcomes, key=lambda o: o.id)})
    return Report(st, dataset.manifest, dataset.stats,
                  contact_sheet(dataset, records) if sheet else None)


def contact_sheet(dataset: DatasetDir, records: list[ClipRecord], per_word: int = 3) -> Path | None:
    """A few clips of each word in one PNG (None when there are no clips); a clip cut from a
    face track other than the main one says which ("face 1") on its first frame."""
    picked: dict[str, list[ClipRecord]] = {}
    for r in sorted(records, key=lambda r: r.path):
        if len(picked.setdefault(r.word, [])) < per_word:
            picked[r.word].append(r)
    if not records:
        return None
    chosen: dict[str, list[np.ndarray]] = {word: [] for word in picked}
    for r, frames in clip_frames(dataset, [r for rs in picked.values() for r in rs]):
        chosen[r.word].append(_face_mark(frames, r.face) if r.face else frames)
    return ds.contact_sheet(chosen, dataset.contact_sheet)


def clip_frames(dataset: DatasetDir, records: Iterable[ClipRecord]) -> Iterator[tuple[ClipRecord, np.ndarray]]:
    """Each record with its (T, 96, 96) frames, in order: from its split's packed cache when
    that holds the clip (nothing decoded), else decoded from the clip's file."""
    from lipreader import data

    caches: dict[str, Any] = {}
    for r in records:
        if r.split not in caches:
            got = data.open_cache(dataset.root, r.split)
            caches[r.split] = (got, {p: i for i, p in enumerate(got.paths)}) \
                if isinstance(got, data.ClipCache) else None
        hit = caches[r.split]
        if hit is not None and r.path in hit[1]:
            yield r, np.asarray(hit[0].clips[hit[1][r.path]])
        else:
            from builder import media
            yield r, media.read_clip(dataset.root / r.path)


def _face_mark(frames: np.ndarray, face: int) -> np.ndarray:
    """The frames with "face <k>" written on the first one."""
    import cv2

    out = np.array(frames)
    first = np.ascontiguousarray(out[0])
    cv2.putText(first, f"face {face}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 255, 1, cv2.LINE_AA)
    out[0] = first
    return out


# ---------------------------------------------------------------- the web pages

@dataclass(frozen=True)
class Pages:
    index: Path
    words: int
    videos: int
    previews_made: int


def read_outputs(dataset: DatasetDir) -> tuple[dict, list[ClipRecord], dict[str, VideoOutcome]]:
    """stats.json, the manifest and videos.json as the report stage wrote them."""
    from lipreader.errors import InputError

    if not dataset.stats.is_file() or not dataset.manifest.is_file():
        raise InputError(f"{dataset.root} has no {dataset.stats.name} and {dataset.manifest.name}: "
                         "not a dataset `lipreader build-dataset` made")
    try:
        st = json.loads(dataset.stats.read_text(encoding="utf-8"))
        st["clips_per_word"], st["vocabulary"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{dataset.stats}: unreadable ({type(e).__name__})") from e
    records = parse_manifest(dataset.manifest.read_text(encoding="utf-8"), str(dataset.manifest))
    outcomes: dict[str, VideoOutcome] = {}
    if dataset.videos.is_file():
        try:
            raw = json.loads(dataset.videos.read_text(encoding="utf-8"))
            outcomes = {k: VideoOutcome(k, **v) for k, v in raw.items()}
            outcomes = {k: replace(o, word_drops=[(str(w), int(ms), str(why)) for w, ms, why in o.word_drops])
                        for k, o in outcomes.items()}
        except (ValueError, TypeError, AttributeError) as e:
            raise InputError(f"{dataset.videos}: unreadable ({type(e).__name__})") from e
    return st, records, outcomes


def shown_clips(records: list[ClipRecord], per_word: int = PREVIEWS_PER_WORD) -> dict[str, list[ClipRecord]]:
    """Per word, the clips its page shows: at most `per_word`, taken in turn from each split."""
    by: dict[str, dict[str, list[ClipRecord]]] = {}
    for r in sorted(records, key=lambda r: r.path):
        by.setdefault(r.word, {}).setdefault(r.split, []).append(r)
    out = {}
    for word, splits in by.items():
        order = [splits[s] for s in sorted(splits, key=lambda s: (ds.SPLITS + (s,)).index(s))]
        chosen: list[ClipRecord] = []
        for k in range(max(len(x) for x in order)):
            chosen += [x[k] for x in order if k < len(x)]
        out[word] = chosen[:per_word]
    return out


def write_previews(dataset: DatasetDir, clips: Iterable[ClipRecord]) -> int:
    """A preview beside the pages for each clip that lacks one (or has an older one);
    frames come from the packed cache when it holds the clip. Returns how many were made."""
    todo = [r for r in clips if not _fresh(dataset.preview(r.path), dataset.root / r.path)]
    for r, frames in clip_frames(dataset, todo):
        preview(frames, dataset.preview(r.path))
    return len(todo)


def _fresh(made: Path, source: Path) -> bool:
    try:
        return made.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def preview(frames: np.ndarray, path: Path) -> Path:
    """(T, H, W) uint8 gray frames -> one (T*H, W) JPEG, the frames one above the other."""
    from PIL import Image

    strip = np.ascontiguousarray(frames).reshape(-1, frames.shape[-1])
    with atomic.atomic_path(path) as tmp:
        Image.fromarray(strip).save(tmp, format="JPEG", quality=PREVIEW_QUALITY)
    return path


def track_per_second(track: Path, fps: float = FPS) -> dict[str, list[float]] | None:
    """Share of frames with a usable face, median face width and median |yaw| per second."""
    try:
        with np.load(track) as z:
            usable = z["segment"] >= 0
            width = z["face_width"].astype(np.float64)
            yaw = np.abs(z["yaw"].astype(np.float64))
    except (OSError, ValueError, KeyError, EOFError):
        return None
    step = int(round(fps))
    out: dict[str, list[float]] = {"t": [], "found": [], "face_width": [], "yaw": []}
    for a in range(0, len(usable), step):
        u = usable[a:a + step]
        out["t"].append(a / fps)
        out["found"].append(float(u.mean()))
        out["face_width"].append(float(np.median(width[a:a + step][u])) if u.any() else float("nan"))
        out["yaw"].append(float(np.median(yaw[a:a + step][u])) if u.any() else float("nan"))
    return out


def sync_facts(vd: VideoDir) -> dict[str, Any] | None:
    from builder import sync as syncmod
    from builder.stages import sync as syncstage

    if not vd.track.is_file():
        return None
    got = syncstage.load(vd)
    if got is None:
        return None
    return {"offset": got.offset, "confidence": got.confidence, "has_audio": got.known,
            "windows": [((float(s) + syncmod.WINDOW / 2) / FPS, float(lag), float(c))
                        for s, lag, c in got.windows]}


def video_facts(vid: str, outcome: VideoOutcome | None, vd: VideoDir | None,
                records: list[ClipRecord], vocabulary: set[str], word_pages: set[str]) -> dict[str, Any]:
    """What a video's page shows (lipreader.pages.video_page), from its folder when it is there."""
    from builder.captions import words_from_json
    from builder.stages.state import read_record
    from lipreader.errors import SkipVideo

    o = outcome or VideoOutcome(vid)
    v: dict[str, Any] = {"id": vid, "split": o.split or (records[0].split if records else None),
                         "seconds": o.seconds, "skipped": o.skipped, "drops": o.drops,
                         "caption_drops": o.caption_drops, "clips": len(records),
                         "source_url": o.source_url or next((r.source_url for r in records if r.source_url), "")}
    faces = Counter(getattr(r, "face", None) for r in records)
    faces.pop(None, None)
    v["faces"] = dict(sorted(faces.items()))
    why: dict[tuple[str, int], list[str]] = {}
    for word, ms, reason in o.word_drops:
        why.setdefault((word, ms), []).append(reason)
    if vd is None or not vd.root.is_dir():
        rows = [_word_row(r.word, r.start, r.source, r, word_pages) for r in records]
        rows += [_word_row(word, ms / 1000, None, None, word_pages, reason) for word, ms, reason in o.word_drops]
        v["words"] = _in_time_order(rows)
        return v
    v["track"] = track_per_second(vd.track) if vd.track.is_file() else None
    v["sync"] = sync_facts(vd)
    offset = (v["sync"] or {}).get("offset", 0) if (v["sync"] or {}).get("has_audio") else 0
    saved = read_record(vd.words) if vd.words.is_file() else None
    try:
        words = words_from_json(saved["words"]) if saved else []
    except (SkipVideo, KeyError):
        words = []
    by_time = {(r.word, r.start): r for r in records}
    rows = []
    for w in words:
        if w.text not in vocabulary:
            continue
        shifted = round(w.start - offset / FPS, 3)
        rec = by_time.pop((w.text, shifted), None)
        reasons = why.get((w.text, int(round(w.start * 1000)))) if rec is None else None
        rows.append(_word_row(w.text, w.start, w.source, rec, word_pages, reasons.pop(0) if reasons else None))
    rows += [_word_row(r.word, r.start, r.source, r, word_pages) for r in by_time.values()]
    v["words"] = _in_time_order(rows)
    return v


def _in_time_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda x: (x["start"] is None, x["start"] or 0.0, x["text"]))


def _word_row(text: str, start: float | None, source: str | None, rec: ClipRecord | None,
              word_pages: set[str], why: str | None = None) -> dict[str, Any]:
    """A row of a video's word table; `why`: the reason a word gave no clip, when known."""
    return {"text": text, "start": start, "source": source, "clip": rec.path if rec else None,
            "face": getattr(rec, "face", None) if rec else None,
            "sync_score": rec.sync_score if rec else None, "word_page": text in word_pages,
            "why": f"no clip: {why}" if why else None}


def write_pages(dataset: DatasetDir, videos_root: Path | None = None) -> Pages:
    """index.html, a page per word and per video, and the previews they show, from the
    dataset's files (and the video folders under `videos_root` when they are there)."""
    st, records, outcomes = read_outputs(dataset)
    shown = shown_clips(records)
    made = write_previews(dataset, [r for rs in shown.values() for r in rs])
    pg.write_stylesheet(dataset.root)
    per_word_total: dict[str, Counter] = {}
    for r in records:
        per_word_total.setdefault(r.word, Counter())[r.split] += 1
    words = sorted(set(st["clips_per_word"]) | set(per_word_total))
    written: set[Path] = set()
    for w in words:
        cards = [{**r.to_json(), "preview": pg.preview_name(r.path)} for r in shown.get(w, [])]
        page = dataset.word_page(w)
        _write(page, pg.word_page(w, cards, dict(per_word_total.get(w, {}))))
        written.add(page)
    by_video: dict[str, list[ClipRecord]] = {}
    for r in records:
        by_video.setdefault(r.video_id or "unknown", []).append(r)
    vocabulary = set(st["vocabulary"])
    rows = []
    for vid in sorted(set(outcomes) | set(by_video)):
        vd = VideoDir(Path(videos_root) / vid) if videos_root is not None else None
        facts = video_facts(vid, outcomes.get(vid), vd, by_video.get(vid, []), vocabulary, set(words))
        page = dataset.video_page(vid)
        _write(page, pg.video_page(facts))
        written.add(page)
        rows.append({k: facts[k] for k in ("id", "split", "seconds", "clips", "skipped")})
    for old in [*dataset.pages.glob("word-*.html"), *dataset.pages.glob("video-*.html")]:
        if old not in written:
            old.unlink()
    _remove_stale_previews(dataset, {dataset.preview(r.path) for r in records})
    sources = dict(sorted(Counter(r.source for r in records if r.source).items()))
    skipped = sum(st["videos_skipped"].values())
    models = sorted(p.name for p in dataset.pages.glob("model-*.html"))
    files = [p.name for p in (dataset.stats, dataset.manifest, dataset.contact_sheet) if p.is_file()]
    _write(dataset.index, pg.overview(st, st["videos"] - skipped, sources, set(words), rows, models, files))
    return Pages(dataset.index, len(words), len(rows), made)


def _write(path: Path, text: str) -> None:
    """Write a page unless it already holds `text` (a re-run leaves the files as they were)."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic.write_text(path, text)


def _remove_stale_previews(dataset: DatasetDir, keep: set[Path]) -> None:
    folder = dataset.pages / pg.PREVIEWS
    if not folder.is_dir():
        return
    for f in folder.rglob("*"):
        if f.is_file() and f not in keep:
            f.unlink()
