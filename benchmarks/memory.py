"""Peak memory of this process since it started its program.

`ru_maxrss` is no good for that on Linux: a process started by fork + exec keeps the peak of
the process it was forked from, so a benchmark run after a big one reports the big one's peak.
The kernel's high-water mark of the current address space (VmHWM) starts afresh at exec."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
