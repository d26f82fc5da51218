"""`lipreader fetch` against pages, videos and fake YouTube answers served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from builder import download, media
from builder.layout import VideoDir, video_dirs
from lipreader.cli import cli
from lipreader.config import Config
from lipreader.errors import InputError
from pipelines import fetch
from pipelines.localserver import serve_folder
from tests import fetchpages as fp

pytestmark = pytest.mark.timeout(300)  # includes the module's local servers and downloads

YT_ID = "dQw4w9WgXcQ"
YT_URL = f"https://www.youtube.com/watch?v={YT_ID}"
HASH = r"[0-9a-f]{8}"


# ---- served site ------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    fp.make_media(root)
    (root / "page.vtt").write_text(fp.vtt("hello", "world"))
    (root / "two.json3").write_text(fp.json3("good", "morning"))
    (root / "page.html").write_text(fp.page("Page one", fp.video_tag("clip.mp4", {"en": "page.vtt"})))
    (root / "two.vtt").write_text(fp.vtt("not", "this"))
    (root / "two.html").write_text(fp.page("Two", fp.video_tag("clip.mp4", [("en", "two.vtt"),
                                                                           ("en", "two.json3")]),
                                           fp.video_tag("clip.mp4")))
    (root / "novideo.html").write_text(fp.page("Nothing here", "<p>just text</p>"))
    (root / "badtrack.html").write_text(fp.page("Bad track", fp.video_tag("clip.mp4", {"en": "gone.vtt"})))
    (root / "broken.html").write_text(fp.page("Broken", fp.video_tag("/broken/clip.mp4", {"en": "page.vtt"})))
    (root / "slow.html").write_text(fp.page("Slow", fp.video_tag("/slow/clip.mp4", {"en": "page.vtt"})))
    for name, (a, b) in {"manual": ("manual", "words"), "auto": ("auto", "words"),
                         "transl": ("translated", "words")}.items():
        (root / f"{name}.vtt").write_text(fp.vtt(a, b))
        (root / f"{name}.json3").write_text(fp.json3(a, b))
    return root


@pytest.fixture(scope="module")
def base(site):
    with serve_folder(site) as url:
        yield url


@pytest.fixture(scope="module")
def odd_base(site):
    with fp.serve(site) as url:
        yield url


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_S", 0.01)


@pytest.fixture()
def cfg(tmp_path) -> Config:
    return (Config().override("general", videos=str(tmp_path / "videos"))
            .override("fetch", socket_timeout=1.0, retries=1))


def folders(cfg: Config) -> dict[str, VideoDir]:
    return {vd.id: vd for vd in video_dirs(Path(cfg.general.videos))}


def info_of(vd: VideoDir) -> dict:
    return json.loads(vd.info.read_text())


def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- generic pages --------------------------------------------------------------------

def test_one_page(cfg, site, base):
    summary = fetch.run(cfg, [f"{base}/page.html"])
    assert [o.status for o in summary.outcomes] == ["fetched"]
    [(vid, vd)] = folders(cfg).items()
    assert re.fullmatch(f"page-1-{HASH}", vid)
    assert sorted(p.name for p in vd.root.iterdir()) == ["captions.en.vtt", "info.json", "video.mp4"]
    assert vd.video.read_bytes() == (site / "clip.mp4").read_bytes()
    assert vd.caption("en", "vtt").read_text() == (site / "page.vtt").read_text()
    info = info_of(vd)
    assert info["id"] == vid and info["extractor"] == "html5" and info["title"] == "Page one (1)"
    assert info["source_url"] == info["webpage_url"] == f"{base}/page.html"
    assert (info["width"], info["height"], info["fps"]) == (160, 120, 25.0)
    assert info["duration"] == pytest.approx(1.0, abs=0.1)
    assert info["captions"] == {"lang": "en", "site_lang": "en", "format": "vtt", "automatic": False,
                                "file": "captions.en.vtt"}
    assert info["captions_note"] == ""
    assert set(download.INFO_KEYS) <= set(info)


def test_page_with_two_videos_is_a_playlist(cfg, site, base):
    summary = fetch.run(cfg, [f"{base}/two.html"])
    assert len(summary.fetched) == 2 and not summary.failed
    ids = sorted(folders(cfg))
    assert [re.sub(HASH, "H", i) for i in ids] == ["two-1-H", "two-2-H"]
    assert ids[0][-8:] == ids[1][-8:]  # one page, one hash
    first, second = (folders(cfg)[i] for i in ids)
    assert first.caption("en", "json3").read_text() == (site / "two.json3").read_text()  # json3 over vtt
    assert [p.name for p in first.captions()] == ["captions.en.json3"]
    assert info_of(first)["captions"]["format"] == "json3"
    assert info_of(second)["captions"] is None
    assert info_of(second)["captions_note"] == "no en captions"
    assert second.captions() == []


def test_ids_differ_for_same_named_pages_on_different_sites(cfg, site, base):
    with serve_folder(site) as other:
        fetch.run(cfg, [f"{base}/page.html", f"{other}/page.html"])
    ids = sorted(folders(cfg))
    assert len(ids) == 2 and all(i.startswith("page-1-") for i in ids)


def test_list_file_then_rerun_skips_everything(cfg, base, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# my talks\n\n{base}/page.html\n{base}/two.html   # two videos\n")
    first = fetch.run(cfg, [], from_file=str(urls))
    assert (len(first.fetched), len(first.skipped), len(first.failed)) == (3, 0, 0)
    archive = VideoDir.archive(cfg.general.videos).read_text().split()
    assert len(archive) == 6 and set(archive[1::2]) == set(folders(cfg))
    again = fetch.run(cfg, [str(urls)])  # a list file given as an argument works too
    assert (len(again.fetched), len(again.skipped), len(again.failed)) == (0, 3, 0)
    assert {o.reason for o in again.skipped} == {"already fetched"}


def test_max_videos_per_url(cfg, base):
    summary = fetch.run(cfg.override("fetch", max_videos=1), [f"{base}/two.html"])
    assert [re.sub(HASH, "H", o.id) for o in summary.outcomes] == ["two-1-H"]


def test_bad_urls_fail_clearly_and_the_rest_goes_on(cfg, base, capsys):
    silent = socket.socket()  # accepts connections (backlog) but never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    bad = {
        f"{base}/missing.html": "HTTP 404 not found",
        f"http://127.0.0.1:{refused_port()}/x.html": "connection refused (is the host up?)",
        f"http://127.0.0.1:{silent.getsockname()[1]}/x.html": "timed out (no answer in 1 s)",
        f"{base}/novideo.html": "no video found at this URL (yt-dlp knows no video on this page)",
        f"{base}/badtrack.html": "captions could not be downloaded: HTTP 404 not found",
        "not a url": "not a URL (http:// or https://) or an existing file",
        "missing/talk.mp4": "no such file",
    }
    try:
        summary = fetch.run(cfg, [*bad, f"{base}/page.html"])
    finally:
        silent.close()
    assert len(summary.fetched) == 1
    assert {o.source: o.reason for o in summary.failed} == bad
    out = capsys.readouterr().out
    assert "fetched 1, skipped 0, failed 7" in out
    assert f"failed  {base}/missing.html: HTTP 404 not found" in out


def test_file_urls_and_redirect_loops_fail_that_url_only(cfg, site, base, monkeypatch):
    (site / "filevideo.html").write_text(fp.page("File", fp.video_tag("file:///etc/hostname")))
    refresh = '<html><head><meta http-equiv="refresh" content="0; url={}"><title>x</title></head></html>'
    (site / "loop-a.html").write_text(refresh.format("loop-b.html"))
    (site / "loop-b.html").write_text(refresh.format("loop-a.html"))
    pages = []
    extract = download.Downloader._extract
    monkeypatch.setattr(download.Downloader, "_extract",
                        lambda self, url, ie_key=None: pages.append(url) or extract(self, url, ie_key))
    summary = fetch.run(cfg, [f"{base}/filevideo.html", f"{base}/loop-a.html", f"{base}/page.html"])
    assert len(summary.fetched) == 1
    assert {o.source: o.reason for o in summary.failed} == {
        f"{base}/filevideo.html": "file:// URLs are disabled by default in yt-dlp for security "
                                  "reasons. Use --enable-file-urls to enable at your own risk.",
        f"{base}/loop-a.html": f"gave up after {download.MAX_HOPS} pages that lead to other pages "
                               "(a redirect loop?)"}
    assert sum("loop-" in u for u in pages) == download.MAX_HOPS + 1


def test_connection_dropped_mid_file_leaves_nothing(cfg, odd_base):
    summary = fetch.run(cfg, [f"{odd_base}/broken.html"])
    [failed] = summary.failed
    assert re.fullmatch(r"download interrupted: the connection closed after \d+ of \d+ bytes", failed.reason)
    assert re.fullmatch(f"broken-1-{HASH}", failed.id)
    assert list(Path(cfg.general.videos).iterdir()) == []  # no folder, no temp, no archive line


def test_killed_mid_download_leaves_nothing_finished(cfg, base, odd_base, in_tmp):
    videos = in_tmp / "videos"
    proc = subprocess.Popen([sys.executable, "-m", "lipreader", "fetch", f"{odd_base}/slow.html",
                             "--out", str(videos), "--socket-timeout", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not list(videos.glob(".*.tmp/*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(videos.glob(".*.tmp/*.part")), "the download never started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert video_dirs(videos) == []  # only the hidden temporary folder is left
    assert [p.name.startswith(".") for p in videos.iterdir() if p.name != ".lipreader.lock"] == [True]
    summary = fetch.run(cfg.override("general", videos=str(videos)), [f"{base}/page.html"])
    assert len(summary.fetched) == 1
    assert [p.name for p in videos.iterdir() if p.name.startswith(".")] == []  # leftovers cleaned


def test_unwritable_output_folder(cfg, base, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    bad = cfg.override("general", videos=str(tmp_path / "afile" / "videos"))
    with pytest.raises(InputError, match=r"^cannot write the videos folder .*afile/videos: .*afile is a file, not a folder; .*--out"):
        fetch.run(bad, [f"{base}/page.html"])


# ---- YouTube, offline: yt-dlp's own URL matching, selection, archive and downloads ----

def youtube_answer(base: str, subtitles=None, automatic=None, vid=YT_ID, **extra) -> dict:
    """What YoutubeIE._real_extract returns, cut down: formats (a 1080p one that must not be
    chosen, and video-only + audio-only streams that yt-dlp merges with ffmpeg) and captions."""
    def caps(spec):
        return {lang: [{"ext": ext, "url": f"{base}/{name}.{ext}"} for ext in ("vtt", "json3")]
                for lang, name in (spec or {}).items()}
    return {
        "id": vid, "title": "A talk", "uploader": "Speaker", "channel": "Talks", "duration": 1,
        "license": "Creative Commons Attribution license (reuse allowed)", "language": "en",
        "webpage_url": f"https://www.youtube.com/watch?v={vid}",
        "formats": [
            {"format_id": "137", "url": f"{base}/missing-1080p.mp4", "ext": "mp4", "width": 1920,
             "height": 1080, "vcodec": "avc1.640028", "acodec": "none", "tbr": 4000},
            {"format_id": "160", "url": f"{base}/v.mp4", "ext": "mp4", "width": 160, "height": 120,
             "vcodec": "avc1.4d400c", "acodec": "none", "tbr": 100},
            {"format_id": "140", "url": f"{base}/a.m4a", "ext": "m4a", "vcodec": "none",
             "acodec": "mp4a.40.2", "tbr": 128},
        ],
        "subtitles": caps(subtitles), "automatic_captions": caps(automatic), **extra,
    }


@pytest.fixture()
def fake_youtube(monkeypatch, base):
    from yt_dlp.extractor.youtube import YoutubeIE

    calls = []

    def install(**answer):
        def real_extract(self, url):
            calls.append(url)
            return youtube_answer(base, vid=self._match_id(url), **answer)
        monkeypatch.setattr(YoutubeIE, "_real_extract", real_extract)
        return calls
    return install


@pytest.mark.parametrize("subtitles, automatic, expect", [
    (None, {"en": "auto"}, ("json3", True, "auto")),                    # automatic when no manual
    ({"en-GB": "manual"}, None, ("json3", False, "manual")),             # a regional variant
    (None, {"en": "transl", "en-orig": "auto"}, ("json3", True, "auto")),  # the original track
])
def test_youtube_caption_choice(cfg, site, fake_youtube, subtitles, automatic, expect):
    fake_youtube(subtitles=subtitles, automatic=automatic)
    summary = fetch.run(cfg, [YT_URL])
    assert [o.id for o in summary.fetched] == [YT_ID]
    vd = folders(cfg)[YT_ID]
    ext, auto, name = expect
    assert [p.name for p in vd.captions()] == [f"captions.en.{ext}"]
    assert vd.caption("en", ext).read_text() == (site / f"{name}.{ext}").read_text()
    info = info_of(vd)
    assert (info["captions"]["format"], info["captions"]["automatic"]) == (ext, auto)
    assert (info["extractor"], info["channel"], info["webpage_url"]) == ("youtube", "Talks", YT_URL)


MANUAL_TEXT = json.dumps({"events": [{"tStartMs": 0, "dDurationMs": 1000,
                                         "segs": [{"utf8": "Auto, words!"}]}]})


def _plans(vd: VideoDir, allow_estimated: bool = False) -> list:
    """The clips the video's words give on a face seen in every frame (2 s at 25 fps)."""
    from builder.clips import Limits, TrackView, plan_clip
    from builder.stages import words as wordstage
    frames = 50
    track = TrackView(usable=np.ones(frames, bool), face_width=np.full(frames, 100.0),
                      yaw=np.zeros(frames), segment=np.zeros(frames, int))
    limits = Limits(frames=9, padding=4, min_face_fraction=0.5, min_face_size=10, max_yaw=45,
                    allow_estimated=allow_estimated)
    plans = [plan_clip(w, track, limits) for w in wordstage.run(vd).words]
    return [p if isinstance(p, str) else (p.word, p.first, p.word_start_frame, p.word_end_frame)
            for p in plans]


