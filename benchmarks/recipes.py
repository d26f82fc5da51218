"""Training recipes on small generated corpora: validation top-1 per corpus, recipe and seed.

Three corpora that are not the demo's (8-10 words, 250-600 training clips, different seeds, sizes
and clip lengths) are generated, fetched as local files (each with a `<name>.info.json` naming
its person as the channel) and built twice: split by video, and split by channel, which keeps a
person out of training (the unseen-person figure). Each recipe then trains a new small model.

    python -m benchmarks.recipes OUT [--recipes demo,...] [--seeds 0,1] [--corpora a,b,c]
                                     [--init-from MODEL]

`--init-from` starts every run from another model (a different vocabulary: its trunk and back
end are kept), to see which learning rate fine-tuning wants.

Corpora and datasets are kept under OUT and reused; results go to OUT/recipes.json (one row per
run, appended) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from builder.synth import make_corpus
from builder.synth.script import VOCABULARY
from lipreader.config import Config

CORPORA = {
    "a": dict(words=8, videos=30, seconds=10.0, speakers=6, seed=101),
    "b": dict(words=10, videos=40, seconds=12.0, speakers=6, seed=202),
    "c": dict(words=9, videos=64, seconds=12.0, speakers=6, seed=303),
    # none of a, b or c's words: for --init-from with new words
    "d": dict(words=list(VOCABULARY[10:18]), videos=30, seconds=10.0, speakers=6, seed=404),
}

# what `train --arch small` sets for a first dataset, and variants of it
BASE = dict(arch="small", backend="tc", epochs=25, batch_size=16, lr=3e-3, warmup_epochs=0.5,
            time_mask=0, label_smoothing=0.0, weight_decay=0.05)
RECIPES = {
    "demo": {},
    "lr1e-3": dict(lr=1e-3),
    "lr6e-3": dict(lr=6e-3),
    "e40": dict(epochs=40),
    "e60": dict(epochs=60),
    "e60-boundaries": dict(epochs=60, boundaries=True),
    "bs8": dict(batch_size=8),
    "warm2": dict(warmup_epochs=2.0),
    "bs32": dict(batch_size=32),
    "wd1e-4": dict(weight_decay=1e-4),
    "ls0.1": dict(label_smoothing=0.1),
    "mask6": dict(time_mask=6),
    "boundaries": dict(boundaries=True),
    "lstm": dict(backend="lstm"),
    "e15": dict(epochs=15),
    "e15-lr1e-3": dict(epochs=15, lr=1e-3),
    "e15-lr3e-4": dict(epochs=15, lr=3e-4),
}


def corpus_config(root: Path, split_by: str) -> Config:
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / f"dataset-{split_by}"),
                            device="cpu")
    splits = "0.8,0.2,0" if split_by == "video" else "0.67,0.33,0"
    return cfg.override("build", words=10, splits=splits, workers=2, split_by=split_by)


def build_corpus(root: Path, spec: dict) -> dict:
    """Generate, fetch and build (both splits) once; returns what the corpus is."""
    from pipelines import build, fetch

    done = root / "corpus-info.json"
    if done.is_file():
        return json.loads(done.read_text())
    corpus = make_corpus(root / "corpus", holdout_speakers=0, height=360, workers=2, **spec)
    staged = root / "staged"
    staged.mkdir(parents=True, exist_ok=True)
    for v in corpus.videos:
        for src, dst in (("video.mp4", f"{v['name']}.mp4"), ("captions.en.json3", f"{v['name']}.en.json3")):
            shutil.copyfile(corpus.root / v["name"] / src, staged / dst)
        (staged / f"{v['name']}.info.json").write_text(json.dumps({"channel_id": f"person-{v['person']}"}))
    info = {"spec": spec, "vocabulary": corpus.vocabulary, "persons": sorted({v["person"] for v in corpus.videos})}
    for split_by in ("video", "channel"):
        cfg = corpus_config(root, split_by)
        fetch.fetch_all(cfg, fetch.gather([str(staged)], None), quiet=True)
        build.run(cfg)
        counts = json.loads((Path(cfg.general.dataset) / "stats.json").read_text())
        info[split_by] = {"splits": counts["clips_per_split"]}
    done.write_text(json.dumps(info, indent=1))
    return info


def train_once(root: Path, split_by: str, recipe: dict, seed: int, out: Path) -> dict:
    from lipreader import train

    cfg = corpus_config(root, split_by)
    t = {**BASE, **recipe}
    cfg = cfg.override("general", seed=seed, pretrainedmodelpath=str(out / "model.pt"))
    cfg = cfg.override("validation", accuracyfilelocation=str(out / "accuracy.txt"))
    cfg = cfg.override("training", folder=cfg.general.dataset, printfrequency=0,
                       schedule_epochs=t["epochs"], **t)
    t0 = time.perf_counter()
    result = train.run(cfg, new=True, force=True, validate=True)
    h = result.history
    return {"val_top1": h[-1]["val_top1"], "best_val_top1": max(m["val_top1"] for m in h),
            "train_top1": h[-1]["top1"], "val_n": h[-1]["val_n"],
            "epochs_to_0.85": next((i + 1 for i, m in enumerate(h) if m["val_top1"] >= 0.85), None),
            "seconds": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--recipes", default="demo")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--corpora", default="a,b,c")
    ap.add_argument("--split-by", default="video", choices=("video", "channel"))
    ap.add_argument("--build-only", action="store_true", help="generate and build the corpora, train nothing")
    ap.add_argument("--init-from", type=Path, default=None, help="start each run from this model")
    a = ap.parse_args()
    results = a.out / "recipes.json"
    rows = json.loads(results.read_text()) if results.is_file() else []
    for c in a.corpora.split(","):
        root = a.out / c
        info = build_corpus(root, CORPORA[c])
        if a.build_only:
            continue
        for r in a.recipes.split(","):
            for s in (int(x) for x in a.seeds.split(",")):
                recipe, name = RECIPES[r], r
                if a.init_from:
                    recipe, name = {**recipe, "init_from": str(a.init_from)}, f"{r}-init"
                run_dir = root / "runs" / f"{a.split_by}-{name}-{s}"
                run_dir.mkdir(parents=True, exist_ok=True)
                row = {"corpus": c, "split_by": a.split_by, "recipe": name, "seed": s,
                       "words": len(info["vocabulary"]), "clips": info[a.split_by]["splits"],
                       **({"init_from": str(a.init_from)} if a.init_from else {}),
                       **train_once(root, a.split_by, recipe, s, run_dir)}
                rows.append(row)
                results.write_text(json.dumps(rows, indent=1))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
