"""A corpus: one seeded plan of speakers and scripts, each video folder written atomically
(video with audio, captions, truth, index.html), the playlist page and the contact sheet."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from builder.layout import VideoDir
from builder.synth.faces import Pose, load_poses
from builder.synth.render import Renderer
from builder.synth.script import (
    FILLERS,
    Script,
    Word,
    caption_lines,
    json3_text,
    make_script,
    vocabulary,
    vtt_text,
)
from builder.synth.speakers import Speaker, make_speakers
from builder.synth.voice import RATE, fitted, shifted, speech, write_wav
from lipreader.atomic import atomic_dir, remove_stale_temps, write_json, write_text
from lipreader.constants import FPS, ROI
from lipreader.errors import InputError

MIN_HEIGHT, MAX_HEIGHT = 360, 720
AUDIO_KINDS = ("speech", "silent", "voiceover")


@dataclass(frozen=True)
class CorpusDir:
    """Every file name of a corpus (the layout is in pipelines.synth). A video's folder has a
    fetched video folder's names (builder.layout.VideoDir) plus truth.json and index.html."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / "corpus.json"

    @property
    def playlist(self) -> Path:
        return self.root / "playlist.html"

    @property
    def contact_sheet(self) -> Path:
        return self.root / "contact_sheet.png"

    def video(self, name: str) -> VideoDir:
        return VideoDir(self.root / name)

    @staticmethod
    def truth(folder: VideoDir) -> Path:
        return folder.root / "truth.json"

    @staticmethod
    def index(folder: VideoDir) -> Path:
        return folder.root / "index.html"


def _video_tag(prefix: str, width: int, height: int) -> str:
    return (f'<video controls preload="metadata" width="{width}" height="{height}">\n'
            f'  <source src="{prefix}video.mp4" type="video/mp4">\n'
            f'  <track kind="captions" srclang="en" label="English" src="{prefix}captions.en.vtt" default>\n'
            f'  <track kind="captions" srclang="en" label="English (json3)" src="{prefix}captions.en.json3">\n'
            f'</video>')


def index_html(name: str, size: tuple[int, int]) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{name}</title></head>\n'
            f'<body>\n<h1>{name}</h1>\n{_video_tag("", *size)}\n</body></html>\n')


def playlist_html(names: Sequence[str], size: tuple[int, int]) -> str:
    body = "\n".join(f"<h2>{n}</h2>\n{_video_tag(n + '/', *size)}" for n in names)
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>lipreader synth corpus'
            f'</title></head>\n<body>\n{body}\n</body></html>\n')


@dataclass(frozen=True)
class SecondFace:
    """A split frame: the speaker on one side, another face on the other whose mouth moves
    after a script of its own (not the sound's). `side`: 0 the speaker is on the left half, 1
    on the right; the two are placed in their halves (`Speaker.shift`) and sized apart, so the
    silent face is sometimes the larger one."""

    speaker: Speaker          # the silent face, already placed in its half
    pose: Pose
    script: Script            # what its mouth does
    seed: int
    side: int

    def truth(self) -> dict:
        return {"speaker": self.speaker.name, "speaking_side": "left right".split()[self.side],
                "opening": [round(float(v), 3) for v in self.script.opening]}


def _in_half(s: Speaker, side: int, face_frac: float) -> Speaker:
    """The speaker placed in the middle of the left (0) or right (1) half of the frame."""
    return replace(s, shift=(-0.25 if side == 0 else 0.25, s.shift[1]), face_frac=face_frac,
                   angle=max(-4.0, min(4.0, s.angle)))


