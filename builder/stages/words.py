"""Stage 1, words: a video's captions -> <video>/words.json (or the recorded skip).

Manual captions are timed from the automatic track kept beside them (builder.align).

Every video goes through it on every build: the vocabulary is chosen over all of them.
"""

from __future__ import annotations

from builder.align import video_words
from builder.captions import words_from_json, words_to_json
from builder.layout import VideoDir
from builder.stages.state import VideoState, read_json, read_record, record_skip
from lipreader import atomic
from lipreader.errors import SkipVideo

# Skips that the captions (or `read`'s mark) decide, known to every run before tracking.
BEFORE_PLAN = ("words", "read")
READ_VIDEO = "fetched by read for evaluation"


def run(vd: VideoDir) -> VideoState:
    """words.json for one video (from its captions), or the recorded skip."""
    state = VideoState(vd)
    info = read_record(vd.info) if vd.info.is_file() else None
    if info is not None:
        state.source_url = str(info.get("webpage_url") or info.get("source_url") or "")
    if vd.skip.is_file():
        skip = read_record(vd.skip)
        if skip is not None and isinstance(skip.get("reason"), str):
            state.skip = skip
        else:
            vd.skip.unlink()  # damaged: the stages decide again
    if vd.words.is_file():
        try:
            saved = read_json(vd.words)
            state.words = words_from_json(saved["words"])
            state.dropped = [tuple(d) for d in saved.get("dropped", [])]
            return state
        except (SkipVideo, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            vd.words.unlink()  # damaged by hand: derive it again from the captions
    if state.skip:
        return state
    try:
        captions = vd.captions()
        if not captions:
            raise SkipVideo("no captions", str(vd.root))
        got = video_words(captions)
    except SkipVideo as e:
        state.skip = record_skip(vd, "words", e)
        return state
    parsed = got.captions
    atomic.write_json(vd.words, {"captions": "+".join(got.files), "timing_note": got.note,
                                 "words": words_to_json(parsed.words),
                                 "dropped": [list(d) for d in parsed.dropped]})
    state.words, state.dropped = parsed.words, list(parsed.dropped)
    return state


def leave_out_read_videos(states: list[VideoState]) -> None:
    """A video `read` fetched is not trained on: it is skipped with a counted reason for as
    long as its mark (<video>/read.json) is there."""
    for s in states:
        if s.vd.read_mark.is_file():
            s.skip = {"stage": "read", "reason": READ_VIDEO, "detail": str(s.vd.read_mark)}
