"""[general] device -> the torch device that training and reading run on."""

from __future__ import annotations

from lipreader.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0):
    """auto: CUDA (GPU `local_rank`) when torch sees one, else the CPU."""
    import torch

    if name not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"[general] device must be auto, cuda or cpu, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA GPU is visible to torch; use --device cpu (or auto)")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)