@dataclass
class VideoSpec:
    """Everything one worker needs to write one video folder (picklable)."""

    name: str
    speaker: Speaker
    pose: Pose
    script: Script
    size: tuple[int, int]
    seed: int
    crf: int
    crop_frames: list[int] = field(default_factory=list)
    audio: str = "speech"           # one of AUDIO_KINDS
    audio_offset_ms: float = 0.0    # the sound comes this late (negative: early)
    voice: tuple[Script, int] | None = None   # voiceover: (script, seed) of the voice heard
    second: SecondFace | None = None          # a second face in the frame (`second_face`)

    def truth(self) -> dict:
        s = self.speaker
        return {"name": self.name, "speaker": s.name, "person": s.person, "holdout": s.holdout,
                "fps": self.script.fps, "size": list(self.size),
                "duration": round(self.script.frames / self.script.fps, 3),
                "words": [asdict(w) for w in self.script.words],
                "opening": [round(float(v), 3) for v in self.script.opening],
                "audio": {"kind": self.audio, "offset_ms": self.audio_offset_ms},
                **({"second_face": self.second.truth()} if self.second else {})}

    def heard(self) -> Script:
        """The script whose words the sound track says (and the captions give)."""
        return self.voice[0] if self.audio == "voiceover" and self.voice else self.script

    def caption_words(self) -> list[Word]:
        """Captions follow the sound: the voice's words, `audio_offset_ms` late (those it
        pushes out of the video are not heard)."""
        d = self.audio_offset_ms / 1000 if self.audio != "silent" else 0.0
        seconds = self.script.frames / self.script.fps
        return [Word(w.word, round(w.start + d, 3), round(w.end + d, 3), w.filler)
                for w in self.heard().words if 0 <= w.start + d and w.end + d <= seconds]

    def sound(self, rate: int = RATE) -> np.ndarray | None:
        """(N,) float32 sound track, or None for a silent video."""
        if self.audio == "silent":
            return None
        seed = self.voice[1] if self.audio == "voiceover" and self.voice else self.seed
        n = int(round(self.script.frames / self.script.fps * rate))
        return shifted(fitted(speech(self.heard(), seed, rate), n), self.audio_offset_ms, rate)


