"""options.toml -> frozen dataclasses.

Every key has a default here and a one-line comment in the repository's options.toml.
Unknown keys are rejected with the closest valid key; wrong types name the expected type.
Command-line flags override file values through `Config.override`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from lipreader.errors import ConfigError

DEFAULT_FILE = "options.toml"


@dataclass(frozen=True)
class General:
    pretrainedmodelpath: str = "data/models/lipreader.pt"
    videos: str = "data/videos"
    dataset: str = "data/dataset"
    device: str = "auto"
    seed: int = 0


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


@dataclass(frozen=True)
class Build:
    words: int = 500
    vocab: str = ""
    min_count: int = 1
    min_length: int = 1
    stopwords: bool = False
    max_per_word: int = 0
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    frames: int = 29
    padding: int = 3
    min_face_fraction: float = 0.9
    min_face_size: float = 40.0
    max_yaw: float = 45.0
    allow_estimated: bool = False
    mesh_every: int = 1
    workers: int = 0


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
    input_size: int = 88
    time_mask: int = 6
    workers: int = 0
    compile: bool = False


@dataclass(frozen=True)
class Validation:
    folder: str = "val"
    accuracyfilelocation: str = "data/models/accuracy.txt"


@dataclass(frozen=True)
class Prediction:
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

    def override(self, section: str, **values: Any) -> Config:
        """A copy with `values` (the command-line flags) replacing the section's keys; None means 'not given'."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        current = getattr(self, section)
        checked = {k: _check_value(v, _hints(type(current))[k], f"--{k.replace('_', '-')}", section, k)
                   for k, v in given.items()}
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **checked)})

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {f.name: dataclasses.asdict(getattr(self, f.name)) for f in fields(self) if f.name != "source"}


SECTIONS = {f.name: f.default_factory for f in fields(Config) if f.name != "source"}  # type: ignore[misc]


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


def parse(data: dict[str, Any], where: str = "options.toml") -> Config:
    sections: dict[str, Any] = {}
    for name, values in data.items():
        if name not in SECTIONS:
            raise ConfigError(f"{where}: unknown section [{name}]{_suggest(name, list(SECTIONS))}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: [{name}] must be a table of keys")
        cls = type(SECTIONS[name]())
        hints = _hints(cls)
        checked = {}
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"{where}: unknown key '{key}' in [{name}]{_suggest(key, list(hints))}")
            checked[key] = _check_value(value, hints[key], where, name, key)
        sections[name] = cls(**checked)
    return Config(**sections, source=where)


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
