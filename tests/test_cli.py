import errno
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lipreader.cli import cli

COMMANDS = ["fetch", "synth", "build-dataset", "train", "read", "demo", "config"]


def test_every_command_has_help():
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    for name in COMMANDS:
        assert name in top.output
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, name
        assert "Usage: " in res.output and len(res.output.splitlines()) > 3


@pytest.mark.parametrize("args", [["--help"], ["config"]])
def test_help_and_config_import_nothing_heavy(args, tmp_path):
    code = ("import sys; from lipreader.cli import cli\n"
            f"try:\n    cli({args!r})\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'mediapipe', 'cv2', 'yt_dlp', 'numpy', 'av') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert "HEAVY []" in out


def test_python_dash_m_works():
    res = subprocess.run([sys.executable, "-m", "lipreader", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "build-dataset" in res.stdout


def test_a_url_list_that_names_itself_is_one_error_line(in_tmp):
    (in_tmp / "list.txt").write_text("https://example.invalid/a\nlist.txt\n")
    res = CliRunner().invoke(cli, ["fetch", "--from-file", "list.txt", "--out", "v"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Error: list.txt: a list of URLs that names itself (list.txt -> list.txt); remove that line"]


def test_url_lists_that_name_each_other_are_one_error_line(in_tmp):
    (in_tmp / "a.txt").write_text("b.txt\n")
    (in_tmp / "b.txt").write_text("# more talks\na.txt\n")
    res = CliRunner().invoke(cli, ["fetch", "a.txt", "--out", "v"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Error: a.txt: a list of URLs that names itself (a.txt -> b.txt -> a.txt); remove that line"]
    assert not (in_tmp / "v").exists()


def test_without_the_packages_of_the_built_in_faces_synth_and_demo_say_what_to_install(in_tmp, monkeypatch):
    from builder.synth import faces

    monkeypatch.setattr(faces, "_POSES", None)
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "av", None)
    res = CliRunner().invoke(cli, ["synth", "corpus"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Error: the built-in faces need scikit-image, av, not installed: pip install scikit-image av "
        "(or give --faces a folder of your own face photos)"]
    res = CliRunner().invoke(cli, ["demo", "--out", "d"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        "Error: the built-in faces need scikit-image, av, not installed: pip install scikit-image av"]
    assert not (in_tmp / "corpus").exists() and not (in_tmp / "d").exists()


@pytest.mark.parametrize("args,what,hint", [
    (["train", "--new", "--model", "blocker/m.pt", "--dataset", "nowhere"], "model blocker/m.pt",
     "--model or [general] pretrainedmodelpath"),
    (["build-dataset", "--videos", "v", "--out", "blocker/ds"], "dataset blocker/ds", "--out or [general] dataset"),
    (["read", "talk.mp4", "--out", "blocker/r.txt"], "report blocker/r.txt", "--out"),
    (["demo", "--out", "blocker/d"], "demo folder blocker/d", "--out"),
])
def test_an_unwritable_output_is_one_error_line_before_any_work(in_tmp, args, what, hint):
    (in_tmp / "blocker").write_text("a file where a folder should be")
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    name, rel = what.rsplit(" ", 1)
    assert res.output.splitlines() == [
        f"Error: cannot write the {name} {in_tmp / rel}: {in_tmp / 'blocker'} is a file, not a folder; "
        f"choose another with {hint}"]


def test_a_folder_without_write_permission_is_named(in_tmp, monkeypatch):
    from lipreader import atomic

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic, "temp_name", denied)
    res = CliRunner().invoke(cli, ["train", "--new", "--model", "models/m.pt", "--dataset", "nowhere"])
    assert res.exit_code == 1
    assert res.output.splitlines() == [
        f"Error: cannot write the model {in_tmp / 'models/m.pt'}: Permission denied in {in_tmp}; "
        "choose another with --model or [general] pretrainedmodelpath"]
    assert not (in_tmp / "models").exists()
