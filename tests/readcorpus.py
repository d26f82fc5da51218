"""A generated corpus, its dataset and a small model trained on it, for tests/test_read.py.

The chain is the product's own: builder.synth renders talking heads with exact captions,
`fetch` imports them as local files (captions beside each file), `build-dataset` cuts the
word clips and `train` fits a small ResNet-LSTM. Some videos of the training speakers are kept
out of the dataset ("unseen videos of seen speakers"); one speaker is a person no training
video shows.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from builder.synth import make_corpus
from lipreader.config import Config

WORDS = 10  # the generator's first ten words; chance is 10%
HEIGHT = 360
SECONDS = 10.0


@dataclass
class Built:
    root: Path
    cfg: Config                 # the test corpus's config: model, videos and dataset folders
    vocab: list[str]
    train_videos: list[str]     # corpus names in the dataset
    seen_videos: list[str]      # seen speakers, videos kept out of the dataset
    unseen_videos: list[str]    # the held-out person


@dataclass
class Trained(Built):
    history: list[dict]


def stage(corpus: Path, name: str, to: Path) -> Path:
    """corpus/<name>/{video.mp4, captions.en.json3} -> to/<name>.mp4 + to/<name>.en.json3."""
    to.mkdir(parents=True, exist_ok=True)
    video = to / f"{name}.mp4"
    shutil.copyfile(corpus / name / "video.mp4", video)
    shutil.copyfile(corpus / name / "captions.en.json3", to / f"{name}.en.json3")
    return video


def make_built(root: Path, videos: int = 36, held_seen: int = 4, seed: int = 0) -> Built:
    """Render the corpus (`seed`), fetch the training speakers' videos and build the dataset."""
    from pipelines import build, fetch

    corpus = make_corpus(root / "corpus", words=WORDS, videos=videos, seconds=SECONDS, speakers=6,
                         holdout_speakers=1, height=HEIGHT, seed=seed,
                         workers=min(2, os.cpu_count() or 1))
    seen = [v["name"] for v in corpus.videos if not v["holdout"]]
    unseen = [v["name"] for v in corpus.videos if v["holdout"]]
    # keep out the last videos of speakers that still have others in training
    kept_out: list[str] = []
    for name in reversed(seen):
        speaker = name.split("-", 1)[1]
        if len(kept_out) < held_seen and sum(n.split("-", 1)[1] == speaker for n in seen) > 1 \
                and all(k.split("-", 1)[1] != speaker for k in kept_out):
            kept_out.append(name)
    train_names = [n for n in seen if n not in kept_out]
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / "dataset"),
                            pretrainedmodelpath=str(root / "model.pt"), device="cpu")
    cfg = cfg.override("build", words=WORDS, splits="1,0,0", workers=2)
    cfg = cfg.override("validation", accuracyfilelocation=str(root / "accuracy.txt"))
    for name in train_names:
        stage(corpus.root, name, root / "staged")
    fetch.fetch_all(cfg, fetch.gather([str(root / "staged")], None), quiet=True)
    build.run(cfg)
    return Built(root, cfg, corpus.vocabulary, train_names, kept_out, unseen)


def train_on(built: Built, epochs: int, seed: int, model: Path | None = None) -> Trained:
    """Train a new small model on the built dataset; `seed` is the training's [general] seed."""
    from lipreader import train

    cfg = built.cfg.override("general", seed=seed,
                             pretrainedmodelpath=str(model or built.root / "model.pt"))
    # the demo's settings: the temporal-convolution back end
    cfg = cfg.override("training", folder=cfg.general.dataset, arch="small", backend="tc",
                       batch_size=16, lr=3e-3, epochs=epochs, schedule_epochs=epochs, warmup_epochs=0.5,
                       time_mask=0, label_smoothing=0.0, weight_decay=0.05, printfrequency=0)
    result = train.run(cfg, new=True)
    return Trained(built.root, cfg, built.vocab, built.train_videos, built.seen_videos,
                   built.unseen_videos, result.history)


def make_trained(root: Path, epochs: int, corpus_seed: int, train_seed: int) -> Trained:
    return train_on(make_built(root, seed=corpus_seed), epochs, train_seed)
