"""`lipreader demo`: the whole chain, offline, on generated videos, through the real commands' code.

    synth -> serve on 127.0.0.1 -> fetch (a playlist page, through yt-dlp) -> build-dataset
          -> train (small settings) -> read unseen videos -> a short report

The demo only chooses the settings and the data. Speakers are variants of the real people the
generator knows; one real person is held out of training entirely, and their videos are read
at the end beside unseen videos of the training speakers. A duration-only baseline (the
nearest mean caption duration per word) shows what could be had without looking at lips.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from lipreader.atomic import write_text
from lipreader.config import Config
from lipreader.errors import InputError


@dataclass(frozen=True)
class DemoSettings:
    words: int = 10
    videos: int = 40
    seconds: float = 12.0
    speakers: int = 6
    unseen_per_speaker_set: int = 4   # videos of training speakers kept out of training
    holdout_videos: int = 3           # videos of the held-out person that are read
    height: int = 480
    # The paper's temporal-convolution back end: on 300 clips it passes 90% validation top-1 in
    # about 18 epochs, where the BiLSTM needs about 90 (measured on this corpus).
    backend: str = "tc"
    epochs: int = 25
    batch_size: int = 16
    lr: float = 3e-3
    # With a few hundred clips the small model underfits; augmentation by time masking and
    # label smoothing slow it down more than they help (measured on the demo corpus).
    time_mask: int = 0
    label_smoothing: float = 0.0
    weight_decay: float = 0.05


FULL = DemoSettings()
QUICK = DemoSettings(words=4, videos=10, seconds=8.0, speakers=3, unseen_per_speaker_set=2,
                     holdout_videos=1, height=360, epochs=6)


def _step(title: str) -> float:
    click.secho(f"\n== {title}", bold=True)
    return time.perf_counter()


def duration_baseline(train: list[tuple[str, float]], test: list[tuple[str, float]]) -> float:
    """Accuracy of guessing each test word as the training word whose mean duration is nearest."""
    import numpy as np

    words = sorted({w for w, _ in train})
    means = np.array([np.mean([d for w2, d in train if w2 == w]) for w in words])
    if not test:
        return 0.0
    hits = sum(words[int(np.abs(means - d).argmin())] == w for w, d in test)
    return hits / len(test)


def word_accuracy(reports: list) -> float | None:
    """Correct caption words over all scored words of several read reports."""
    scored = [item for r in reports for item in r.scored]
    return sum(bool(i.correct) for i in scored) / len(scored) if scored else None


def caption_durations(video_dirs: list[Path], vocab: set[str]) -> list[tuple[str, float]]:
    from builder.captions import read_words
    from builder.layout import VideoDir

    out = []
    for d in video_dirs:
        words = read_words(VideoDir(d).caption("en", "json3")).words
        out += [(w.text, w.end - w.start) for w in words if w.text in vocab]
    return out


DEMO_PORT = 8765  # fetched ids include the page URL: a fixed port keeps ids, and so splits, stable


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """The corpus on 127.0.0.1:DEMO_PORT, or on a free port when that one is taken."""
    from pipelines.localserver import serve_folder

    with contextlib.ExitStack() as stack:
        try:
            base = stack.enter_context(serve_folder(folder, port=DEMO_PORT))
        except OSError:
            base = stack.enter_context(serve_folder(folder))
        yield base


MARK = ".lipreader-demo"  # in every folder the demo made: only such a folder is the demo's to clear


def claim(out: Path) -> None:
    """Make `out` a demo folder; refuse a folder that holds anything else (the demo replaces
    what it made there before, and must never touch what it did not make)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: give the demo a new or empty folder")
    if out.is_dir() and not (out / MARK).is_file() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty and not a demo folder: give the demo a new or "
                         "empty folder")
    if not (out / MARK).is_file():
        write_text(out / MARK, "made by `lipreader demo`, which replaces data/, read/ and models/ "
                               "here on each run\n")


def run(cfg: Config, out: Path, quick: bool = False) -> dict:
    """The whole demo in `out`: a new or empty folder, or one an earlier demo made."""
    from builder.synth import check_face_packages
    from lipreader import atomic, lock

    check_face_packages()
    out = Path(out).resolve()
    atomic.check_writable(out, "demo folder", "--out")
    claim(out)
    with lock.hold(out, wait=cfg.general.wait):
        return _run(cfg, out, quick)


