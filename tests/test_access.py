"""Sites that want cookies, and sites that say "too many requests": served on 127.0.0.1."""

from __future__ import annotations

import http.server
import logging
import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder import access, download
from lipreader.cli import cli
from lipreader.config import Config, Fetch
from lipreader.errors import ConfigError
from pipelines import fetch
from pipelines.localserver import serve_folder
from tests import fetchpages as fp

pytestmark = pytest.mark.timeout(300)

SECRET = "s3cr3t-0f-th3-s1gned-1n-us3r"
YT_ID = "dQw4w9WgXcQ"


class CookieSite(http.server.SimpleHTTPRequestHandler):
    """Everything under /members/ only for a request that carries the session cookie."""

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/members/") and f"session={SECRET}" not in (self.headers.get("Cookie") or ""):
            self.send_error(403)
            return
        super().do_GET()


class BusySite(http.server.SimpleHTTPRequestHandler):
    """Answers HTTP 429 to every page request after the first `pages` of them (a class
    attribute: tests set it, and reset `served` to let the site recover)."""

    pages = 2
    served = 0
    refused = 0
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        if self.path.endswith(".html"):
            with BusySite.lock:
                busy = BusySite.served >= BusySite.pages
                BusySite.served += not busy
                BusySite.refused += busy
            if busy:
                self.send_error(429)
                return
        super().do_GET()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    fp.make_media(root)
    (root / "members").mkdir()
    (root / "members" / "clip.mp4").write_bytes((root / "clip.mp4").read_bytes())
    (root / "members" / "talk.vtt").write_text(fp.vtt("members", "only"))
    (root / "members" / "talk.html").write_text(fp.page("Members", fp.video_tag("clip.mp4", {"en": "talk.vtt"})))
    (root / "page.vtt").write_text(fp.vtt("hello", "world"))
    for name in ("one", "two", "three", "four"):
        (root / f"{name}.html").write_text(fp.page(name, fp.video_tag("clip.mp4", {"en": "page.vtt"})))
    return root


@pytest.fixture()
def cfg(tmp_path) -> Config:
    return (Config().override("general", videos=str(tmp_path / "videos"))
            .override("fetch", socket_timeout=5.0, retries=1, throttle_wait=0.001))


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_S", 0.001)


def cookies_txt(path: Path, value: str = SECRET) -> Path:
    path.write_text("# Netscape HTTP Cookie File\n\n"
                    f"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{value}\n"
                    f"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tother\tx\n")
    return path


def everything_written(videos: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in videos.rglob("*") if p.is_file())


# ---- cookies ------------------------------------------------------------------------

