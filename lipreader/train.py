"""`lipreader train`: the training loop, validation and metrics (checkpoints: lipreader.checkpoint).

One flat loop: resolve the device, read the clip cache, build or resume the model, then per
epoch train, validate, write the checkpoint (atomically; only rank 0 writes under torchrun)
and the metrics. Every random choice derives from ([general] seed, epoch, batch), and the
learning rate is a pure function of the global step, so 2 epochs in one run equal 1 epoch,
a resume and 1 more (the same losses on CPU).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lipreader import atomic, data, distributed, lock, pages, recipe
from lipreader.atomic import atomic_path, write_json, write_text
from lipreader.checkpoint import (
    dims_of,
    load_checkpoint,
    model_from,
    new_checkpoint,
    save_checkpoint,
)
from lipreader.config import Config, Training
from lipreader.device import resolve_device
from lipreader.distributed import Dist
from lipreader.errors import ConfigError, InputError
from lipreader.model import (
    BACKEND_NAMES,
    LipReader,
    ModelDims,
    build_model,
    describe,
    sequence_loss,
)
from lipreader.say import quiet, say
from lipreader.transfer import check_compatible, transfer, trunk_parameters

LR_FLOOR = 0.01  # the cosine ends at this fraction of the peak rate


@dataclass
class TrainResult:
    model_path: Path
    epoch: int = 0                                     # epochs the model has been trained in all
    history: list[dict] = field(default_factory=list)  # this run's per-epoch metrics
    best_top1: float | None = None                     # best validation top-1 so far
    dims: ModelDims | None = None
    vocab: list[str] = field(default_factory=list)
    dry_run: bool = False
    summary: str = ""


# ---------------------------------------------------------------- small pieces

def lr_at(step: int, steps_per_epoch: int, t: Training) -> float:
    """Linear warm-up to `t.lr`, then cosine decay to LR_FLOOR * lr over `t.schedule_epochs`."""
    warmup = max(1, round(t.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return t.lr * (step + 1) / warmup
    total = max(warmup + 1, t.schedule_epochs * steps_per_epoch)
    progress = min(1.0, (step - warmup) / (total - warmup))
    floor = LR_FLOOR * t.lr
    return floor + (t.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model, t: Training):
    import torch

    if t.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum,
                               weight_decay=t.weight_decay, nesterov=t.momentum > 0)
    raise ConfigError(f"[training] optimizer must be adamw or sgd, got {t.optimizer!r}")


# ---------------------------------------------------------------- evaluation

def _topk_hits(logits, y, k: int) -> tuple[int, int]:
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return int((top[:, 0] == y).sum()), int((top == y[:, None]).any(dim=1).sum())


def evaluate(model, loader: data.ClipLoader, device, downsample: int, d: Dist = distributed.SINGLE,
             amp: bool = False) -> dict:
    """Loss, top-1, top-5 of the centre crops (no augmentation); predictions for the confusion."""
    import torch

    model.eval()
    loss_sum = n = top1 = top5 = 0.0
    preds, labels = [], []
    with torch.no_grad():
        for x, y, b in data.iterate(loader):
            keep = y >= 0
            if not keep.any():
                continue
            x, y, b = x[keep], y[keep].to(device), b[keep].to(device)
            inp = data.to_input(x, downsample, device, mean=model.dims.mean, std=model.dims.std)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(inp, b)                    # (B, T, V)
            loss_sum += float(sequence_loss(logits, y)) * len(y)
            clip = logits.float().mean(dim=1)             # (B, V)
            h1, h5 = _topk_hits(clip, y, 5)
            top1, top5, n = top1 + h1, top5 + h5, n + len(y)
            preds.append(clip.argmax(1).cpu())
            labels.append(y.cpu())
    loss_sum, n, top1, top5 = distributed.all_sum([loss_sum, n, top1, top5], d, device)
    pred = torch.cat(preds).numpy() if preds else np.zeros(0, np.int64)
    lab = torch.cat(labels).numpy() if labels else np.zeros(0, np.int64)
    if d.world > 1:
        parts = distributed.all_gather((pred, lab), d)
        pred = np.concatenate([p for p, _ in parts])
        lab = np.concatenate([q for _, q in parts])
    n = max(n, 1)
    return {"loss": loss_sum / n, "top1": top1 / n, "top5": top5 / n, "n": int(n),
            "pred": pred, "label": lab}


# ---------------------------------------------------------------- reports

def _side_files(model_path: Path) -> dict[str, Path]:
    stem = model_path.with_suffix("")
    return {"best": Path(f"{stem}.best.pt"), **pages.model_files(model_path),
            "curves": Path(f"{stem}.curves.png"), "confusion": Path(f"{stem}.confusion.png")}


def evaluated_paths(loader: data.ClipLoader, world: int) -> list[str]:
    """The clip paths in the order `evaluate` returns its predictions: each rank's share of
    the clips in turn, those of words outside the vocabulary left out."""
    idx = np.concatenate([np.arange(len(loader.cache))[r::world] for r in range(world)])
    return [loader.cache.paths[i] for i in idx if loader.labels[i] >= 0]


def summary_table(history: list[dict]) -> str:
    head = f"{'epoch':>5} {'loss':>7} {'top1':>6} {'top5':>6} {'val_loss':>8} {'val_top1':>8} " \
           f"{'val_top5':>8} {'time_s':>7} {'clips/s':>8}"
    rows = [head]
    for m in history:
        def f(key, width, fmt, m=m):
            v = m.get(key)
            return f"{v:{width}{fmt}}" if v is not None else f"{'-':>{width}}"
        rows.append(f"{m['epoch']:>5} {f('loss', 7, '.4f')} {f('top1', 6, '.3f')} {f('top5', 6, '.3f')} "
                    f"{f('val_loss', 8, '.4f')} {f('val_top1', 8, '.3f')} {f('val_top5', 8, '.3f')} "
                    f"{f('time', 7, '.1f')} {f('clips_per_s', 8, '.1f')}")
    return "\n".join(rows)


def _save_png(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def write_plots(history: list[dict], confusion: tuple[np.ndarray, np.ndarray] | None,
                vocab: list[str], files: dict[str, Path]) -> str:
    """Curves PNG (loss, accuracy per epoch) and confusion PNG; returns a note of what was written."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return "matplotlib is not installed: no curves or confusion PNGs"
    epochs = [m["epoch"] for m in history]
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, [m["loss"] for m in history], "o-", label="train")
    ax2.plot(epochs, [m["top1"] for m in history], "o-", label="train top-1")
    if any(m.get("val_top1") is not None for m in history):
        ve = [m["epoch"] for m in history if m.get("val_top1") is not None]
        ax1.plot(ve, [m["val_loss"] for m in history if m.get("val_top1") is not None], "s-", label="validation")
        ax2.plot(ve, [m["val_top1"] for m in history if m.get("val_top1") is not None], "s-",
                 label="validation top-1")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1))
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    _save_png(fig, files["curves"])
    written = [str(files["curves"])]
    if confusion is not None and len(confusion[0]):
        pred, lab = confusion
        V = len(vocab)
        cm = np.zeros((V, V), np.int64)
        np.add.at(cm, (lab, pred), 1)
        rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        side = min(4 + 0.25 * V, 20)
        fig = Figure(figsize=(side, side))
        ax = fig.subplots()
        im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        if V <= 40:
            ax.set_xticks(range(V), vocab, rotation=90)
            ax.set_yticks(range(V), vocab)
        ax.set(xlabel="predicted", ylabel="spoken", title=f"validation confusion ({len(lab)} clips)")
        fig.colorbar(im, ax=ax, fraction=0.046)
        fig.tight_layout()
        _save_png(fig, files["confusion"])
        written.append(str(files["confusion"]))
    return "wrote " + ", ".join(written)


