"""The format registry: every input format is one module in `simgap_core/io/formats/`.

A module registers either a `RecordFormat` (one conversation record per JSON value or Parquet
row: it says whether a record has its shape and turns one record into conversations) or a
`FileFormat` (a file read as a whole, such as a long table). Sniffing asks the file formats
first, then the record formats in `priority` order, so adding a format never edits a list
elsewhere: `formats()` imports every module of the package once.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from simgap_core.errors import EncodingError, NoConversationsError, SkippedRecord
from simgap_core.io.reading import Head
from simgap_core.io.records import RecordContext
from simgap_core.model import Conversation, Corpus, Repair

# How many records (lines, rows, values) sniffing looks at before giving up on a file's shape.
SNIFF_RECORDS = 50

RecordParser = Callable[[dict, RecordContext, int], list[Conversation]]


@dataclass(frozen=True)
class RecordFormat:
    """A format with one conversation record per JSON value (JSONL, JSON list) or Parquet row.

    `detect(record)` is True when a decoded record has this format's shape (cheap: keys only).
    `parse(record, context, number)` returns the record's conversations (several for paired
    files) or raises `records.SkipRecord` with a reason naming the field. `hint` tells a user
    what the sniffer looks for; `priority` orders sniffing (lower first) where shapes overlap.
    """

    name: str
    hint: str
    detect: Callable[[dict], bool]
    parse: RecordParser
    priority: int = 50


@dataclass(frozen=True)
class FileFormat:
    """A format read as a whole file.

    `detect(path, head, column_map)` is True when the file is of this format (it may raise an
    `InputError` for a file that is plainly meant to be one but cannot be, e.g. a CSV without
    the needed columns); `collect(path, head, context, column_map, collector)` adds every
    conversation and skipped record to `collector`.
    """

    name: str
    hint: str
    detect: Callable[[Path, Head, Mapping[str, str]], bool]
    collect: Callable[[Path, Head, RecordContext, Mapping[str, str], Collector], None]
    priority: int = 50


Format = RecordFormat | FileFormat

_REGISTRY: dict[str, Format] = {}
_DISCOVERED = False


def register(fmt: Format) -> Format:
    """Add a format (called at import by each module in `simgap_core/io/formats/`)."""
    if fmt.name in _REGISTRY and _REGISTRY[fmt.name] != fmt:
        raise ValueError(f"a format named {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt
    return fmt


def formats() -> list[Format]:
    """Every registered format, in sniffing order (file formats first, then by priority)."""
    _discover()
    return sorted(
        _REGISTRY.values(),
        key=lambda f: (isinstance(f, RecordFormat), f.priority, f.name),
    )


def names() -> tuple[str, ...]:
    return tuple(f.name for f in formats())


def get(name: str) -> Format | None:
    _discover()
    return _REGISTRY.get(name)


def record_format_of(record: object) -> str | None:
    """The first record format (by priority) whose shape `record` has, or None."""
    if not isinstance(record, dict):
        return None
    for fmt in formats():
        if isinstance(fmt, RecordFormat) and fmt.detect(record):
            return fmt.name
    return None


def hints() -> str:
    return ", ".join(f.hint for f in formats())


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    from simgap_core.io import formats as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


class Collector:
    """Conversations, skipped records and repairs of one file.

    A repeated id within the file is skipped with a reason naming the first place, never
    overwritten.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.conversations: list[Conversation] = []
        self.skipped: list[SkippedRecord] = []
        self.repairs: list[Repair] = []
        self._undecodable: list[SkippedRecord] = []
        self._seen: dict[str, str] = {}

    def skip(self, where: str, reason: str, *, undecodable: bool = False) -> None:
        self.skipped.append(SkippedRecord(self.file, where, reason))
        if undecodable:
            self._undecodable.append(self.skipped[-1])

    def repair(self, where: str, change: str) -> None:
        self.repairs.append(Repair(self.file, where, change))

    def add(self, conversations: list[Conversation], where: str) -> bool:
        """Keep the conversations of one record; False (and a skip entry) on a repeated id."""
        for conversation in conversations:
            first = self._seen.get(conversation.conversation_id)
            if first is not None:
                self.skip(
                    where,
                    f"duplicate id {conversation.original_id!r} in source "
                    f"{conversation.source!r}: {first} has the same id",
                )
                return False
        for conversation in conversations:
            conversation.file = self.file
            conversation.record = where
            self._seen[conversation.conversation_id] = where
        self.conversations.extend(conversations)
        return True

    def corpus(self) -> Corpus:
        if self.conversations:
            return Corpus.from_conversations(self.conversations, self.skipped, self.repairs)
        if self.skipped and len(self._undecodable) == len(self.skipped):
            first = self._undecodable[0]
            raise EncodingError(self.file, first.reason, record=first.record)
        if not self.skipped:
            raise NoConversationsError(self.file, "holds no records")
        examples = "; ".join(f"{s.record}: {s.reason}" for s in self.skipped[:3])
        more = f"; and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
        raise NoConversationsError(
            self.file,
            f"none of its {len(self.skipped)} records gave a conversation: {examples}{more}",
        )
