"""`lipreader fetch`: URLs, lists of URLs and local files -> data/videos/<id>/.

Each video lands atomically (a hidden temporary folder, renamed when complete), so a
folder that exists is finished; leftovers of an interrupted run are removed at the next
start. A download archive (yt-dlp's, kept in step with the folders) lets a re-run skip
finished videos without even asking the site. One bad video or URL never stops the batch:
it is recorded with a plain reason, and the summary lists it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.layout import VideoDir
from lipreader import atomic, lock
from lipreader.atomic import atomic_dir, remove_stale_temps, write_json, write_text
from lipreader.config import Config, Fetch, rate_bytes
from lipreader.errors import InputError, SkipVideo, Throttled
from lipreader.progress import Progress
from lipreader.say import say

if TYPE_CHECKING:
    from builder.download import Settings

_HOSTLIKE = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?/")


@dataclass(frozen=True)
class Outcome:
    source: str
    id: str
    status: str  # "fetched", "skipped" or "failed"
    reason: str = ""


@dataclass
class FetchSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str = ""  # why the batch stopped early (the site rate-limits), and what to do

    def _with(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def fetched(self) -> list[Outcome]:
        return self._with("fetched")

    @property
    def skipped(self) -> list[Outcome]:
        return self._with("skipped")

    @property
    def failed(self) -> list[Outcome]:
        return self._with("failed")

    def text(self) -> str:
        lines = [f"fetched {len(self.fetched)}, skipped {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  failed  {o.id or o.source}: {o.reason}" for o in self.failed]
        return "\n".join(lines + ([self.stopped] if self.stopped else []))


# ---- sources -------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    kind: str   # "url", "file" or "bad"
    text: str   # the URL or the absolute path
    reason: str = ""


def read_url_list(path: Path) -> list[str]:
    """One URL or file per line; blank lines and # comments (whole line or after a space) skipped.
    Relative file paths are taken relative to the list's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read it as a list of URLs ({e})") from e
    items = []
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        if "://" not in line and not Path(line).is_absolute() and (path.parent / line).exists():
            line = str(path.parent / line)
        items.append(line)
    return items


def classify(item: str, within: tuple[Path, ...] = ()) -> list[Source]:
    """What one command-line item is: a URL, a local video (or a folder / list of them).
    `within` are the lists being read, outermost first: a list met again is a loop."""
    from builder.localvideo import VIDEO_EXTS, is_video_file

    p = Path(item).expanduser()
    if "://" not in item and p.exists():
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if is_video_file(q))
            return [Source("file", str(q.resolve())) for q in found] or \
                [Source("bad", item, "a folder with no video files")]
        if is_video_file(p):
            return [Source("file", str(p.resolve()))]
        here = p.resolve()
        if here in within:
            chain = " -> ".join(q.name for q in (*within[within.index(here):], here))
            raise InputError(f"{item}: a list of URLs that names itself ({chain}); remove that line")
        return [s for line in read_url_list(p) for s in classify(line, (*within, here))]
    scheme = item.split("://", 1)[0].lower() if "://" in item else ""
    if scheme in ("http", "https") and re.match(r"^https?://[^/\s]+", item, re.I):
        return [Source("url", item)]
    if not scheme and _HOSTLIKE.match(item):
        return [Source("url", "https://" + item)]
    if not scheme and (Path(item).suffix.lower() in VIDEO_EXTS or "/" in item or os.sep in item):
        return [Source("bad", item, "no such file")]
    return [Source("bad", item, "not a URL (http:// or https://) or an existing file")]


def gather(urls: list[str], from_file: str | None) -> list[Source]:
    items: list[tuple[str, tuple[Path, ...]]] = [(u, ()) for u in urls]
    if from_file:
        if not Path(from_file).is_file():
            raise InputError(f"--from-file {from_file}: no such file")
        items += [(line, (Path(from_file).resolve(),)) for line in read_url_list(Path(from_file))]
    if not items:
        raise InputError("nothing to fetch: give URLs, video files or --from-file urls.txt")
    sources, seen = [], set()
    for item, within in items:
        for s in classify(item, within):
            if (s.kind, s.text) not in seen:
                seen.add((s.kind, s.text))
                sources.append(s)
    return sources


# ---- the output folder and the archive ---------------------------------------------

def sync_archive(videos: Path) -> Path:
    """Keep only the archive lines ("<extractor> <id>") whose folder is complete, so the
    folders stay the truth: a video deleted by hand, or whose rename was interrupted after
    yt-dlp recorded it, is fetched again."""
    archive = VideoDir.archive(videos)
    if archive.is_file():
        lines = archive.read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if len(ln.split(" ", 1)) == 2
                and VideoDir(videos / ln.split(" ", 1)[1]).complete()]
        if kept != lines:
            write_text(archive, "".join(f"{ln}\n" for ln in kept))
    return archive


