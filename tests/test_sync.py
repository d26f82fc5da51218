"""Audio-visual sync: the sound's offset, speaking or not, and what planning does with them,
on generated talking heads whose voice follows the mouth (builder.synth.voice)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from builder import sync
from builder.synth import load_poses, make_corpus, plan_corpus

SECONDS = 6.0


@pytest.fixture(scope="module")
def poses():
    return load_poses(None)


def pcm(samples: np.ndarray) -> np.ndarray:
    return (samples * 32767).astype(np.int16)


def test_envelope_streams_in_any_chunks():
    x = pcm(np.random.default_rng(0).uniform(-0.5, 0.5, 16000 * 3 + 123))
    whole = sync.energy_envelope([x])
    parts = sync.energy_envelope(np.array_split(x, [1, 999, 5000, 33333]))
    assert len(whole) == round(len(x) / 640 + 0.5)
    np.testing.assert_allclose(parts, whole, rtol=1e-5)


def test_lag_correlations_are_np_corrcoef_lag_by_lag():
    """All lags at once give np.corrcoef's figures at each lag: frames without a face (NaN) and
    lags reaching past the sound are left out, too few frames give NaN, a flat signal 0."""
    rng = np.random.default_rng(1)

    def one_by_one(mouth, energy, first, n, max_lag):
        loud, out = sync.loudness(energy), []
        t = np.arange(max(first, 0), min(first + n, len(mouth)))
        for lag in range(-max_lag, max_lag + 1):
            ok = (t + lag >= 0) & (t + lag < len(loud)) & np.isfinite(mouth[t])
            a, b = mouth[t][ok], loud[(t + lag)[ok]]
            out.append(np.nan if ok.sum() < max(10, n // 2) else
                       0.0 if min(a.std(), b.std()) < 1e-6 else np.corrcoef(a, b)[0, 1])
        return np.array(out)

    checked = 0
    for _ in range(300):
        frames = int(rng.integers(20, 300))
        mouth = rng.normal(size=frames)
        mouth[rng.random(frames) < rng.uniform(0, 0.5)] = np.nan
        if rng.random() < 0.1:
            mouth[:] = 1.0
        energy = rng.normal(size=int(rng.integers(1, frames + 30)))
        first, n = int(rng.integers(-10, frames)), int(rng.integers(10, 120))
        got = sync.lag_correlations(mouth, energy, first, n, max_lag=15)
        want = one_by_one(mouth, energy, first, n, 15)
        assert got.shape == (31,)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-12)
        checked += int((~np.isnan(got)).sum())
    assert checked > 1000


def test_offsets_from_the_true_mouth(poses):
    """-8..+8 frames, the script's own opening: the offset within a frame for every video."""
    errors = []
    for off in range(-8, 9):
        _, _, specs = plan_corpus(poses, videos=1, seconds=SECONDS, height=360, seed=40 + off,
                                  audio_offset_ms=off * 40)
        spec = specs[0]
        found = sync.video_sync(spec.script.opening.astype(float), sync.energy_envelope([pcm(spec.sound())]))
        errors.append(found.offset - off)
    assert sum(abs(e) <= 1 for e in errors) / len(errors) >= 0.95, errors


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Short generated videos fetched and built: sound late or early by -8..+8 frames (step 4),
    matched, voice-over and silent ones."""
    from lipreader.config import Config
    from pipelines import build, fetch

    root = tmp_path_factory.mktemp("sync")
    kinds = {"off": [], "matched": [], "voiceover": [], "silent": []}
    n = 0
    for off in (-8, -4, 4, 8):
        c = make_corpus(root / f"c{n}", videos=1, seconds=SECONDS, height=360, seed=60 + n,
                        speakers=2, audio_offset_ms=off * 40, workers=1)
        kinds["off"].append((c, off))
        n += 1
    for kind, count in (("matched", 2), ("voiceover", 2), ("silent", 1)):
        c = make_corpus(root / f"c{n}", videos=count, seconds=SECONDS, height=360, seed=60 + n,
                        speakers=2, audio="speech" if kind == "matched" else kind,
                        workers=min(2, os.cpu_count() or 1))
        kinds[kind].append((c, 0))
        n += 1
    names = {}
    (root / "staged").mkdir()
    for kind, corpora in kinds.items():
        for i, (c, off) in enumerate(corpora):
            for v in c.videos:
                tag = f"{kind}{i}-{v['name']}"
                shutil.copyfile(c.root / v["name"] / "video.mp4", root / "staged" / f"{tag}.mp4")
                shutil.copyfile(c.root / v["name"] / "captions.en.json3", root / "staged" / f"{tag}.en.json3")
                names[tag] = (kind, off, c.root / v["name"])
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / "dataset"))
    cfg = cfg.override("build", words=10, splits="1,0,0", workers=2)
    fetch.fetch_all(cfg, fetch.gather([str(root / "staged")], None), quiet=True)
    summary = build.run(cfg)
    return root, cfg, names, summary


def _video_dir(root, name):
    found = [p for p in (root / "videos").iterdir() if name in p.name]
    assert len(found) == 1, (name, found)
    return found[0]


def _clips(root):
    return [json.loads(line) for line in (root / "dataset" / "manifest.jsonl").read_text().splitlines()]


def test_built_offsets_within_a_frame(built):
    root, _, names, _ = built
    errors = {}
    for name, (kind, off, _) in names.items():
        if kind in ("off", "matched"):
            with np.load(_video_dir(root, name) / "sync.npz") as z:
                errors[name] = int(z["offset"]) - off
    print("offset errors", errors)
    assert sum(abs(e) <= 1 for e in errors.values()) / len(errors) >= 0.95, errors


def test_voiceover_dropped_matched_kept_silent_kept(built):
    root, _, names, summary = built
    clips = _clips(root)
    kept: dict[str, int] = {}
    for c in clips:
        kept[c["video_id"]] = kept.get(c["video_id"], 0) + 1
    spoken = {}
    for name, (kind, _, folder) in names.items():
        captions = json.loads((folder / "captions.en.json3").read_text())
        spoken[name] = (kind, sum(len(e["segs"]) for e in captions["events"]))
    by_kind: dict[str, list[int]] = {}
    for name, (kind, n_words) in spoken.items():
        vid = _video_dir(root, name).name
        by_kind.setdefault(kind, [0, 0])
        by_kind[kind][0] += kept.get(vid, 0)
        by_kind[kind][1] += n_words
    print("kept / caption words by kind", by_kind, summary.stats.get("dropped"))
    # A few short videos: the >= 95% figures on a larger held-out set come from
    # benchmarks/sync_figures.py; here the same measure must hold with a small margin.
    assert by_kind["voiceover"][0] <= 0.05 * by_kind["voiceover"][1]
    in_sync = by_kind["matched"][0] + by_kind["off"][0], by_kind["matched"][1] + by_kind["off"][1]
    assert in_sync[0] >= 0.9 * in_sync[1], in_sync
    assert by_kind["silent"][0] == by_kind["silent"][1]
    silent = {_video_dir(root, n).name for n, (k, _) in spoken.items() if k == "silent"}
    assert {c["sync"] for c in clips if c["video_id"] in silent} == {"unknown"}
    assert {c["sync"] for c in clips if c["video_id"] not in silent} == {"measured"}


def test_offset_taken_off_the_word_times(built):
    """A clip's word times are the mouth's: within a frame of the truth, whatever the offset."""
    root, _, names, _ = built
    by_id = {_video_dir(root, n).name: (kind, off, folder) for n, (kind, off, folder) in names.items()}
    errors = []
    for c in _clips(root):
        kind, off, folder = by_id[c["video_id"]]
        if kind not in ("off", "matched"):
            continue
        truth = json.loads((folder / "truth.json").read_text())
        said = min((w for w in truth["words"] if w["word"] == c["word"]),
                   key=lambda w: abs(w["start"] - c["start"]))
        errors.append(abs(said["start"] - c["start"]))
        assert c["av_offset"] == pytest.approx(off, abs=1)
    assert max(errors) <= 0.041, errors


def test_sync_is_measured_again_after_retracking(tmp_path):
    from builder.layout import VideoDir
    from builder.stages import sync as syncstage

    vd = VideoDir(tmp_path)
    np.savez(vd.track, opening=np.zeros(100, np.float32))
    first = syncstage.run(vd)            # no sound to decode: known to be unknown
    assert not first.known and syncstage.load(vd) is not None
    later = vd.sync.stat().st_mtime_ns + 10**9
    os.utime(vd.track, ns=(later, later))
    assert syncstage.load(vd) is None
