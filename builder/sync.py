"""Is the tracked face the one speaking, and how far off is its sound? Audio-visual sync from
the mouth opening (track.npz) against the sound's energy envelope, in the SyncNet manner.

Both streams are at 25 fps. For a window of frames, the correlation between the mouth opening
at frame t and the sound's loudness (RMS) at frame t + lag is computed for each lag in -MAX_LAG..MAX_LAG;
the best lag is the window's offset, and how far the best correlation stands above the median
over lags is its confidence (SyncNet: median minus minimum of a distance). A video's offset is
the median over its confident windows. A positive offset means the sound comes late: a caption
timed on the sound is that many frames after the mouth.

sync.npz (beside track.npz; written by `measure`, T = frames of track.npz):
    energy      (T,) float32   log energy of the sound per frame (empty when no sound)
    has_audio   () bool        the video has a sound track
    offset      () int32       the video's offset in frames (0 when unknown)
    confidence  () float32     median confidence of the windows that decided it (0: unknown)
    windows     (W, 3) float32 per window: first frame, best lag, confidence
    frames      () int32       T, to tell a sync.npz left from an older track.npz
    version     () int32
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lipreader.constants import FPS

VERSION = 1
RATE = 16000                          # Hz the sound is decoded at
HOP = int(RATE / FPS)                 # 640 samples per video frame
MAX_LAG = 15                          # frames searched either way (SyncNet: +-15 at 25 fps)
WINDOW = 100                          # frames per window for the video's offset (4 s)
STEP = 50                             # frames between windows
MIN_WINDOW_CONFIDENCE = 0.3           # a window decides the offset above this
CLIP_CONTEXT = 101                    # frames around a word's centre its sync is judged on (4 s)
SILENT_DB = 1e-6                      # energy floor (mean square of samples in [-1, 1])

SYNC_UNKNOWN = "unknown"              # no sound: the clip's sync cannot be measured
NOT_SPEAKING = "not speaking"         # drop reasons, as in stats.json
OUT_OF_SYNC = "out of sync"


def energy_envelope(chunks: Iterable[np.ndarray], rate: int = RATE) -> np.ndarray:
    """(T,) float32 log mean-square of int16 sample chunks over 1/25 s centred on each video
    frame's time k / 25, streamed (only one frame's remainder is carried between chunks)."""
    hop = int(rate / FPS)
    out: list[np.ndarray] = []
    rest = np.zeros(hop // 2, np.float64)
    for c in chunks:
        x = np.concatenate([rest, np.asarray(c, np.float64) / 32768.0])
        n = len(x) // hop
        if n:
            out.append(np.mean(x[:n * hop].reshape(n, hop) ** 2, 1))
        rest = x[n * hop:]
    if len(rest):
        out.append(np.array([np.mean(rest ** 2)]))
    power = np.concatenate(out) if out else np.zeros(0)
    return np.log(power + SILENT_DB).astype(np.float32)


def loudness(energy: np.ndarray) -> np.ndarray:
    """RMS from log energy: it grows about linearly with the opening of a speaking mouth."""
    return np.exp(np.asarray(energy, np.float64) / 2)


def lag_correlations(mouth: np.ndarray, energy: np.ndarray, first: int, n: int,
                     max_lag: int = MAX_LAG) -> np.ndarray:
    """(2 * max_lag + 1,) correlation of mouth[t] with loudness[t + lag] over t in [first,
    first + n), for lag = -max_lag..max_lag; NaN where too few frames have both. All lags at
    once, one row each (the same figures as np.corrcoef lag by lag, 10x faster)."""
    energy = loudness(energy)
    lags = np.arange(-max_lag, max_lag + 1)
    t = np.arange(max(first, 0), min(first + n, len(mouth)))
    v = np.asarray(mouth[t], np.float64)
    ta = t[None, :] + lags[:, None]
    ok = (ta >= 0) & (ta < len(energy)) & np.isfinite(v)[None, :]
    count = ok.sum(axis=1)
    measured = count >= max(10, n // 2)
    if not measured.any():
        return np.full(len(lags), np.nan)
    a = np.where(ok, v[None, :], 0.0)
    b = np.where(ok, energy[np.clip(ta, 0, len(energy) - 1)], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = np.where(ok, a - (a.sum(axis=1) / count)[:, None], 0.0)
        db = np.where(ok, b - (b.sum(axis=1) / count)[:, None], 0.0)
        sa, sb = np.sqrt((da * da).sum(axis=1) / count), np.sqrt((db * db).sum(axis=1) / count)
        corr = np.clip((da * db).sum(axis=1) / count / (sa * sb), -1.0, 1.0)
    corr = np.where((sa < 1e-6) | (sb < 1e-6), 0.0, corr)
    return np.where(measured, corr, np.nan)


@dataclass(frozen=True)
class Judgement:
    lag: int             # the best lag, frames (sound late by this much)
    confidence: float    # best correlation minus the median over lags
    score: float         # correlation at the given offset (-1 when not measured there)
    peak: float          # correlation at the best lag


def judge(corr: np.ndarray, offset: int = 0, max_lag: int = MAX_LAG) -> Judgement | None:
    """The best lag and how it stands out, or None when the window could not be measured."""
    if np.isnan(corr).mean() > 0.2:
        return None
    med = float(np.nanmedian(corr))
    best = int(np.nanargmax(corr))
    at = corr[offset + max_lag] if abs(offset) <= max_lag else np.nan
    return Judgement(best - max_lag, float(corr[best]) - med, float(at) if np.isfinite(at) else -1.0,
                     float(corr[best]))


@dataclass(frozen=True)
class Sync:
    energy: np.ndarray       # (T,) or (0,) when no sound
    has_audio: bool
    offset: int
    confidence: float
    windows: np.ndarray      # (W, 3)

    @property
    def known(self) -> bool:
        return self.has_audio and len(self.energy) > 0


def video_sync(mouth: np.ndarray, energy: np.ndarray | None, window: int = WINDOW, step: int = STEP,
               min_confidence: float = MIN_WINDOW_CONFIDENCE) -> Sync:
    """The video's offset from sliding windows: median lag of the confident ones."""
    if energy is None or not len(energy):
        return Sync(np.zeros(0, np.float32), energy is not None, 0, 0.0, np.zeros((0, 3), np.float32))
    rows = []
    starts = range(0, max(1, len(mouth) - window + 1), step)
    for s in starts:
        j = judge(lag_correlations(mouth, energy, s, window))
        if j is not None:
            rows.append((s, j.lag, j.confidence))
    windows = np.array(rows, np.float32).reshape(-1, 3)
    good = windows[windows[:, 2] >= min_confidence]
    if not len(good):
        return Sync(energy.astype(np.float32), True, 0, 0.0, windows)
    return Sync(energy.astype(np.float32), True, int(round(float(np.median(good[:, 1])))),
                float(np.median(good[:, 2])), windows)


