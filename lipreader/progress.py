"""The one progress display: a line on stderr, redrawn in place on a terminal,
printed every few seconds otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, desc: str, unit: str = "it", stream=None,
                 enabled: bool = True, min_interval: float | None = None):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval if min_interval is not None else (0.2 if self.tty else 5.0)
        self.start = time.perf_counter()
        self._last = float("-inf")  # the first update is always shown
        self._drawn: tuple[int, str] | None = None  # (count, postfix) of the last line printed
        self.postfix = ""

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.n += n
        if postfix is not None:
            self.postfix = postfix
        now = time.perf_counter()
        if now - self._last >= self.min_interval:
            self._last = now
            self._draw()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        pct = f" {100 * self.n / self.total:3.0f}%" if self.total else ""
        tail = f" {self.postfix}" if self.postfix else ""
        return f"{self.desc}:{pct} {count} {self.unit} [{elapsed:.0f}s, {rate:.1f} {self.unit}/s]{tail}"

    def _draw(self, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + self._line() + ("\n" if final else ""))
        elif final and self._drawn == (self.n, self.postfix):
            return  # the last line printed already says this; a log gets each line once
        else:
            self.stream.write(self._line() + "\n")
        self._drawn = (self.n, self.postfix)
        self.stream.flush()

    def close(self) -> None:
        self._draw(final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

