"""A video file on disk, brought into the data/videos/<id>/ layout like a download.

Captions beside it are taken along: <stem>.<lang>.<ext> or <stem>.<ext> (taken as the
fetch language), ext one of json3, srv3, vtt, srt; the best format wins. An automatic track
named as fetch keeps one beside manual captions, <stem>.<lang>.auto.<ext> or <stem>.auto.<ext>,
comes along too (captions.<lang>.auto.<ext>): manual text takes its word times from it. Alone,
it is the video's captions.
A yt-dlp metadata file beside it (<stem>.info.json, as `yt-dlp --write-info-json` writes) gives
its uploader, channel, licence and language, so `--split-by channel|uploader` and `--license`
work on local files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from builder.download import caption_record, safe_id
from builder.layout import AUTO_MARK, CAPTION_EXTS, VideoDir
from builder.media import MediaInfo, ffmpeg_exe, probe
from lipreader.errors import SkipVideo

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv")


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTS


def local_id(path: Path) -> str:
    """local-<stem>-<8 hex of the absolute path>: stable, and distinct for equal names."""
    absolute = str(Path(path).resolve())
    return f"local-{safe_id(Path(path).stem)}-{hashlib.sha1(absolute.encode('utf-8')).hexdigest()[:8]}"


def signature(path: Path) -> dict[str, Any]:
    """Size and modification time: a changed file is imported again."""
    st = Path(path).stat()
    return {"source_size": st.st_size, "source_mtime": int(st.st_mtime)}


def find_caption(video: Path, lang: str, automatic: bool = False) -> Path | None:
    """The best caption file beside `video` in `lang` (json3 > srv3 > vtt > srt); with
    `automatic`, the best automatic track (<stem>.<lang>.auto.<ext>, <stem>.auto.<ext>)."""
    mark = f".{AUTO_MARK}" if automatic else ""
    for ext in CAPTION_EXTS:
        for name in (f"{video.stem}.{lang}{mark}.{ext}", f"{video.stem}{mark}.{ext}"):
            p = video.with_name(name)
            if p.is_file():
                return p
    return None


SIDECAR_KEYS = ("uploader", "uploader_id", "channel", "channel_id", "license", "language")


def sidecar_info(video: Path) -> dict[str, Any]:
    """The metadata keys of <stem>.info.json beside `video` that describe who speaks and on what
    terms; {} when there is none. A file that is not a JSON object skips the video."""
    p = video.with_name(f"{video.stem}.info.json")
    if not p.is_file():
        return {}
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SkipVideo(f"{p}: not a readable metadata file ({e})") from e
    if not isinstance(info, dict):
        raise SkipVideo(f"{p}: not a metadata file (expected a JSON object)")
    return {k: info[k] for k in SIDECAR_KEYS if isinstance(info.get(k), str) and info[k]}


def import_file(path: Path, folder: Path, lang: str) -> dict[str, Any]:
    """Copy (or, for other containers, convert) `path` to folder/video.mp4 with its captions.

    Returns the info.json record.
    """
    path = Path(path).resolve()
    vd = VideoDir(Path(folder))
    target = vd.video
    if path.suffix.lower() == ".mp4":
        shutil.copyfile(path, target)
    else:
        _to_mp4(path, target)
    media = _probe(target, path)
    meta = sidecar_info(path)
    caption, timing = find_caption(path, lang), find_caption(path, lang, automatic=True)
    automatic = caption is None and timing is not None
    if automatic:
        caption, timing = timing, None
    copied = _copy(caption, vd.caption(lang, caption.suffix.lstrip("."))) if caption else None
    timed = _copy(timing, vd.caption(lang, timing.suffix.lstrip("."), True)) if timing else None
    return {
        "id": local_id(path),
        "extractor": "local",
        "title": path.stem,
        "webpage_url": path.as_uri(),
        "source_url": str(path),
        "uploader": None, "channel": None, "license": None, "language": None, **meta,
        "duration": media.duration, "fps": media.fps, "width": media.width, "height": media.height,
        "captions": caption_record(copied, lang, lang, automatic),
        "captions_timing": caption_record(timed, lang, lang, True),
        "captions_note": "" if copied else f"no {lang} captions beside the file "
                                           f"({path.stem}.{lang}.vtt, .json3 or .srt)",
        **signature(path),
    }


def _copy(src: Path, dst: Path) -> Path:
    shutil.copyfile(src, dst)
    return dst


def _probe(target: Path, original: Path) -> MediaInfo:
    from lipreader.errors import InputError
    try:
        media = probe(target)
    except InputError as e:
        raise SkipVideo(f"{original}: not a readable video file") from e
    if not media.has_video:
        raise SkipVideo(f"{original}: has no video stream")
    return media


def _to_mp4(src: Path, dst: Path) -> None:
    """Repackage into mp4 when the streams allow it, else re-encode (H.264 + AAC)."""
    base = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
            "-map", "0:v:0", "-map", "0:a:0?"]
    tries = (["-c", "copy"],
             ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
              "-threads", "4", "-c:a", "aac", "-b:a", "128k"])
    err = ""
    for codec in tries:
        res = subprocess.run(base + codec + ["-movflags", "+faststart", str(dst)],
                             capture_output=True, text=True, errors="replace")
        if res.returncode == 0:
            return
        err = res.stderr.strip()
        if dst.exists():
            os.unlink(dst)
    raise SkipVideo(f"{src}: ffmpeg could not convert it to mp4: {err.splitlines()[-1] if err else '?'}")
