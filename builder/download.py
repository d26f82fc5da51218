"""yt-dlp, embedded: resolve a URL into videos, download one video with its captions.

The only module that imports yt_dlp, and only through its Python API (an options dict,
progress hooks, a logger, a match filter, a download archive). Each video is downloaded
into a folder the caller provides (a temporary one that the pipeline renames when done);
every failure comes out as `SkipVideo` with one plain reason (see `explain`).

A URL is resolved with ``extract_info(process=False)``: the extractor's raw answer, before
yt-dlp picks formats. Playlists (and pages with several <video> tags) are walked here, one
entry at a time, so that each video gets its own folder, its own error and its own place
in the summary; format and caption selection, the archive and the downloads stay yt-dlp's.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.layout import VideoDir
from lipreader.errors import ConfigError, SkipVideo, Throttled
from lipreader.say import note

BACKOFF_S = 1.0  # first retry waits this long, then twice as long each time
BACKOFF_MAX_S = 30.0
TRANSIENT_HTTP = (408, 429, 500, 502, 503, 504)
YOUTUBE = "Youtube"  # extractor key whose ids are globally unique and kept as they are
THROTTLE_TRIES = 3  # tries of one request on HTTP 429 or a bot check, [fetch] throttle_wait apart (doubling)
MAX_HOPS = 10  # pages followed from one URL to the next (meta refresh, embeds) before giving up
INFO_KEYS = ("id", "extractor", "title", "webpage_url", "uploader", "channel", "license",
             "duration", "fps", "width", "height", "language")

ProgressHook = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Settings:
    """How to download: the [fetch] options, which pipelines/fetch.py hands over."""

    lang: str                # caption language; manual captions preferred, else automatic
    max_height: int          # largest video height (0: any)
    license: str             # keep only videos whose license matches this ("" for any)
    max_duration: float      # skip longer videos, in seconds (0: any length)
    caption_formats: str     # yt-dlp's subtitlesformat, best first
    socket_timeout: float    # seconds before a silent connection fails
    retries: int             # retries on transient network errors
    rate_limit: int | None   # bytes per second (None: no limit)
    cookies: str = ""                # a Netscape cookies.txt ("" for none)
    cookies_from_browser: str = ""   # NAME[:PROFILE] to read cookies from ("" for none)
    sleep_requests: float = 0.0      # seconds between requests while resolving pages
    sleep_interval: float = 0.0      # seconds before each download (the least, when random)
    max_sleep_interval: float = 0.0  # the most, for a random pause between the two (0: fixed)
    throttle_wait: float = 60.0      # first pause after HTTP 429 or a bot check, doubling


class Filtered(SkipVideo):
    """The video was deliberately not downloaded (match filter: duration, license)."""


@dataclass(frozen=True)
class CaptionChoice:
    key: str        # the language key as the site names it: "en", "en-US", "en-orig"
    automatic: bool


@dataclass
class Video:
    """One video of a source, resolved far enough to know its folder name."""

    id: str                                    # folder name under data/videos
    source: str                                # the URL the user gave
    info: dict[str, Any] | None = None         # raw extractor answer; None when already fetched
    extra: dict[str, Any] = field(default_factory=dict)  # playlist context for yt-dlp


@dataclass(frozen=True)
class Failure:
    source: str
    reason: str
    id: str = ""


@dataclass
class Downloaded:
    video: Path
    caption: Path | None
    choice: CaptionChoice | None
    caption_ext: str | None
    note: str
    info: dict[str, Any]  # yt-dlp's processed info dict
    timing: Path | None = None   # automatic captions kept beside manual ones for word times
    timing_key: str | None = None
    timing_note: str = ""        # why there are none, when the captions are manual


def backoff(n: int) -> float:
    """Seconds to wait before retry number n+1 (yt-dlp calls it with n=0 first)."""
    return min(BACKOFF_S * 2 ** n, BACKOFF_MAX_S)


def format_spec(max_height: int) -> str:
    """mp4 with audio, at most `max_height` (formats with unknown height count as fitting)."""
    h = f"[height<=?{max_height}]" if max_height > 0 else ""
    return (f"bv*{h}[ext=mp4]+ba[ext=m4a]/b{h}[ext=mp4]/bv*{h}+ba/b{h}")


def safe_id(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:80]
    return safe or "video"


def folder_id(info: dict[str, Any], page_url: str) -> str:
    """YouTube ids as they are; any other site's id plus a hash of its page URL, because
    ids such as the generic extractor's "<page basename>-<n>" repeat across sites."""
    raw = str(info.get("id") or "")
    if info.get("extractor_key") == YOUTUBE and raw:
        return raw
    index = re.fullmatch(r"index((?:-\d+)?)", raw)
    folder = [part for part in urllib.parse.urlsplit(page_url).path.split("/") if part][-2:-1]
    if index and folder:  # .../talk-3/index.html -> "talk-3-1", not "index-1"
        raw = urllib.parse.unquote(folder[0]) + index.group(1)
    digest = hashlib.sha1(page_url.encode("utf-8")).hexdigest()[:8]
    return f"{safe_id(raw)}-{digest}"


