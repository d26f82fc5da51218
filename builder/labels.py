"""Caption text -> word labels that are safe as dataset folder names.

A label is NFKC, lower case, with apostrophe look-alikes unified, edge punctuation and quotes
stripped (inner apostrophes kept: don't) and numbers kept as written. Non-speech ([Music],
(laughs), ♪), speaker marks (>>, "NAME:") and names unsafe as folders become (text, reason)
drops, never silent losses.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from pathlib import Path

from builder.layout import DatasetDir

MAX_LABEL_CHARS = 64
MAX_LABEL_BYTES = 255    # ext4 / NTFS file-name limit

_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul", "conin$", "conout$", "clock$"]
    + [f"{dev}{n}" for dev in ("com", "lpt") for n in "0123456789"]
)
_DATASET_ROOT = DatasetDir(Path("dataset"))
_DATASET_NAMES = frozenset(p.name for p in (_DATASET_ROOT.manifest, _DATASET_ROOT.stats,
                                             _DATASET_ROOT.contact_sheet, _DATASET_ROOT.cache,
                                             _DATASET_ROOT.videos, _DATASET_ROOT.index,
                                             _DATASET_ROOT.pages))
_BAD_FOLDER_CHARS = frozenset('<>:"|?*')
_BAD_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co", "Cn"))

# Apostrophe look-alikes become "'" so that don't and don’t are one word; zero-width
# characters that captions sometimes carry are removed.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
                              "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None,
                              "\ufeff": None})
_NON_SPEECH = re.compile(r"\[[^\]]*\]|\([^)]*\)|[\u2669-\u266f]+")   # [Music] (laughs) ♪
_SPEAKER = re.compile(r"^\s*(?:>>+\s*)?-?\s*[A-Z][A-Z0-9 .'\-]{0,40}:(?=\s|$)")
_MARKED = re.compile(r"^\s*(?:>>|-)")      # in an all-caps line only a marked NAME: is a speaker
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
# Words whose leading apostrophe is part of them (an elision), not an opening quote.
_ELISIONS = frozenset(["cause", "cos", "coz", "em", "til", "bout", "round", "tis", "twas", "kay",
                       "nuff", "sup", "ello", "allo"])
_TOKEN_SPLIT = re.compile(r"\s+|\u2014|\u2013|--+")

_ALNUM = re.compile(r"[^\W_]")
_ONE_PLAIN_WORD = re.compile(r"\s*([A-Za-z0-9'][A-Za-z0-9',.?!-]*)\s*")   # most auto-caption segs
_PLAIN_LABEL = re.compile(r"[a-z0-9][a-z0-9'&,%+-]*")   # needs only the device-name check

def _is_edge(c: str) -> bool:
    return unicodedata.category(c).startswith("P")


def _is_percent(t: str, i: int) -> bool:
    """A "%" after a digit belongs to the number (50%)."""
    return t[i] == "%" and i > 0 and t[i - 1].isdigit()


@functools.lru_cache(maxsize=1 << 16)
def _label(token: str) -> tuple[str | None, str | None]:
    """(label, None) for a word, or (None, reason) for a token that is not one."""
    t = unicodedata.normalize("NFKC", token.translate(_APOSTROPHES)).lower()
    if t.startswith(">>"):
        t = t.lstrip(">")
        if not t.strip():
            return None, "speaker mark"
    if _NON_SPEECH.fullmatch(t):
        return None, "non-speech"
    t = t.strip()
    start, stop = 0, len(t)
    while start < stop and _is_edge(t[start]):
        start += 1
    while stop > start and _is_edge(t[stop - 1]) and not _is_percent(t, stop - 1):
        stop -= 1
    if start and t[start - 1] == "'" and t[start:stop] in _ELISIONS:
        start -= 1
    t = _THOUSANDS.sub("", t[start:stop])
    if not _ALNUM.search(t):
        return None, "no letters or digits"
    reason = unsafe_label_reason(t)
    return (None, reason) if reason else (t, None)


def normalize_label(text: str) -> str | None:
    """The word label for one caption token, or None if it is not a usable word.

    NFKC, lower case, apostrophe look-alikes -> "'", edge punctuation and quotes
    stripped (inner apostrophes kept: don't; a leading one kept in elisions: 'cause, 'em,
    'til), numbers as digits without thousands separators (1,000 and 1000 are "1000";
    decimals and numbers written as words stay as written); non-speech
    ([Music], (laughs), ♪), speaker marks (>>) and unsafe folder names give None.
    """
    return _label(text)[0]


def unsafe_label_reason(label: str) -> str | None:
    """Why `label` must not become a dataset folder name, or None if it is safe.

    Rejects: empty, "." and "..", slashes, control/invisible characters, whitespace,
    characters Windows forbids, names starting or ending with a dot, Windows device
    names (con, nul, com1, ... also with an extension), names of the dataset's own
    files, more than 64 characters, and labels not in normal form (NFKC, lower case).
    """
    if not isinstance(label, str) or not label:
        return "empty label"
    if len(label) <= MAX_LABEL_CHARS and _PLAIN_LABEL.fullmatch(label):
        return "reserved device name on Windows" if label in _WINDOWS_RESERVED else None
    if len(label) > MAX_LABEL_CHARS:
        return f"longer than {MAX_LABEL_CHARS} characters"
    if label in (".", ".."):
        return "dot name"
    if "/" in label or "\\" in label:
        return "contains a slash"
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in label):
        return "control or invisible character"
    if any(c.isspace() for c in label):
        return "contains whitespace"
    bad = sorted(set(label) & _BAD_FOLDER_CHARS)
    if bad:
        return f"character {bad[0]!r} not allowed in folder names"
    if label.startswith(".") or label.endswith("."):
        return "starts or ends with a dot"
    if label.split(".")[0].lower() in _WINDOWS_RESERVED:
        return "reserved device name on Windows"
    if label in _DATASET_NAMES:
        return "name of a dataset file"
    if len(label.encode("utf-8")) > MAX_LABEL_BYTES:
        return f"longer than {MAX_LABEL_BYTES} bytes"
    if label != unicodedata.normalize("NFKC", label).lower():
        return "not normalised (NFKC, lower case)"
    return None


def labels_of(text: str, dropped: list[tuple[str, str]]) -> list[str]:
    """Word labels of one piece of caption text, in order; the rest goes to `dropped`."""
    m = _ONE_PLAIN_WORD.fullmatch(text)
    if m and "--" not in text:
        label, reason = _label(m.group(1))
        if label is None:
            dropped.append((m.group(1), reason or "not a word"))
            return []
        return [label]
    text = unicodedata.normalize("NFKC", html.unescape(text).translate(_APOSTROPHES))
    for m in _NON_SPEECH.finditer(text):
        dropped.append((m.group(0), "non-speech"))
    text = _NON_SPEECH.sub(" ", text)
    labels = []
    for line in text.split("\n"):
        m = _SPEAKER.match(line)
        if m and (any(c.islower() for c in line) or _MARKED.match(line)):
            dropped.append((m.group(0).strip(), "speaker mark"))
            line = line[m.end():]
        for token in _TOKEN_SPLIT.split(line):
            if not token:
                continue
            label, reason = _label(token)
            if label is None:
                dropped.append((token, reason or "not a word"))
            else:
                labels.append(label)
    return labels
