"""The read report: the transcript alignment (edit distance with its operations) and the formats."""

from __future__ import annotations

import numpy as np
import pytest

from builder import align as builder_align


def test_alignment_counts_insertions_deletions_substitutions():
    a = builder_align.align("we think people talk about money".split(), "we uh think people about money".split())
    assert a.ops == (("=", "we", "we"), ("I", None, "uh"), ("=", "think", "think"),
                     ("=", "people", "people"), ("D", "talk", None), ("=", "about", "about"),
                     ("=", "money", "money"))
    assert a.summary() == {"reference": 6, "matches": 5, "substitutions": 0, "deletions": 1,
                           "insertions": 1, "wer": pytest.approx(1 / 3, abs=1e-4)}
    b = builder_align.align(["a", "b", "c"], ["a", "x", "c"])
    assert b.ops == (("=", "a", "a"), ("S", "b", "x"), ("=", "c", "c")) and b.wer == pytest.approx(1 / 3)
    assert builder_align.align([], ["a"]).ops == (("I", None, "a"),)
    assert builder_align.align(["a"], []).summary()["deletions"] == 1


def _align_full_table(reference, predicted):
    """The alignment as report.align computed it with a whole Python cost table (the reference)."""
    n, m = len(reference), len(predicted)
    cost = [[i + j for j in range(m + 1)] for i in range(n + 1)]  # borders; the rest is filled
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (reference[i - 1] != predicted[j - 1]),
                             cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    ops, i, j = [], n, m
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (reference[i - 1] != predicted[j - 1]):
            ops.append(("=" if reference[i - 1] == predicted[j - 1] else "S",
                        reference[i - 1], predicted[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("D", reference[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, predicted[j - 1]))
            j -= 1
    return tuple(reversed(ops)), cost[n][m]


def _random_words(rng, n):
    return [f"w{k}" for k in rng.integers(0, 6, n)]


def test_alignment_matches_the_whole_table_alignment():
    rng = np.random.default_rng(7)
    for _ in range(60):
        ref, hyp = _random_words(rng, rng.integers(0, 25)), _random_words(rng, rng.integers(0, 25))
        assert builder_align.align(ref, hyp).ops == _align_full_table(ref, hyp)[0]


def test_alignment_split_in_halves_is_still_optimal(monkeypatch):
    monkeypatch.setattr(builder_align, "ALIGN_CELLS", 20)  # every sequence here is split, down to a few words
    rng = np.random.default_rng(11)
    for _ in range(60):
        ref, hyp = _random_words(rng, rng.integers(0, 40)), _random_words(rng, rng.integers(0, 40))
        a = builder_align.align(ref, hyp)
        assert [o[1] for o in a.ops if o[0] != "I"] == ref
        assert [o[2] for o in a.ops if o[0] != "D"] == hyp
        assert all((o[0] == "=") == (o[1] == o[2]) for o in a.ops if o[0] in "=S")
        assert a.errors == _align_full_table(ref, hyp)[1]


def test_alignment_of_long_transcripts_needs_little_memory():
    import tracemalloc

    rng = np.random.default_rng(3)
    ref = _random_words(rng, 6000)
    hyp = [w for k, w in enumerate(ref) if k % 40] + ["extra"] * 50  # 150 deleted, 50 inserted
    tracemalloc.start()
    try:
        a = builder_align.align(ref, hyp)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert a.reference == 6000 and a.errors <= 200
    assert peak < 40e6  # a whole cost table would be 6001 x 5901 cells (283 MB as int64)
