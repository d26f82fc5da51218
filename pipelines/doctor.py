"""`lipreader doctor`: one screen that says what will work here and what will not, and the fix.

Fast and offline: versions come from package metadata and `--version` runs; only torch and
yt-dlp are imported (CUDA and the JavaScript runtime cannot be known otherwise). A failed
check names the commands it stops; the exit status is 1 when one of the commands asked
about (all by default) cannot work.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click

from lipreader import __version__
from lipreader.config import Config, load_config
from lipreader.errors import ConfigError

COMMANDS = ("fetch", "build-dataset", "train", "read", "demo")
MEDIA = ("fetch", "build-dataset", "read", "demo")      # ffmpeg, and fetch's yt-dlp for read/demo
FACES = ("build-dataset", "read", "demo")              # mediapipe
TORCH = ("train", "read", "demo")
YT_DLP_MIN = (2025, 11, 12)   # the first release that solves YouTube's challenges with a JS runtime
YT_DLP_STALE_DAYS = 90        # YouTube changes often; older yt-dlp releases break one by one
LOW_DISK = 5 * 2**30
UPGRADE = 'pip install -U "yt-dlp[default]"'
MEDIAPIPE_FILES = ("modules/face_landmark/face_landmark_front_cpu.binarypb",
                   "modules/face_landmark/face_landmark_with_attention.tflite",
                   "modules/face_detection/face_detection_short_range.tflite")


@dataclass(frozen=True)
class Check:
    status: str                       # "ok", "warn" or "fail"
    name: str
    detail: str
    fix: str = ""
    needed_by: tuple[str, ...] = ()   # the commands a failure stops

    def line(self) -> str:
        text = f"{self.status if self.status != 'fail' else 'FAIL':<5} {self.name:<13} {self.detail}"
        return text + (f" -> {self.fix}" if self.fix else "")


def today() -> datetime.date:
    return datetime.date.today()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0] if out else ""


def check_python() -> Check:
    v = sys.version_info
    text = f"{v.major}.{v.minor}.{v.micro}"
    if (3, 10) <= v[:2] <= (3, 12):
        return Check("ok", "python", text)
    return Check("warn", "python", f"{text} is untested (mediapipe 0.10.21 has wheels for 3.10-3.12)",
                 "use Python 3.10, 3.11 or 3.12")


def check_config(path: str | None) -> tuple[Check, Config]:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        return Check("fail", "config", str(e), "correct it (`lipreader config` shows the options in effect)",
                     COMMANDS), Config()
    where = cfg.source if cfg.source != "(defaults)" else "defaults (no options.toml here)"
    return Check("ok", "config", where), cfg


def check_ffmpeg() -> Check:
    from builder.media import ffmpeg_exe
    from lipreader.errors import InputError

    ffmpeg_exe.cache_clear()
    try:
        exe = ffmpeg_exe()
    except InputError:
        return Check("fail", "ffmpeg", "none found (neither on PATH nor from imageio-ffmpeg)",
                     "install ffmpeg (apt-get install ffmpeg) or pip install imageio-ffmpeg", MEDIA)
    found = re.match(r"ffmpeg version (\S+)", _first_line([exe, "-version"]))
    if not found:
        return Check("fail", "ffmpeg", f"{exe} does not run", "install ffmpeg (apt-get install ffmpeg) "
                     "or pip install --force-reinstall imageio-ffmpeg", MEDIA)
    origin = "system" if exe == shutil.which("ffmpeg") else "bundled with imageio-ffmpeg"
    return Check("ok", "ffmpeg", f"{found.group(1)} ({origin}: {exe})")


def check_yt_dlp() -> Check:
    version = _version("yt-dlp")
    if version is None:
        return Check("fail", "yt-dlp", "not installed", 'pip install "yt-dlp[default]"', MEDIA)
    parts = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
    if parts < YT_DLP_MIN:
        return Check("fail", "yt-dlp", f"{version} cannot solve YouTube's JavaScript challenges",
                     UPGRADE, ("fetch", "read"))
    age = (today() - datetime.date(*parts)).days
    if age > YT_DLP_STALE_DAYS:
        return Check("warn", "yt-dlp", f"{version} is {age} days old; YouTube changes often and "
                     "old releases stop working", UPGRADE)
    return Check("ok", "yt-dlp", f"{version} ({max(age, 0)} days old)")


def check_js_runtime() -> Check:
    from builder import jsruntime
    from builder.download import js_runtime

    jsruntime.find_deno.cache_clear()
    info = js_runtime()
    ejs = _version("yt-dlp-ejs")
    solver = f", solver scripts yt-dlp-ejs {ejs}" if ejs else ""
    if info is None:
        return Check("fail", "javascript", "no runtime for YouTube's challenges: downloads fail "
                     "with 'Requested format is not available'", jsruntime.FIX, ("fetch", "read"))
    if not info.supported:
        return Check("fail", "javascript", f"{info.name} {info.version} is too old for yt-dlp ({info.path})",
                     jsruntime.FIX, ("fetch", "read"))
    ours = jsruntime.find_deno()
    origin = f", {ours.origin}" if ours and ours.path == info.path else ""
    text = f"{info.name} {info.version} ({info.path}{origin}){solver}"
    if not ejs:
        return Check("warn", "javascript", text + ", without yt-dlp-ejs", 'pip install "yt-dlp[default]"')
    return Check("ok", "javascript", text)


def check_mediapipe() -> Check:
    version = _version("mediapipe")
    spec = importlib.util.find_spec("mediapipe") if version else None
    if version is None or spec is None or not spec.submodule_search_locations:
        return Check("fail", "mediapipe", "not installed", "pip install mediapipe==0.10.21", FACES)
    root = Path(list(spec.submodule_search_locations)[0])
    missing = [f for f in MEDIAPIPE_FILES if not (root / f).is_file()]
    if missing:
        return Check("fail", "mediapipe", f"{version} lacks its face models ({', '.join(missing)})",
                     "pip install --force-reinstall mediapipe==0.10.21", FACES)
    numpy = _version("numpy") or "?"
    if not numpy.startswith("1."):
        return Check("fail", "mediapipe", f"{version} with numpy {numpy} (it needs numpy<2)",
                     'pip install "numpy<2"', FACES)
    if version != "0.10.21":
        return Check("warn", "mediapipe", f"{version}: only 0.10.21 is tested (later releases ship no "
                     "face models)", "pip install mediapipe==0.10.21")
    return Check("ok", "mediapipe", f"{version}, face models bundled, numpy {numpy}")


def check_torch(cfg: Config) -> Check:
    if importlib.util.find_spec("torch") is None:
        return Check("fail", "torch", "not installed", "pip install torch (see pytorch.org for a CUDA build)",
                     TORCH)
    import torch

    version = torch.__version__
    if not torch.cuda.is_available():
        if cfg.general.device == "cuda":
            return Check("fail", "torch", f"{version}: no CUDA GPU, and [general] device is cuda",
                         "install a CUDA build of torch, or set [general] device to auto", ("train", "read"))
        return Check("warn", "torch", f"{version}: no CUDA GPU, training runs on the CPU (slow)",
                     "a CUDA build of torch on a machine with an NVIDIA GPU")
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    bf16 = "bf16" if torch.cuda.is_bf16_supported() else "no bf16 (fp16 autocast)"
    return Check("ok", "torch", f"{version}, CUDA {torch.version.cuda}, {bf16}, "
                 f"{len(names)} GPU{'s' if len(names) != 1 else ''}: {', '.join(names)}")


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(cfg: Config) -> list[Check]:
    """Free space under the data folders, one line per disk."""
    folders = [cfg.general.videos, cfg.general.dataset, str(Path(cfg.general.pretrainedmodelpath).parent)]
    disks: dict[int, list[str]] = {}
    for folder in folders:
        disks.setdefault(_existing(Path(folder)).stat().st_dev, []).append(folder)
    checks = []
    for names in disks.values():
        free = shutil.disk_usage(_existing(Path(names[0]))).free
        text = f"{free / 2**30:.1f} GiB free for {', '.join(names)}"
        checks.append(Check("warn", "disk", text, "free some space, or point [general] at a larger disk")
                      if free < LOW_DISK else Check("ok", "disk", text))
    return checks


def check_cookies(cfg: Config) -> list[Check]:
    from builder.access import check_cookie_file

    f = cfg.fetch
    checks = []
    if f.cookies:
        try:
            check_cookie_file(f.cookies)
            checks.append(Check("ok", "cookies", f"{f.cookies} (Netscape format)"))
        except ConfigError as e:
            checks.append(Check("fail", "cookies", str(e), "fix [fetch] cookies", ("fetch", "read")))
    if f.cookies_from_browser:
        checks.append(Check("ok", "cookies", f"read from the browser {f.cookies_from_browser} when fetching"))
    return checks


def run_checks(config_path: str | None) -> list[Check]:
    config, cfg = check_config(config_path)
    steps: list[Callable[[], Check | list[Check]]] = [
        check_python, lambda: config, check_ffmpeg, check_yt_dlp, check_js_runtime, check_mediapipe,
        lambda: check_torch(cfg), lambda: check_disk(cfg), lambda: check_cookies(cfg)]
    checks: list[Check] = []
    for step in steps:
        got = step()
        checks += got if isinstance(got, list) else [got]
    return checks


def verdict(checks: list[Check], commands: tuple[str, ...]) -> tuple[list[Check], list[str]]:
    """Failures that no asked-about command needs become warnings; the commands that cannot work."""
    shown, broken = [], []
    for c in checks:
        hit = [cmd for cmd in c.needed_by if cmd in commands]
        if c.status == "fail" and not hit:
            c = replace(c, status="warn", detail=f"{c.detail} (only {', '.join(c.needed_by)} need it)")
        broken += [cmd for cmd in hit if c.status == "fail" and cmd not in broken]
        shown.append(c)
    return shown, [cmd for cmd in COMMANDS if cmd in broken]


def run(config_path: str | None, commands: tuple[str, ...] = ()) -> int:
    """Print the checks; the exit status: 1 when one of `commands` (all when empty) cannot work."""
    commands = commands or COMMANDS
    click.echo(f"lipreader {__version__} on {sys.executable}")
    shown, broken = verdict(run_checks(config_path), commands)
    for c in shown:
        click.echo(c.line())
    if broken:
        click.echo(f"{', '.join(broken)} will not work here: see FAIL above")
        return 1
    click.echo(f"{', '.join(commands)}: everything needed is here")
    return 0