def _append_accuracy(path: Path, line: str) -> None:
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, old + line + "\n")


# ---------------------------------------------------------------- the command

def _check_continued(ck: dict, model_path: Path, t: Training, given: frozenset[str]) -> None:
    """--arch / --backend on the command line must describe the model being continued."""
    dims = dims_of(ck, model_path)
    for key in ("arch", "backend"):
        if key == "backend" and _staged(dims, t, given):
            continue
        if key in given and getattr(dims, key) != getattr(t, key):
            raise ConfigError(f"--{key} {getattr(t, key)}: {model_path} is a {dims.arch} + "
                              f"{BACKEND_NAMES[dims.backend]} model; add --new to start a new model "
                              "(or --model to name another file)")


def _staged(dims: ModelDims, t: Training, given: frozenset[str]) -> bool:
    """--backend lstm on a temporal-convolution model: the paper's second stage."""
    return "backend" in given and dims.backend == "tc" and t.backend == "lstm"


def _dry_run(cfg: Config, new: bool, device, given: frozenset[str] = frozenset()) -> TrainResult:
    t = cfg.training
    model_path = Path(cfg.general.pretrainedmodelpath)
    clips = data.find_clips(t.folder, "train")
    vocab = data.vocabulary(c.word for c in clips)
    t, note = recipe.apply(t, cfg.explicit, len(clips)) if clips else (t, "")
    dims, origin = None, ""
    if not new and model_path.is_file():
        ck = load_checkpoint(model_path)
        _check_continued(ck, model_path, t, given)
        dims, vocab = dims_of(ck, model_path), list(ck["vocab"])
        origin = f"continuing {model_path} (trained {ck['epoch']} epochs)"
        if _staged(dims, t, given):
            dims = dataclasses.replace(dims, backend="lstm")
            origin = f"staged training: {model_path}'s front end and ResNet (trained {ck['epoch']} epochs) " \
                     "under a new BiLSTM"
    if dims is None and t.init_from:
        _, init = _init_source(None, model_path, t, given)
        vocab = vocab or list(init[0]["vocab"])
        dims = _new_dims(t, vocab, cfg.build.frames, init, given)
        origin = f"new model -> {model_path}, " + transfer(build_model(dims), vocab, *init).note(dims)
    if dims is None:
        if vocab:
            num, where = len(vocab), f"{len(vocab)} words from {len(clips)} training clips in {t.folder}"
        else:
            num, where = cfg.build.words, f"no training clips in {t.folder}: assuming [build] words = {cfg.build.words}"
        dims = ModelDims.for_arch(t.arch, num, t.input_size, cfg.build.frames, t.backend, t.boundaries)
        origin = f"new model -> {model_path} ({where})"
    model = build_model(dims)
    text = "\n".join([describe(model), origin, *([note] if note else []), f"device: {device}",
                      "dry run: nothing trained"])
    say(text)
    return TrainResult(model_path, dims=dims, vocab=vocab, dry_run=True, summary=text)