@pytest.mark.parametrize("automatic", [{"en": "auto"}, {"en": "transl", "en-orig": "auto"}])
def test_youtube_manual_captions_come_with_the_automatic_ones(cfg, site, fake_youtube, automatic,
                                                              tmp_path):
    (site / "mtext.json3").write_text(MANUAL_TEXT)
    fake_youtube(subtitles={"en": "mtext"}, automatic=automatic)
    fetch.run(cfg, [YT_URL])
    vd = folders(cfg)[YT_ID]
    assert [p.name for p in vd.captions()] == ["captions.en.json3", "captions.en.auto.json3"]
    assert vd.caption("en", "json3").read_text() == MANUAL_TEXT
    assert vd.caption("en", "json3", True).read_text() == (site / "auto.json3").read_text()
    info = info_of(vd)
    assert info["captions"]["automatic"] is False
    assert info["captions_timing"] == {"lang": "en", "site_lang": "en-orig" if "en-orig" in automatic
                                       else "en", "format": "json3", "automatic": True,
                                       "file": "captions.en.auto.json3"}
    # the same clips as the automatic captions alone give, with the manual text
    fake_youtube(automatic=automatic)
    auto_only = cfg.override("general", videos=str(tmp_path / "auto-only"))
    fetch.run(auto_only, [YT_URL])
    plans = _plans(folders(auto_only)[YT_ID])
    assert _plans(vd) == plans == [("auto", 2, -2, 10), ("words", 14, -2, 10)]


