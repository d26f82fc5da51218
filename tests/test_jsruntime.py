"""Deno for YouTube's JavaScript challenges: found, handed to yt-dlp, and run by yt-dlp itself."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from builder import download, jsruntime
from lipreader.config import Fetch
from pipelines.fetch import download_settings


@pytest.fixture(autouse=True)
def fresh():
    jsruntime.find_deno.cache_clear()
    yield
    jsruntime.find_deno.cache_clear()


def fake_deno(folder: Path, version: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deno"
    path.write_text(f"#!/bin/sh\necho 'deno {version} (stable, release, x86_64-unknown-linux-gnu)'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_yt_dlp_with_our_options_finds_deno_and_runs_a_script_through_it():
    import yt_dlp
    from yt_dlp.extractor.youtube.jsc._builtin.ejs import ScriptSource
    from yt_dlp.extractor.youtube.jsc._director import initialize_jsc_director

    params = download.base_params(download_settings(Fetch()))
    packaged = jsruntime._packaged()
    assert packaged and params["js_runtimes"] == {"deno": {"path": jsruntime.find_deno().path}}
    with yt_dlp.YoutubeDL(params) as ydl:
        info = ydl._js_runtimes["deno"].info
        assert (info.name, info.supported) == ("deno", True)
        # the challenge provider YouTube's extractor would use, as yt-dlp sets it up
        director = initialize_jsc_director(ydl.get_info_extractor("Youtube"))
        [deno] = [p for p in director.providers.values() if p.PROVIDER_NAME == "deno"]
        assert deno.is_available()
        lib = deno._lib_script  # the solver's library, from the installed yt-dlp-ejs package
        assert lib.source == ScriptSource.PYPACKAGE
        out = deno._run_js_runtime(f"{lib.code}\nObject.assign(globalThis, lib);\n"
                                   "console.log(JSON.stringify({sum: 20 + 22, lib: typeof lib}));")
    assert out.strip() == '{"sum":42,"lib":"object"}'
    assert download.js_runtime().path == info.path


def test_a_newer_deno_on_path_wins(tmp_path, monkeypatch):
    newer = fake_deno(tmp_path / "bin", "99.0.1")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    got = jsruntime.find_deno()
    assert (got.path, got.version, got.origin) == (newer, (99, 0, 1), "PATH")
    assert download.base_params(download_settings(Fetch()))["js_runtimes"] == {"deno": {"path": newer}}


def test_an_older_deno_on_path_loses_to_the_package(tmp_path, monkeypatch):
    fake_deno(tmp_path / "bin", "1.46.0")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    got = jsruntime.find_deno()
    assert (got.path, got.origin) == (jsruntime._packaged(), "the deno package")


def test_no_deno_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(jsruntime, "_packaged", lambda: None)
    assert jsruntime.find_deno() is None
    assert jsruntime.yt_dlp_option() == {"deno": {}}  # yt-dlp's own search, and its warning
    assert jsruntime.choose([(str(tmp_path / "missing"), "PATH"), (None, "the deno package")]) is None