def download_settings(f: Fetch) -> Settings:
    """[fetch] options -> builder.download.Settings."""
    from builder.download import Settings

    return Settings(lang=f.lang, max_height=f.max_height, license=f.license, max_duration=f.max_duration,
                    caption_formats=f.caption_formats, socket_timeout=f.socket_timeout, retries=f.retries,
                    rate_limit=rate_bytes(f.rate_limit), cookies=f.cookies,
                    cookies_from_browser=f.cookies_from_browser, sleep_requests=f.sleep_requests,
                    sleep_interval=f.sleep_interval, max_sleep_interval=f.max_sleep_interval,
                    throttle_wait=f.throttle_wait)


# ---- one video -----------------------------------------------------------------------

class _Reporter:
    """Per-video lines on stdout, the overall bar and per-video byte bars on stderr."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.overall = Progress(None, "fetch", unit="video", enabled=not quiet)
        self.tty = sys.stderr.isatty()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        if self.overall.tty:  # clear the progress line first
            self.overall.stream.write("\r\033[K")
        say(text)

    def video_bar(self, vid: str) -> tuple[Progress, Callable[[dict[str, Any]], None]]:
        bar = Progress(None, f"  {vid}", unit="kB", enabled=self.tty and not self.quiet)
        seen: dict[str, int] = {}

        def hook(d: dict[str, Any]) -> None:
            if d.get("status") not in ("downloading", "finished"):
                return
            name = str(d.get("filename"))
            done = int(d.get("downloaded_bytes") or d.get("total_bytes") or 0)
            total = d.get("total_bytes") or d.get("total_bytes_estimate")
            bar.total = int(total) // 1024 if total else None
            delta = done // 1024 - seen.get(name, 0)
            seen[name] = done // 1024
            bar.update(max(delta, 0), postfix=Path(name).name)
        return bar, hook

    def done(self, outcome: Outcome, detail: str = "") -> None:
        name = outcome.id or outcome.source
        if outcome.status == "fetched":
            self.line(f"fetched {name}" + (f"  {detail}" if detail else ""))
        else:
            self.line(f"{outcome.status} {name}: {outcome.reason}")
        self.overall.update(postfix=f"{outcome.status} {name}")

    def close(self) -> None:
        if self.overall.n:
            self.overall.close()


def _caption_words(info: dict[str, Any]) -> str:
    c = info.get("captions")
    if not c:
        return f"NO CAPTIONS ({info.get('captions_note') or 'none offered'}): kept, build-dataset will skip it"
    if c.get("automatic"):
        return f"captions {c['lang']} {c['format']} (automatic)"
    if info.get("captions_timing"):
        return f"captions {c['lang']} {c['format']} (manual, timed by the automatic ones)"
    if "captions_timing_note" not in info:   # a local file's captions: their times tell
        return f"captions {c['lang']} {c['format']} (manual)"
    why = info.get("captions_timing_note") or "no automatic captions for word times"
    return (f"captions {c['lang']} {c['format']} (manual; {why}: cue-estimated times, "
            "build-dataset uses them only with --allow-estimated)")


def _write_mark(folder: Path, mark: dict[str, Any] | None) -> None:
    if mark is not None:
        write_json(VideoDir(folder).read_mark, mark)


def _fetch_download(dl, video, videos: Path, cfg: Config, rep: _Reporter,
                    mark: dict[str, Any] | None = None) -> Outcome:
    from builder.download import Filtered, info_record
    from builder.media import probe

    target = videos / video.id
    bar, hook = rep.video_bar(video.id)
    try:
        with bar, atomic_dir(target) as tmp:
            got = dl.download(video, tmp, hooks=[hook])
            record = info_record(got, video.source, cfg.fetch.lang)
            try:
                media = probe(got.video)
            except InputError as e:
                raise SkipVideo("the downloaded file is not a readable video") from e
            if not media.has_video:
                raise SkipVideo("the downloaded file has no video stream")
            limit = cfg.fetch.max_duration
            if limit and media.duration > limit:  # the site did not say its duration beforehand
                raise Filtered(f"longer than {limit:g} s ({media.duration:g} s)")
            record.update(width=media.width, height=media.height, fps=media.fps or record["fps"],
                          duration=record["duration"] or media.duration)
            write_json(VideoDir(tmp).info, record)
            _write_mark(tmp, mark)
    except Filtered as e:
        return Outcome(video.source, video.id, "skipped", e.reason)
    except SkipVideo as e:
        return Outcome(video.source, video.id, "failed", str(e))
    except OSError as e:
        return Outcome(video.source, video.id, "failed", f"cannot write {e.filename or target}: {e.strerror or e}")
    out = Outcome(video.source, video.id, "fetched")
    rep.done(out, f"{record.get('title') or ''}  [{_caption_words(record)}]")
    return out


def _fetch_local(source: Source, videos: Path, cfg: Config, rep: _Reporter,
                 mark: dict[str, Any] | None = None) -> Outcome:
    import json

    from builder.localvideo import import_file, local_id, signature

    path = Path(source.text)
    vid = local_id(path)
    vd = VideoDir(videos / vid)
    if vd.complete():
        try:
            old = json.loads(vd.info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if all(old.get(k) == v for k, v in signature(path).items()):
            return Outcome(source.text, vid, "skipped", "already fetched")
    try:
        with atomic_dir(vd.root) as tmp:
            record = import_file(path, tmp, cfg.fetch.lang)
            write_json(VideoDir(tmp).info, record)
            _write_mark(tmp, mark)
    except SkipVideo as e:
        return Outcome(source.text, vid, "failed", str(e))
    except OSError as e:
        return Outcome(source.text, vid, "failed", f"cannot copy {e.filename or path}: {e.strerror or e}")
    out = Outcome(source.text, vid, "fetched")
    rep.done(out, f"{path.name}  [{_caption_words(record)}]")
    return out


def _fetch_url(dl, source: Source, videos: Path, cfg: Config, rep: _Reporter,
               mark: dict[str, Any] | None = None) -> Iterator[Outcome]:
    from builder.download import Failure

    taken = 0  # videos fetched now or before; filtered and failed ones do not count
    for item in dl.resolve(source.text):
        if isinstance(item, Failure):
            outcome = Outcome(source.text, item.id, "failed", item.reason)
        elif item.info is None or VideoDir(videos / item.id).complete():
            outcome = Outcome(source.text, item.id, "skipped", "already fetched")
        else:
            outcome = _fetch_download(dl, item, videos, cfg, rep, mark)
        yield outcome
        taken += outcome.status == "fetched" or outcome.reason == "already fetched"
        if cfg.fetch.max_videos and taken >= cfg.fetch.max_videos:
            return


def fetch_all(cfg: Config, sources: list[Source], quiet: bool = False,
              mark: dict[str, Any] | None = None) -> FetchSummary:
    """Fetch `sources` into [general] videos, holding its lock (one writer per folder).
    mark: written as <video>/read.json into each folder fetched now (by `read`), inside the same
    atomic step as the video."""
    videos = Path(cfg.general.videos)
    atomic.check_writable(videos, "videos folder", "--out or [general] videos")
    with lock.hold(videos, wait=cfg.general.wait):
        return _fetch_all(cfg, videos, sources, quiet, mark)


def _fetch_all(cfg: Config, videos: Path, sources: list[Source], quiet: bool,
               mark: dict[str, Any] | None) -> FetchSummary:
    from builder.download import Downloader

    remove_stale_temps(videos)
    archive = sync_archive(videos)
    summary = FetchSummary()
    rep = _Reporter(quiet)
    dl = None
    try:
        for n, source in enumerate(sources):
            if source.kind == "bad":
                outcomes: Any = [Outcome(source.text, "", "failed", source.reason)]
            elif source.kind == "file":
                outcomes = [_fetch_local(source, videos, cfg, rep, mark)]
            else:
                dl = dl or Downloader(download_settings(cfg.fetch), videos, archive)
                outcomes = _fetch_url(dl, source, videos, cfg, rep, mark)
            try:
                for outcome in outcomes:
                    summary.outcomes.append(outcome)
                    if outcome.status != "fetched":
                        rep.done(outcome)
            except Throttled as e:
                summary.stopped = _stop(cfg, summary, rep, source, e, len(sources) - n - 1)
                break
    finally:
        if dl is not None:
            dl.close()
        rep.close()
    return summary


def _stop(cfg: Config, summary: FetchSummary, rep: _Reporter, source: Source, e: Throttled,
          after: int) -> str:
    from builder.access import advice

    outcome = Outcome(source.text, "", "failed", e.reason)
    summary.outcomes.append(outcome)
    rep.done(outcome)
    f = cfg.fetch
    return advice(e.reason, source.text, after, bool(f.cookies or f.cookies_from_browser),
                  bool(f.sleep_requests or f.sleep_interval))


def run(cfg: Config, urls: list[str], from_file: str | None = None) -> FetchSummary:
    """Fetch every video of `urls` (and of the list `from_file`); print a summary."""
    summary = fetch_all(cfg, gather(urls, from_file))
    say(summary.text())
    return summary


def fetch_one(cfg: Config, source: str, mark: dict[str, Any] | None = None) -> VideoDir:
    """One video (URL or local file) for `lipreader read`: the existing folder when it was
    fetched before; a playlist gives its first video. Raises InputError when it fails."""
    sources = classify(source)
    if len(sources) != 1:
        raise InputError(f"{source}: give one video (URL or file), not a folder or a list")
    summary = fetch_all(cfg.override("fetch", max_videos=1), sources, quiet=True, mark=mark)
    for o in summary.outcomes:
        if o.status == "failed":
            raise InputError(f"cannot fetch {source}: {o.reason}")
        if o.status == "skipped" and o.reason != "already fetched":
            raise InputError(f"{source}: not fetched: {o.reason}")
        vd = VideoDir(Path(cfg.general.videos) / o.id)
        if o.id and vd.complete():
            return vd
    raise InputError(f"{source}: no video found there")