def run(cfg: Config, new: bool = False, force: bool = False, validate: bool = False,
        dry_run: bool = False, given: frozenset[str] = frozenset()) -> TrainResult:
    """Train (or continue training) the model at [general] pretrainedmodelpath on [training] folder.

    `given` names the [training] options set on the command line: an --arch or --backend that
    differs from the model being continued is an error (from options.toml it is a note).
    The model is locked while it trains (by the process that writes it: rank 0 under torchrun).
    """
    main = os.environ.get("RANK", "0") == "0"  # the process that prints and writes (rank 0 under torchrun)
    writes = not dry_run and main
    if not dry_run:
        atomic.check_writable(cfg.general.pretrainedmodelpath, "model",
                              "--model or [general] pretrainedmodelpath")
        if validate:
            atomic.check_writable(cfg.validation.accuracyfilelocation, "accuracy file",
                                  "[validation] accuracyfilelocation")
    with quiet(not main), lock.hold(cfg.general.pretrainedmodelpath, folder=False, wait=cfg.general.wait) \
            if writes else contextlib.nullcontext():
        return _run(cfg, new, force, validate, dry_run, given)


@dataclass
class _Model:
    """What training changes: the model, its optimizer and where they are in the schedule."""

    raw: LipReader                  # the model itself: what is validated and saved
    net: Any                        # what trains: `raw`, under DDP and torch.compile when they apply
    optimizer: Any
    dims: ModelDims
    start_epoch: int = 0
    step: int = 0                   # optimizer steps so far: the position in the schedule
    history: list[dict] = field(default_factory=list)  # every epoch's metrics, older runs' too
    best: float | None = None       # best validation top-1 so far


