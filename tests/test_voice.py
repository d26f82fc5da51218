"""The generator's sound track: a voice that follows the mouth, offsets, voice-over, silence."""

import numpy as np
import pytest

from builder.media import probe
from builder.synth import load_poses, plan_corpus, write_video_dir
from builder.synth.voice import RATE, shifted, speech

FRAME = RATE // 25


@pytest.fixture(scope="module")
def poses():
    return load_poses(None)


def envelope(samples: np.ndarray) -> np.ndarray:
    n = len(samples) // FRAME
    return np.log(np.mean(samples[:n * FRAME].reshape(n, FRAME) ** 2, 1) + 1e-8)


def test_voice_loudness_follows_the_mouth_and_is_seeded(poses):
    _, _, specs = plan_corpus(poses, words=10, videos=3, seconds=5, height=360, seed=3)
    for spec in specs:
        a = speech(spec.script, spec.seed)
        assert len(a) == round(spec.script.frames / 25 * RATE)
        env = envelope(a)
        r = np.corrcoef(env, spec.script.opening[:len(env)])[0, 1]
        assert r > 0.5, r
        assert np.array_equal(a, speech(spec.script, spec.seed))


def test_shifted_moves_the_sound_and_keeps_its_length():
    a = np.arange(1, 11, dtype=np.float32)
    assert shifted(a, 3 * 1000 / RATE).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert shifted(a, -2 * 1000 / RATE).tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]


def test_offset_voiceover_and_silent_specs(poses):
    _, _, plain = plan_corpus(poses, videos=2, seconds=5, height=360, seed=1)
    _, _, late = plan_corpus(poses, videos=2, seconds=5, height=360, seed=1, audio_offset_ms=200)
    _, _, over = plan_corpus(poses, videos=2, seconds=5, height=360, seed=1, audio="voiceover")
    _, _, mute = plan_corpus(poses, videos=2, seconds=5, height=360, seed=1, audio="silent")
    p, s, v, m = plain[0], late[0], over[0], mute[0]
    assert np.array_equal(p.script.params, s.script.params)      # the picture is the same
    assert np.array_equal(p.script.params, v.script.params)
    assert [w.start + 0.2 for w in p.caption_words()] == pytest.approx([w.start for w in s.caption_words()])
    k = round(0.2 * RATE)
    assert np.array_equal(s.sound()[k:], p.sound()[:-k])
    assert [w.word for w in v.caption_words()] != [w.word for w in p.caption_words()]
    assert m.sound() is None and m.caption_words() == p.caption_words()
    assert s.truth()["audio"] == {"kind": "speech", "offset_ms": 200.0}


def test_silent_video_has_no_sound_track(poses, tmp_path):
    _, _, mute = plan_corpus(poses, videos=1, seconds=3, height=360, seed=2, audio="silent")
    _, _, loud = plan_corpus(poses, videos=1, seconds=3, height=360, seed=2)
    write_video_dir(mute[0], tmp_path / "a")
    write_video_dir(loud[0], tmp_path / "b")
    assert not probe(tmp_path / "a" / mute[0].name / "video.mp4").has_audio
    assert probe(tmp_path / "b" / loud[0].name / "video.mp4").has_audio