def test_youtube_manual_captions_alone_give_clips_only_when_estimates_are_allowed(
        cfg, site, fake_youtube, capsys):
    (site / "mtext.json3").write_text(MANUAL_TEXT)
    fake_youtube(subtitles={"en": "mtext"})
    fetch.run(cfg, [YT_URL])
    vd = folders(cfg)[YT_ID]
    assert [p.name for p in vd.captions()] == ["captions.en.json3"]
    info = info_of(vd)
    assert info["captions_timing"] is None
    assert info["captions_timing_note"] == "no automatic captions for word times"
    assert ("captions en json3 (manual; no automatic captions for word times: cue-estimated times, "
            "build-dataset uses them only with --allow-estimated)") in capsys.readouterr().out
    assert _plans(vd) == ["cue-estimated timing", "cue-estimated timing"]
    assert [p[0] for p in _plans(vd, allow_estimated=True)] == ["auto", "words"]


def test_youtube_machine_translated_captions_are_not_taken(cfg, fake_youtube):
    fake_youtube(automatic={"en": "transl", "de": "auto", "de-orig": "auto"})
    fetch.run(cfg, [YT_URL])
    info = info_of(folders(cfg)[YT_ID])
    assert info["captions"] is None
    assert info["captions_note"] == "only machine-translated automatic en captions (the speech is de)"


