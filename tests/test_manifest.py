"""The clip record: what build-dataset writes to manifest.jsonl and what training reads back."""

import json

import pytest

from lipreader.errors import InputError
from lipreader.manifest import ClipRecord, manifest_text, parse_manifest


def test_manifest_text_is_sorted_and_stable():
    recs = [ClipRecord("b/train/x_1.mp4", "b", "train"), ClipRecord("a/train/x_2.mp4", "a", "train")]
    text = manifest_text(recs)
    assert text == manifest_text(list(reversed(recs)))
    assert text.splitlines()[0] == '{"path": "a/train/x_2.mp4", "split": "train", "word": "a"}'


def test_a_record_round_trips_and_its_sidecar_has_no_path():
    rec = ClipRecord("hi/val/v_1200.mp4", "hi", "val", video_id="v", source_url="", start=1.2,
                     end=1.5, start_ms=1200, frames=29, face_width=101.5)
    assert parse_manifest(manifest_text([rec]), "m") == [rec]
    assert rec.sidecar() == {"word": "hi", "split": "val", "video_id": "v", "source_url": "",
                             "start": 1.2, "end": 1.5, "start_ms": 1200, "frames": 29, "face_width": 101.5}


def test_unknown_keys_are_ignored_and_a_bad_line_names_its_place():
    text = json.dumps({"path": "a/train/x.mp4", "word": "a", "split": "train", "later": 1}) + "\n\n"
    assert parse_manifest(text, "m") == [ClipRecord("a/train/x.mp4", "a", "train")]
    with pytest.raises(InputError) as e:
        parse_manifest(text + '{"path": "b/train/y.mp4", "split": "train"}\n', "ds/manifest.jsonl")
    assert str(e.value) == "ds/manifest.jsonl:3: not a manifest line with path, word and split (no word)"
