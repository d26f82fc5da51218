"""options.toml -> frozen dataclasses.

Every key has a default here and a one-line comment in the repository's options.toml.
Unknown keys are rejected with the closest valid key; wrong types name the expected type;
values out of range or not among the choices are rejected when the file loads and when a
command-line flag overrides them (`Config.override`). The original project's options.toml
loads too: its keys are read as ours with a notice each (`LEGACY`), or named as ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from lipreader.constants import CROP, ROI, WORD_FRAMES
from lipreader.errors import ConfigError

DEFAULT_FILE = "options.toml"
ARCHS = ("resnet34", "resnet18", "small")
BACKENDS = ("lstm", "tc", "mstcn", "dctcn")
CROP_PROFILES = ("default", "lrw")  # mouth ROI geometries (builder.mouth)
DEVICES = ("auto", "cuda", "cpu")
OPTIMIZERS = ("adamw", "sgd")
RECIPES = ("auto", "small-data", "large-data")
FORMATS = ("table", "json", "srt", "vtt", "csv")
SPLIT_BY = ("video", "channel", "uploader")


@dataclass(frozen=True)
class General:
    pretrainedmodelpath: str = "data/models/lipreader.pt"
    videos: str = "data/videos"
    dataset: str = "data/dataset"
    device: str = "auto"
    seed: int = 0
    wait: bool = False


@dataclass(frozen=True)
class Fetch:
    lang: str = "en"
    max_height: int = 720
    license: str = ""
    max_videos: int = 0
    max_duration: float = 0.0
    caption_formats: str = "json3/vtt/srt/best"
    socket_timeout: float = 20.0
    retries: int = 3
    rate_limit: str = ""
    cookies: str = ""
    cookies_from_browser: str = ""
    sleep_requests: float = 0.0
    sleep_interval: float = 0.0
    max_sleep_interval: float = 0.0
    throttle_wait: float = 60.0


@dataclass(frozen=True)
class Build:
    words: int = 500
    vocab: str = ""
    min_count: int = 1
    min_length: int = 1
    stopwords: bool = False
    max_per_word: int = 0
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    frames: int = WORD_FRAMES
    padding: int = 3
    min_face_fraction: float = 0.9
    min_face_size: float = 40.0
    max_yaw: float = 45.0
    allow_estimated: bool = False
    min_sync: float = 0.55
    max_sync_drift: int = 3
    min_sync_confidence: float = 0.5
    keep_sync_unknown: bool = True
    mesh_every: int = 1
    max_faces: int = 1     # faces tracked as separate tracks; each word from the one speaking
    workers: int = 0
    split_by: str = "video"
    crop: str = "default"


@dataclass(frozen=True)
class Training:
    folder: str = "data/dataset"
    printfrequency: int = 10
    epochs: int = 1
    batch_size: int = 32
    lr: float = 3e-4
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup_epochs: float = 0.5
    schedule_epochs: int = 30
    label_smoothing: float = 0.1
    arch: str = "resnet34"
    backend: str = "lstm"
    input_size: int = CROP
    time_mask: int = 6
    workers: int = 0
    compile: bool = False
    init_from: str = ""
    boundaries: bool = False
    freeze_frontend: int = 0
    recipe: str = "auto"


@dataclass(frozen=True)
class Validation:
    folder: str = "val"
    accuracyfilelocation: str = "data/models/accuracy.txt"


@dataclass(frozen=True)
class Prediction:
    dataset: str = "data/predict"
    folder: str = "predict"
    videos: str = "data/read-videos"
    top_k: int = 5
    stride: int = 4
    format: str = "table"
    bf16: bool = False


@dataclass(frozen=True)
class Config:
    general: General = field(default_factory=General)
    fetch: Fetch = field(default_factory=Fetch)
    build: Build = field(default_factory=Build)
    training: Training = field(default_factory=Training)
    validation: Validation = field(default_factory=Validation)
    prediction: Prediction = field(default_factory=Prediction)
    source: str = "(defaults)"
    notices: tuple[str, ...] = ()  # one line per key of the original project's file, read or ignored
    explicit: frozenset[str] = frozenset()  # "section.key" set in the file or on the command line

    def override(self, section: str, **values: Any) -> Config:
        """A copy with `values` (the command-line flags) replacing the section's keys; None means 'not given'."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        current = getattr(self, section)
        checked = {}
        for k, v in given.items():
            flag = f"--{k.replace('_', '-')}"
            checked[k] = _check_range(_check_value(v, _hints(type(current))[k], flag, section, k),
                                      flag, section, k)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **checked)},
                                   explicit=self.explicit | {f"{section}.{k}" for k in checked})

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}