def test_youtube_merge_height_limit_and_archive(cfg, fake_youtube):
    calls = fake_youtube(automatic={"en": "auto"})
    fetch.run(cfg, [YT_URL])
    vd = folders(cfg)[YT_ID]
    got = media.probe(vd.video)
    assert (got.width, got.height, got.has_video, got.has_audio) == (160, 120, True, True)
    assert VideoDir.archive(cfg.general.videos).read_text() == f"youtube {YT_ID}\n"
    again = fetch.run(cfg, [f"https://youtu.be/{YT_ID}"])
    assert [(o.id, o.status) for o in again.outcomes] == [(YT_ID, "skipped")]
    assert len(calls) == 1  # the archive answered without asking "YouTube"


def test_youtube_playlist(cfg, fake_youtube, monkeypatch):
    from yt_dlp.extractor.youtube import YoutubePlaylistIE, YoutubeTabIE

    ids = ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"]

    def playlist(self, url):
        return {"_type": "playlist", "id": "PLtalks", "title": "Talks", "entries": [
            {"_type": "url", "ie_key": "Youtube", "id": i, "url": f"https://www.youtube.com/watch?v={i}"}
            for i in ids]}
    for ie in (YoutubePlaylistIE, YoutubeTabIE):
        monkeypatch.setattr(ie, "_real_extract", playlist)
    calls = fake_youtube(automatic={"en": "auto"})
    url = "https://www.youtube.com/playlist?list=PLtalks"
    first = fetch.run(cfg.override("fetch", max_videos=2), [url])
    assert [(o.id, o.status) for o in first.outcomes] == [(ids[0], "fetched"), (ids[1], "fetched")]
    second = fetch.run(cfg, [url])
    assert [(o.id, o.status) for o in second.outcomes] == [
        (ids[0], "skipped"), (ids[1], "skipped"), (ids[2], "fetched")]
    assert len(calls) == 3  # finished videos were not asked for again
    assert sorted(folders(cfg)) == ids


