"""The config's options turned into the small settings values the builder stages take.

builder never reads options.toml; the commands build its settings here, in one place.
"""

from __future__ import annotations

from builder.clips import Limits
from builder.stages.plan import PlanSettings
from builder.stages.track import TrackSettings
from lipreader.config import Config


def limits(cfg: Config, frames: int | None = None) -> Limits:
    """[build]'s clip limits; `frames` replaces the clip length (read uses the model's)."""
    b = cfg.build
    return Limits(frames=frames or b.frames, padding=b.padding, min_face_fraction=b.min_face_fraction,
                  min_face_size=b.min_face_size, max_yaw=b.max_yaw, allow_estimated=b.allow_estimated,
                  min_sync=b.min_sync, max_sync_drift=b.max_sync_drift,
                  min_sync_confidence=b.min_sync_confidence,
                  keep_sync_unknown=b.keep_sync_unknown)


def plan(cfg: Config, output: str) -> PlanSettings:
    """[build]'s deciding options; output "train", or "predict" (clips go to [prediction] folder)."""
    b = cfg.build
    return PlanSettings(words=b.words, vocab=b.vocab, min_count=b.min_count, min_length=b.min_length,
                        stopwords=b.stopwords, allow_estimated=b.allow_estimated,
                        max_per_word=b.max_per_word, splits=tuple(b.splits), frames=b.frames,
                        padding=b.padding, output="train" if output == "train" else cfg.prediction.folder,
                        split_by=b.split_by)


def track(cfg: Config) -> TrackSettings:
    return TrackSettings(mesh_every=cfg.build.mesh_every, max_faces=cfg.build.max_faces, crop=cfg.build.crop)