def choose_captions(subtitles: dict[str, Any] | None, automatic: dict[str, Any] | None,
                    lang: str) -> tuple[CaptionChoice | None, str]:
    """Manual captions in `lang` (or a regional variant such as en-GB), else automatic ones.

    YouTube offers automatic captions machine-translated into every language; only the
    original speech track ("<lang>-orig", or `lang` when no other original exists) is taken.
    Returns the choice and, when there is none, a note saying why.
    """
    subtitles, automatic = subtitles or {}, automatic or {}

    def regional(keys):
        return sorted(k for k in keys if k.startswith(f"{lang}-") and not k.endswith("-orig"))

    if lang in subtitles:
        return CaptionChoice(lang, False), ""
    if regional(subtitles):
        return CaptionChoice(regional(subtitles)[0], False), ""
    if f"{lang}-orig" in automatic:
        return CaptionChoice(f"{lang}-orig", True), ""
    originals = sorted(k[:-len("-orig")] for k in automatic if k.endswith("-orig"))
    if lang in automatic:
        if originals:
            return None, (f"only machine-translated automatic {lang} captions "
                          f"(the speech is {', '.join(originals)})")
        return CaptionChoice(lang, True), ""
    offered = sorted(set(subtitles) | {k for k in automatic if k.endswith("-orig")})
    return None, f"no {lang} captions" + (f" (offered: {', '.join(offered)})" if offered else "")


_CC_TERMS = (("creative commons", "cc"), ("attribution", "by"), ("noncommercial", "nc"),
             ("non commercial", "nc"), ("noderivatives", "nd"), ("noderivs", "nd"),
             ("no derivatives", "nd"), ("sharealike", "sa"), ("share alike", "sa"))


def _license_words(text: str) -> list[str]:
    s = re.sub(r"[^a-z0-9]+", " ", text.lower())
    for long, short in _CC_TERMS:
        s = s.replace(long, short)
    return s.split()


def cc_family(text: str) -> str | None:
    """The Creative Commons license a text names, without its version: "cc-by", "cc-by-sa",
    "cc-by-nc", "cc-by-nd", "cc-by-nc-sa", "cc-by-nc-nd"; None when it names none."""
    words = _license_words(text)
    if "cc" not in words or "by" not in words:
        return None
    return "cc-by" + "".join(f"-{t}" for t in ("nc", "nd", "sa") if t in words)


def license_matches(wanted: str, license_text: str | None) -> bool:
    """A Creative Commons `wanted` ("cc-by", "cc-by-sa", ...) matches exactly that license in
    any version: "cc-by" matches "Creative Commons Attribution license (reuse allowed)" and
    "CC BY 4.0", never CC BY-SA, BY-NC or BY-ND. Any other `wanted` is looked for as words
    in the license text."""
    if not license_text:
        return False
    family = cc_family(wanted)
    if family is not None:
        return cc_family(license_text) == family
    want, have = " ".join(_license_words(wanted)), " ".join(_license_words(license_text))
    return f" {want} " in f" {have} "