def test_a_members_only_video_needs_the_cookies_and_they_leak_nowhere(site, in_tmp, caplog):
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    with serve_folder(site, handler_class=CookieSite) as base:
        url = f"{base}/members/talk.html"
        without = runner.invoke(cli, ["fetch", url])
        jar = cookies_txt(in_tmp / "cookies.txt")
        before = jar.read_text()
        with_cookies = runner.invoke(cli, ["fetch", url, "--cookies", str(jar)])
    assert without.exit_code == 1
    assert without.stdout.splitlines()[-1] == (
        f"  failed  {url}: HTTP 403 forbidden (signed in? --cookies FILE or --cookies-from-browser NAME)")
    assert with_cookies.exit_code == 0, with_cookies.output
    assert with_cookies.stdout.splitlines()[-1] == "fetched 1, skipped 0, failed 0"
    [folder] = [p for p in (in_tmp / "data" / "videos").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert (folder / "captions.en.vtt").read_text() == fp.vtt("members", "only")
    for text in (without.output, with_cookies.output, caplog.text,
                 everything_written(in_tmp / "data" / "videos")):
        assert SECRET not in text
    assert SECRET in jar.read_text() and jar.read_text().count("\t") == before.count("\t")


def test_cookies_options_in_options_toml(site, in_tmp):
    cookies_txt(in_tmp / "cookies.txt")
    (in_tmp / "options.toml").write_text('[fetch]\ncookies = "cookies.txt"\n')
    with serve_folder(site, handler_class=CookieSite) as base:
        res = CliRunner().invoke(cli, ["fetch", f"{base}/members/talk.html"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("content, error", [
    (None, "cookies file {f} does not exist; export them from your browser in Netscape format "
           "(a cookies.txt exporter extension), or use --cookies-from-browser"),
    ('[{"name": "session", "value": "' + SECRET + '"}]',
     "cookies file {f} is JSON, not the Netscape format; export them"),
    (f"# Netscape HTTP Cookie File\n127.0.0.1 FALSE / FALSE 0 session {SECRET}\n",
     "cookies file {f}, line 2: not a Netscape cookie line (7 tab-separated fields); export them"),
    ("# Netscape HTTP Cookie File\n\n", "cookies file {f} holds no cookies; export them"),
])
def test_bad_cookie_files_are_one_line_without_their_values(in_tmp, content, error):
    jar = in_tmp / "jar.txt"
    if content is not None:
        jar.write_text(content)
    res = CliRunner().invoke(cli, ["fetch", "http://127.0.0.1:9/x.html", "--cookies", str(jar)])
    assert res.exit_code == 1
    [line] = res.output.splitlines()
    assert line.startswith("Error: " + error.format(f=jar))
    assert SECRET not in res.output


def test_browser_cookies():
    browsers = {"firefox", "chrome"}
    assert access.browser_spec("firefox", browsers) == ("firefox", None, None, None)
    assert access.browser_spec("chrome+gnomekeyring:Profile 1", browsers) == (
        "chrome", "Profile 1", "GNOMEKEYRING", None)
    assert access.browser_spec("Firefox:default-release::Work", browsers) == (
        "firefox", "default-release", None, "Work")
    with pytest.raises(ConfigError, match=r"^--cookies-from-browser netscape4: unknown browser 'netscape4' "
                                          r"\(one of chrome, firefox, optionally NAME:PROFILE\)$"):
        access.browser_spec("netscape4", browsers)
    params = download.base_params(fetch.download_settings(Fetch(cookies_from_browser="firefox:abc")))
    assert params["cookiesfrombrowser"] == ("firefox", "abc", None, None)


def test_an_unreadable_browser_is_one_error(in_tmp, monkeypatch):
    monkeypatch.setenv("HOME", str(in_tmp))  # no browser profiles here
    res = CliRunner().invoke(cli, ["fetch", "http://127.0.0.1:9/a.html", "http://127.0.0.1:9/b.html",
                                   "--cookies-from-browser", "firefox"])
    assert res.exit_code == 1
    [line] = res.output.splitlines()
    assert line.startswith("Error: --cookies-from-browser firefox: cannot read that browser's cookies (")
    assert line.endswith("); is it installed, and the profile right? Or export a cookies.txt and use --cookies")


# ---- pacing ---------------------------------------------------------------------------

def test_pacing_options_reach_yt_dlp(site, cfg, monkeypatch):
    from yt_dlp.downloader import common

    paced = cfg.override("fetch", sleep_requests=0.001, sleep_interval=0.002)
    params = download.base_params(fetch.download_settings(paced.fetch))
    assert (params["sleep_interval_requests"], params["sleep_interval"]) == (0.001, 0.002)
    assert "max_sleep_interval" not in params
    assert "sleep_interval" not in download.base_params(fetch.download_settings(cfg.fetch))
    slept = []
    real_sleep = common.time.sleep
    monkeypatch.setattr(common.time, "sleep", lambda s: (slept.append(s), real_sleep(s)))
    with serve_folder(site) as base:
        summary = fetch.run(paced, [f"{base}/one.html"])
    assert len(summary.fetched) == 1
    assert 0.002 in slept  # yt-dlp's pause before the download


@pytest.mark.parametrize("values, error", [
    ({"sleep_interval": 5.0, "max_sleep_interval": 2.0},
     "[fetch] max_sleep_interval (2) must be at least sleep_interval (5)"),
    ({"max_sleep_interval": 2.0}, "[fetch] max_sleep_interval needs sleep_interval (the shortest pause) too"),
])
def test_pacing_bounds(values, error):
    with pytest.raises(ConfigError) as e:
        download.base_params(fetch.download_settings(Fetch(**values)))
    assert str(e.value) == error
    res = CliRunner().invoke(cli, ["fetch", "x", "--sleep-requests", "-1"])
    assert res.output.strip() == "Error: --sleep-requests: [fetch] sleep_requests must be at least 0, got -1.0"


# ---- rate limits and bot checks: back off, stop, continue later ---------------------------

def test_a_rate_limiting_site_stops_the_batch_and_a_rerun_completes_it(site, cfg, capsys):
    BusySite.pages, BusySite.served, BusySite.refused = 2, 0, 0
    with serve_folder(site, handler_class=BusySite) as base:
        urls = [f"{base}/{name}.html" for name in ("one", "two", "three", "four")]
        first = fetch.run(cfg, urls)
        refused = BusySite.refused
        assert [(o.source, o.status) for o in first.outcomes] == [
            (urls[0], "fetched"), (urls[1], "fetched"), (urls[2], "failed")]
        assert first.failed[0].reason == "HTTP 429 too many requests (the site is rate-limiting)"
        # backed off: 1 retry, twice (throttle_wait, then twice that), then stopped; four not asked
        printed = capsys.readouterr()
        waits = re.findall(r"waiting ([\d.e-]+) s before trying again", printed.err)
        assert waits == ["0.001", "0.002"]
        assert refused == download.THROTTLE_TRIES * (cfg.fetch.retries + 1)
        out = printed.out
        assert out.endswith(
            "fetched 2, skipped 0, failed 1\n"
            f"  failed  {urls[2]}: HTTP 429 too many requests (the site is rate-limiting)\n"
            "stopped: the site refuses more requests (HTTP 429 too many requests (the site is "
            f"rate-limiting)); {urls[2]} and the 1 after it left for a re-run\n"
            "  wait (an hour or more), then run the same command again: finished videos are skipped\n"
            "  sign in: --cookies cookies.txt (Netscape format) or --cookies-from-browser firefox\n"
            "  slow down: --sleep-requests 1 --sleep-interval 5 --max-sleep-interval 30\n")
        BusySite.pages, BusySite.served = 100, 0  # the site has calmed down
        again = fetch.run(cfg, urls)
    assert [o.status for o in again.outcomes] == ["skipped", "skipped", "fetched", "fetched"]
    assert not again.stopped
    assert len([p for p in Path(cfg.general.videos).iterdir() if p.is_dir()]) == 4


def test_youtube_bot_check_stops_the_batch(cfg, monkeypatch, capsys):
    from yt_dlp.extractor.youtube import YoutubeIE
    from yt_dlp.utils import ExtractorError

    asked = []

    def bot_check(self, url):
        asked.append(url)
        raise ExtractorError("Sign in to confirm you're not a bot. Use --cookies-from-browser or "
                             "--cookies for the authentication.", expected=True, video_id=YT_ID)
    monkeypatch.setattr(YoutubeIE, "_real_extract", bot_check)
    urls = [f"https://www.youtube.com/watch?v={YT_ID}", "https://www.youtube.com/watch?v=aaaaaaaaaaa"]
    summary = fetch.run(cfg.override("fetch", cookies_from_browser="", sleep_requests=0.001), urls)
    assert len(asked) == download.THROTTLE_TRIES  # one video asked three times, the next one never
    assert [(o.source, o.reason) for o in summary.failed] == [
        (urls[0], "YouTube asks to sign in to confirm this is not a bot; try later or use cookies")]
    assert summary.stopped.splitlines()[0] == (
        "stopped: the site refuses more requests (YouTube asks to sign in to confirm this is not a "
        f"bot; try later or use cookies); {urls[0]} and the 1 after it left for a re-run")
    assert summary.stopped.splitlines()[-1] == "  slow down more: larger --sleep-requests and --sleep-interval"
    assert "stopped: the site refuses" in capsys.readouterr().out
