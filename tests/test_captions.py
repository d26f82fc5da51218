"""builder.captions: every caption form -> word timings; labels; hostile input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from builder import captions
from builder.captions import Word, parse_captions, read_words, words_from_json, words_to_json
from builder.labels import normalize_label, unsafe_label_reason
from lipreader.errors import SkipVideo

pytestmark = pytest.mark.timeout(300)  # includes the module's one-video corpus

FIXTURES = Path(__file__).parent / "fixtures" / "captions"

# fixture -> (format, file span in seconds, expected [(word, start, end)], expected source)
EXPECTED = {
    "auto.en.json3": ("json3", (0.0, 9.0), [
        ("hello", 0.1, 0.5), ("everyone", 0.5, 1.1), ("it's", 1.1, 1.4), ("great", 1.4, 1.82),
        ("we", 4.21, 4.45), ("sold", 4.46, 4.81), ("1000", 4.81, 5.17), ("at&t", 5.21, 5.57),
        ("shares", 5.71, 6.19), ("thanks", 7.02, 7.5)], "json3-auto"),
    "manual.en.json3": ("json3", (0.0, 60.0), [
        ("don't", 1.0, 2.111), ("stop", 2.111, 3.0), ("well", 5.0, 6.2), ("i", 6.2, 6.5),
        ("can't", 6.5, 8.0)], "cue-estimate"),
    "rolling.en.vtt": ("vtt", (0.0, 9.0), [
        ("so", 0.0, 0.31), ("today", 0.32, 0.75), ("we're", 0.75, 1.11), ("going", 1.11, 1.652),
        ("to", 2.2, 2.51), ("talk", 2.64, 3.09), ("about", 3.09, 3.632), ("lipreading", 4.01, 4.94),
        ("yes", 8.0, 8.387), ("no", 8.6, 8.91)], "vtt-inline"),
    "manual.en.vtt": ("vtt", (1.0, 9.0), [
        ("hello", 1.0, 1.833), ("welcome", 1.833, 3.0), ("overlapping", 2.5, 3.679), ("cue", 3.679, 4.0),
        ("first", 4.0, 4.526), ("line", 4.526, 4.947), ("second", 4.947, 5.579), ("line", 5.579, 6.0),
        ("third", 6.0, 7.111), ("line", 7.111, 8.0), ("la", 8.0, 8.5), ("la", 8.5, 9.0)], "cue-estimate"),
    "manual.en.srt": ("srt", (0.5, 4.0), [
        ("it's", 0.5, 1.167), ("ok", 1.167, 1.5), ("quote", 1.5, 2.571), ("me", 2.571, 3.0),
        ("42", 3.0, 4.0)], "cue-estimate"),
    "auto.en.srv3": ("srv3", (0.2, 3.51), [
        ("good", 0.2, 0.5), ("morning", 0.5, 1.1), ("it's", 1.1, 1.5), ("me", 1.51, 1.777),
        ("you", 2.11, 2.443)], "srv3"),
    "hostile.en.json3": ("json3", (1.0, 5.0), [
        ("ok", 1.0, 1.727), ("cache", 1.727, 3.545), ("what", 3.545, 5.0)], "cue-estimate"),
}


def check_properties(words: list[Word], span: tuple[float, float]) -> None:
    """What every parse must give: time order, start < end, inside the span, no repeats,
    labels that are safe folder names."""
    assert words
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    for w in words:
        assert w.start < w.end, w
        assert span[0] - 1e-6 <= w.start and w.end <= span[1] + 1e-6, (w, span)
        assert w.end - w.start <= captions.MAX_WORD_S + 1e-6 or w.source == "cue-estimate"
        assert w.source in captions.EXACT_SOURCES + (captions.ESTIMATED,)
        assert unsafe_label_reason(w.text) is None
        assert normalize_label(w.text) == w.text
    keys = [(w.text, w.start) for w in words]
    assert len(keys) == len(set(keys))
    for a, b in zip(words, words[1:], strict=False):
        assert not (a.text == b.text and b.start < a.end and a.source != "cue-estimate"), (a, b)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_words(name):
    fmt, span, expected, source = EXPECTED[name]
    cw = read_words(FIXTURES / name)
    assert cw.format == fmt
    assert [(w.text, w.start, w.end) for w in cw.words] == [(t, pytest.approx(s), pytest.approx(e))
                                                           for t, s, e in expected]
    assert {w.source for w in cw.words} == {source}
    check_properties(cw.words, span)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n != "manual.en.srt"))
def test_crlf_and_bom_change_nothing(tmp_path, name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    variant = tmp_path / name
    variant.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    assert read_words(variant).words == read_words(FIXTURES / name).words


def test_srt_fixture_really_has_bom_and_crlf():
    raw = (FIXTURES / "manual.en.srt").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw


def test_dropped_labels_have_reasons():
    auto = read_words(FIXTURES / "auto.en.json3").dropped
    assert auto == [("[Music]", "non-speech"), (">>", "speaker mark")]
    manual = read_words(FIXTURES / "manual.en.json3").dropped
    assert manual == [("- JOHN:", "speaker mark"), ("[Applause]", "non-speech"), ("(laughs)", "non-speech")]
    rolling = read_words(FIXTURES / "rolling.en.vtt").dropped
    assert ("[Music]", "non-speech") in rolling and (">>", "speaker mark") in rolling


def test_all_caps_captions_keep_words_before_a_colon():
    srt = ("1\n00:00:01,000 --> 00:00:03,000\nTHE ANSWER IS: YES\n\n"
           "2\n00:00:03,000 --> 00:00:05,000\n- JOHN: WE KNOW\n\n"
           "3\n00:00:05,000 --> 00:00:07,000\n>> MARY: NO\n\n"
           "4\n00:00:07,000 --> 00:00:09,000\nANNA: Mixed case\n")
    got = parse_captions(srt)
    assert [w.text for w in got.words] == ["the", "answer", "is", "yes", "we", "know", "no",
                                           "mixed", "case"]
    assert got.dropped == [("- JOHN:", "speaker mark"), (">> MARY:", "speaker mark"),
                           ("ANNA:", "speaker mark")]


def test_hostile_labels_are_dropped_and_never_become_paths(tmp_path):
    cw = read_words(FIXTURES / "hostile.en.json3")
    reasons = dict(cw.dropped)
    assert reasons["../../etc/passwd"] == "contains a slash"
    assert reasons["a\\b"] == "contains a slash"
    assert reasons["x\x00y"] == reasons["\u202eevil"] == "control or invisible character"
    assert reasons["CON"] == reasons["nul.txt"] == reasons["com1"] == reasons["Con"] == \
        "reserved device name on Windows"
    assert reasons["stats.json"] == reasons["manifest.jsonl"] == "name of a dataset file"
    assert reasons["a" * 65] == "longer than 64 characters"
    assert "not allowed" in reasons["10:30"] and "not allowed" in reasons["a|b"]
    root = (tmp_path / "dataset").resolve()
    for name in EXPECTED:
        for w in read_words(FIXTURES / name).words:
            folder = (root / w.text).resolve()
            assert folder.parent == root and folder.name == w.text
            folder.mkdir(parents=True, exist_ok=True)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        {w.text for n in EXPECTED for w in read_words(FIXTURES / n).words})


def test_words_json_round_trip(tmp_path):
    words = read_words(FIXTURES / "auto.en.json3").words + read_words(FIXTURES / "manual.en.srt").words
    items = words_to_json(words)
    assert items[0] == {"word": "hello", "start": 0.1, "end": 0.5, "source": "json3-auto",
                        "end_by": "next-onset"}
    path = tmp_path / "words.json"
    path.write_text(json.dumps(items))
    assert words_from_json(json.loads(path.read_text())) == words


@pytest.mark.parametrize("items", [
    {"word": "x"}, [{"word": "x", "start": 0}], [{"word": "../x", "start": 0, "end": 1, "source": "srv3"}],
    [{"word": "x", "start": 2, "end": 1, "source": "srv3"}], [{"word": "x", "start": "a", "end": 1, "source": "s"}],
])
def test_words_from_json_rejects_bad_items(items):
    with pytest.raises(SkipVideo, match="words.json unreadable"):
        words_from_json(items)


BAD_FILES = {
    "empty.en.vtt": (b"", "captions empty"),
    "blank.en.srt": (b" \r\n\n\t", "captions empty"),
    "header.en.vtt": (b"WEBVTT\n\nNOTE nothing here\n", "captions empty"),
    "truncated.en.json3": (b'{"events": [{"tStartMs": 0, "segs": [{"utf8": "hi"', "captions unreadable"),
    "binary.en.json3": (b"\x89PNG" + random.Random(1).randbytes(3000), "captions unreadable"),
    "latin1.en.srt": ("1\n00:00:01,000 --> 00:00:02,000\ncaf\u00e9\n".encode("latin-1"), "captions unreadable"),
    "other.en.json3": (b'{"captions": []}', "captions unknown format"),
    "prose.en.vtt": (b"just some words\nwith no times\n", "captions unknown format"),
    "html.en.srv3": (b"<html><body>404</body></html>", "captions unknown format"),
    "broken.en.srv3": (b"<timedtext><body><p t='1'>hi</body>", "captions unreadable"),
    "badtime.en.json3": (b'{"events": [{"tStartMs": "soon", "segs": [{"utf8": "hi"}]}]}', "captions unreadable"),
    "nantime.en.json3": (b'{"events": [{"tStartMs": NaN, "segs": [{"utf8": "hi"}]}]}', "captions unreadable"),
    "music.en.json3": (b'{"events": [{"tStartMs": 0, "dDurationMs": 5, "segs": [{"utf8": "[Music]"}]}]}',
                       "captions have no usable words"),
    "windows.en.json3": (b'{"events": [{"tStartMs": 0, "dDurationMs": 5000, "id": 1}]}', "captions empty"),
    "nested.en.json3": (b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "captions unreadable"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_skip_the_video_with_a_reason(tmp_path, name):
    data, reason = BAD_FILES[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(SkipVideo) as info:
        read_words(tmp_path / name)
    assert info.value.reason == reason
    assert name in str(info.value)


def test_a_caption_file_too_large_is_skipped_unread(tmp_path):
    path = tmp_path / "huge.en.vtt"
    with open(path, "wb") as f:
        f.truncate(captions.MAX_CAPTION_BYTES + 1)  # sparse: takes no disk
    with pytest.raises(SkipVideo) as info:
        read_words(path)
    assert str(info.value) == ("captions too large: huge.en.vtt: 67,108,865 bytes, over the 64 MB "
                               "a caption file may have (a 10-hour talk's is about 20 MB)")


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(SkipVideo, match="captions unreadable: gone.en.vtt"):
        read_words(tmp_path / "gone.en.vtt")


def test_srv1_and_utf16_srt(tmp_path):
    srv1 = tmp_path / "old.en.srv1"
    srv1.write_text('<?xml version="1.0"?><transcript><text start="1.5" dur="2">hi &amp;amp; bye</text>'
                    '<text start="4" dur="1">[Music]</text></transcript>')
    cw = read_words(srv1)
    assert (cw.format, [(w.text, w.start, w.end) for w in cw.words]) == ("srv1", [("hi", 1.5, 2.3), ("bye", 2.3, 3.5)])
    srt = tmp_path / "win.en.srt"
    srt.write_bytes("1\r\n00:00:01,000 --> 00:00:02,000\r\ncafé\r\n".encode("utf-16"))
    assert [(w.text, w.start, w.end) for w in read_words(srt).words] == [("café", 1.0, 2.0)]


def _hour_of_rolling_vtt(n_lines: int) -> tuple[str, list[tuple[str, float]]]:
    """YouTube-style rolling VTT: each 3 s line of 8 timed words, a 10 ms transition cue,
    then the next cue repeating the line. Returns the text and the truth (word, start)."""
    out = ["WEBVTT\nKind: captions\nLanguage: en\n"]
    truth = []
    previous = ""

    def ts(t):
        return f"{int(t // 3600):02d}:{int(t // 60 % 60):02d}:{t % 60:06.3f}"

    for i in range(n_lines):
        t0 = i * 3.0
        words = [f"w{i}x{j}" for j in range(8)]
        times = [t0 + 0.35 * j for j in range(8)]
        truth += list(zip(words, times, strict=True))
        timed = words[0] + "".join(f"<{ts(t)}><c> {w}</c>" for w, t in zip(words[1:], times[1:], strict=True))
        out.append(f"{ts(t0)} --> {ts(t0 + 2.99)} align:start position:0%\n{previous or ' '}\n{timed}\n")
        previous = " ".join(words)
        out.append(f"{ts(t0 + 2.99)} --> {ts(t0 + 3.0)} align:start position:0%\n{previous}\n \n")
    return "\n".join(out), truth


def test_an_hour_of_rolling_vtt_and_json3(tmp_path):
    text, truth = _hour_of_rolling_vtt(1200)
    path = tmp_path / "hour.en.vtt"
    path.write_text(text)
    words = read_words(path).words
    assert [(w.text, w.start) for w in words] == [(t, pytest.approx(s)) for t, s in truth]
    check_properties(words, (0.0, 3600.0))
    events = [{"tStartMs": int(i * 3000), "dDurationMs": 2990, "wWinId": 1,
               "segs": [{"utf8": w if j == 0 else " " + w, "tOffsetMs": 350 * j, "acAsrConf": 0}
                        for j, w in enumerate(f"w{i}x{j}" for j in range(8))]} for i in range(1200)]
    path = tmp_path / "hour.en.json3"
    path.write_text(json.dumps({"events": events}))
    json3_words = read_words(path).words
    assert {w.source for w in json3_words} == {"json3-auto"}
    assert [(w.text, w.start, w.end) for w in json3_words] == [(w.text, w.start, w.end) for w in words]


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory) -> Path:
    """One generated video (about 8 s of the built-in faces) with its captions and truth."""
    synth = pytest.importorskip("builder.synth")
    out = tmp_path_factory.mktemp("synth")
    synth.make_corpus(out, words=6, videos=1, seconds=10.0, speakers=1, holdout_speakers=0,
                      height=360, workers=1)
    (folder,) = [p for p in out.iterdir() if (p / "truth.json").is_file()]
    return folder


@pytest.mark.parametrize("name", ["captions.en.json3", "captions.en.vtt"])
def test_generated_captions_give_the_truth_times(synth_video, name):
    """Starts within one frame; a caption has no word ends, so an end is the next onset, the
    line's end (these captions end a line at its last word's true end: within one frame) or
    the onset plus the word's usual duration."""
    frame = 1 / 25
    truth = json.loads((synth_video / "truth.json").read_text())
    spoken = [w for w in truth["words"] if not w["filler"]]
    words = read_words(synth_video / name).words
    check_properties(words, (0.0, truth["duration"]))
    assert [w.text for w in words] == [w["word"] for w in spoken]
    assert {w.source for w in words} <= set(captions.EXACT_SOURCES)
    line_ends = 0
    for i, (got, true) in enumerate(zip(words, spoken, strict=True)):
        assert abs(got.start - true["start"]) <= frame, (got, true)
        next_start = spoken[i + 1]["start"] if i + 1 < len(spoken) else true["end"]
        assert got.end <= max(next_start, true["end"]) + frame, (got, true)
        if got.end_by == captions.LINE_END:
            line_ends += 1
            assert abs(got.end - true["end"]) <= frame, (got, true)
        elif got.end_by == captions.NEXT_ONSET:
            assert abs(got.end - next_start) <= frame, (got, true)
        else:
            assert got.end_by == captions.PAUSE_PRIOR, got
    assert line_ends >= 1


