"""`lipreader synth`: a corpus of generated talking-head videos with exact word captions.

Layout under OUT:
    <name>/video.mp4  captions.en.json3  captions.en.vtt  truth.json  index.html
    corpus.json  playlist.html  contact_sheet.png
Each video folder appears only when complete; a rerun with the same arguments keeps the
folders that are already right.
"""

from __future__ import annotations

from pathlib import Path

import click

from builder.synth import Corpus, make_corpus
from lipreader.constants import FPS


def run(out: Path, words: int = 10, videos: int = 20, speakers: int = 6, holdout_speakers: int = 1,
        faces: Path | None = None, fps: float = FPS, height: int = 480, seed: int = 0,
        seconds: float = 14.0, workers: int = 0, audio: str = "speech",
        audio_offset_ms: float = 0.0, second_face: bool = False) -> Corpus:
    corpus = make_corpus(Path(out), words=words, videos=videos, seconds=seconds, speakers=speakers,
                         holdout_speakers=holdout_speakers, height=height, fps=fps, seed=seed,
                         faces=faces, workers=workers, show_progress=True, audio=audio,
                         audio_offset_ms=audio_offset_ms, second_face=second_face)
    held = ", ".join(corpus.holdout_speakers) or "none"
    n_hold = sum(v["holdout"] for v in corpus.videos)
    total = sum(v["duration"] for v in corpus.videos)
    n_words = sum(v["words"] for v in corpus.videos)
    click.echo(f"{len(corpus.videos)} videos ({total:.0f} s, {n_words} captioned words, "
               f"{len(corpus.vocabulary)}-word vocabulary) in {corpus.root} "
               f"[{corpus.seconds:.0f} s]")
    click.echo(f"speakers: {', '.join(s.name for s in corpus.speakers)}; held out: {held} "
               f"({n_hold} videos)")
    click.echo(f"open {corpus.files.playlist} to watch; "
               f"{corpus.files.contact_sheet} shows the mouths per word")
    return corpus
