"""Being let in and not hammering: cookies, pacing, and what to do when a site says stop.

Plain values in, yt-dlp option entries out (builder/download.py passes them on). Cookie
values are never put in a message: a bad line of a cookies file is named by its number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lipreader.errors import ConfigError

NETSCAPE_FIELDS = 7  # domain, subdomains, path, https only, expires, name, value
HTTPONLY = "#HttpOnly_"  # browsers' exporters prefix HttpOnly cookies' lines with it
EXPORT = ("export them from your browser in Netscape format (a cookies.txt exporter "
          "extension), or use --cookies-from-browser")
BROWSER_SPEC = re.compile(r"(?P<name>[^+:]+)(?:\+(?P<keyring>[^:]+))?(?::(?P<profile>.+?))?"
                          r"(?:::(?P<container>.+))?")


def check_cookie_file(text: str) -> None:
    """Raise ConfigError unless `text` is the path of a readable Netscape cookies file."""
    path = Path(text).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"cookies file {text} does not exist; {EXPORT}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cookies file {text}: cannot read it ({type(e).__name__}); {EXPORT}") from None
    body = [(n, ln.removeprefix(HTTPONLY)) for n, ln in enumerate(lines, 1)]
    body = [(n, ln) for n, ln in body if ln.strip() and not ln.startswith("#")]
    if body and body[0][1].lstrip()[:1] in ("[", "{"):
        raise ConfigError(f"cookies file {text} is JSON, not the Netscape format; {EXPORT}")
    for n, line in body:
        fields = line.split("\t")
        if len(fields) != NETSCAPE_FIELDS or (fields[4] and not re.fullmatch(r"\d+(\.\d+)?", fields[4])):
            raise ConfigError(f"cookies file {text}, line {n}: not a Netscape cookie line "
                              f"({NETSCAPE_FIELDS} tab-separated fields); {EXPORT}")
    if not body:
        raise ConfigError(f"cookies file {text} holds no cookies; {EXPORT}")


def browser_spec(text: str, supported: set[str] | frozenset[str]) -> tuple[str, str | None, str | None, str | None]:
    """'firefox:default-release' -> yt-dlp's cookiesfrombrowser tuple (name, profile, keyring, container)."""
    m = BROWSER_SPEC.fullmatch(text.strip())
    name = m.group("name").lower() if m else ""
    if name not in supported:
        raise ConfigError(f"--cookies-from-browser {text}: unknown browser {name or text!r} "
                          f"(one of {', '.join(sorted(supported))}, optionally NAME:PROFILE)")
    keyring = m.group("keyring").upper() if m.group("keyring") else None
    return name, m.group("profile"), keyring, m.group("container")


def cookie_params(cookies: str, from_browser: str, browsers: set[str] | frozenset[str]) -> dict[str, Any]:
    """yt-dlp's `cookiefile` / `cookiesfrombrowser` for [fetch] cookies / cookies_from_browser."""
    params: dict[str, Any] = {}
    if cookies:
        check_cookie_file(cookies)
        params["cookiefile"] = str(Path(cookies).expanduser())
    if from_browser:
        params["cookiesfrombrowser"] = browser_spec(from_browser, browsers)
    return params


def pacing_params(sleep_requests: float, sleep_interval: float, max_sleep_interval: float) -> dict[str, Any]:
    """yt-dlp's pauses: between requests while extracting, and before each download
    (random between the two bounds when max_sleep_interval is set)."""
    if max_sleep_interval and max_sleep_interval < sleep_interval:
        raise ConfigError(f"[fetch] max_sleep_interval ({max_sleep_interval:g}) must be at least "
                          f"sleep_interval ({sleep_interval:g})")
    if max_sleep_interval and not sleep_interval:
        raise ConfigError("[fetch] max_sleep_interval needs sleep_interval (the shortest pause) too")
    params = {"sleep_interval_requests": sleep_requests, "sleep_interval": sleep_interval,
              "max_sleep_interval": max_sleep_interval}
    return {k: v for k, v in params.items() if v}


def advice(reason: str, source: str, after: int, cookies: bool, paced: bool) -> str:
    """The lines that end a batch stopped by a rate limit or a bot check: what to do next."""
    rest = f" and the {after} after it" if after else ""
    return "\n".join([
        f"stopped: the site refuses more requests ({reason}); {source}{rest} left for a re-run",
        "  wait (an hour or more), then run the same command again: finished videos are skipped",
        "  " + ("your cookies may have expired: export them again" if cookies else
                "sign in: --cookies cookies.txt (Netscape format) or --cookies-from-browser firefox"),
        "  " + ("slow down more: larger --sleep-requests and --sleep-interval" if paced else
                "slow down: --sleep-requests 1 --sleep-interval 5 --max-sleep-interval 30"),
    ])