def test_youtube_deleted_folder_is_fetched_again(cfg, fake_youtube):
    import shutil
    fake_youtube(automatic={"en": "auto"})
    fetch.run(cfg, [YT_URL])
    shutil.rmtree(folders(cfg)[YT_ID].root)
    assert [o.status for o in fetch.run(cfg, [YT_URL]).outcomes] == ["fetched"]


@pytest.mark.parametrize("option, reason", [
    ({"max_duration": 0.5}, "longer than 0.5 s (1 s)"),
    ({"license": "cc-by-sa"}, "license 'Creative Commons Attribution license (reuse allowed)' is not cc-by-sa"),
])
def test_youtube_filters_skip_with_a_reason(cfg, fake_youtube, option, reason):
    fake_youtube(automatic={"en": "auto"})
    summary = fetch.run(cfg.override("fetch", **option), [YT_URL])
    assert [(o.status, o.reason) for o in summary.outcomes] == [("skipped", reason)]
    assert folders(cfg) == {}


def test_youtube_private_video(cfg, monkeypatch):
    from yt_dlp.extractor.youtube import YoutubeIE
    from yt_dlp.utils import ExtractorError

    def private(self, url):
        raise ExtractorError("Private video. Sign in if you've been granted access to this video",
                             expected=True, video_id=YT_ID)
    monkeypatch.setattr(YoutubeIE, "_real_extract", private)
    summary = fetch.run(cfg, [YT_URL])
    assert [o.reason for o in summary.failed] == ["private video"]