def plan_corpus(poses: Sequence[Pose], words: int | Sequence[str] = 10, videos: int = 20, speakers: int = 6,
                holdout_speakers: int = 1, seconds: float = 14.0, fps: float = FPS,
                height: int = 480, seed: int = 0, audio: str = "speech", audio_offset_ms: float = 0.0,
                second_face: bool = False, aspect: float = 4 / 3) -> tuple[list[str], list[Speaker], list[VideoSpec]]:
    """Vocabulary (`words`: the first that many of VOCABULARY, or the words themselves),
    speakers and one spec per video, all decided by `seed`. Every video's sound
    is `audio` (AUDIO_KINDS; a voice-over says another, unseen script) `audio_offset_ms` late.
    `second_face`: each frame is split between the speaker and another speaker whose mouth
    moves after its own script (SecondFace). The frames are `height` high and `aspect` times as
    wide."""
    if audio not in AUDIO_KINDS:
        raise InputError(f"--audio must be one of {', '.join(AUDIO_KINDS)}, got {audio!r}")
    if not MIN_HEIGHT <= height <= MAX_HEIGHT:
        raise InputError(f"--height must be between {MIN_HEIGHT} and {MAX_HEIGHT}, got {height}")
    if not 1 <= fps <= 60:
        raise InputError(f"--fps must be between 1 and 60, got {fps:g}")
    if videos < 1:
        raise InputError(f"--videos must be at least 1, got {videos}")
    if seconds < 3:
        raise InputError(f"videos must last at least 3 seconds, got {seconds:g}")
    vocab = vocabulary(words) if isinstance(words, int) else list(words)
    rng = np.random.default_rng(seed)
    spk = make_speakers(poses, speakers, holdout_speakers, rng)
    height -= height % 2
    size = (int(round(height * aspect)) // 2 * 2, height)
    # Training speakers in a seeded order, held-out ones spread in from the second video on.
    train = [i for i in rng.permutation(len(spk)) if not spk[i].holdout]
    hold = [i for i, s in enumerate(spk) if s.holdout]
    order = list(train)
    for j, h in enumerate(hold):
        order.insert(min(1 + j * (len(spk) // max(1, len(hold))), len(order)), h)
    specs = []
    for i in range(videos):
        vrng = np.random.default_rng([seed, i])
        s = spk[order[i % len(spk)]]
        script = make_script(vocab, seconds * float(vrng.uniform(0.85, 1.15)), fps, vrng, s.amplitude)
        spec = VideoSpec(f"v{i:03d}-{s.name}", s, poses[s.pose], script, size,
                         seed=int(vrng.integers(2**31)), crf=int(vrng.integers(20, 30)),
                         audio=audio, audio_offset_ms=float(audio_offset_ms))
        if audio == "voiceover":
            orng = np.random.default_rng([seed, i, 0x0DD])
            spec.voice = (make_script(vocab, seconds * float(orng.uniform(0.85, 1.15)), fps, orng),
                          int(orng.integers(2**31)))
        if second_face:
            srng = np.random.default_rng([seed, i, 0x2FACE])
            other = spk[order[(i + 1 + int(srng.integers(len(spk) - 1))) % len(spk)]] \
                if len(spk) > 1 else s
            side = int(srng.integers(2))
            sizes = srng.uniform(0.24, 0.32, 2)
            spec.speaker = _in_half(s, side, float(sizes[0]))
            silent = make_script(vocab, script.frames / fps, fps, srng, other.amplitude)
            spec.second = SecondFace(_in_half(other, 1 - side, float(sizes[1])), poses[other.pose],
                                     silent, int(srng.integers(2**31)), side)
        specs.append(spec)
    return vocab, spk, specs


def write_video_dir(spec: VideoSpec, out: Path) -> dict[int, np.ndarray]:
    """Write OUT/<name>/ (video, captions, truth, index.html) atomically, unless an identical
    one is there. Returns {frame: mouth crop (96, 96, 3)} for `spec.crop_frames`."""
    from builder.media import write_video

    folder = CorpusDir(Path(out)).video(spec.name)
    truth = spec.truth()
    renderer = Renderer(spec.pose, spec.speaker, spec.size, spec.seed)
    truth_path = CorpusDir.truth(folder)
    done = truth_path.is_file() and folder.video.is_file() and \
        json.loads(truth_path.read_text()) == json.loads(json.dumps(truth))
    crops: dict[int, np.ndarray] = {}
    second = spec.second
    other = None if second is None else Renderer(second.pose, second.speaker, spec.size, second.seed)

    def frames() -> Iterator[np.ndarray]:
        for k in range(spec.script.frames):
            img = renderer.frame(spec.script.params[k], spec.script.motion[k], k)
            if other is not None:
                j = min(k, second.script.frames - 1)
                half = spec.size[0] // 2
                theirs = other.frame(second.script.params[j], second.script.motion[j], k)
                cols = slice(half, None) if second.side == 0 else slice(0, half)
                img[:, cols] = theirs[:, cols]
            if k in spec.crop_frames:
                crops[k] = _crop(img, *renderer.mouth_point(spec.script.motion[k]))
            yield img

    if done:
        for k in spec.crop_frames:
            img = renderer.frame(spec.script.params[k], spec.script.motion[k], k)
            crops[k] = _crop(img, *renderer.mouth_point(spec.script.motion[k]))
        return crops
    lines = caption_lines(spec.caption_words(), np.random.default_rng(spec.seed))
    with atomic_dir(folder.root) as root:
        tmp = VideoDir(root)
        sound = spec.sound()
        audio = None if sound is None else write_wav(root / "audio.wav", sound)
        write_video(tmp.video, frames(), fps=spec.script.fps, crf=spec.crf, audio=audio)
        if audio is not None:
            audio.unlink()
        write_text(tmp.caption("en", "json3"), json3_text(lines))
        write_text(tmp.caption("en", "vtt"), vtt_text(lines))
        write_json(CorpusDir.truth(tmp), truth)
        write_text(CorpusDir.index(tmp), index_html(spec.name, spec.size))
    return crops


def _crop(img: np.ndarray, center: np.ndarray, mouth_w: float, out: int = ROI) -> np.ndarray:
    import cv2

    half = 0.85 * mouth_w
    a = np.array([[out / (2 * half), 0, out / 2 - center[0] * out / (2 * half)],
                  [0, out / (2 * half), out / 2 - center[1] * out / (2 * half)]])
    return cv2.warpAffine(img, a, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _contact_plan(specs: Sequence[VideoSpec], vocab: Sequence[str], per_word: int = 2,
                  frames: int = 7, max_words: int = 20) -> dict[str, list[tuple[int, list[int]]]]:
    """{word: [(spec index, frame indices)]}: utterances by different speakers where possible."""
    plan: dict[str, list[tuple[int, list[int]]]] = {}
    for word in vocab[:max_words]:
        seen: set[str] = set()
        for i, spec in enumerate(specs):
            if len(plan.get(word, [])) >= per_word:
                break
            w = next((w for w in spec.script.words if w.word == word and not w.filler), None)
            if w is None or spec.speaker.name in seen:
                continue
            seen.add(spec.speaker.name)
            fps = spec.script.fps
            ks = np.linspace(w.start * fps - 1, w.end * fps + 1, frames).round().astype(int)
            plan.setdefault(word, []).append((i, [int(min(max(k, 0), spec.script.frames - 1)) for k in ks]))
    return plan


def contact_sheet(utterances: dict[str, list[list[np.ndarray]]], path: Path) -> Path:
    """One row per word: its label, then the mouth crops (96, 96, 3) of each of its utterances,
    a blank crop between two utterances."""
    from builder.pictures import grid

    blank = np.full((ROI, ROI, 3), 255, np.uint8)
    rows = [[crop for j, utt in enumerate(utts) for crop in [*([blank] if j else []), *utt]]
            for utts in utterances.values()]
    return grid(rows, path, list(utterances), gap=(0, 4))


@dataclass
class Corpus:
    root: Path
    vocabulary: list[str]
    speakers: list[Speaker]
    videos: list[dict]
    seconds: float = 0.0      # wall time of the generation

    @property
    def holdout_speakers(self) -> list[str]:
        return [s.name for s in self.speakers if s.holdout]

    @property
    def files(self) -> CorpusDir:
        return CorpusDir(self.root)


def _work(args: tuple[VideoSpec, Path]) -> tuple[str, dict[int, np.ndarray]]:
    spec, out = args
    return spec.name, write_video_dir(spec, out)


def make_corpus(out: Path, words: int | Sequence[str] = 10, videos: int = 20, seconds: float = 14.0,
                speakers: int = 6, holdout_speakers: int = 1, height: int = 480, fps: float = FPS,
                seed: int = 0, faces: Path | None = None, workers: int = 0,
                show_progress: bool = False, audio: str = "speech",
                audio_offset_ms: float = 0.0, second_face: bool = False, aspect: float = 4 / 3) -> Corpus:
    """Generate a corpus under `out` (see pipelines.synth for the layout); `workers` 0 uses
    up to one process per core, 1 renders in this process."""
    import time

    from lipreader.progress import Progress
    from lipreader.workers import process_pool

    t0 = time.perf_counter()
    out = Path(out)
    poses = load_poses(faces)
    vocab, spk, specs = plan_corpus(poses, words, videos, speakers, holdout_speakers,
                                    seconds, fps, height, seed, audio, audio_offset_ms, second_face,
                                    aspect)
    sheet_plan = _contact_plan(specs, vocab)
    for utts in sheet_plan.values():
        for i, ks in utts:
            specs[i].crop_frames.extend(ks)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    workers = workers or min(len(specs), os.cpu_count() or 1)
    crops: dict[str, dict[int, np.ndarray]] = {}
    jobs = [(s, out) for s in specs]
    with Progress(len(specs), "synth", unit="video", enabled=show_progress) as bar:
        if workers <= 1:
            for job in jobs:
                name, c = _work(job)
                crops[name] = c
                bar.update()
        else:
            with process_pool(workers) as pool:
                for name, c in pool.map(_work, jobs):
                    crops[name] = c
                    bar.update()
    contact_sheet({word: [[crops[specs[i].name][k] for k in ks] for i, ks in utts]
                   for word, utts in sheet_plan.items()}, CorpusDir(out).contact_sheet)
    summary = [{"name": s.name, "speaker": s.speaker.name, "person": s.speaker.person,
                "holdout": s.speaker.holdout, "duration": round(s.script.frames / fps, 3),
                "words": sum(not w.filler for w in s.script.words)} for s in specs]
    write_json(CorpusDir(out).meta, {
        "vocabulary": vocab, "fillers": list(FILLERS), "seed": seed, "fps": fps,
        "size": list(specs[0].size),
        "speakers": [{"name": s.name, "person": s.person, "holdout": s.holdout} for s in spk],
        "holdout_speakers": [s.name for s in spk if s.holdout],
        "videos": summary})
    write_text(CorpusDir(out).playlist, playlist_html([s.name for s in specs], specs[0].size))
    return Corpus(out, vocab, spk, summary, time.perf_counter() - t0)

