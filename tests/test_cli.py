import subprocess
import sys

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


def test_help_imports_nothing_heavy():
    code = ("import sys; from lipreader.cli import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'mediapipe', 'cv2', 'yt_dlp', 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_python_dash_m_works():
    res = subprocess.run([sys.executable, "-m", "lipreader", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "build-dataset" in res.stdout
