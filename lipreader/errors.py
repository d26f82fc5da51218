"""The project's error family.

A `LipreaderError` is a user's mistake or bad input: the CLI prints its message as one
line and exits non-zero. Anything else is a bug and crashes loudly.
"""


class LipreaderError(Exception):
    """A problem the user can fix; the message says what, where, and what to do."""


class ConfigError(LipreaderError):
    """options.toml or a command-line value is wrong."""


class InputError(LipreaderError):
    """A file, folder, URL or checkpoint given to a command cannot be used."""


class Busy(LipreaderError):
    """Another lipreader run is writing the same folder or model."""


class SkipVideo(LipreaderError):
    """One video cannot go through a stage; the batch records `reason` and goes on."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class DiskFull(LipreaderError):
    """A write ran out of disk space or quota; the batch stops (every later write would fail too)."""

    def __init__(self, path: object):
        super().__init__(f"{path}: the disk is full (or over quota); free some space and run again "
                         "(nothing half-written was left)")


class Throttled(LipreaderError):
    """The site rate-limits (HTTP 429) or asks for a bot check, even after waiting; the batch
    stops rather than hammering it (`reason` is the one-line cause)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
