"""The one path for messages to the user (the progress line is lipreader.progress).

`say`: what a command reports, on stdout (fetched videos, epochs, summaries).
`note`: remarks beside it, on stderr (notices, warnings, retries), so a report piped
elsewhere stays clean. Inside `quiet()` both print nothing: a process of several under
torchrun that is not the first, or a fetch that `read` runs on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

_quiet = 0


def say(message: str = "", end: str = "\n") -> None:
    """A line of the command's own output, on stdout."""
    if not _quiet:
        click.echo(message + end, nl=False)


def note(message: str) -> None:
    """A remark beside the output, on stderr."""
    if not _quiet:
        click.echo(message, err=True)


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """`say` and `note` print nothing within (when `on`)."""
    global _quiet
    _quiet += on
    try:
        yield
    finally:
        _quiet -= on