SECTIONS = {f.name: f.default_factory for f in fields(Config)  # type: ignore[misc]
            if f.name not in ("source", "notices", "explicit")}


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, "a list of 3 numbers")


def _check_value(value: Any, tp: Any, where: str, section: str, key: str) -> Any:
    def bad() -> ConfigError:
        return ConfigError(f"{where}: [{section}] {key} must be {_type_name(tp)}, got {value!r}")

    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    # tuple[float, float, float]
    if isinstance(value, str):
        try:
            value = [float(x) for x in value.split(",")]
        except ValueError:
            raise bad() from None
    if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        raise bad()
    return tuple(float(x) for x in value)


def _at_least(lo: float) -> tuple[Any, str]:
    return (lambda v: v >= lo), f"must be at least {lo}"


def _more_than(lo: float) -> tuple[Any, str]:
    return (lambda v: v > lo), f"must be more than {lo}"


def _between(lo: float, hi: float, why: str = "") -> tuple[Any, str]:
    return (lambda v: lo <= v <= hi), f"must be between {lo} and {hi}{why}"


def _one_of(choices: tuple[str, ...]) -> tuple[Any, str]:
    return (lambda v: v in choices), f"must be one of {', '.join(choices)}"


def rate_bytes(text: str) -> int | None:
    """'2M' -> 2097152 bytes/s, as yt-dlp reads a rate (units K, M, G... of 1024); None unless
    a positive whole number of bytes/s; '' is None too."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGTPEZY]?)", text.upper())
    rate = round(float(m.group(1)) * 1024 ** " KMGTPEZY".index(m.group(2) or " ")) if m else 0
    return rate or None


def _rate() -> tuple[Any, str]:
    return (lambda v: v == "" or rate_bytes(v) is not None), "must look like 500K or 2M (bytes per second)"


def _fractions() -> tuple[Any, str]:
    return (lambda v: all(f >= 0 for f in v) and sum(v) > 0), \
        "must be three fractions (train, val, test), none negative and not all 0"


# Languages written without spaces between words: a caption line would be one "word".
UNSPACED_LANGUAGES = ("zh", "ja", "th", "lo", "km", "my", "bo", "dz", "yue", "wuu")


def _spaced_language() -> tuple[Any, str]:
    def ok(v: str) -> bool:
        return bool(re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]+)*", v)) and \
            v.split("-")[0].lower() not in UNSPACED_LANGUAGES
    return ok, ("must be a language code (en, de, pt-BR) of a language written with spaces "
                "between words: labels are the words between spaces, so Chinese, Japanese, Thai, "
                "Lao, Khmer, Burmese and Tibetan captions cannot be used")


# (section, key) -> (test, what the value must be). Keys not listed take any value of their type.
RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("general", "device"): _one_of(DEVICES),
    ("general", "seed"): _between(0, 2**32 - 1),
    ("fetch", "lang"): _spaced_language(),
    ("fetch", "max_height"): _at_least(1),
    ("fetch", "max_videos"): _at_least(0),
    ("fetch", "max_duration"): _at_least(0),
    ("fetch", "socket_timeout"): _more_than(0),
    ("fetch", "retries"): _at_least(0),
    ("fetch", "sleep_requests"): _at_least(0),
    ("fetch", "sleep_interval"): _at_least(0),
    ("fetch", "max_sleep_interval"): _at_least(0),
    ("fetch", "throttle_wait"): _at_least(0),
    ("fetch", "rate_limit"): _rate(),
    ("build", "words"): _at_least(1),
    ("build", "min_count"): _at_least(1),
    ("build", "min_length"): _at_least(1),
    ("build", "max_per_word"): _at_least(0),
    ("build", "splits"): _fractions(),
    ("build", "frames"): _at_least(1),
    ("build", "padding"): _at_least(0),
    ("build", "min_face_fraction"): _between(0, 1),
    ("build", "min_face_size"): _at_least(0),
    ("build", "max_yaw"): _between(0, 90),
    ("build", "min_sync"): _between(-1, 1),
    ("build", "max_sync_drift"): _between(0, 15),
    ("build", "min_sync_confidence"): _between(0, 2),
    ("build", "mesh_every"): _at_least(1),
    ("build", "max_faces"): _between(1, 4),
    ("build", "workers"): _at_least(0),
    ("build", "split_by"): _one_of(SPLIT_BY),
    ("training", "printfrequency"): _at_least(0),
    ("training", "epochs"): _at_least(0),
    ("training", "batch_size"): _at_least(1),
    ("training", "lr"): _more_than(0),
    ("training", "optimizer"): _one_of(OPTIMIZERS),
    ("training", "recipe"): _one_of(RECIPES),
    ("training", "weight_decay"): _at_least(0),
    ("training", "momentum"): _between(0, 1),
    ("training", "warmup_epochs"): _at_least(0),
    ("training", "schedule_epochs"): _at_least(0),
    ("training", "label_smoothing"): _between(0, 1),
    ("training", "arch"): _one_of(ARCHS),
    ("training", "backend"): _one_of(BACKENDS),
    ("build", "crop"): _one_of(CROP_PROFILES),
    ("training", "input_size"): _between(16, ROI, f" (the mouth clips are {ROI}x{ROI}; the paper's 112 "
                                                   "was cut from larger mouth regions)"),
    ("training", "time_mask"): _at_least(0),
    ("training", "workers"): _at_least(0),
    ("training", "freeze_frontend"): _at_least(0),
    ("prediction", "top_k"): _at_least(1),
    ("prediction", "stride"): _at_least(1),
    ("prediction", "format"): _one_of(FORMATS),
}


def _check_range(value: Any, where: str, section: str, key: str) -> Any:
    rule = RANGES.get((section, key))
    if rule is not None and not rule[0](value):
        shown = list(value) if isinstance(value, tuple) else value
        raise ConfigError(f"{where}: [{section}] {key} {rule[1]}, got {shown!r}")
    return value


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else f" (valid: {', '.join(choices)})"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
        with open(path, "rb") as f:
            return tomllib.load(f)
    except ImportError:  # Python 3.10
        import toml
        return toml.load(path)


def _model_type(value: Any) -> str | None:
    return {"lstm": "lstm", "lstm-init": "lstm", "temp-conv": "tc"}.get(str(value).lower())


# The original project's options.toml: (section, key) -> (our section, our key, value converter)
# for the keys we read, or the reason a key is ignored.
LEGACY: dict[tuple[str, str], tuple[str, str, Any] | str] = {
    ("general", "usecudnn"): ("general", "device", lambda v: "auto" if v else "cpu"),
    ("general", "usecudnnbenchmark"): "cuDNN benchmarking is on whenever training runs on CUDA",
    ("general", "gpuid"): "choose the GPU with CUDA_VISIBLE_DEVICES",
    ("general", "loadpretrainedmodel"): "`train` continues pretrainedmodelpath unless given --new",
    ("general", "savemodel"): "`train` always saves the model to pretrainedmodelpath",
    ("input", "batchsize"): ("training", "batch_size", None),
    ("input", "numworkers"): ("training", "workers", None),
    ("input", "shuffle"): "training clips are always shuffled (seeded by [general] seed)",
    ("input", "padding"): ("build", "padding", None),
    ("model", "type"): ("training", "backend", _model_type),
    ("model", "inputdim"): "the ResNet's output width follows [training] arch",
    ("model", "hiddendim"): "the LSTM size follows [training] arch",
    ("model", "numclasses"): ("build", "words", None),
    ("model", "numlstms"): "the BiLSTM has 2 layers, as in the paper",
    ("training", "train"): "`lipreader train` trains, `lipreader read` predicts",
    ("training", "startepoch"): "the model file records its epoch and `train` continues from it",
    ("training", "statsfrequency"): ("training", "printfrequency", None),
    ("training", "learningrate"): ("training", "lr", None),
    ("training", "weightdecay"): ("training", "weight_decay", None),
    ("training", "dataset"): ("training", "folder", None),
    ("validation", "validate"): "validate with `lipreader train --validate`",
    ("validation", "saveaccuracy"): "each validation appends to [validation] accuracyfilelocation",
    ("validation", "dataset"): "[validation] folder names a split of [training] folder",
}
LEGACY_SECTIONS = sorted({sec for sec, _ in LEGACY} - set(SECTIONS))


def _legacy(where: str, section: str, key: str, value: Any, native: dict[str, dict[str, Any]],
            mapped: dict[tuple[str, str], Any], notices: list[str]) -> None:
    """Read one key of the original project's file into `mapped`, or note why it is ignored."""
    entry = LEGACY[(section, key)]
    old = f"{where}: [{section}] {key} (the original project's key)"
    if isinstance(entry, str):
        notices.append(f"{old} is ignored: {entry}")
        return
    to_section, to_key, convert = entry
    ours = f"[{to_section}] {to_key}"
    new = convert(value) if convert is not None else value
    if new is None:
        notices.append(f"{old} is ignored: {value!r} has no counterpart in {ours}")
    elif to_key in native.get(to_section, {}) or (to_section, to_key) in mapped:
        notices.append(f"{old} is ignored: {ours} is set")
    else:
        tp = _hints(type(SECTIONS[to_section]()))[to_key]
        mapped[(to_section, to_key)] = _check_range(
            _check_value(new, tp, f"{where} ([{section}] {key})", to_section, to_key),
            f"{where} ([{section}] {key})", to_section, to_key)
        notices.append(f"{old} is read as {ours} = {_toml_value(mapped[(to_section, to_key)])}")


