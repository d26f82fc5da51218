"""builder.labels: caption tokens -> word labels that are safe as folder names."""

from __future__ import annotations

import pytest

from builder.labels import normalize_label, unsafe_label_reason


@pytest.mark.parametrize("label", [
    "", ".", "..", "a/b", "a\\b", "/", "x\x00", "tab\there", "new\nline", "\x7f", "a\u200bb",
    "con", "CON", "nul.txt", "aux", "com9", "lpt1.tar.gz", "clock$", ".hidden", "trailing.",
    "a" * 65, "é" * 64 + "é", "stats.json", "manifest.jsonl", "contact_sheet.png", ".cache",
    "Upper", "ﬁne", "what?", "a*b", "\ud800",
])
def test_unsafe_labels(label):
    assert unsafe_label_reason(label) is not None


@pytest.mark.parametrize("label", ["hello", "don't", "1,000", "3.5", "50%", "at&t", "é" * 64, "naïve",
                                   "rock'n'roll", "well-known", "concert", "console", "nullify", "日本"])
def test_safe_labels(label):
    assert unsafe_label_reason(label) is None


@pytest.mark.parametrize("text,label", [
    ("Hello,", "hello"), ("\u201cQuoted\u201d", "quoted"), ("'tis", "'tis"), ("don\u2019t", "don't"),
    ("It's.", "it's"), ("1,000", "1000"), ("1000", "1000"), ("$1,000,000", "$1000000"), ("3,14", "3,14"),
    ("'cause", "'cause"), ("‘cause", "'cause"), ("'hello'", "hello"), ("'em,", "'em"), ("3.5", "3.5"), ("50%", "50%"), ("50%),", "50%"), ("(50%)", None),
    ("ＦＵＬＬ", "full"), ("ﬁne", "fine"), ("\u200bzero", "zero"), ("...so", "so"),
    ("[Music]", None), ("(laughs)", None), ("♪", None), (">>", None), ("--", None), ("", None),
    ("CON", None), ("a/b", None), (">>hi", "hi"),
])
def test_normalize_label(text, label):
    assert normalize_label(text) == label