def _run(cfg: Config, new: bool, force: bool, validate: bool, dry_run: bool,
         given: frozenset[str]) -> TrainResult:
    t = cfg.training
    model_path = Path(cfg.general.pretrainedmodelpath)
    files = _side_files(model_path)
    dist_info = distributed.init(cfg.general.device)
    device = resolve_device(cfg.general.device, dist_info.local_rank)

    if dry_run:
        return _dry_run(cfg, new, device, given)

    # -- the model file: continue it, or start a new one (from --init-from, or staged: a new back end)
    ck = _continued(model_path, new, force, t, given)
    ck, init = _init_source(ck, model_path, t, given)

    # -- data: the uint8 caches (rank 0 builds them, the others wait and read)
    root = Path(t.folder)
    train_cache, vocab = _training_data(root, ck, model_path, dist_info)
    t, note = recipe.apply(t, cfg.explicit, len(train_cache))
    cfg = dataclasses.replace(cfg, training=t)
    if note and dist_info.main:
        say(note)

    # -- the model, the optimizer, the schedule position
    m = _setup_model(cfg, ck, model_path, vocab, train_cache.frames, device, dist_info, init, given)

    # -- the batches: training clips, and the validation split with --validate
    size = data.crop_size(m.dims.input_size, m.dims.downsample)
    loader = data.ClipLoader(train_cache, train_cache.labels(vocab), t.batch_size, size, train=True,
                             time_mask=t.time_mask, seed=cfg.general.seed, rank=dist_info.rank,
                             world=dist_info.world)
    val_loader, val_split = _validation_data(cfg, root, train_cache, vocab, size, dist_info) \
        if validate else (None, None)
    where = f"continuing {model_path} at epoch {m.start_epoch}" if ck is not None else f"new model -> {model_path}"
    say(f"{where}: {m.dims.arch} + {BACKEND_NAMES[m.dims.backend]}, {len(vocab)} words, "
        f"{len(train_cache)} training clips, {len(loader)} batches of {t.batch_size} per epoch on {device}"
        + (f" x {dist_info.world} processes" if dist_info.world > 1 else ""))

    run_history, last_eval = [], None
    for epoch in range(m.start_epoch, m.start_epoch + t.epochs):
        # -- one pass over the training clips
        metrics = _train_epoch(m, loader, epoch, t, device, dist_info)

        # -- validation
        if val_loader is not None:
            last_eval = evaluate(m.raw, val_loader, device, m.dims.downsample, dist_info,
                                 amp=device.type == "cuda")
            metrics.update(val_loss=last_eval["loss"], val_top1=last_eval["top1"], val_top5=last_eval["top5"],
                           val_n=last_eval["n"], val_split=val_split)
        run_history.append(metrics)
        m.history.append(metrics)
        say(_epoch_line(metrics))

        # -- checkpoint (and the best one), accuracy file: rank 0 only
        improved = metrics.get("val_top1") is not None and (m.best is None or metrics["val_top1"] > m.best)
        if improved:
            m.best = metrics["val_top1"]
        if dist_info.main:
            _save(cfg, m, vocab, len(loader), files, improved, metrics if last_eval is not None else None)
        distributed.barrier(dist_info)

    # -- the end: metrics, PNGs, the summary table
    table = summary_table(run_history) if run_history else "no epochs run (--epochs 0)"
    table += f"\nsplits: {split_by(root)}"
    if dist_info.main and run_history:
        write_json(files["metrics"], m.history)
        confusion = (last_eval["pred"], last_eval["label"]) if last_eval is not None else None
        say(write_plots(m.history, confusion, vocab, files))
        predictions = None
        if last_eval is not None:
            predictions = pages.predictions_json(val_split, vocab, zip(
                evaluated_paths(val_loader, dist_info.world), last_eval["label"], last_eval["pred"], strict=True))
            write_json(files["predictions"], predictions)
        say(f"model page: {pages.write_model_page(root, model_path, m.history, predictions)}")
        say(table)
    distributed.finish(dist_info)
    return TrainResult(model_path, epoch=m.start_epoch + len(run_history), history=run_history, best_top1=m.best,
                       dims=m.dims, vocab=vocab, summary=table)