def test_odd_auto_json3_events(tmp_path):
    """A seg past its event's end, two segs at one time, a seg of two words."""
    events = [{"tStartMs": 1000, "dDurationMs": 500, "segs": [
                  {"utf8": "one", "acAsrConf": 0}, {"utf8": " late", "tOffsetMs": 900}]},
              {"tStartMs": 3000, "dDurationMs": 1000, "segs": [
                  {"utf8": "same", "tOffsetMs": 0}, {"utf8": " time", "tOffsetMs": 0},
                  {"utf8": " ten thousand", "tOffsetMs": 400}]}]
    path = tmp_path / "odd.en.json3"
    path.write_text(json.dumps({"events": events}))
    words = read_words(path).words
    assert [(w.text, w.start, w.end, w.source) for w in words] == [
        ("one", 1.0, 1.5, "json3-auto"), ("late", 1.9, 2.5, "json3-auto"),   # usual duration
        ("same", 3.0, 3.4, "json3-auto"), ("time", 3.0, 3.4, "json3-auto"),
        ("ten", 3.4, 3.564, "cue-estimate"), ("thousand", 3.564, 4.0, "cue-estimate")]


def test_languages_written_with_spaces_give_their_words():
    vtt = ("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nGrüße aus der Straße!\n\n"
           "00:00:03.000 --> 00:00:05.000\nПривет, мир.\n\n"
           "00:00:05.000 --> 00:00:07.000\nC'est l'été, ¿qué tal?\n")
    assert [w.text for w in parse_captions(vtt).words] == [
        "grüße", "aus", "der", "straße", "привет", "мир", "c'est", "l'été", "qué", "tal"]
