"""The `lipreader` command line: parses flags, loads the config, calls the pipelines.

No logic of its own, and no heavy imports at start-up: `lipreader --help` is instant.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from lipreader import __version__
from lipreader.config import Config, load_config, to_toml
from lipreader.constants import FPS
from lipreader.errors import LipreaderError
from lipreader.say import note, say


class LipreaderGroup(click.Group):
    """Turns a LipreaderError into one line on stderr and exit status 1 (a traceback with -v)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LipreaderError as e:
            if ctx.meta.get("lipreader.verbose"):
                traceback.print_exc()
            raise click.ClickException(str(e)) from e


def _config(ctx: click.Context) -> Config:
    """options.toml, read when a command runs (so `--help` works even when the file is broken)."""
    if "config" not in ctx.obj:
        ctx.obj["config"] = load_config(ctx.obj["config_path"])
        for notice in ctx.obj["config"].notices:
            note(notice)
    return ctx.obj["config"]


def _wait_option(f):
    return click.option("--wait", is_flag=True, default=None,
                        help="Wait while another run writes the same folder or model, "
                             "instead of stopping [general] wait.")(f)


@click.group(cls=LipreaderGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Options file (default: ./options.toml when present).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(__version__, prog_name="lipreader")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Turn public YouTube talk into a word-level lipreading dataset and a model trained on it.

    \b
      lipreader fetch URL           download videos with captions
      lipreader build-dataset       captions + face tracking -> one clip per word
      lipreader train               train the ResNet-LSTM word classifier
      lipreader read URL            which word is spoken in each stretch
      lipreader report              the dataset's and a model's web pages, again
      lipreader demo                the whole chain offline on generated videos
    """
    ctx.meta["lipreader.verbose"] = verbose
    ctx.obj = {"config_path": config_path}


@cli.command("config")
@click.pass_context
def config_cmd(ctx: click.Context) -> None:
    """Print the effective configuration (options.toml with defaults filled in)."""
    say(to_toml(_config(ctx)), end="")


def _access_options(f):
    """Cookies and pacing flags of `fetch` ([fetch] cookies, sleep_*)."""
    for option in reversed([
        click.option("--cookies", type=click.Path(dir_okay=False),
                     help="cookies.txt (Netscape format) for sites that want you signed in."),
        click.option("--cookies-from-browser", metavar="NAME[:PROFILE]",
                     help="Use a browser's cookies, e.g. firefox or chrome:Default."),
        click.option("--sleep-requests", type=float, help="Seconds between requests while reading pages."),
        click.option("--sleep-interval", type=float, help="Seconds before each download."),
        click.option("--max-sleep-interval", type=float,
                     help="With --sleep-interval: a random pause up to this many seconds."),
    ]):
        f = option(f)
    return f


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("--from-file", type=click.Path(dir_okay=False),
              help="Text file of URLs, one per line; # starts a comment.")
@click.option("--out", type=click.Path(file_okay=False), help="Videos folder [general] videos.")
@click.option("--max-height", type=int, help="Largest video height to download.")
@click.option("--lang", help="Caption language, one written with spaces between words (manual "
                             "captions timed by the automatic ones, else automatic).")
@click.option("--license", "license_",
              help="Keep only videos under this license: cc-by is exactly CC BY (any version); "
                   "cc-by-sa, cc-by-nc, ... only when named.")
@click.option("--max-videos", type=int, help="At most this many videos per URL.")
@click.option("--max-duration", type=float, help="Skip videos longer than this many seconds.")
@click.option("--socket-timeout", type=float, help="Seconds before a silent connection fails.")
@click.option("--retries", type=int, help="Retries on transient network errors.")
@click.option("--rate-limit", help="Download rate limit, e.g. 2M.")
@_access_options
@_wait_option
@click.pass_context
def fetch(ctx, urls, from_file, out, max_height, lang, license_, max_videos, max_duration,
          socket_timeout, retries, rate_limit, wait, **access) -> None:
    """Download videos with captions and metadata into data/videos/<id>/.

    URLS are YouTube videos, playlists or channels, other sites yt-dlp knows, or local
    video files. Finished videos are skipped on a re-run.
    """
    from pipelines import fetch as fetch_pipeline

    cfg = _config(ctx).override("fetch", max_height=max_height, lang=lang, license=license_,
                                max_videos=max_videos, max_duration=max_duration,
                                socket_timeout=socket_timeout, retries=retries,
                                rate_limit=rate_limit).override("fetch", **access)
    cfg = cfg.override("general", videos=out, wait=wait)
    summary = fetch_pipeline.run(cfg, list(urls), from_file=from_file)
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--words", type=int, default=10, show_default=True, help="Vocabulary size.")
@click.option("--videos", type=int, default=20, show_default=True, help="Number of videos.")
@click.option("--speakers", type=int, default=6, show_default=True, help="Speakers (variants of real faces).")
@click.option("--holdout-speakers", type=int, default=1, show_default=True,
              help="Speakers (a different real person) kept out of training videos.")
@click.option("--faces", type=click.Path(file_okay=False, exists=True), help="Folder of your own face photos.")
@click.option("--fps", type=float, default=FPS, show_default=True)
@click.option("--height", type=int, default=480, show_default=True, help="Frame height (360-720).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--audio", type=click.Choice(["speech", "silent", "voiceover"]), default="speech",
              show_default=True, help="Sound track: the face's voice, none, or another script's voice.")
@click.option("--audio-offset-ms", type=float, default=0.0, show_default=True,
              help="The sound (and captions) come this late; negative: early.")
@click.option("--second-face", is_flag=True,
              help="Split each frame with a second face whose mouth moves out of time with the sound.")
@click.pass_context
def synth(ctx, out, words, videos, speakers, holdout_speakers, faces, fps, height, seed,
          audio, audio_offset_ms, second_face) -> None:
    """Generate talking-head videos of real faces saying known words, with exact captions."""
    from pipelines import synth as synth_pipeline

    synth_pipeline.run(Path(out), words=words, videos=videos, speakers=speakers,
                       holdout_speakers=holdout_speakers, faces=Path(faces) if faces else None,
                       fps=fps, height=height, seed=seed, audio=audio, audio_offset_ms=audio_offset_ms,
                       second_face=second_face)


@cli.command("build-dataset")
@click.option("--videos", type=click.Path(file_okay=False), help="Fetched videos [general] videos.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Dataset folder [general] dataset ([prediction] dataset with --output predict).")
@click.option("--words", type=int, help="Vocabulary: the N most frequent words.")
@click.option("--vocab", type=click.Path(dir_okay=False, exists=True), help="File of words, one a line.")
@click.option("--min-count", type=int, help="Least occurrences for a word to be kept.")
@click.option("--max-per-word", type=int, help="At most this many clips per word and split.")
@click.option("--splits", help="train,val,test fractions, e.g. 0.8,0.1,0.1.")
@click.option("--split-by", type=click.Choice(["video", "channel", "uploader"]),
              help="Keep each video, channel or uploader in one split [build] split_by.")
@click.option("--frames", type=int, help="Clip length in frames at 25 fps.")
@click.option("--workers", type=int, help="Worker processes (0: one per core).")
@click.option("--shard", help="K/N: build only this deterministic share of the videos.")
@click.option("--output", type=click.Choice(["train", "predict"]), default="train", show_default=True,
              help="train: split clips into train/val/test; predict: all into <word>/predict/.")
@click.option("--allow-estimated", is_flag=True, default=None,
              help="Keep words whose times are estimated from whole caption cues.")
@click.option("--replan", is_flag=True,
              help="Decide the vocabulary, balance and splits again instead of reusing plan.json.")
@_wait_option
@click.pass_context
def build_dataset(ctx, videos, out, words, vocab, min_count, max_per_word, splits, split_by, frames,
                  workers, shard, output, allow_estimated, replan, wait) -> None:
    """Cut one mouth clip per spoken word into dataset/<word>/<split>/."""
    from pipelines import build as build_pipeline

    cfg = _config(ctx).override("build", words=words, vocab=vocab, min_count=min_count,
                                max_per_word=max_per_word, splits=splits, frames=frames,
                                workers=workers, allow_estimated=allow_estimated, split_by=split_by)
    cfg = cfg.override("general", videos=videos, wait=wait)
    cfg = cfg.override("prediction", dataset=out) if output == "predict" else cfg.override("general", dataset=out)
    build_pipeline.run(cfg, output=output, shard=shard, replan=replan)


@cli.command()
@click.option("--new", is_flag=True, help="Start a fresh model instead of continuing pretrainedmodelpath.")
@click.option("--force", is_flag=True, help="With --new, overwrite an existing model file.")
@click.option("--epochs", type=int, help="Epochs to train in this run.")
@click.option("--validate", is_flag=True, help="Evaluate on [validation] folder after each epoch.")
@click.option("--batch-size", type=int, help="Clips per batch.")
@click.option("--lr", type=float, help="Peak learning rate.")
@click.option("--arch", type=click.Choice(["resnet34", "resnet18", "small"]), help="Network size.")
@click.option("--backend", type=click.Choice(["lstm", "tc", "mstcn", "dctcn"]),
              help="Back end: the BiLSTM, temporal convolutions (faster to learn on small data), "
                   "the multi-scale TCN or the densely connected TCN.")
@click.option("--init-from", type=click.Path(dir_okay=False),
              help="A new model starts from this checkpoint (its words may differ) [training] init_from.")
@click.option("--freeze-frontend", type=int,
              help="Keep the front end and ResNet still for the model's first N epochs.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), help="Where to train.")
@click.option("--workers", type=int, help="Data-loading worker processes.")
@click.option("--dataset", type=click.Path(file_okay=False), help="Dataset folder [training] folder.")
@click.option("--model", type=click.Path(dir_okay=False), help="Model file [general] pretrainedmodelpath.")
@click.option("--dry-run", is_flag=True, help="Print the architecture and parameter count, train nothing.")
@_wait_option
@click.pass_context
def train(ctx, new, force, epochs, validate, batch_size, lr, arch, backend, init_from, freeze_frontend, device,
          workers, dataset, model, dry_run, wait) -> None:
    """Train the ResNet-LSTM word classifier (Stafylakis & Tzimiropoulos 2017)."""
    from pipelines import train as train_pipeline

    cfg = _config(ctx).override("training", epochs=epochs, batch_size=batch_size, lr=lr,
                                arch=arch, backend=backend, workers=workers, folder=dataset,
                                init_from=init_from, freeze_frontend=freeze_frontend)
    cfg = cfg.override("general", device=device, pretrainedmodelpath=model, wait=wait)
    given = frozenset(k for k, v in (("arch", arch), ("backend", backend), ("init_from", init_from))
                      if v is not None)
    train_pipeline.run(cfg, new=new, force=force, validate=validate, dry_run=dry_run, given=given)


@cli.command()
@click.argument("source")
@click.option("--model", type=click.Path(dir_okay=False), help="Model file [general] pretrainedmodelpath.")
@click.option("--top-k", type=int, help="Guesses shown per word.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "srt", "vtt", "csv"]), help="Output format.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--stride", type=int, help="Frames between sliding windows (no captions).")
@click.option("--captions", type=click.Choice(["auto", "none"]), default="auto", show_default=True,
              help="auto: one window per caption word when captions exist; none: sliding windows.")
@click.option("--annotate", type=click.Path(dir_okay=False), help="Write a copy of the video with the words.")
@_wait_option
@click.pass_context
def read(ctx, source, model, top_k, fmt, out, stride, captions, annotate, wait) -> None:
    """Say which word is spoken in each stretch of SOURCE (URL, video file or folder of clips)."""
    from pipelines import read as read_pipeline

    cfg = _config(ctx).override("prediction", top_k=top_k, stride=stride, format=fmt)
    cfg = cfg.override("general", pretrainedmodelpath=model, wait=wait)
    read_pipeline.run(cfg, source, out=Path(out) if out else None, captions=captions,
                      annotate=Path(annotate) if annotate else None)


@cli.command("import-weights")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["mpc001"]), required=True,
              help="Whose model: mpc001 (Lipreading using Temporal Convolutional Networks, MS-TCN or DC-TCN).")
@click.option("--config", "model_config", type=click.Path(dir_okay=False),
              help="Their JSON configuration of the model (e.g. lrw_resnet18_dctcn.json).")
@click.option("--words", type=click.Path(dir_okay=False),
              help="Class words, one per line in the model's order (default: LRW's 500).")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The lipreader model file to write.")
@click.option("--force", is_flag=True, help="Overwrite --out.")
def import_weights(file, fmt, model_config, words, out, force) -> None:
    """Make a lipreader model of FILE, a published word model (weights you obtained yourself)."""
    from pipelines import import_weights as import_pipeline

    import_pipeline.run(Path(file), Path(out), fmt, Path(model_config) if model_config else None,
                        Path(words) if words else None, force)


@cli.command()
@click.argument("dataset", required=False, type=click.Path(file_okay=False))
@click.option("--model", type=click.Path(dir_okay=False), help="Also make this model's page.")
@_wait_option
@click.pass_context
def report(ctx, dataset, model, wait) -> None:
    """Make the web pages of DATASET ([general] dataset) again: index.html beside it."""
    from pipelines import pages as pages_pipeline

    pages_pipeline.run(_config(ctx).override("general", wait=wait), dataset, model)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo-out", show_default=True,
              help="Folder for everything the demo makes.")
@click.option("--quick", is_flag=True, help="A smaller corpus and shorter training (a smoke run).")
@click.pass_context
def demo(ctx, out, quick) -> None:
    """Run the whole chain offline on generated videos: synth, fetch, build, train, read."""
    from pipelines import demo as demo_pipeline

    demo_pipeline.run(_config(ctx), Path(out), quick=quick)


@cli.command()
@click.argument("commands", nargs=-1,
                type=click.Choice(["fetch", "build-dataset", "train", "read", "demo"]))
@click.pass_context
def doctor(ctx, commands) -> None:
    """Say what will work here and what will not, each with its fix (fast, offline).

    Exits with 1 when something COMMANDS (default: all of them) need is missing.
    """
    from pipelines import doctor as doctor_pipeline

    sys.exit(doctor_pipeline.run(ctx.obj["config_path"], tuple(commands)))


main = cli
