"""Speakers: transformed copies of the real people (mirrored, scaled, rotated, shifted, relit,
recoloured), some of them held out of training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from builder.synth.faces import Pose
from lipreader.errors import InputError


@dataclass(frozen=True)
class Speaker:
    """A transformed copy of one real person; everything a renderer needs besides the pose."""

    name: str
    person: str
    pose: int                                  # index into the poses list
    holdout: bool
    mirror: bool
    face_frac: float                           # face width / frame height
    angle: float                               # degrees
    shift: tuple[float, float]                 # face centre offset, fractions of (W, H)
    light: tuple[float, float]                 # gradient strength, gradient direction (rad)
    gain: float
    gamma: float
    tint: tuple[float, float, float]
    interior: tuple[int, int, int]             # mouth interior RGB
    teeth: tuple[int, int, int]
    amplitude: float
    noise: float                               # std of the per-pixel noise, in grey levels


def make_speakers(poses: Sequence[Pose], n: int, n_holdout: int,
                  rng: np.random.Generator) -> list[Speaker]:
    """`n` speakers, the last `n_holdout` of them variants of people no training speaker is."""
    if n < 1 or not 0 <= n_holdout < n:
        raise InputError(f"need at least one training speaker: --speakers {n}, "
                         f"--holdout-speakers {n_holdout}")
    people = list(dict.fromkeys(p.person for p in poses))
    if n_holdout and len(people) < 2:
        raise InputError("held-out speakers need a second real person: give photos of at least "
                         "two people, or --holdout-speakers 0")
    n_hold_people = min(n_holdout, max(1, (len(people) - 1) // 2)) if n_holdout else 0
    hold_people = people[len(people) - n_hold_people:] if n_hold_people else []
    train_people = [p for p in people if p not in hold_people]
    plan = [(train_people[i % len(train_people)], False) for i in range(n - n_holdout)]
    plan += [(hold_people[i % len(hold_people)], True) for i in range(n_holdout)]
    used: dict[str, int] = {}
    speakers = []
    for person, holdout in plan:
        k = used.get(person, 0)
        used[person] = k + 1
        pose_ids = [i for i, p in enumerate(poses) if p.person == person]
        hue = rng.uniform(-1, 1)
        interior = np.array([95 + 25 * hue, 30, 38 - 10 * hue]) * rng.uniform(0.45, 1.1)
        teeth = np.array([235, 228, 212]) * rng.uniform(0.85, 1.0)
        speakers.append(Speaker(
            name=f"{person}-{k}", person=person, pose=pose_ids[k % len(pose_ids)],
            holdout=holdout, mirror=bool(k % 2), face_frac=float(rng.uniform(0.30, 0.42)),
            angle=float(rng.uniform(-7, 7)) if k else 0.0,
            shift=(float(rng.uniform(-0.12, 0.12)), float(rng.uniform(-0.06, 0.04))),
            light=(float(rng.uniform(0, 0.35)) if k else 0.0, float(rng.uniform(0, 2 * np.pi))),
            gain=float(rng.uniform(0.8, 1.15)), gamma=float(rng.uniform(0.8, 1.25)),
            tint=tuple(float(x) for x in rng.uniform(0.86, 1.14, 3)),
            interior=tuple(int(x) for x in np.clip(interior, 0, 255)),
            teeth=tuple(int(x) for x in teeth),
            amplitude=float(rng.uniform(0.85, 1.1)), noise=float(rng.uniform(1.0, 4.0))))
    return speakers

