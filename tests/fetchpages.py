"""Tiny media, caption files and HTML pages for the fetch tests, and a server that can
misbehave (drop a connection mid-file, trickle bytes) on request."""

from __future__ import annotations

import http.server
import json
import subprocess
import time
from pathlib import Path

from builder.media import ffmpeg_exe
from pipelines.localserver import serve_folder

VTT = "WEBVTT\n\n00:00.000 --> 00:00.500\n{a}\n\n00:00.500 --> 00:01.000\n{b}\n"


def make_media(folder: Path) -> None:
    """clip.mp4 (160x120, 1 s, 25 fps, with a 440 Hz tone), video-only v.mp4, audio-only a.m4a."""
    ff = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    src = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    subprocess.run(ff + src + tone + h264 + ["-c:a", "aac", "-shortest", str(folder / "clip.mp4")], check=True)
    subprocess.run(ff + src + h264 + ["-an", str(folder / "v.mp4")], check=True)
    subprocess.run(ff + tone + ["-c:a", "aac", str(folder / "a.m4a")], check=True)


def vtt(a: str, b: str) -> str:
    return VTT.format(a=a, b=b)


def json3(a: str, b: str) -> str:
    return json.dumps({"events": [{"tStartMs": 0, "dDurationMs": 1000,
                                   "segs": [{"utf8": a}, {"utf8": f" {b}", "tOffsetMs": 500}]}]})


def video_tag(src: str, tracks: dict[str, str] | list[tuple[str, str]] | None = None) -> str:
    """An HTML5 <video> with a <source> and a <track> per (language, url) (srclang is required)."""
    pairs = tracks.items() if isinstance(tracks, dict) else (tracks or [])
    track = "".join(f'<track kind="captions" srclang="{lang}" src="{url}">' for lang, url in pairs)
    return f'<video controls><source src="{src}" type="video/mp4">{track}</video>'


def page(title: str, *videos: str) -> str:
    return f"<html><head><title>{title}</title></head><body>{''.join(videos)}</body></html>"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; /broken/<file> sends half the bytes then hangs up; /slow/<file>
    sends 1 kB every 0.2 s."""

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        for prefix in ("/broken/", "/slow/"):
            if self.path.startswith(prefix):
                return self._misbehave(prefix, Path(self.directory) / self.path[len(prefix):])
        return super().do_GET()

    def _misbehave(self, prefix: str, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if prefix == "/broken/":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        for i in range(0, len(data), 1024):
            self.wfile.write(data[i:i + 1024])
            self.wfile.flush()
            time.sleep(0.2)


def serve(folder: Path):
    """The test site on 127.0.0.1, with the slow and broken paths of `_Handler`."""
    return serve_folder(folder, handler_class=_Handler)