def match_filter(opts: Settings, record: dict[str, str]) -> Callable[..., str | None]:
    """yt-dlp's match_filter: a reason string skips the video; the reason is also kept in
    `record[id]`, since yt-dlp only logs it."""
    def check(info: dict[str, Any], *, incomplete: bool = False) -> str | None:
        reason = None
        duration = info.get("duration")
        if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
            reason = "a live stream (only finished videos are fetched)"
        elif opts.max_duration > 0 and duration is not None and duration > opts.max_duration:
            reason = f"longer than {opts.max_duration:g} s ({duration:g} s)"
        elif opts.license and not (incomplete and "license" not in info) and \
                not license_matches(opts.license, info.get("license")):
            reason = f"license {info.get('license') or 'unknown'!r} is not {opts.license}"
        if reason:
            record[str(info.get("id"))] = reason
        return reason
    return check


class _Logger:
    """yt-dlp's chatter is dropped; its warnings, minus the noise, are notes on stderr."""

    NOISE = ("Falling back on generic information extractor",)

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        if not any(n in msg for n in self.NOISE):
            note(msg)

    def error(self, msg: str) -> None:
        pass  # it is raised as DownloadError right after; `explain` words it


def base_params(opts: Settings) -> dict[str, Any]:
    from yt_dlp.cookies import SUPPORTED_BROWSERS

    from builder import access, jsruntime
    from builder.media import ffmpeg_exe
    return {
        "quiet": True, "noprogress": True, "no_color": True, "logger": _Logger(),
        "socket_timeout": opts.socket_timeout,
        "retries": opts.retries, "fragment_retries": opts.retries, "extractor_retries": opts.retries,
        "retry_sleep_functions": {k: (lambda n: backoff(n)) for k in ("http", "fragment", "extractor")},
        "ratelimit": opts.rate_limit,
        "ffmpeg_location": ffmpeg_exe(),
        "ignoreerrors": False, "updatetime": False,
        "js_runtimes": jsruntime.yt_dlp_option(),
        **access.cookie_params(opts.cookies, opts.cookies_from_browser, SUPPORTED_BROWSERS),
        **access.pacing_params(opts.sleep_requests, opts.sleep_interval, opts.max_sleep_interval),
    }


def js_runtime() -> Any:
    """yt-dlp's own account (JsRuntimeInfo: name, version, path, supported) of the JavaScript
    runtime it will use with our options, or None when it finds none it supports."""
    import yt_dlp

    from builder import jsruntime
    with yt_dlp.YoutubeDL({"quiet": True, "js_runtimes": jsruntime.yt_dlp_option()}) as ydl:
        found = [r.info for r in ydl._js_runtimes.values() if r is not None and r.info is not None]
    return next((info for info in found if info.supported), found[0] if found else None)


def download_params(opts: Settings, folder: Path, choice: CaptionChoice | None, archive: Path | None,
                    hooks: list[ProgressHook], filtered: dict[str, str]) -> dict[str, Any]:
    """Options for downloading one video into `folder` as video.mp4 (+ video.<key>.<ext>)."""
    video = VideoDir(Path(folder)).video
    params = base_params(opts)
    params.update({
        "format": format_spec(opts.max_height),
        "merge_output_format": "mp4",
        "postprocessors": [{"key": "FFmpegVideoRemuxer", "preferedformat": "mp4"}],
        "paths": {"home": str(Path(folder).resolve())},
        "outtmpl": {"default": f"{video.stem}.%(ext)s"},
        "writesubtitles": bool(choice and not choice.automatic),
        "writeautomaticsub": bool(choice and choice.automatic),
        "subtitleslangs": [re.escape(choice.key)] if choice else [],
        "subtitlesformat": opts.caption_formats,
        "progress_hooks": hooks,
        "match_filter": match_filter(opts, filtered),
    })
    if archive is not None:
        params["download_archive"] = str(archive)
    return params


