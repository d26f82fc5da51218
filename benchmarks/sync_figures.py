"""Sync figures on generated videos: sound offsets of -8..+8 frames (2 videos each), matched,
voice-over and silent videos, 6 s each, through fetch and build-dataset at the default [build]
options. Prints the offset errors and, per kind, clips kept / caption words. Then two faces,
one speaking (`second_face`): 12 videos built with [build] max_faces = 2, and the share of
clips cut from the speaking face.

    python -m benchmarks.sync_figures OUT [SEED]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from builder.synth import make_corpus
from lipreader.config import Config


def main(root: Path, seed: int) -> None:
    from pipelines import build, fetch

    staged = root / "staged"
    staged.mkdir(parents=True, exist_ok=True)
    plan = [("off", off, 2, "speech") for off in range(-8, 9)]
    plan += [("matched", 0, 12, "speech"), ("voiceover", 0, 12, "voiceover"), ("silent", 0, 3, "silent")]
    names: dict[str, tuple[str, int, Path]] = {}
    for n, (kind, off, videos, audio) in enumerate(plan):
        corpus = make_corpus(root / f"c{n}", videos=videos, seconds=6.0, height=360, seed=seed + n,
                             speakers=6, audio=audio, audio_offset_ms=off * 40, workers=2)
        for v in corpus.videos:
            tag = f"{kind}{n}-{v['name']}"
            shutil.copyfile(corpus.root / v["name"] / "video.mp4", staged / f"{tag}.mp4")
            shutil.copyfile(corpus.root / v["name"] / "captions.en.json3", staged / f"{tag}.en.json3")
            names[tag] = (kind, off, corpus.root / v["name"])
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / "dataset"))
    cfg = cfg.override("build", words=10, splits="1,0,0", workers=2)
    fetch.fetch_all(cfg, fetch.gather([str(staged)], None), quiet=True)
    summary = build.run(cfg)

    folders = list((root / "videos").iterdir())

    def folder_of(tag: str) -> Path:
        return next(p for p in folders if tag in p.name)

    errors = []
    for tag, (kind, off, _) in names.items():
        if kind in ("off", "matched"):
            with np.load(folder_of(tag) / "sync.npz") as z:
                errors.append(int(z["offset"]) - off)
    kept: dict[str, int] = {}
    for line in (root / "dataset" / "manifest.jsonl").read_text().splitlines():
        vid = json.loads(line)["video_id"]
        kept[vid] = kept.get(vid, 0) + 1
    by_kind: dict[str, list[int]] = {}
    for tag, (kind, _, folder) in names.items():
        captions = json.loads((folder / "captions.en.json3").read_text())
        counts = by_kind.setdefault(kind, [0, 0])
        counts[0] += kept.get(folder_of(tag).name, 0)
        counts[1] += sum(len(e["segs"]) for e in captions["events"])
    print(f"offset errors (frames): {sorted(errors)}")
    print(f"within 1 frame: {sum(abs(e) <= 1 for e in errors)}/{len(errors)}, "
          f"exact: {sum(e == 0 for e in errors)}")
    print(f"clips kept / caption words: {by_kind}")
    print(f"drops: {summary.stats.get('dropped')}")
    two_faces(root / "two", seed)


def two_faces(root: Path, seed: int, videos: int = 12) -> None:
    """Clips from the speaking face / clips, on split frames where one face speaks."""
    from pipelines import build, fetch

    staged = root / "staged"
    staged.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus(root / "c", videos=videos, seconds=6.0, height=360, seed=seed + 100,
                         speakers=6, second_face=True, workers=2)
    sides = {}
    for v in corpus.videos:
        folder = corpus.root / v["name"]
        shutil.copyfile(folder / "video.mp4", staged / f"{v['name']}.mp4")
        shutil.copyfile(folder / "captions.en.json3", staged / f"{v['name']}.en.json3")
        sides[v["name"]] = json.loads((folder / "truth.json").read_text())["second_face"]["speaking_side"]
    cfg = Config().override("general", videos=str(root / "videos"), dataset=str(root / "dataset"))
    cfg = cfg.override("build", words=10, splits="1,0,0", workers=2, max_faces=2)
    fetch.fetch_all(cfg, fetch.gather([str(staged)], None), quiet=True)
    summary = build.run(cfg)
    folders = [p for p in (root / "videos").iterdir() if p.is_dir()]
    right = total = 0
    for line in (root / "dataset" / "manifest.jsonl").read_text().splitlines():
        c = json.loads(line)
        folder = next(p for p in folders if p.name == c["video_id"])
        side = next(s for name, s in sides.items() if name in folder.name)
        face = c.get("face", 0)
        with np.load(folder / ("track.npz" if face == 0 else f"track.{face}.npz")) as z:
            box, width = z["box"], int(z["size"][0])
        at = c["first"] + (c["word_start_frame"] + c["word_end_frame"]) // 2
        right += ((box[at, 0] + box[at, 2]) / 2 < width / 2) == (side == "left")
        total += 1
    words = sum(len(e["segs"]) for name in sides
                for e in json.loads((staged / f"{name}.en.json3").read_text())["events"])
    print(f"two faces: {right}/{total} clips from the speaking face; {total} clips of {words} "
          f"caption words; {summary.stats.get('faces')}; drops: {summary.stats.get('dropped')}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