def _run(cfg: Config, out: Path, quick: bool) -> dict:
    from builder.synth import make_corpus, playlist_html
    from lipreader import atomic
    from lipreader import train as train_module
    from pipelines import build as build_pipeline
    from pipelines import fetch as fetch_pipeline
    from pipelines import read as read_pipeline

    s = QUICK if quick else FULL
    corpus_dir, models = out / "corpus", out / "models"
    # The local server's port is part of fetched ids: start each demo from fresh downloads
    # (the generated corpus itself is reused when it is already complete).
    for old in (out / "data", out / "read", models):
        shutil.rmtree(old, ignore_errors=True)
    cfg = cfg.override("general", videos=str(out / "data" / "videos"),
                       dataset=str(out / "data" / "dataset"),
                       pretrainedmodelpath=str(models / "lipreader.pt"))
    cfg = cfg.override("validation", folder="val", accuracyfilelocation=str(models / "accuracy.txt"))
    t_all = time.perf_counter()
    times: dict[str, float] = {}

    t = _step(f"1/5 synth: {s.videos} talking-head videos, {s.words} words")
    corpus = make_corpus(corpus_dir, words=s.words, videos=s.videos, seconds=s.seconds,
                         speakers=s.speakers, holdout_speakers=1, height=s.height, seed=cfg.general.seed,
                         show_progress=True)
    seen = [v["name"] for v in corpus.videos if not v["holdout"]]
    held = [v["name"] for v in corpus.videos if v["holdout"]][: s.holdout_videos]
    unseen = seen[-s.unseen_per_speaker_set:]
    training = seen[: -s.unseen_per_speaker_set]
    size = tuple(json.loads(corpus.files.meta.read_text())["size"])
    atomic.write_text(corpus_dir / "train.html", playlist_html(training, size))
    click.echo(f"{len(training)} training videos, {len(unseen)} unseen videos of the same speakers, "
               f"{len(held)} videos of a person never seen in training ({', '.join(corpus.holdout_speakers)})")
    times["synth"] = time.perf_counter() - t

    with _serve(corpus_dir) as base:
        t = _step(f"2/5 fetch {base}/train.html (a playlist page, through yt-dlp)")
        cfg = cfg.override("fetch", socket_timeout=10.0)
        summary = fetch_pipeline.run(cfg, [f"{base}/train.html"])
        if summary.failed:
            raise click.ClickException("the demo's fetch failed; see the reasons above")
        times["fetch"] = time.perf_counter() - t

        t = _step("3/5 build-dataset")
        cfg = cfg.override("build", words=s.words, splits=(0.85, 0.15, 0.0), min_count=2)
        built = build_pipeline.run(cfg)
        times["build"] = time.perf_counter() - t

        back = "BiLSTM" if s.backend == "lstm" else "temporal-convolution"
        t = _step(f"4/5 train a small ResNet with a {back} back end for {s.epochs} epochs")
        cfg = cfg.override("training", arch="small", backend=s.backend, epochs=s.epochs, schedule_epochs=s.epochs,
                           batch_size=s.batch_size, lr=s.lr, time_mask=s.time_mask,
                           label_smoothing=s.label_smoothing, weight_decay=s.weight_decay,
                           printfrequency=1000,
                           folder=str(built.out))
        trained = train_module.run(cfg, new=True, force=True, validate=True)
        times["train"] = time.perf_counter() - t

        t = _step("5/5 read videos it never trained on")
        reports = {}
        # Read with the epoch that did best on validation (the read videos were never fetched
        # for the dataset, so choosing by validation does not touch them).
        best = models / "lipreader.best.pt"
        model = best if best.is_file() else trained.model_path
        read_cfg = cfg.override("general", pretrainedmodelpath=str(model))
        read_cfg = read_cfg.override("prediction", videos=str(out / "read" / "videos"))
        for group, names in (("unseen videos, training speakers", unseen),
                             ("videos of a person never seen", held)):
            reports[group] = [read_pipeline.run(read_cfg, f"{base}/{n}/index.html",
                                                 out=out / "read" / f"{n}.txt") for n in names]
        times["read"] = time.perf_counter() - t

    vocab = set(trained.vocab)
    train_durations = [(r["word"], r["end"] - r["start"])
                       for r in map(json.loads, built.manifest.read_text().splitlines())
                       if r["split"] == "train"]
    baseline = duration_baseline(train_durations,
                                 caption_durations([corpus_dir / n for n in unseen], vocab))
    result = {
        "clips": built.stats["clips_per_split"],
        "validation_top1": trained.best_top1,
        "read_accuracy": {g: word_accuracy(rs) for g, rs in reports.items()},
        "duration_baseline": baseline,
        "chance": 1.0 / max(len(vocab), 1),
        "seconds": {k: round(v, 1) for k, v in times.items()},
    }
    atomic.write_json(out / "demo.json", result)
    _report(result, out, built, trained, reports)
    click.echo(f"\ndemo finished in {time.perf_counter() - t_all:.0f} s; everything is under {out}")
    return result


def _report(result: dict, out: Path, built, trained, reports: dict) -> None:
    from builder.synth import CorpusDir

    click.secho("\n== report", bold=True)
    click.echo(f"clips per split: {result['clips']}")
    if result["validation_top1"] is not None:
        click.echo(f"best validation top-1 (unseen videos of the training speakers): "
                   f"{result['validation_top1']:.1%}")
    for group, acc in result["read_accuracy"].items():
        shown = "no scored words" if acc is None else f"{acc:.1%} of caption words"
        click.echo(f"read, {group}: {shown}")
    click.echo(f"duration-only baseline on the unseen videos: {result['duration_baseline']:.1%} "
               f"(chance {result['chance']:.1%})")
    first = next(iter(reports.values()))
    if first:
        click.echo("\nfirst unseen video, predicted against the captions:")
        click.echo(first[0].text)
    click.echo(f"\nread reports: {out / 'read'}")
    click.echo("pictures:")
    for p in [built.contact_sheet, *sorted((out / "models").glob("*.png")),
              CorpusDir(out / "corpus").contact_sheet]:
        if p and Path(p).is_file():
            click.echo(f"  {p}")