def parse(data: dict[str, Any], where: str = "options.toml") -> Config:
    native: dict[str, dict[str, Any]] = {}
    legacy: list[tuple[str, str, Any]] = []
    for name, values in data.items():
        if name not in SECTIONS and name not in LEGACY_SECTIONS:
            raise ConfigError(f"{where}: unknown section [{name}]{_suggest(name, list(SECTIONS))}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [{name}] must be a table of keys")
        hints = _hints(type(SECTIONS[name]())) if name in SECTIONS else {}
        for key, value in values.items():
            if key in hints:
                native.setdefault(name, {})[key] = _check_range(
                    _check_value(value, hints[key], where, name, key), where, name, key)
            elif (name, key) in LEGACY:
                legacy.append((name, key, value))
            else:
                known = list(hints) or [k for sec, k in LEGACY if sec == name]
                raise ConfigError(f"{where}: unknown key '{key}' in [{name}]{_suggest(key, known)}")
    mapped: dict[tuple[str, str], Any] = {}
    notices: list[str] = []
    for name, key, value in legacy:
        _legacy(where, name, key, value, native, mapped, notices)
    for (name, key), value in mapped.items():
        native.setdefault(name, {})[key] = value
    sections = {name: type(SECTIONS[name]())(**values) for name, values in native.items()}
    explicit = frozenset(f"{name}.{key}" for name, values in native.items() for key in values)
    return Config(**sections, source=where, notices=tuple(notices), explicit=explicit)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read `path`, or ./options.toml when it exists, or use the defaults."""
    if path is None:
        if not Path(DEFAULT_FILE).is_file():
            return Config()
        path = DEFAULT_FILE
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        data = _read_toml(p)
    except Exception as e:  # tomllib.TOMLDecodeError or toml.TomlDecodeError
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    return parse(data, str(p))


def to_toml(cfg: Config) -> str:
    """The effective configuration, as TOML text."""
    lines = [f"# effective configuration (from {cfg.source}, with command-line overrides)"]
    for section, values in cfg.as_dict().items():
        lines.append(f"\n[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
