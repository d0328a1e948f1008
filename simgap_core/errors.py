"""Exception types and the record of a skipped input record.

Every message names the file and, where there is one, the line or record and the field, so a
user can open the file and fix it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


class SimgapError(Exception):
    """Base class of every error simgap raises on purpose."""


class InputError(SimgapError):
    """A problem with an input file that stops it from loading at all."""

    def __init__(
        self,
        file: str | Path,
        reason: str,
        *,
        record: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file)
        self.record = record
        self.field = field
        self.reason = reason
        super().__init__(format_location(self.file, record, field) + ": " + reason)


class MissingFileError(InputError):
    """The path does not exist or is not a regular file."""


class EmptyFileError(InputError):
    """The file holds no bytes, or only white space."""


class BinaryFileError(InputError):
    """The file is not text (NUL bytes, or a format nobody writes transcripts in)."""


class EncodingError(InputError):
    """The file is not valid UTF-8."""


class UnknownFormatError(InputError):
    """The format could not be sniffed, or the named format does not exist."""


class FileTooLargeError(InputError):
    """The file is larger than the limit for a file that must be read whole."""


class NoConversationsError(InputError):
    """The file parsed, but not one of its records gave a usable conversation."""


class EmptySourceError(SimgapError):
    """A source named for an analysis has no conversations."""


class RunDirectoryError(SimgapError):
    """A run directory is missing, incomplete or from an incompatible version."""


def format_location(file: str, record: int | str | None = None, field: str | None = None) -> str:
    """`file`, `file, record 3` or `file, line 3, field 'messages'`: one place, for messages."""
    where = file
    if record is not None:
        where += f", {record}" if isinstance(record, str) else f", record {record}"
    if field is not None:
        where += f", field '{field}'"
    return where


@dataclass(frozen=True)
class SkippedRecord:
    """A record that was not loaded, and why. `record` is "line N" for line-based files."""

    file: str
    record: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}, {self.record}: {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