def split_by(root: Path) -> str:
    """How the dataset's splits were made, from its plan.json (build-dataset --split-by)."""
    import json

    from lipreader.manifest import PLAN

    try:
        plan = json.loads((root / PLAN).read_text(encoding="utf-8"))
        by = plan["settings"].get("split_by", "video")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "unknown (no readable plan.json in the dataset)"
    return {"video": "by video (a speaker may be in several splits)",
            "channel": "by channel (no channel in two splits)",
            "uploader": "by uploader (no uploader in two splits)"}.get(by, f"by {by}")


def _continued(model_path: Path, new: bool, force: bool, t: Training, given: frozenset[str]) -> dict | None:
    """The checkpoint to continue, or None for a new model."""
    if new and model_path.exists() and not force:
        raise InputError(f"{model_path} exists: add --force to overwrite it, or drop --new to continue training it")
    if new:
        return None
    if not model_path.exists():
        say(f"no model at {model_path}: starting a new one")
        return None
    ck = load_checkpoint(model_path)
    _check_continued(ck, model_path, t, given)
    return ck


def _init_source(ck: dict | None, model_path: Path, t: Training,
                 given: frozenset[str]) -> tuple[dict | None, tuple[dict, Path] | None]:
    """(the checkpoint to continue, the checkpoint a new model starts from): --init-from FILE, or
    the model being continued when --backend names another back end (staged training)."""
    if ck is not None and _staged(dims_of(ck, model_path), t, given):
        say(f"staged training: {model_path}'s front end and ResNet start a new {BACKEND_NAMES[t.backend]} "
            f"back end (its TC back end is replaced; the schedule starts again)")
        return None, (ck, model_path)
    if not t.init_from:
        return ck, None
    if ck is not None:
        if "init_from" in given:
            raise ConfigError(f"--init-from {t.init_from}: {model_path} already exists and would be continued; "
                              "add --new --force to replace it, or --model to name a new file")
        return ck, None
    source = Path(t.init_from)
    return None, (load_checkpoint(source), source)


def _training_data(root: Path, ck: dict | None, model_path: Path,
                   dist_info: Dist) -> tuple[data.ClipCache, list[str]]:
    """The training split's cache and its vocabulary, which a continued model must share."""
    if dist_info.main:
        train_cache = data.load_cache(root, "train", show=True)
    distributed.barrier(dist_info)
    if not dist_info.main:
        train_cache = data.load_cache(root, "train", show=False)
    if len(train_cache) == 0:
        extra = f" ({len(train_cache.skipped)} clips could not be used)" if train_cache.skipped else ""
        raise InputError(f"{root}: no training clips in <word>/train/{extra}; "
                         "build a dataset with `lipreader build-dataset` or point --dataset at one")
    vocab = data.vocabulary(train_cache.words)
    if len(vocab) < 2:
        raise InputError(f"{root}: only one word ({vocab[0]!r}) has training clips; a classifier needs at least 2")
    if ck is not None and list(ck["vocab"]) != vocab:
        old = set(ck["vocab"])
        diff = sorted(set(vocab) ^ old)[:3]
        raise InputError(f"{root} has a different vocabulary ({len(vocab)} words) from the model {model_path} "
                         f"({len(old)} words; differing: {', '.join(diff) or 'order'}): "
                         "use --new to train a fresh model, or train on the dataset the model was made from")
    if train_cache.skipped:
        say(f"note: {len(train_cache.skipped)} training clips left out (see {root}/.cache/train.json)")
    return train_cache, vocab


