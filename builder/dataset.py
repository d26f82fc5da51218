"""The dataset as a whole: splits, shards, vocabulary, class balance, stats, contact sheet.

Every decision here is a pure function of video ids and caption words, so that a re-run, a run
after a crash, and N shards built on N machines all agree on the same dataset.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from builder.captions import ESTIMATED, Word
from builder.labels import unsafe_label_reason
from lipreader.errors import ConfigError, InputError
from lipreader.manifest import ClipRecord

SPLITS = ("train", "val", "test")

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split())


def _unit(key: str) -> float:
    """A stable number in [0, 1) from a string (the same on every machine and run)."""
    return int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def split_of(video_id: str, fractions: tuple[float, float, float]) -> str:
    """train / val / test for a whole video, from a hash of its id."""
    total = sum(fractions)
    u = _unit(f"split:{video_id}") * total
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def split_key(video_id: str, info: dict | None, by: str) -> str:
    """What `split_of` hashes: the video id, or its channel's or uploader's id from info.json
    (all of one channel land in one split); a video whose info.json lacks it stays on its own id."""
    if by == "video" or not info:
        return video_id
    fields = {"channel": ("channel_id", "channel"), "uploader": ("uploader_id", "uploader")}[by]
    for f in fields:
        value = info.get(f)
        if isinstance(value, str) and value:
            return f"{by}:{value}"
    return video_id


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' -> (K, N) with 1 <= K <= N."""
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like K/N (e.g. 2/8), got {text!r}") from None
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {text}: K must be between 1 and N")
    return k, n


def in_shard(video_id: str, shard: tuple[int, int] | None) -> bool:
    if shard is None:
        return True
    k, n = shard
    return int(_unit(f"shard:{video_id}") * n) == k - 1


def check_splits(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ConfigError(f"--splits needs three non-negative fractions, got {fractions}")
    return fractions


def eligible(word: Word, min_length: int, stopwords: bool) -> bool:
    """Could this caption word be a vocabulary word at all?"""
    return (len(word.text) >= min_length and unsafe_label_reason(word.text) is None
            and not (stopwords and word.text in STOPWORDS))


def choose_vocabulary(words_per_video: Iterable[list[Word]], size: int, min_count: int,
                      min_length: int = 1, stopwords: bool = False,
                      allow_estimated: bool = False) -> list[str]:
    """The `size` most frequent eligible words having at least `min_count` occurrences,
    ties broken alphabetically; returned sorted."""
    counts: Counter[str] = Counter()
    for words in words_per_video:
        counts.update(w.text for w in words if eligible(w, min_length, stopwords)
                      and (allow_estimated or w.source != ESTIMATED))
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return sorted(ranked[:size])


def read_vocabulary(path: Path) -> list[str]:
    """A word list file: one word a line, # comments; every word must be a safe folder name."""
    from builder.labels import normalize_label

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read vocabulary file {path}: {e.strerror}") from e
    vocab = []
    for n, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        label = normalize_label(text)
        reason = unsafe_label_reason(label) if label else "empty after normalisation"
        if reason:
            raise InputError(f"{path}:{n}: {text!r} cannot be a word folder ({reason})")
        vocab.append(label)
    if not vocab:
        raise InputError(f"{path}: no words in the vocabulary file")
    return sorted(set(vocab))


def balance(candidates: list[tuple[str, str, str, int]], max_per_word: int) -> set[tuple[str, int]]:
    """Keep at most `max_per_word` occurrences per (word, split), chosen by a hash so that the
    choice never depends on which other videos are present. candidates: (word, split, video_id,
    start_ms). Returns the kept (video_id, start_ms)."""
    groups: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    for word, split, vid, ms in candidates:
        groups[(word, split)].append((vid, ms))
    kept: set[tuple[str, int]] = set()
    for items in groups.values():
        items.sort(key=lambda it: _unit(f"keep:{it[0]}:{it[1]}"))
        kept.update(items[:max_per_word] if max_per_word > 0 else items)
    return kept


def stats(records: list[ClipRecord], drops: Counter, skipped: Counter, videos: int,
          seconds: float, vocabulary: list[str], caption_drops: Counter | None = None) -> dict:
    """stats.json: clips per word and split, vocabulary words that gave no clip per reason
    (`dropped`), caption tokens that never became words per reason (`caption_tokens_dropped`:
    non-speech, speaker marks, unsafe labels, unmatched stretches), skipped videos per reason."""
    per_word: dict[str, dict[str, int]] = {w: {} for w in vocabulary}
    for r in records:
        per_word.setdefault(r.word, {})
        per_word[r.word][r.split] = per_word[r.word].get(r.split, 0) + 1
    per_split = Counter(r.split for r in records)
    return {
        "clips": len(records),
        "clips_per_split": dict(sorted(per_split.items())),
        "clips_per_word": {w: dict(sorted(s.items())) for w, s in sorted(per_word.items())},
        "dropped": dict(sorted(drops.items())),
        "clips_per_sync": dict(sorted(Counter(r.sync for r in records if r.sync).items())),
        "caption_tokens_dropped": dict(sorted((caption_drops or Counter()).items())),
        "videos": videos,
        "videos_skipped": dict(sorted(skipped.items())),
        "hours": round(seconds / 3600.0, 4),
        "vocabulary": vocabulary,
    }


def summary_table(st: dict) -> str:
    splits = sorted({s for per in st["clips_per_word"].values() for s in per}) or list(SPLITS)
    width = max([4] + [len(w) for w in st["clips_per_word"]])
    lines = [f"{'word':<{width}} " + " ".join(f"{s:>7}" for s in splits)]
    for word, per in st["clips_per_word"].items():
        lines.append(f"{word:<{width}} " + " ".join(f"{per.get(s, 0):>7}" for s in splits))
    lines.append(f"{'total':<{width}} " + " ".join(f"{st['clips_per_split'].get(s, 0):>7}" for s in splits))
    if st["dropped"]:
        lines.append("dropped clips: " + ", ".join(f"{k} {v}" for k, v in st["dropped"].items()))
    if st.get("caption_tokens_dropped"):
        lines.append("dropped caption tokens: " + ", ".join(
            f"{k} {v}" for k, v in st["caption_tokens_dropped"].items()))
    if st.get("faces"):
        per = st["faces"]["clips_per_face"]
        lines.append("clips per face track: " + ", ".join(f"{k} {v}" for k, v in per.items())
                     + f"; words the main face did not say, from another face: {st['faces']['other_face_spoke']}")
    if st["videos_skipped"]:
        lines.append("skipped videos: " + ", ".join(f"{k} {v}" for k, v in st["videos_skipped"].items()))
    return "\n".join(lines)


def contact_sheet(clips_per_word: dict[str, list[np.ndarray]], path: Path, every: int = 4) -> Path:
    """A PNG: per word a row of clips, each shown as every `every`-th frame side by side.
    clips_per_word: word -> list of (T, 96, 96) uint8."""
    from builder.pictures import grid

    if not clips_per_word:
        raise InputError("no clips to show in a contact sheet")
    words = sorted(clips_per_word)
    rows = [[np.concatenate(list(c[::every]), axis=1) for c in clips_per_word[w]] for w in words]
    return grid(rows, path, [w[:12] for w in words], gap=(6, 6), label_width=120)
