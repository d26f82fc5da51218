"""`lipreader doctor`: a healthy install, ffmpeg missing, a broken options.toml, an old yt-dlp."""

from __future__ import annotations

import datetime
import importlib.metadata

import pytest
from click.testing import CliRunner

from builder import media
from lipreader.cli import cli
from pipelines import doctor

YT_DLP = importlib.metadata.version("yt-dlp")
RELEASED = datetime.date(*(int(x) for x in YT_DLP.split(".")[:3]))


@pytest.fixture(autouse=True)
def fresh_ffmpeg():
    media.ffmpeg_exe.cache_clear()
    yield
    media.ffmpeg_exe.cache_clear()


@pytest.fixture()
def released(monkeypatch):
    """Today is `days` after the installed yt-dlp's release."""
    def at(days: int) -> None:
        monkeypatch.setattr(doctor, "today", lambda: RELEASED + datetime.timedelta(days=days))
    at(10)
    return at


def lines(output: str) -> dict[str, str]:
    """'ok    ffmpeg  ...' lines by name (the first of each name)."""
    found: dict[str, str] = {}
    for line in output.splitlines()[1:-1]:
        found.setdefault(line[6:19].strip(), line)
    return found


def test_a_healthy_install(in_tmp, released):
    res = CliRunner().invoke(cli, ["doctor"])
    assert res.exit_code == 0, res.output
    got = lines(res.output)
    for name in ("python", "config", "ffmpeg", "yt-dlp", "javascript", "mediapipe"):
        assert got[name].startswith("ok    "), got[name]
    assert got["config"] == "ok    config        defaults (no options.toml here)"
    assert got["yt-dlp"] == f"ok    yt-dlp        {YT_DLP} (10 days old)"
    assert got["javascript"].startswith("ok    javascript    deno ")
    assert "solver scripts yt-dlp-ejs " in got["javascript"]
    assert got["mediapipe"].startswith("ok    mediapipe     0.10.21, face models bundled, numpy 1.")
    assert got["torch"][:6] in ("ok    ", "warn  ")  # a GPU or not: either works
    assert "FAIL" not in res.output
    assert res.output.splitlines()[-1] == "fetch, build-dataset, train, read, demo: everything needed is here"


def test_ffmpeg_missing_everywhere(in_tmp, released, monkeypatch):
    import imageio_ffmpeg

    monkeypatch.setenv("PATH", str(in_tmp))

    def no_binary():
        raise RuntimeError("No ffmpeg exe could be found")
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_binary)
    res = CliRunner().invoke(cli, ["doctor"])
    assert res.exit_code == 1
    assert lines(res.output)["ffmpeg"] == (
        "FAIL  ffmpeg        none found (neither on PATH nor from imageio-ffmpeg) -> install ffmpeg "
        "(apt-get install ffmpeg) or pip install imageio-ffmpeg")
    assert res.output.splitlines()[-1] == "fetch, build-dataset, read, demo will not work here: see FAIL above"
    train = CliRunner().invoke(cli, ["doctor", "train"])  # training needs no ffmpeg
    assert train.exit_code == 0, train.output
    assert lines(train.output)["ffmpeg"].startswith("warn  ffmpeg        none found")
    assert lines(train.output)["ffmpeg"].endswith(
        "(only fetch, build-dataset, read, demo need it) -> install ffmpeg "
        "(apt-get install ffmpeg) or pip install imageio-ffmpeg")


def test_ffmpeg_bundled_when_none_on_path(in_tmp, released, monkeypatch):
    monkeypatch.setenv("PATH", str(in_tmp))
    res = CliRunner().invoke(cli, ["doctor", "fetch"])
    assert res.exit_code == 0, res.output
    assert "(bundled with imageio-ffmpeg: " in lines(res.output)["ffmpeg"]


def test_a_broken_options_toml(in_tmp, released):
    (in_tmp / "options.toml").write_text("[fetch]\nmax_height = 0\n")
    res = CliRunner().invoke(cli, ["doctor"])
    assert res.exit_code == 1
    assert lines(res.output)["config"] == (
        "FAIL  config        options.toml: [fetch] max_height must be at least 1, got 0 -> correct it "
        "(`lipreader config` shows the options in effect)")
    assert lines(res.output)["ffmpeg"].startswith("ok    ")  # the other checks still run
    assert res.output.splitlines()[-1] == (
        "fetch, build-dataset, train, read, demo will not work here: see FAIL above")
    (in_tmp / "options.toml").write_text("[general\n")
    assert "FAIL  config        options.toml: not valid TOML" in CliRunner().invoke(cli, ["doctor"]).output


def test_an_old_yt_dlp_and_missing_cookies(in_tmp, released):
    released(200)
    (in_tmp / "options.toml").write_text('[fetch]\ncookies = "gone.txt"\n')
    res = CliRunner().invoke(cli, ["doctor", "fetch"])
    assert lines(res.output)["yt-dlp"] == (
        f"warn  yt-dlp        {YT_DLP} is 200 days old; YouTube changes often and old releases stop "
        'working -> pip install -U "yt-dlp[default]"')
    assert lines(res.output)["cookies"].startswith("FAIL  cookies       cookies file gone.txt does not exist")
    assert res.exit_code == 1


def test_no_javascript_runtime(in_tmp, released, monkeypatch):
    from builder import download

    monkeypatch.setattr(download, "js_runtime", lambda: None)
    res = CliRunner().invoke(cli, ["doctor", "fetch"])
    assert res.exit_code == 1
    assert lines(res.output)["javascript"] == (
        "FAIL  javascript    no runtime for YouTube's challenges: downloads fail with 'Requested format "
        "is not available' -> pip install deno (or install Deno from deno.com and put it on PATH)")


def test_torch_line_with_gpus_and_with_none(monkeypatch):
    import torch

    from lipreader.config import Config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"GPU model {i}")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert doctor.check_torch(Config()).line() == (
        f"ok    torch         {torch.__version__}, CUDA 12.8, bf16, 2 GPUs: GPU model 0, GPU model 1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    gpu_only = Config().override("general", device="cuda")
    got = doctor.check_torch(gpu_only)
    assert (got.status, got.needed_by) == ("fail", ("train", "read"))
    assert got.detail == f"{torch.__version__}: no CUDA GPU, and [general] device is cuda"
