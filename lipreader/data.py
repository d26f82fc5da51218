"""Clips for training: the dataset listing, the uint8 clip cache, batches and augmentation.

The dataset is dataset/<word>/<split>/<video_id>_<start_ms>.mp4 (96x96 gray, 25 fps, a .json
sidecar each), or the same clips listed in dataset/manifest.jsonl. Training never decodes mp4:
each split is packed once (builder.stages.pack, the last build stage) into
dataset/.cache/<split>.npy, a (N, T, 96, 96) uint8 array read here through a memory map, with
<split>.json beside it (clip paths, words and a fingerprint of the clip list; a changed dataset
is packed again). This module only lists, validates and maps: no ffmpeg, no builder.

Batches leave the loader as uint8 crops (B, T, C, C), C = input_size * downsample, already
cropped, flipped and time-masked; `to_input` turns them into the network's normalised float
input on the training device (on a GPU that is where the arithmetic is cheapest).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lipreader.constants import MEAN, ROI, STD
from lipreader.errors import InputError
from lipreader.manifest import CACHE, MANIFEST, parse_manifest

MEAN_BYTE = round(MEAN * 255)  # a masked frame is set to the mean, i.e. 0 after normalisation
CACHE_VERSION = 1


@dataclass(frozen=True)
class ClipRef:
    path: Path   # absolute or relative to the working folder
    rel: str     # relative to the dataset root
    word: str
    split: str


def find_clips(root: str | os.PathLike, split: str) -> list[ClipRef]:
    """The clips of one split, from manifest.jsonl when present, else from the folders; sorted."""
    root = Path(root)
    manifest = root / MANIFEST
    refs = []
    if manifest.is_file():
        for rec in parse_manifest(manifest.read_text(encoding="utf-8"), str(manifest)):
            if rec.split == split:
                refs.append(ClipRef(root / rec.path, rec.path, rec.word, split))
    elif root.is_dir():
        for p in root.glob(f"*/{split}/*.mp4"):
            if not p.name.startswith(".") and not p.parent.parent.name.startswith("."):
                rel = p.relative_to(root).as_posix()
                refs.append(ClipRef(p, rel, p.parent.parent.name, split))
    return sorted(refs, key=lambda r: r.rel)


def _has_clips(root: Path) -> bool:
    """Whether `root` is a dataset (a manifest, or <word>/<split>/ clip folders), not a lone cache."""
    return (root / MANIFEST).is_file() or any(
        not p.name.startswith(".") and not p.parent.parent.name.startswith(".")
        for p in root.glob("*/*/*.mp4"))


def vocabulary(words: Iterable[str]) -> list[str]:
    """The sorted distinct words of the training clips: index -> word, saved with the model."""
    return sorted(set(words))


def fingerprint(clips: list[ClipRef]) -> str:
    """Changes when a clip is added, removed or rewritten (path, word, size, mtime)."""
    h = hashlib.sha1()
    for c in clips:
        try:
            st = c.path.stat()
            h.update(f"{c.rel}\0{c.word}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            h.update(f"{c.rel}\0missing\n".encode())
    return h.hexdigest()


@dataclass
class ClipCache:
    """One split's clips: `clips` (N, T, 96, 96) uint8 memory map, `words` and `paths` (N,)."""

    array_path: Path
    words: list[str]
    paths: list[str]
    frames: int
    skipped: list[dict] = field(default_factory=list)
    spans: list | None = None  # [first, last] frame of the word in each clip (None: not known)
    _clips: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def clips(self) -> np.ndarray:
        if self._clips is None:
            self._clips = np.load(self.array_path, mmap_mode="r")[: len(self.words)]
        return self._clips

    def __getstate__(self) -> dict:  # worker processes reopen the memory map, never copy it
        return {**self.__dict__, "_clips": None}

    def inword(self) -> np.ndarray:
        """(N, T) uint8: 1 on each clip's word frames, 0 around them (all 1 where not known)."""
        return in_word(self.spans if self.spans is not None else [None] * len(self), self.frames)

    def labels(self, vocab: list[str]) -> np.ndarray:
        """(N,) int64 class indices from the model's vocabulary; -1 for words it does not know."""
        index = {w: i for i, w in enumerate(vocab)}
        return np.array([index.get(w, -1) for w in self.words], dtype=np.int64)


def in_word(spans, frames: int) -> np.ndarray:
    """[first, last] word frames per clip (None: the whole clip) -> (N, frames) uint8 0/1."""
    out = np.ones((len(spans), frames), np.uint8)
    t = np.arange(frames)
    for i, span in enumerate(spans):
        if span is not None:
            out[i] = (t >= span[0]) & (t <= span[1])
    return out


