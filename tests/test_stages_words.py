"""The words stage: a video folder's best caption file -> words.json, or the recorded skip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from builder.layout import VideoDir
from builder.stages import words

CAPTIONS = Path(__file__).parent / "fixtures" / "captions"


def test_words_json_is_written_once_and_reused(tmp_path):
    vd = VideoDir(tmp_path / "v1")
    vd.root.mkdir()
    shutil.copy(CAPTIONS / "manual.en.vtt", vd.caption("en", "vtt"))
    state = words.run(vd)
    assert state.words and not state.skip
    saved = json.loads(vd.words.read_text())
    assert saved["captions"] == "captions.en.vtt" and len(saved["words"]) == len(state.words)
    vd.caption("en", "vtt").unlink()  # words.json is enough from now on
    assert words.run(vd).words == state.words


def test_no_captions_is_a_recorded_skip_and_a_read_video_is_left_out(tmp_path):
    vd = VideoDir(tmp_path / "v2")
    vd.root.mkdir()
    state = words.run(vd)
    assert state.skip == {"stage": "words", "reason": "no captions", "detail": str(vd.root)}
    assert json.loads(vd.skip.read_text()) == state.skip
    vd.skip.write_text("[")  # damaged by hand: decided again
    assert words.run(vd).skip["reason"] == "no captions"
    vd.read_mark.write_text("{}")
    states = [words.run(vd)]
    words.leave_out_read_videos(states)
    assert states[0].skip["reason"] == words.READ_VIDEO
