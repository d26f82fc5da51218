"""Several training processes under torchrun: who this process is, and what they share.

With one process (no torchrun) every function here is a no-op, and torch.distributed is
never imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The process that prints and writes files."""
        return self.rank == 0


SINGLE = Dist()  # the only process: no torchrun


def init(device_name: str) -> Dist:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; then one process per GPU joins the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), local)


def all_sum(values: list[float], d: Dist, device) -> list[float]:
    """Each value summed over the processes."""
    if d.world == 1:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj: Any, d: Dist) -> list[Any]:
    """Every process's `obj`, in rank order."""
    if d.world == 1:
        return [obj]
    import torch.distributed as dist

    parts: list = [None] * d.world
    dist.all_gather_object(parts, obj)
    return parts


def barrier(d: Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        dist.barrier()


def finish(d: Dist) -> None:
    """Leave the process group."""
    if d.world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