def cache_files(root: Path, split: str) -> tuple[Path, Path]:
    """dataset/.cache/<split>.npy (the clips) and <split>.json (what they are)."""
    folder = Path(root) / CACHE
    return folder / f"{split}.npy", folder / f"{split}.json"


def _read_meta(meta_path: Path) -> dict | None:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return meta if meta.get("version") == CACHE_VERSION else None


def _from_meta(array_path: Path, meta: dict) -> ClipCache:
    return ClipCache(array_path, meta["words"], meta["paths"], meta["frames"], meta.get("skipped", []),
                     meta.get("spans"))


def _whole(array_path: Path, meta: dict) -> bool:
    """Whether the cache array holds every clip its metadata lists (a cut-short copy does not)."""
    try:
        clips = np.load(array_path, mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return False
    n, frames = len(meta.get("words", [])), meta.get("frames")
    return clips.dtype == np.uint8 and clips.ndim == 4 and len(clips) >= n and \
        (n == 0 or clips.shape[1:] == (frames, ROI, ROI))


@dataclass(frozen=True)
class Unpacked:
    """A split whose cache must be packed (again) from its clips (builder.stages.pack)."""

    clips: list[ClipRef]
    fingerprint: str
    array_path: Path
    reason: str


def open_cache(root: str | os.PathLike, split: str) -> ClipCache | Unpacked:
    """The split's cache when it is there, whole and of the dataset's current clips; else what
    packing it needs.

    A cache with no dataset beside it (copied alone to a GPU machine: no manifest, no clip
    folders) is used as it is. A dataset that no longer has clips of the split has an empty
    split, whatever its old cache holds.
    """
    root = Path(root)
    clips = find_clips(root, split)
    array_path, meta_path = cache_files(root, split)
    meta = _read_meta(meta_path)
    if not clips:
        if meta is not None and array_path.is_file() and not _has_clips(root):
            if not _whole(array_path, meta):
                raise InputError(f"{array_path}: cut short or damaged, and no clips beside it to "
                                 "rebuild it from: copy the cache again")
            return _from_meta(array_path, meta)
        return ClipCache(array_path, [], [], 0)
    fp = fingerprint(clips)
    if meta is None:
        reason = "not packed yet"
    elif meta["fingerprint"] != fp:
        reason = "the clips changed since they were packed"
    elif not _whole(array_path, meta):
        reason = "the packed clips are cut short or damaged"
    elif "spans" not in meta:
        reason = "packed before word boundaries were kept"
    else:
        return _from_meta(array_path, meta)
    return Unpacked(clips, fp, array_path, reason)


def load_cache(root: str | os.PathLike, split: str, show: bool = True) -> ClipCache:
    """The split's packed clips, memory-mapped. Nothing is decoded here (`show` has nothing to
    show); `lipreader build-dataset` and `lipreader train` pack the clips first."""
    got = open_cache(root, split)
    if isinstance(got, Unpacked):
        raise InputError(f"{root}: the {split} clips are not ready for training ({got.reason}): "
                         "`lipreader build-dataset` or `lipreader train` packs them")
    return got


# ---------------------------------------------------------------- batches and augmentation

def crop_size(input_size: int, downsample: int) -> int:
    """Side of the crop taken from the 96x96 ROI before pooling by `downsample`."""
    return input_size * downsample


def augment(clips: np.ndarray, idx: np.ndarray, size: int, train: bool, time_mask: int,
            rng: np.random.Generator | None) -> np.ndarray:
    """Crops of clips[idx]: (N, T, 96, 96) -> (B, T, size, size) uint8.

    Training: a random crop, a horizontal flip half the time, and a run of 0..time_mask frames
    set to the mean gray. Evaluation: the centre crop only.
    """
    B, T = len(idx), clips.shape[1]
    span = clips.shape[2] - size
    out = np.empty((B, T, size, size), np.uint8)
    if not train:
        o = span // 2
        for i, j in enumerate(idx):
            out[i] = clips[j, :, o:o + size, o:o + size]
        return out
    oy, ox = rng.integers(0, span + 1, B), rng.integers(0, span + 1, B)
    flip = rng.random(B) < 0.5
    for i, j in enumerate(idx):
        win = clips[j, :, oy[i]:oy[i] + size, ox[i]:ox[i] + size]
        out[i] = win[..., ::-1] if flip[i] else win
    if time_mask > 0:
        length = rng.integers(0, min(time_mask, T) + 1, B)
        start = rng.integers(0, T - length + 1)
        t = np.arange(T)
        masked = (t >= start[:, None]) & (t < (start + length)[:, None])  # (B, T)
        out[masked] = MEAN_BYTE
    return out


def to_input(x, downsample: int = 1, device=None, non_blocking: bool = False, mean: float = MEAN,
             std: float = STD):
    """uint8 crops (B, T, C, C) -> normalised float network input (B, 1, T, C/d, C/d) on `device`:
    (pixel / 255 - mean) / std, the model's own statistics (ModelDims.mean, .std)."""
    import torch

    x = torch.as_tensor(x)
    if device is not None:
        x = x.to(device, non_blocking=non_blocking)
    B, T, C, _ = x.shape
    scale = torch.tensor(1.0 / (std * 255), device=x.device)
    bias = torch.tensor(-mean / std, device=x.device)
    if downsample > 1:
        s = C // downsample
        x = x.to(torch.float32).view(B, T, s, downsample, s, downsample).mean(dim=(3, 5))
    return torch.addcmul(bias, x, scale).unsqueeze(1)  # one pass: x * scale + bias


def preprocess(clips: np.ndarray, input_size: int, downsample: int = 1, device=None, mean: float = MEAN,
               std: float = STD):
    """What `read` feeds the model: (B, T, 96, 96) uint8 -> centre-cropped normalised (B, 1, T, S, S)."""
    size = crop_size(input_size, downsample)
    crops = augment(clips, np.arange(len(clips)), size, train=False, time_mask=0, rng=None)
    return to_input(crops, downsample, device, mean=mean, std=std)


class ClipLoader:
    """Batches of (uint8 crops (B, T, C, C), labels (B,), in-word flags (B, T) uint8) from a cache.

    The order comes from a DistributedSampler (its shard for this rank under torchrun) and
    every random choice from (seed, epoch, batch), so an epoch is the same whether or not
    training was stopped and resumed before it.
    """

    def __init__(self, cache: ClipCache, labels: np.ndarray, batch_size: int, size: int,
                 train: bool, time_mask: int = 0, seed: int = 0, rank: int = 0, world: int = 1):
        self.cache, self.labels = cache, labels
        self.batch_size, self.size, self.train = batch_size, size, train
        self.time_mask, self.seed, self.rank, self.world = time_mask, seed, rank, world
        self.epoch = 0
        self._inword: np.ndarray | None = None

    def inword(self, idx: np.ndarray) -> np.ndarray:
        """(B, T) uint8: 1 on the word's frames of clips `idx` (see ClipCache.inword)."""
        if self._inword is None:
            self._inword = self.cache.inword()
        return self._inword[idx]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> np.ndarray:
        n = len(self.cache)
        if not self.train:
            return np.arange(n)[self.rank::self.world]
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(n), num_replicas=self.world, rank=self.rank,
                                     shuffle=True, seed=self.seed)
        sampler.set_epoch(self.epoch)
        return np.fromiter(iter(sampler), dtype=np.int64)

    def batches(self) -> list[np.ndarray]:
        idx = self.indices()
        return [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]

    def __len__(self) -> int:
        return len(self.batches())

    def batch(self, k: int, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, k]) if self.train else None
        x = augment(self.cache.clips, idx, self.size, self.train, self.time_mask, rng)
        return x, self.labels[idx]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, idx in enumerate(self.batches()):
            yield (*self.batch(k, idx), self.inword(idx))


class _BatchSet:
    """One epoch's batches as a map-style dataset, for torch DataLoader workers."""

    def __init__(self, loader: ClipLoader):
        self.loader, self.items = loader, loader.batches()

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int):
        import torch

        idx = self.items[k]
        x, y = self.loader.batch(k, idx)
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(self.loader.inword(idx))


def iterate(loader: ClipLoader, workers: int = 0, pin_memory: bool = False) -> Iterator:
    """The loader's batches as torch tensors (crops, labels, in-word flags), through `workers`
    processes when > 0."""
    import torch

    if workers <= 0:
        for batch in loader:
            ts = tuple(torch.from_numpy(a) for a in batch)
            yield tuple(t.pin_memory() for t in ts) if pin_memory else ts
        return
    dl = torch.utils.data.DataLoader(_BatchSet(loader), batch_size=None, shuffle=False,
                                     num_workers=workers, pin_memory=pin_memory,
                                     persistent_workers=False, prefetch_factor=4)
    yield from dl