def test_no_system_ffmpeg(cfg, fake_youtube, tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    media.ffmpeg_exe.cache_clear()
    try:
        assert "imageio_ffmpeg" in media.ffmpeg_exe()
        fake_youtube(automatic={"en": "auto"})
        summary = fetch.run(cfg, [YT_URL])  # yt-dlp merges video + audio with imageio's ffmpeg
        assert [o.status for o in summary.outcomes] == ["fetched"]
        assert media.probe(folders(cfg)[YT_ID].video).has_audio
    finally:
        media.ffmpeg_exe.cache_clear()


# ---- local files ------------------------------------------------------------------------

def test_local_file_with_captions(cfg, site, tmp_path):
    talks = tmp_path / "talks"
    talks.mkdir()
    (talks / "my talk.mp4").write_bytes((site / "clip.mp4").read_bytes())
    (talks / "my talk.en.json3").write_text(fp.json3("local", "words"))
    (talks / "my talk.vtt").write_text(fp.vtt("less", "good"))
    summary = fetch.run(cfg, [str(talks / "my talk.mp4")])
    [vid] = [o.id for o in summary.fetched]
    assert re.fullmatch(f"local-my_talk-{HASH}", vid)
    vd = folders(cfg)[vid]
    assert vd.video.read_bytes() == (site / "clip.mp4").read_bytes()
    assert [p.name for p in vd.captions()] == ["captions.en.json3"]
    info = info_of(vd)
    assert (info["extractor"], info["width"], info["height"]) == ("local", 160, 120)
    assert info["source_url"] == str((talks / "my talk.mp4").resolve())
    assert [o.status for o in fetch.run(cfg, [str(talks)]).outcomes] == ["skipped"]  # a folder works


def test_local_file_takes_who_speaks_from_a_metadata_file_beside_it(cfg, site, tmp_path):
    (tmp_path / "a.mp4").write_bytes((site / "clip.mp4").read_bytes())
    (tmp_path / "a.info.json").write_text(json.dumps({
        "uploader": "Ann", "channel_id": "UC1", "license": "Creative Commons Attribution license (reuse allowed)",
        "title": "not taken", "duration": 999, "language": None}))
    (tmp_path / "b.mp4").write_bytes((site / "clip.mp4").read_bytes())
    (tmp_path / "b.info.json").write_text("[1, 2]")
    outcomes = {Path(o.source).name: o for o in fetch.run(cfg, [str(tmp_path)]).outcomes}
    info = info_of(folders(cfg)[outcomes["a.mp4"].id])
    assert (info["uploader"], info["channel_id"], info["channel"]) == ("Ann", "UC1", None)
    assert info["license"].startswith("Creative Commons Attribution")
    assert (info["title"], info["duration"], info["language"]) == ("a", 1.0, None)
    assert outcomes["b.mp4"].status == "failed"
    assert outcomes["b.mp4"].reason.endswith("b.info.json: not a metadata file (expected a JSON object)")


def test_a_local_file_takes_the_automatic_track_beside_its_manual_captions(cfg, site, tmp_path, capsys):
    talks = tmp_path / "talks"
    talks.mkdir()
    for name in ("talk", "auto-only"):
        (talks / f"{name}.mp4").write_bytes((site / "clip.mp4").read_bytes())
    (talks / "talk.en.json3").write_text(MANUAL_TEXT)                    # manual: cue times only
    (talks / "talk.en.auto.json3").write_text(fp.json3("auto", "words"))  # as fetch names it
    (talks / "talk.auto.vtt").write_text(fp.vtt("less", "good"))         # json3 is the better format
    (talks / "auto-only.auto.json3").write_text(fp.json3("auto", "words"))
    fetch.run(cfg, [str(talks)])
    out = capsys.readouterr().out
    vds = {vd.id.split("-")[1]: vd for vd in folders(cfg).values()}
    vd, alone = vds["talk"], vds["auto"]
    assert [p.name for p in vd.captions()] == ["captions.en.json3", "captions.en.auto.json3"]
    assert vd.caption("en", "json3").read_text() == MANUAL_TEXT
    assert vd.caption("en", "json3", True).read_text() == fp.json3("auto", "words")
    info = info_of(vd)
    assert info["captions"]["automatic"] is False
    assert info["captions_timing"] == {"lang": "en", "site_lang": "en", "format": "json3",
                                       "automatic": True, "file": "captions.en.auto.json3"}
    assert "talk.mp4  [captions en json3 (manual, timed by the automatic ones)]" in out
    # an automatic track alone is the video's captions
    assert [p.name for p in alone.captions()] == ["captions.en.json3"]
    assert (info_of(alone)["captions"]["automatic"], info_of(alone)["captions_timing"]) == (True, None)
    assert "auto-only.mp4  [captions en json3 (automatic)]" in out
    # manual text on automatic times: the clips the automatic track alone gives
    assert _plans(vd) == _plans(alone) == [("auto", 2, -2, 10), ("words", 14, -2, 10)]


def test_local_non_mp4_is_converted(cfg, site, tmp_path):
    mkv = tmp_path / "clip.mkv"
    subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-i", str(site / "clip.mp4"), "-c", "copy",
                    str(mkv)], check=True)
    (tmp_path / "clip.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    [out] = fetch.run(cfg, [str(mkv)]).outcomes
    vd = folders(cfg)[out.id]
    assert media.probe(vd.video).has_audio and vd.caption("en", "srt").is_file()


# ---- fetch_one (for `lipreader read`) and the command line ------------------------------

def test_fetch_one(cfg, base):
    vd = fetch.fetch_one(cfg, f"{base}/page.html")
    assert vd.video.is_file() and vd.id.startswith("page-1-")
    assert fetch.fetch_one(cfg, f"{base}/page.html") == vd  # cached
    with pytest.raises(InputError, match=r"^cannot fetch .*/missing\.html: HTTP 404 not found$"):
        fetch.fetch_one(cfg, f"{base}/missing.html")


def test_cli_fetch_and_rerun(base, in_tmp):
    runner = CliRunner()
    first = runner.invoke(cli, ["fetch", f"{base}/page.html", "--socket-timeout", "1"])
    assert first.exit_code == 0, first.output
    [vd] = video_dirs(in_tmp / "data" / "videos")
    assert sorted(p.name for p in vd.root.iterdir()) == ["captions.en.vtt", "info.json", "video.mp4"]
    assert f"fetched {vd.id}" in first.stdout and "fetched 1, skipped 0, failed 0" in first.stdout
    second = runner.invoke(cli, ["fetch", f"{base}/page.html"])
    assert second.exit_code == 0
    assert f"skipped {vd.id}: already fetched" in second.stdout
    assert "fetched 0, skipped 1, failed 0" in second.stdout


def test_cli_exit_code_on_failure(base, in_tmp):
    res = CliRunner().invoke(cli, ["fetch", f"{base}/missing.html", f"{base}/page.html"])
    assert res.exit_code == 1
    assert "fetched 1, skipped 0, failed 1" in res.stdout
    assert f"failed  {base}/missing.html: HTTP 404 not found" in res.stdout


def test_cli_nothing_to_fetch(in_tmp):
    res = CliRunner().invoke(cli, ["fetch"])
    assert res.exit_code == 1
    assert "nothing to fetch: give URLs, video files or --from-file urls.txt" in res.output


# ---- small pure pieces -------------------------------------------------------------------

def test_choose_captions():
    choose = download.choose_captions
    C = download.CaptionChoice
    assert choose({"en": []}, {"en": []}, "en") == (C("en", False), "")
    assert choose({"fr": []}, {"en-orig": [], "en": []}, "en") == (C("en-orig", True), "")
    assert choose({}, {"en": []}, "en") == (C("en", True), "")
    assert choose({"fr": []}, {"fr-orig": []}, "en") == (None, "no en captions (offered: fr, fr-orig)")
    assert choose(None, None, "en") == (None, "no en captions")


def test_license_and_helpers():
    yt_cc = "Creative Commons Attribution license (reuse allowed)"
    assert download.license_matches("cc-by", yt_cc)
    assert download.license_matches("CC BY", "CC BY 4.0")
    for other in ("CC BY-SA 4.0", "CC BY-NC 4.0", "CC BY-ND 3.0",
                  "Creative Commons Attribution-NonCommercial-ShareAlike 4.0 International"):
        assert not download.license_matches("cc-by", other), other
    assert download.license_matches("cc-by-sa", "CC BY-SA 4.0")
    assert download.license_matches("cc-by-nc-sa", "Creative Commons Attribution-NonCommercial-"
                                                   "ShareAlike 4.0 International")
    assert download.license_matches("public domain", "Public Domain Mark 1.0")
    assert not download.license_matches("cc-by", "Standard YouTube License")
    assert not download.license_matches("cc-by-sa", yt_cc)
    assert not download.license_matches("cc-by", None)
    assert download.format_spec(720).startswith("bv*[height<=?720][ext=mp4]+ba[ext=m4a]/")
    assert download.folder_id({"id": YT_ID, "extractor_key": "Youtube"}, "x") == YT_ID
    assert download.folder_id({"id": "../a b", "extractor_key": "Generic"}, "u") == \
        "a_b-" + __import__("hashlib").sha1(b"u").hexdigest()[:8]
    assert [download.backoff(n) for n in (0, 1, 2)] == [0.01, 0.02, 0.04]
    page = "http://h/talks/talk-3/index.html"
    assert download.folder_id({"id": "index-1", "extractor_key": "HTML5MediaEmbed"}, page) == \
        "talk-3-1-" + __import__("hashlib").sha1(page.encode()).hexdigest()[:8]


def test_rate_limits_are_read_as_yt_dlp_reads_them():
    """[fetch] rate_limit is checked when options.toml loads, without yt-dlp (train needs none)."""
    from yt_dlp.utils import parse_bytes

    from lipreader.config import rate_bytes

    assert rate_bytes("2M") == 2 * 1024 ** 2 and rate_bytes("") is None
    for text in ("500K", "2m", "1.5 M", "100", "3G", "0", "0.1", "2MB", "M", "-1K", "1,5M", " 2M"):
        assert rate_bytes(text) == (parse_bytes(text) or None), text


def test_classify(tmp_path):
    assert fetch.classify("www.youtube.com/watch?v=x") == [fetch.Source("url", "https://www.youtube.com/watch?v=x")]
    assert fetch.classify("ftp://x/y")[0].kind == "bad"
    lst = tmp_path / "l.txt"
    (tmp_path / "v.mp4").write_bytes(b"")
    lst.write_text("v.mp4\nhttps://a.b/c#frag\n")
    assert fetch.classify(str(lst)) == [fetch.Source("file", str((tmp_path / "v.mp4").resolve())),
                                        fetch.Source("url", "https://a.b/c#frag")]
    assert os.path.basename(fetch.classify(str(tmp_path))[0].text) == "v.mp4"


def test_fetch_one_for_read_marks_the_video_in_the_same_step(cfg, base):
    mark = {"fetched_by": "lipreader read", "source": f"{base}/page.html"}
    vd = fetch.fetch_one(cfg, f"{base}/page.html", mark=mark)
    assert json.loads(vd.read_mark.read_text()) == mark
    other = fetch.fetch_one(cfg.override("general", videos=str(Path(cfg.general.videos) / "x")),
                            f"{base}/page.html")
    assert other.video.is_file() and not other.read_mark.exists()
