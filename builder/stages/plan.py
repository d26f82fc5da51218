"""A dataset's plan: its vocabulary, the settings that decided it, and the split of each video.

The first `build-dataset` run decides the plan from the captions, before any video is tracked,
and records it in the dataset folder (plan.json). Re-runs, resumed runs and shards building
into the same folder reuse it, so a video that tracking skips later changes neither the
vocabulary nor the class balance: killed-and-resumed equals uninterrupted. A video that
appears later (a new fetch) joins with its split from the hash of its id; a changed deciding
setting, or `--replan`, decides the plan again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lipreader import atomic
from lipreader.config import Build

VERSION = 1


@dataclass(frozen=True)
class Plan:
    settings: dict[str, Any]     # the build settings that decide the dataset (deciding_settings)
    vocabulary: list[str]
    videos: dict[str, str]       # every video the vocabulary and balance count -> its split

    def as_json(self) -> dict[str, Any]:
        return {"version": VERSION, "settings": self.settings, "vocabulary": self.vocabulary,
                "videos": dict(sorted(self.videos.items()))}


def deciding_settings(b: Build, output: str, vocab_file_words: list[str] | None) -> dict[str, Any]:
    """The settings a plan is valid for: those that choose the words, clips and splits.
    output: "train", or the folder name all clips go to (`--output predict`)."""
    return {"words": b.words, "vocab": vocab_file_words, "min_count": b.min_count,
            "min_length": b.min_length, "stopwords": b.stopwords,
            "allow_estimated": b.allow_estimated, "max_per_word": b.max_per_word,
            "splits": list(b.splits), "frames": b.frames, "padding": b.padding, "output": output}


def decide(settings: dict[str, Any], vocabulary: list[str], video_ids: Iterable[str],
           split_of: Callable[[str], str]) -> Plan:
    return Plan(dict(settings), sorted(vocabulary), {v: split_of(v) for v in sorted(video_ids)})


def with_videos(plan: Plan, video_ids: Iterable[str], split_of: Callable[[str], str]
                ) -> tuple[Plan, list[str]]:
    """The plan with the videos it does not know yet added (split by `split_of`), and those ids."""
    new = sorted(set(video_ids) - set(plan.videos))
    if not new:
        return plan, []
    return Plan(plan.settings, plan.vocabulary, {**plan.videos, **{v: split_of(v) for v in new}}), new


def _show(key: str, value: Any) -> str:
    if key == "vocab":
        return "none" if value is None else f"a list of {len(value)} word{'s' * (len(value) != 1)}"
    if isinstance(value, list):
        return ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _change(key: str, old: Any, new: Any) -> str:
    if key == "vocab" and old is not None and new is not None:
        return "the --vocab word list changed"
    return f"{key} {_show(key, old)} -> {_show(key, new)}"


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key old -> new' for each deciding setting that differs."""
    return [_change(k, old.get(k), new[k]) for k in new if old.get(k) != new[k]]


def load(path: Path) -> tuple[Plan | None, str]:
    """The recorded plan, or None and why it cannot be used ("" when there is none)."""
    path = Path(path)
    if not path.is_file():
        return None, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None, f"{path.name} has version {data.get('version')!r}, not {VERSION}"
        settings, vocab, videos = data["settings"], data["vocabulary"], data["videos"]
        if not (isinstance(settings, dict) and isinstance(vocab, list) and isinstance(videos, dict)
                and all(isinstance(w, str) for w in vocab)
                and all(isinstance(s, str) for s in videos.values())):
            raise TypeError("wrong types")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        return None, f"{path.name} is unreadable ({type(e).__name__})"
    return Plan(settings, vocab, videos), ""


def save(path: Path, plan: Plan) -> None:
    atomic.write_json(path, plan.as_json())