def _new_dims(t: Training, vocab: list[str], frames: int, init: tuple[dict, Path] | None,
              given: frozenset[str]) -> ModelDims:
    """A new model's dimensions; one started from another takes its arch, input size, activation,
    input statistics, crop profile and (unless --backend names one) its back end."""
    if init is None:
        return ModelDims.for_arch(t.arch, len(vocab), t.input_size, frames, t.backend, t.boundaries)
    src = dims_of(*init)
    arch = t.arch if "arch" in given else src.arch
    backend = t.backend if "backend" in given else src.backend
    dims = ModelDims.for_arch(arch, len(vocab), src.input_size * src.downsample, frames, backend,
                              t.boundaries).inherit(src)
    check_compatible(src, dims, init[1])
    return dims


def _setup_model(cfg: Config, ck: dict | None, model_path: Path, vocab: list[str], frames: int,
                 device, dist_info: Dist, init: tuple[dict, Path] | None = None,
                 given: frozenset[str] = frozenset()) -> _Model:
    """The model on `device` (continued, or new: seeded, or started from `init`), its optimizer,
    the schedule position."""
    import torch

    t = cfg.training
    if ck is not None:
        model, dims = model_from(ck, model_path)
        if (dims.arch, dims.backend) != (t.arch, t.backend):
            say(f"note: continuing a {dims.arch}/{dims.backend} model ([training] arch {t.arch} and "
                f"backend {t.backend} apply to --new)")
        if dims.boundaries != t.boundaries:
            say(f"note: continuing a model {'with' if dims.boundaries else 'without'} word boundaries "
                "([training] boundaries applies to --new)")
    else:
        dims = _new_dims(t, vocab, frames, init, given)
        torch.manual_seed(cfg.general.seed)
        model = build_model(dims)
        if init is not None:
            say(transfer(model, vocab, init[0], init[1]).note(dims))
    raw = model.to(device)
    use_cuda = device.type == "cuda"
    if use_cuda:
        torch.backends.cudnn.benchmark = True
        raw.use_channels_last()
    m = _Model(raw, raw, make_optimizer(raw, t), dims)
    if ck is not None:
        m.start_epoch, m.history, m.best = ck["epoch"], list(ck.get("history", [])), ck.get("best_top1")
        if ck.get("optimizer_name") == t.optimizer:
            m.optimizer.load_state_dict(ck["optimizer"])
            m.step = ck["scheduler"]["step"]
        else:
            say(f"note: optimizer changed to {t.optimizer}: its state and the schedule start afresh")
    if dist_info.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        m.net = DDP(raw, device_ids=[device.index] if use_cuda else None)
    if t.compile and use_cuda:
        m.net = torch.compile(m.net)
    return m


def _validation_data(cfg: Config, root: Path, train_cache: data.ClipCache, vocab: list[str], size: int,
                     dist_info: Dist) -> tuple[data.ClipLoader, str]:
    """Centre-crop batches of [validation] folder (a split name, or "train")."""
    t = cfg.training
    val_split = "train" if cfg.validation.folder == "train" else cfg.validation.folder
    val_cache = train_cache if val_split == "train" else data.load_cache(root, val_split, show=dist_info.main)
    val_labels = val_cache.labels(vocab)
    if not (val_labels >= 0).any():
        raise InputError(f"{root}: no clips of the model's words in <word>/{val_split}/ to validate on "
                         "(set [validation] folder, or \"train\")")
    if (val_labels < 0).any():
        say(f"note: {(val_labels < 0).sum()} {val_split} clips of words outside the vocabulary are ignored")
    loader = data.ClipLoader(val_cache, val_labels, t.batch_size, size, train=False,
                             rank=dist_info.rank, world=dist_info.world)
    return loader, val_split


