"""Every fixed file and folder name of the on-disk layout, in one place.

The two dataset names that training reads too (manifest.jsonl, .cache) are declared in
lipreader.manifest, and the web pages' names (which `train` writes a page among) in
lipreader.pages: the lower layer can import them; they are reached through DatasetDir here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lipreader import pages
from lipreader.manifest import CACHE, MANIFEST, PLAN

CAPTION_EXTS = ("json3", "srv3", "vtt", "srt")
AUTO_MARK = "auto"   # captions.<lang>.auto.<ext>: automatic captions kept beside manual ones


@dataclass(frozen=True)
class VideoDir:
    """data/videos/<video_id>/: what `fetch` writes and `build-dataset` adds to.

    `face` picks the face track the tracking files belong to: 0, the main face, has the plain
    names (track.npz, mouth.npy, sync.npz); face k >= 1 (`[build] max_faces` > 1) has
    track.<k>.npz, mouth.<k>.npy, sync.<k>.npz. `for_face(k)` is the same folder for face k."""

    root: Path
    face: int = 0

    def for_face(self, face: int) -> VideoDir:
        return VideoDir(self.root, face)

    def _of_face(self, stem: str, ext: str) -> Path:
        return self.root / (f"{stem}.{ext}" if self.face == 0 else f"{stem}.{self.face}.{ext}")

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def video(self) -> Path:
        return self.root / "video.mp4"

    @property
    def info(self) -> Path:
        return self.root / "info.json"

    def caption(self, lang: str, ext: str, automatic_beside: bool = False) -> Path:
        """The caption file; `automatic_beside`: the automatic track kept beside manual captions
        for its word times."""
        return self.root / (f"captions.{lang}.{AUTO_MARK}.{ext}" if automatic_beside
                            else f"captions.{lang}.{ext}")

    def captions(self) -> list[Path]:
        """Caption files present, best format first (json3 has word times); automatic tracks
        kept beside manual ones come after all others."""
        found = [p for p in self.root.glob("captions.*") if p.suffix.lstrip(".") in CAPTION_EXTS]
        return sorted(found, key=lambda p: (is_automatic_beside(p),
                                            CAPTION_EXTS.index(p.suffix.lstrip(".")), p.name))

    @property
    def words(self) -> Path:
        return self.root / "words.json"

    @property
    def track(self) -> Path:
        return self._of_face("track", "npz")

    @property
    def mouth(self) -> Path:
        return self._of_face("mouth", "npy")

    def mouth_for(self, profile: str) -> Path:
        return mouth_file(self.mouth, profile)

    @property
    def sync(self) -> Path:
        """Audio-visual sync of the track: the sound's envelope and offset (builder.sync)."""
        return self._of_face("sync", "npz")

    @property
    def skip(self) -> Path:
        """Written when a build stage rejects the video: {"stage", "reason", "detail"}."""
        return self.root / "skip.json"

    @property
    def read_mark(self) -> Path:
        """Written when `read` fetches the video: build-dataset does not train on it while
        this file is there."""
        return self.root / "read.json"

    def complete(self) -> bool:
        """Fetched: the video and its info.json are there (fetch renames a finished folder into place)."""
        return self.video.is_file() and self.info.is_file()

    @staticmethod
    def archive(videos: Path) -> Path:
        """yt-dlp's download archive beside the video folders: one "<extractor> <id>" a line."""
        return Path(videos) / "archive.txt"


def mouth_file(mouth: Path, profile: str) -> Path:
    """The mouth crops of a crop profile: mouth.npy for "default", mouth-<profile>.npy beside it."""
    return mouth if profile == "default" else mouth.with_name(f"{mouth.stem}-{profile}{mouth.suffix}")


def is_automatic_beside(caption: Path) -> bool:
    """Whether `caption` is an automatic track kept beside manual captions (captions.en.auto.json3)."""
    parts = Path(caption).name.split(".")
    return len(parts) == 4 and parts[2] == AUTO_MARK


def video_dirs(videos: Path) -> list[VideoDir]:
    """Finished video folders under `videos`, sorted by id (temporary folders are ignored)."""
    videos = Path(videos)
    if not videos.is_dir():
        return []
    return [VideoDir(p) for p in sorted(videos.iterdir())
            if p.is_dir() and not p.name.startswith(".")]


@dataclass(frozen=True)
class DatasetDir:
    """data/dataset/: <word>/<split>/<video_id>_<start_ms>.mp4 plus a .json sidecar per clip."""

    root: Path

    def clip(self, word: str, split: str, video_id: str, start_ms: int) -> Path:
        return self.root / word / split / f"{video_id}_{start_ms}.mp4"

    @staticmethod
    def sidecar(clip: Path) -> Path:
        return clip.with_suffix(".json")

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def contact_sheet(self) -> Path:
        return self.root / "contact_sheet.png"

    @property
    def plan(self) -> Path:
        """The vocabulary, the settings that decided it and each video's split (builder.stages.plan)."""
        return self.root / PLAN

    @property
    def cache(self) -> Path:
        """uint8 clip arrays for training, one memory-mapped file per split."""
        return self.root / CACHE

    @property
    def videos(self) -> Path:
        """Per video of the last build: split, seconds, skip reason, drops (the video pages' facts)."""
        return self.root / "videos.json"

    @property
    def index(self) -> Path:
        """The overview page; the other pages sit in `pages`."""
        return self.root / pages.INDEX

    @property
    def pages(self) -> Path:
        return self.root / pages.PAGES

    @property
    def stylesheet(self) -> Path:
        return self.pages / pages.STYLE

    def word_page(self, word: str) -> Path:
        return self.pages / pages.word_page_name(word)

    def video_page(self, video_id: str) -> Path:
        return self.pages / pages.video_page_name(video_id)

    def model_page(self, model: str | Path) -> Path:
        return pages.model_page(self.root, model)

    def preview(self, clip: str) -> Path:
        """The web-playable preview of a clip (its path relative to the root)."""
        return self.pages / pages.preview_name(clip)
