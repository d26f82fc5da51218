"""One writer per folder: a second run names the holder and stops, or waits with --wait."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from builder.layout import VideoDir
from lipreader import lock
from lipreader.cli import cli
from lipreader.config import Config
from lipreader.errors import Busy

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# Holds the lock of argv[1] (a folder, or with argv[2] == "file" a model file) until stdin closes.
HOLDER = """
import sys
from lipreader import lock
with lock.hold(sys.argv[1], folder=sys.argv[2] != "file"):
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    """Another process holding a lock, as a running `fetch`, `build-dataset` or `train` would."""

    def __init__(self, target: Path, kind: str = "folder"):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target), kind], env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "held\n"
        self.pid = self.proc.pid

    def busy(self, target: Path) -> str:
        """The one line a second run prints while this holder runs."""
        return (f"Error: {target} is in use by process {self.pid} (-c {target} {self.proc.args[-1]}): "
                "wait for it to end, or add --wait to wait for it\n")

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait() == 0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture()
def holders():
    made: list[Holder] = []
    yield lambda *a: made.append(Holder(*a)) or made[-1]
    for h in made:
        if h.proc.poll() is None:
            h.kill()


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_a_second_writer_is_told_who_holds_the_folder(tmp_path, holders):
    h = holders(tmp_path)
    with pytest.raises(Busy) as e, lock.hold(tmp_path):
        pass
    assert f"{e.value}\n" == h.busy(tmp_path).removeprefix("Error: ")
    h.kill()  # a killed holder (SIGKILL) leaves nothing locked
    with lock.hold(tmp_path), lock.hold(tmp_path):  # re-entrant within one process
        assert (tmp_path / lock.FOLDER_LOCK).is_file()
    assert list(tmp_path.iterdir()) == []  # released: the lock file goes too


def test_the_holder_is_named_by_its_command_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/lib/lipreader/__main__.py", "build-dataset", "--out", "my data"])
    assert lock.this_command() == "lipreader build-dataset --out 'my data'"
    monkeypatch.setattr(sys, "argv", ["/venv/bin/lipreader", "fetch", "URL\nsecond line"])
    assert lock.this_command() == "lipreader fetch 'URL second line'"


def test_wait_waits_for_the_holder_to_end(tmp_path, holders):
    h = holders(tmp_path)
    said: list[str] = []
    waiting, got = threading.Event(), threading.Event()

    def second_run():
        with lock.hold(tmp_path, wait=True, say=lambda m: (said.append(m), waiting.set())):
            got.set()

    t = threading.Thread(target=second_run)
    t.start()
    assert waiting.wait(60)
    assert said == [f"waiting for process {h.pid} (-c {tmp_path} folder), which is using {tmp_path}"]
    assert not got.is_set()
    h.release()
    t.join(60)
    assert got.is_set() and list(tmp_path.iterdir()) == []


def test_build_dataset_stops_while_another_build_holds_the_dataset(tmp_path, holders):
    videos, out = tmp_path / "videos", tmp_path / "dataset"
    videos.mkdir()
    h = holders(out)
    res = invoke("build-dataset", "--videos", str(videos), "--out", str(out))
    assert (res.exit_code, res.output) == (1, h.busy(out))
    h.release()
    h = holders(videos)  # a fetch into its videos folder
    res = invoke("build-dataset", "--videos", str(videos), "--out", str(out))
    assert (res.exit_code, res.output) == (1, h.busy(videos))


def test_build_dataset_with_wait_waits_then_runs(tmp_path, holders):
    videos, out = tmp_path / "videos", tmp_path / "dataset"
    videos.mkdir()
    h = holders(out)
    second = subprocess.Popen([sys.executable, "-m", "lipreader", "build-dataset", "--wait", "--videos",
                               str(videos), "--out", str(out)], env=ENV, cwd=tmp_path,
                              stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = second.stderr.readline()
    assert first.startswith(f"waiting for process {h.pid} (-c {out} folder)")
    h.release()
    _, err = second.communicate(timeout=120)
    assert second.returncode == 1
    assert err == f"Error: no fetched videos in {videos}: run `lipreader fetch URL` first\n"


def test_fetch_and_read_stop_while_another_run_writes_the_videos_folder(tmp_path, holders):
    from pipelines import fetch, read

    videos = tmp_path / "videos"
    videos.mkdir()
    h = holders(videos)
    res = invoke("fetch", "--out", str(videos), str(tmp_path / "talk.mp4"))
    assert (res.exit_code, res.output) == (1, h.busy(videos))
    cfg = Config().override("general", videos=str(videos))
    with pytest.raises(Busy, match=f"in use by process {h.pid} "):
        fetch.fetch_one(cfg, str(tmp_path / "talk.mp4"))  # what `read URL` fetches with
    (videos / "v1").mkdir()
    with pytest.raises(Busy, match=f"in use by process {h.pid} "):
        read._track(VideoDir(videos / "v1"), "v1", 29)  # what `read` tracks with
    assert sorted(p.name for p in videos.iterdir()) == [lock.FOLDER_LOCK, "v1"]


def test_train_stops_while_another_run_trains_the_model(tmp_path, holders):
    model = tmp_path / "models" / "lipreader.pt"
    h = holders(model, "file")
    res = invoke("train", "--model", str(model), "--dataset", str(tmp_path / "dataset"), "--device", "cpu")
    assert res.exit_code == 1
    assert res.output == (f"Error: {model} is in use by process {h.pid} (-c {model} file): "
                          "wait for it to end, or add --wait to wait for it\n")
    assert sorted(p.name for p in model.parent.iterdir()) == [".lipreader.pt.lock"]
