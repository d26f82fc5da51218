"""A voice for a script: speech-like audio driven by the same per-frame mouth parameters as the
picture, so that sound and mouth move together (and an audio-visual sync measure has something
true to find).

A source-filter voice: a glottal pulse train (harmonics of a wandering pitch) shaped by three
formants that follow the mouth (F1 rises with the opening, F2 with spread lips and falls with
rounded ones), loud where the mouth is open, with hiss where teeth show (t, s, f, sh). Voiced
only during words. Deterministic for a given (script, seed).

Hard cases for the sync stage: `shifted` (audio late or early by N ms), a voice-over (another
script's voice), and no audio at all (the corpus writes no sound track).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from builder.synth.script import PARAMS, Script

RATE = 16000                 # samples per second (what the sync stage decodes at)
MAX_HARMONIC_HZ = 4000.0
_OPEN, _ROUND, _SPREAD, _TEETH = (PARAMS.index(k) for k in ("open", "round", "spread", "teeth"))


def _track(script: Script, t: np.ndarray, j: int) -> np.ndarray:
    """Mouth parameter j at sample times t (frame k shows time k / fps)."""
    return np.interp(t * script.fps, np.arange(script.frames), script.params[:, j])


def _voicing(script: Script, t: np.ndarray, ramp: float = 0.02) -> np.ndarray:
    """1 inside words (fillers too), 0 between, with `ramp`-second edges."""
    v = np.zeros_like(t)
    for w in script.words:
        rise = np.clip((t - w.start + ramp) / ramp, 0, 1)
        fall = np.clip((w.end + ramp - t) / ramp, 0, 1)
        v = np.maximum(v, np.minimum(rise, fall))
    return v


def speech(script: Script, seed: int, rate: int = RATE) -> np.ndarray:
    """(N,) float32 in [-1, 1]: the voice of `script`, N = frames / fps * rate."""
    rng = np.random.default_rng([seed, 0x5EEC])
    n = int(round(script.frames / script.fps * rate))
    t = np.arange(n) / rate
    opening = np.clip(_track(script, t, _OPEN), 0, 1.2)
    spread, rounded = _track(script, t, _SPREAD), _track(script, t, _ROUND)
    teeth = _track(script, t, _TEETH)
    voiced = _voicing(script, t)

    base = float(rng.uniform(95, 220))
    f0 = base * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 6.3)))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    formants = (250 + 600 * opening, 1400 + 800 * spread - 700 * rounded, np.full(n, 2600.0))
    widths = (90.0, 120.0, 180.0)
    out = np.zeros(n)
    for h in range(1, int(MAX_HARMONIC_HZ / base) + 1):
        fh = h * f0
        gain = sum(1 / (1 + ((fh - f) / b) ** 2) for f, b in zip(formants, widths, strict=True))
        out += np.where(fh < MAX_HARMONIC_HZ, gain / h ** 0.5, 0.0) * np.sin(h * phase)
    out /= max(np.abs(out).max(), 1e-9)
    loud = voiced * (0.12 + opening)
    hiss = np.diff(rng.standard_normal(n + 1)) * voiced * teeth * np.clip(0.5 - opening, 0, 1) * 0.3
    y = out * loud + hiss + 1e-3 * rng.standard_normal(n)
    return (0.7 * y / max(np.abs(y).max(), 1e-9)).astype(np.float32)


def shifted(samples: np.ndarray, ms: float, rate: int = RATE) -> np.ndarray:
    """The same length, `ms` later (positive: sound after picture) or earlier, silence filled in."""
    k = int(round(ms * rate / 1000))
    out = np.zeros_like(samples)
    if k >= 0:
        out[k:] = samples[:len(samples) - k] if k < len(samples) else []
    else:
        out[:k] = samples[-k:]
    return out


def fitted(samples: np.ndarray, n: int) -> np.ndarray:
    """Cut or pad with silence to n samples."""
    return np.pad(samples[:n], (0, max(0, n - len(samples))))


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """A mono 16-bit WAV of float samples in [-1, 1]."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return path
