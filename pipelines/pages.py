"""`lipreader report`: the dataset's web pages made again from its files, and a model's page.

build-dataset writes the pages as its report stage and `train` its model's page; this rebuilds
them (after a change of the pages, or for a model trained elsewhere) from stats.json, the
manifest, videos.json, the video folders and the model's metrics and predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

from builder.layout import DatasetDir
from builder.stages import report as reportstage
from lipreader import lock
from lipreader import pages as pg
from lipreader.config import Config
from lipreader.errors import InputError
from lipreader.say import say


def run(cfg: Config, dataset: str | None = None, model: str | None = None) -> Path:
    """Write the pages of `dataset` ([general] dataset) and, with `model`, its page. -> index.html"""
    ds = DatasetDir(Path(dataset or cfg.general.dataset))
    if not ds.root.is_dir():
        raise InputError(f"{ds.root}: no such dataset folder (build it with `lipreader build-dataset`)")
    history, predictions = _model_files(Path(model)) if model else (None, None)
    with lock.hold(ds.root, wait=cfg.general.wait):
        got = reportstage.write_pages(ds, Path(cfg.general.videos))
        if model:
            _example_previews(ds, history, predictions)
            page = pg.write_model_page(ds.root, model, history, predictions)
            say(f"model page: {page}")
            got = reportstage.write_pages(ds, Path(cfg.general.videos))  # the index lists it
    say(f"pages: {got.index} ({got.words} words, {got.videos} videos, {got.previews_made} new previews)")
    return got.index


def _model_files(model: Path) -> tuple[list[dict], dict | None]:
    files = pg.model_files(model)
    if not files["metrics"].is_file():
        raise InputError(f"{model}: no {files['metrics'].name} beside it: `lipreader train` writes it")
    try:
        history = json.loads(files["metrics"].read_text(encoding="utf-8"))
        predictions = json.loads(files["predictions"].read_text(encoding="utf-8")) \
            if files["predictions"].is_file() else None
    except ValueError as e:
        raise InputError(f"{model}: its metrics or predictions file is unreadable ({e})") from e
    if not isinstance(history, list) or not (predictions is None or isinstance(predictions, dict)):
        raise InputError(f"{model}: its metrics or predictions file is not what `train` writes")
    return history, predictions


def _example_previews(ds: DatasetDir, history: list[dict], predictions: dict | None) -> None:
    """Previews of the clips the model page shows as examples of its confusions."""
    if not predictions:
        return
    _, records, _ = reportstage.read_outputs(ds)
    by_path = {r.path: r for r in records}
    facts = pg.model_facts("", history, predictions.get("split"), predictions.get("vocab", []),
                           [tuple(c) for c in predictions.get("clips", [])], {}, lambda p: True)
    shown = [by_path[c["path"]] for *_, cards in facts["pairs"] for c in cards if c["path"] in by_path]
    reportstage.write_previews(ds, shown)