def _causes(err: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: DownloadError.exc_info, ExtractorError.cause, __cause__."""
    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        exc_info = getattr(e, "exc_info", None)
        todo += [exc_info[1] if exc_info else None, getattr(e, "cause", None), e.__cause__, e.__context__]


def explain(err: BaseException, timeout: float | None = None) -> str:
    """One plain reason for a yt-dlp failure (the cause is in DownloadError.exc_info[1])."""
    reason = _explain(err, timeout)
    if "Unable to download video subtitles" in str(err):
        return f"captions could not be downloaded: {reason}"
    return reason


def _explain(err: BaseException, timeout: float | None) -> str:
    from yt_dlp.networking.exceptions import HTTPError, IncompleteRead, TransportError
    from yt_dlp.utils import ContentTooShortError, ExtractorError, UnsupportedError

    chain = list(_causes(err))
    for e in chain:
        if isinstance(e, HTTPError):
            status = e.status
            signin = "(signed in? --cookies FILE or --cookies-from-browser NAME)"
            words = {404: "not found", 403: f"forbidden {signin}", 410: "gone", 401: f"needs sign-in {signin}",
                     429: "too many requests (the site is rate-limiting)"}
            if status in words:
                return f"HTTP {status} {words[status]}"
            return f"HTTP {status} {'server error' if status >= 500 else (e.reason or 'error')}"
        if isinstance(e, UnsupportedError):
            return "no video found at this URL (yt-dlp knows no video on this page)"
        if isinstance(e, ContentTooShortError):
            return (f"download interrupted: the connection closed after {e.downloaded} "
                    f"of {e.expected} bytes")
        if isinstance(e, IncompleteRead):
            return "download interrupted: the connection closed before the whole file arrived"
    for e in chain:
        if isinstance(e, TransportError):
            text = str(e).lower()
            if "timed out" in text or "timeout" in text:
                return f"timed out (no answer in {timeout:g} s)" if timeout else "timed out"
            if "refused" in text:
                return "connection refused (is the host up?)"
            if "name or service not known" in text or "nodename nor servname" in text or \
                    "name resolution" in text or "getaddrinfo" in text:
                return "host not found"
            return f"network error: {_clean(str(e))}"
    for e in chain:
        if isinstance(e, (TimeoutError, ConnectionError)):
            return "timed out" if isinstance(e, TimeoutError) else f"network error: {e}"
    message = _clean(str(next((e for e in chain if isinstance(e, ExtractorError)), err)))
    low = message.lower()
    short = re.search(r"downloaded (\d+) bytes, expected (\d+) bytes", low)
    if short:  # the http downloader gives up with a message only, no exception to look at
        return (f"download interrupted: the connection closed after {short.group(1)} "
                f"of {short.group(2)} bytes")
    short = re.search(r"(\d+) bytes read, (\d+) more expected", low)
    if short:  # the same, through the requests handler (installed with yt-dlp's default extra)
        got, more = int(short.group(1)), int(short.group(2))
        return f"download interrupted: the connection closed after {got} of {got + more} bytes"
    if "private video" in low or "is private" in low:
        return "private video"
    if any(w in low for w in ("video unavailable", "has been removed", "no longer available",
                              "account associated with this video has been terminated",
                              "this video has been deleted", "does not exist")):
        return f"video removed or unavailable ({message})"
    if "requested format is not available" in low:
        return "no downloadable format within the height limit"
    if "confirm your age" in low:
        return "age-restricted video (needs a signed-in account)"
    if "not a bot" in low:
        return "YouTube asks to sign in to confirm this is not a bot; try later or use cookies"
    if "not a valid url" in low:
        return "not a valid URL"
    return message


def _clean(message: str) -> str:
    message = re.sub(r"^(ERROR:\s*)?(\[[^\]]+\]\s*)?(Got error:\s*)?([\w-]+:\s)?", "",
                     message.strip(), count=1)
    message = message.split("; please report this issue")[0]
    return message.splitlines()[0] if message else "unknown error"


def _temp_id(url: str) -> str:
    """The id yt-dlp reads from a URL alone (what it checks the archive with)."""
    from yt_dlp.extractor import gen_extractor_classes
    for ie in gen_extractor_classes():
        if ie.suitable(url):
            return ie.get_temp_id(url) or ""
    return ""


def throttled(err: BaseException) -> bool:
    """HTTP 429 or YouTube's "Sign in to confirm you're not a bot": the site wants fewer requests."""
    from yt_dlp.networking.exceptions import HTTPError
    return any((isinstance(e, HTTPError) and e.status == 429) or "not a bot" in str(e).lower()
               for e in _causes(err))


def _is_transient(err: BaseException) -> bool:
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    for e in _causes(err):
        if isinstance(e, HTTPError):
            return e.status in TRANSIENT_HTTP
        if isinstance(e, TransportError):
            return True
    return False


class Downloader:
    """Resolve URLs into `Video`s and download them, with one set of options."""

    def __init__(self, opts: Settings, videos: Path, archive: Path | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        import yt_dlp

        self.opts = opts
        self.videos = Path(videos)
        self.archive = archive
        self.sleep = sleep
        params = base_params(opts)
        if archive is not None:
            params["download_archive"] = str(archive)
        self.ydl = yt_dlp.YoutubeDL(params)
        if opts.cookies_from_browser:
            self._browser_cookies()

    def close(self) -> None:
        self.ydl.close()

    def __enter__(self) -> Downloader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _browser_cookies(self) -> None:
        """Read the browser's cookies now: a browser that cannot be read is one error, not one per URL."""
        from yt_dlp.utils import YoutubeDLError
        try:
            self.ydl.cookiejar  # noqa: B018 - loads them
        except YoutubeDLError as e:  # DownloadError (yt-dlp reports the cause), or CookieLoadError
            cause = _clean(str(e.__cause__ or e))
            raise ConfigError(f"--cookies-from-browser {self.opts.cookies_from_browser}: cannot read "
                              f"that browser's cookies ({cause}); is it installed, and the profile "
                              "right? Or export a cookies.txt and use --cookies") from None

    def _patiently(self, what: str, call: Callable[[], Any]) -> Any:
        """`call()`, tried again after a pause (doubling) while the site rate-limits or asks for
        a bot check; `Throttled` when it still does, so that the batch stops instead of hammering."""
        from yt_dlp.utils import YoutubeDLError
        for attempt in range(THROTTLE_TRIES):
            try:
                return call()
            except YoutubeDLError as e:
                if not throttled(e):
                    raise
                reason = explain(e, self.opts.socket_timeout)
                if attempt + 1 >= THROTTLE_TRIES:
                    raise Throttled(reason) from e
                wait = self.opts.throttle_wait * 2 ** attempt
                note(f"{what}: {reason}; waiting {wait:g} s before trying again")
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _extract(self, url: str, ie_key: str | None = None) -> dict[str, Any] | None:
        """extract_info(process=False), retried on transient errors and after a rate limit."""
        return self._patiently(url, lambda: self._extract_retried(url, ie_key))

    def _extract_retried(self, url: str, ie_key: str | None = None) -> dict[str, Any] | None:
        """extract_info(process=False), retried with backoff on transient network errors."""
        from yt_dlp.utils import YoutubeDLError
        for attempt in range(self.opts.retries + 1):
            try:
                return self.ydl.extract_info(url, download=False, process=False, ie_key=ie_key)
            except YoutubeDLError as e:
                if attempt >= self.opts.retries or not _is_transient(e):
                    raise
                note(f"{url}: {explain(e, self.opts.socket_timeout)}; retrying ({attempt + 1}/{self.opts.retries})")
                self.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    def resolve(self, source: str) -> Iterator[Video | Failure]:
        """The videos of a URL (one, or each entry of a playlist/channel/multi-video page)."""
        from yt_dlp.utils import YoutubeDLError
        try:
            info = self._extract(source)
        except YoutubeDLError as e:
            yield Failure(source, explain(e, self.opts.socket_timeout))
            return
        if info is None:  # yt-dlp found its id in the download archive without extracting
            yield Video(id=_temp_id(source), source=source)
            return
        yield from self._walk(info, source, {})

    def _walk(self, info: dict[str, Any], source: str, extra: dict[str, Any], hops: int = 0
              ) -> Iterator[Video | Failure]:
        """`hops`: pages followed so far to reach `info` (a meta refresh, an embedded player)."""
        from yt_dlp.utils import YoutubeDLError
        kind = info.get("_type", "video")
        if kind in ("playlist", "multi_video"):
            context = {
                **extra,
                "playlist": info.get("title") or info.get("id"),
                "playlist_id": info.get("id"),
                "webpage_url": info.get("webpage_url") or extra.get("webpage_url"),
                "extractor": info.get("extractor") or extra.get("extractor"),
                "extractor_key": info.get("extractor_key") or extra.get("extractor_key"),
            }
            entries = iter(info.get("entries") or [])
            index = 0
            while True:
                try:
                    entry = next(entries)
                except StopIteration:
                    return
                except YoutubeDLError as e:  # a lazily loaded playlist page failed
                    yield Failure(source, explain(e, self.opts.socket_timeout))
                    return
                index += 1
                if entry:
                    yield from self._walk(entry, source, {**context, "playlist_index": index}, hops)
            return
        if kind in ("url", "url_transparent"):
            known = info.get("id")
            if hops >= MAX_HOPS:
                yield Failure(source, f"gave up after {MAX_HOPS} pages that lead to other pages "
                              "(a redirect loop?)", id=known or "")
                return
            if known and info.get("ie_key") == YOUTUBE and VideoDir(self.videos / known).complete():
                yield Video(id=known, source=source)
                return
            try:
                resolved = self._extract(info["url"], ie_key=info.get("ie_key"))
            except YoutubeDLError as e:
                yield Failure(source, explain(e, self.opts.socket_timeout), id=known or "")
                return
            if resolved is None:  # in the download archive
                yield Video(id=known or "", source=source)
                return
            if kind == "url_transparent":  # the outer fields win, as in yt-dlp
                resolved = {**resolved, **{k: v for k, v in info.items()
                                           if k not in ("_type", "url", "ie_key") and v is not None}}
            yield from self._walk(resolved, source, extra, hops + 1)
            return
        yield self._video(info, source, extra)

    def _video(self, info: dict[str, Any], source: str, extra: dict[str, Any]) -> Video:
        info = dict(info)
        for key in ("extractor", "extractor_key", "webpage_url"):
            if not info.get(key) and extra.get(key):
                info[key] = extra[key]
        page = info.get("webpage_url") or source
        vid = folder_id(info, page)
        if vid != info.get("id"):
            info["id"] = vid
            info.pop("_old_archive_ids", None)  # "generic page" would collide across sites
        extra = {k: v for k, v in extra.items() if k not in ("extractor", "extractor_key")}
        return Video(id=vid, source=source, info=info, extra=extra)

    def download(self, video: Video, folder: Path, hooks: list[ProgressHook] | None = None) -> Downloaded:
        """Download `video` into `folder`: video.mp4 and its best caption file.

        Raises `Filtered` when the match filter or the archive rules it out, `SkipVideo` on failure.
        """
        import yt_dlp
        from yt_dlp.utils import YoutubeDLError

        assert video.info is not None
        info = video.info
        choice, note = choose_captions(info.get("subtitles"), info.get("automatic_captions"),
                                       self.opts.lang)
        filtered: dict[str, str] = {}
        params = download_params(self.opts, folder, choice, self.archive, hooks or [], filtered)

        def attempt() -> dict[str, Any] | None:
            with yt_dlp.YoutubeDL(params) as ydl:
                return ydl.process_ie_result(info, download=True, extra_info=video.extra)
        try:
            result = self._patiently(video.id, attempt)
        except YoutubeDLError as e:
            raise SkipVideo(explain(e, self.opts.socket_timeout)) from e
        if not result or not result.get("requested_downloads"):
            raise Filtered(filtered.get(video.id, "already in the download archive"))
        vd = VideoDir(Path(folder))
        path = Path(result["requested_downloads"][0].get("filepath") or vd.video)
        if path.suffix != vd.video.suffix or not path.is_file():
            raise SkipVideo(f"yt-dlp gave {path.name}, not an mp4 file")
        if path.name != vd.video.name:
            path = path.rename(vd.video)
        caption, ext = None, None
        if choice is not None:
            sub = (result.get("requested_subtitles") or {}).get(choice.key) or {}
            got = sub.get("filepath")
            if got and Path(got).is_file():
                ext = sub.get("ext") or Path(got).suffix.lstrip(".")
                caption = Path(got).rename(vd.caption(self.opts.lang, ext))
            else:
                choice, note = None, f"the {choice.key} captions could not be downloaded"
        timing, timing_note = None, ""
        if choice is not None and not choice.automatic:
            timing, timing_note = self._automatic_beside(video, folder)
        return Downloaded(video=path, caption=caption, choice=choice, caption_ext=ext, note=note,
                          info=result, timing=timing[0] if timing else None,
                          timing_key=timing[1] if timing else None, timing_note=timing_note)

    def _automatic_beside(self, video: Video, folder: Path) -> tuple[tuple[Path, str] | None, str]:
        """The automatic captions of the spoken language, kept beside manual ones for their word
        times (captions.<lang>.auto.<ext>), with the site's language key; or None and why not.
        Only the caption file is downloaded: the video is there and the archive has it."""
        import yt_dlp
        from yt_dlp.utils import YoutubeDLError

        assert video.info is not None
        auto, note = choose_captions(None, video.info.get("automatic_captions"), self.opts.lang)
        if auto is None:
            why = f" ({note})" if video.info.get("automatic_captions") else ""
            return None, f"no automatic captions for word times{why}"
        params = download_params(self.opts, folder, auto, None, [], {})
        params.update({"skip_download": True, "match_filter": None, "postprocessors": []})

        def attempt() -> dict[str, Any] | None:
            with yt_dlp.YoutubeDL(params) as ydl:
                return ydl.process_ie_result(video.info, download=True, extra_info=video.extra)
        try:
            result = self._patiently(video.id, attempt) or {}
        except YoutubeDLError as e:
            return None, f"automatic captions could not be downloaded: {explain(e, self.opts.socket_timeout)}"
        sub = (result.get("requested_subtitles") or {}).get(auto.key) or {}
        got = sub.get("filepath")
        if not got or not Path(got).is_file():
            return None, f"the automatic {auto.key} captions could not be downloaded"
        ext = sub.get("ext") or Path(got).suffix.lstrip(".")
        return (Path(got).rename(VideoDir(Path(folder)).caption(self.opts.lang, ext, True)), auto.key), ""


def info_record(d: Downloaded, source_url: str, lang: str) -> dict[str, Any]:
    """The small, stable subset of yt-dlp's info dict that goes into info.json."""
    info = {k: d.info.get(k) for k in INFO_KEYS}
    info["source_url"] = source_url
    info["captions"] = caption_record(d.caption, lang, d.choice.key if d.choice else None,
                                      d.choice.automatic if d.choice else None)
    info["captions_note"] = d.note if d.caption is None else ""
    info["captions_timing"] = caption_record(d.timing, lang, d.timing_key, True)
    info["captions_timing_note"] = d.timing_note
    return info


def caption_record(caption: Path | None, lang: str, site_lang: str | None,
                   automatic: bool | None) -> dict[str, Any] | None:
    if caption is None:
        return None
    return {"lang": lang, "site_lang": site_lang, "format": caption.suffix.lstrip("."),
            "automatic": automatic, "file": caption.name}