def _train_epoch(m: _Model, loader: data.ClipLoader, epoch: int, t: Training, device,
                 dist_info: Dist, amp: bool | None = None) -> dict:
    """One pass over the training batches; advances `m.step`. -> the epoch's metrics.
    `amp`: bf16 autocast (default: on CUDA only)."""
    import torch

    use_cuda = device.type == "cuda"
    amp = use_cuda if amp is None else amp
    steps_per_epoch = len(loader)
    m.net.train()
    frozen = trunk_parameters(m.raw) if epoch < t.freeze_frontend else []
    if frozen:
        m.raw.frontend.eval()  # batch-norm statistics stay too
        m.raw.resnet.eval()
    loader.set_epoch(epoch)
    t0 = time.perf_counter()
    loss_sum = n = top1 = top5 = 0.0
    for b, (x, y, inword) in enumerate(data.iterate(loader, t.workers, pin_memory=use_cuda)):
        lr = lr_at(m.step, steps_per_epoch, t)
        for g in m.optimizer.param_groups:
            g["lr"] = lr
        inp = data.to_input(x, m.dims.downsample, device, use_cuda, m.dims.mean, m.dims.std)  # (B, 1, T, S, S)
        y = y.to(device, non_blocking=use_cuda)
        inword = inword.to(device, non_blocking=use_cuda)                         # (B, T)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = m.net(inp, inword)                                           # (B, T, V)
        loss = sequence_loss(logits, y, t.label_smoothing)
        m.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if frozen:
            for p in frozen:
                p.grad = None  # the optimizer leaves a parameter without a gradient as it is
        m.optimizer.step()
        m.step += 1
        with torch.no_grad():
            h1, h5 = _topk_hits(logits.detach().float().mean(dim=1), y, 5)
        bs = len(y)
        loss_sum, n, top1, top5 = loss_sum + loss.detach().item() * bs, n + bs, top1 + h1, top5 + h5
        if t.printfrequency and (b + 1) % t.printfrequency == 0:
            rate = n / (time.perf_counter() - t0)
            say(f"epoch {epoch + 1} [{b + 1}/{steps_per_epoch}] loss {loss_sum / n:.4f} "
                f"top1 {top1 / n:.3f} lr {lr:.2e} {rate:.1f} clips/s")
    loss_sum, n, top1, top5 = distributed.all_sum([loss_sum, n, top1, top5], dist_info, device)
    elapsed = time.perf_counter() - t0
    return {"epoch": epoch + 1, "loss": loss_sum / n, "top1": top1 / n, "top5": top5 / n,
            "time": elapsed, "clips_per_s": n / elapsed, "lr": lr_at(m.step - 1, steps_per_epoch, t)}


def _epoch_line(metrics: dict) -> str:
    line = (f"epoch {metrics['epoch']}: loss {metrics['loss']:.4f} top1 {metrics['top1']:.3f} "
            f"top5 {metrics['top5']:.3f} {metrics['time']:.1f}s {metrics['clips_per_s']:.1f} clips/s")
    if "val_top1" in metrics:
        line += (f" | {metrics['val_split']} loss {metrics['val_loss']:.4f} top1 {metrics['val_top1']:.3f} "
                 f"top5 {metrics['val_top5']:.3f}")
    return line


def _save(cfg: Config, m: _Model, vocab: list[str], steps_per_epoch: int, files: dict[str, Path],
          improved: bool, validated: dict | None) -> None:
    """The checkpoint after an epoch, the best one when it improved, a line in the accuracy file
    when the epoch was validated (`validated`: its metrics)."""
    model_path = Path(cfg.general.pretrainedmodelpath)
    epoch = m.history[-1]["epoch"]
    state = new_checkpoint(m.dims, vocab, m.raw, config=cfg.as_dict(), optimizer=m.optimizer.state_dict(),
                           optimizer_name=cfg.training.optimizer,
                           scheduler={"step": m.step, "steps_per_epoch": steps_per_epoch},
                           epoch=epoch, history=m.history, best_top1=m.best)
    save_checkpoint(model_path, state)
    if improved:
        save_checkpoint(files["best"], state)
    if validated is not None:
        v = validated
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        _append_accuracy(Path(cfg.validation.accuracyfilelocation),
                         f"{stamp}\t{model_path}\tepoch {epoch}\t{v['val_split']}\t"
                         f"top1 {v['val_top1']:.4f}\ttop5 {v['val_top5']:.4f}\tn {v['val_n']}")