def clip_judgement(mouth: np.ndarray, energy: np.ndarray, centre: float, offset: int,
                   context: int = CLIP_CONTEXT) -> Judgement | None:
    """How the face's mouth follows the sound around frame `centre` (a word's middle); the
    context is moved inside the video near its ends, so that it is always `context` frames."""
    first = int(math.floor(centre - context / 2 + 0.5))
    first = max(0, min(first, len(mouth) - context))
    return judge(lag_correlations(mouth, energy, first, context), offset)


def verdict(j: Judgement | None, offset: int, min_sync: float, max_drift: int,
            min_confidence: float = 2.0) -> str | None:
    """None to keep a clip, else why it is dropped. Kept: the mouth follows the sound best near
    the video's offset (within `max_drift` frames), with a correlation there of at least
    `min_sync` or a best lag that stands out by at least `min_confidence` (SyncNet's sense).
    OUT_OF_SYNC: it follows the sound as well, but best at a lag more than `max_drift` frames
    away. NOT_SPEAKING: it does not follow the sound. A clip that could not be measured, or
    any clip when `min_sync` is -1, is kept."""
    if j is None or min_sync <= -1:
        return None
    near = abs(j.lag - offset) <= max_drift
    if near and (j.score >= min_sync or j.confidence >= min_confidence):
        return None
    return OUT_OF_SYNC if j.peak >= min_sync and not near else NOT_SPEAKING


def measure(video: Path, mouth: np.ndarray) -> Sync:
    """Decode the video's sound once (streamed) and measure its sync with `mouth` (the opening
    per frame from track.npz, NaN without a face)."""
    from builder import media

    if not media.probe(video).has_audio:
        return video_sync(mouth, None)
    energy = energy_envelope(media.iter_audio(video, RATE, RATE))
    energy = np.pad(energy[:len(mouth)], (0, max(0, len(mouth) - len(energy))),
                    constant_values=math.log(SILENT_DB))
    return video_sync(mouth, energy)


def save(path: Path, s: Sync, frames: int) -> None:
    from lipreader.atomic import atomic_path

    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
        np.savez(f, energy=s.energy, has_audio=np.bool_(s.has_audio), offset=np.int32(s.offset),
                 confidence=np.float32(s.confidence), windows=s.windows, frames=np.int32(frames),
                 version=np.int32(VERSION))


def load(path: Path, frames: int) -> Sync | None:
    """The sync.npz of a track of `frames` frames, or None when missing, stale or damaged."""
    try:
        with np.load(path) as z:
            if int(z["version"]) != VERSION or int(z["frames"]) != frames:
                return None
            return Sync(z["energy"], bool(z["has_audio"]), int(z["offset"]),
                        float(z["confidence"]), z["windows"])
    except (OSError, ValueError, KeyError, EOFError):
        return None
