"""Loaders: transcript files in the formats people publish them in -> one `Corpus`.

`load_file` sniffs the format (or takes it by name) through the format registry, streams the
records, and returns a `Corpus` whose `skipped` list names every record it could not use and
why, and whose `repairs` list names every record loaded after a change (a lone surrogate
replaced). A file that cannot be read at all raises an `InputError` subclass naming the file,
the line or record and the field. The formats themselves live in `simgap_core/io/formats/`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path

from simgap_core.errors import (
    EncodingError,
    InputError,
    SkippedRecord,
    UnknownFormatError,
)
from simgap_core.io import reading, registry
from simgap_core.io.formats.table import COLUMNS as TABLE_COLUMNS
from simgap_core.io.formats.table import OPTIONAL_COLUMNS as TABLE_OPTIONAL_COLUMNS
from simgap_core.io.formats.table import check_column_map
from simgap_core.io.reading import Head, RawRecord
from simgap_core.io.records import RecordContext, SkipRecord, kind
from simgap_core.io.registry import Collector, FileFormat, RecordFormat
from simgap_core.model import Corpus

FORMATS = registry.names()

SNIFF_LINES = registry.SNIFF_RECORDS

__all__ = [
    "FORMATS",
    "TABLE_COLUMNS",
    "TABLE_OPTIONAL_COLUMNS",
    "load_file",
    "load_paths",
    "sniff_format",
]


def sniff_format(path: str | Path, *, column_map: Mapping[str, str] | None = None) -> str:
    """The format of `path`, from its extension and its first records (never the whole file).

    `column_map` (the user's column name -> a table column name) is used to check a table's
    header. Raises `UnknownFormatError` naming the file and what was seen.
    """
    path = Path(path)
    return _sniff(path, reading.read_head(path), column_map or {})


def load_file(
    path: str | Path,
    *,
    format: str | None = None,
    source: str | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Corpus:
    """Load one transcript file; `format` is sniffed when None.

    `source` names the population (default: a table's `source` column, else the file stem; for
    paired files it names the simulated side, the other being "real"). `column_map` renames a
    table's columns onto `TABLE_COLUMNS` / `TABLE_OPTIONAL_COLUMNS`; other formats ignore it.
    """
    path = Path(path)
    if format is not None and registry.get(format) is None:
        known = ", ".join(registry.names())
        raise UnknownFormatError(path, f"unknown format {format!r}; known: {known}")
    if source is not None and not source.strip():
        raise ValueError("source must be a non-empty name")
    check_column_map(column_map)
    head = reading.read_head(path)
    chosen = format or _sniff(path, head, column_map or {})
    if chosen == "paired" and source == "real":
        raise InputError(
            path,
            "a paired file holds a real and a simulated conversation per record; its real side "
            "is always 'real', so name the simulated side instead (--sim NAME=PATH, or "
            "--source NAME)",
        )
    context = RecordContext(file=str(path), stem=reading.stem(path), source=source)
    collector = Collector(context.file)
    fmt = registry.get(chosen)
    if isinstance(fmt, FileFormat):
        fmt.collect(path, head, context, column_map or {}, collector)
    else:
        assert isinstance(fmt, RecordFormat)
        _collect_records(reading.iter_records(path, head), fmt, context, collector)
    return collector.corpus()


def load_paths(
    paths: Iterable[str | Path],
    *,
    format: str | None = None,
    source: str | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Corpus:
    """Load several files into one corpus; their skipped lists are merged.

    A conversation id already loaded from an earlier file of the same source is skipped with
    the reason naming the earlier file and record, never silently overwritten.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no paths given")
    corpora = [load_file(p, format=format, source=source, column_map=column_map) for p in paths]
    return drop_repeated_ids(corpora)


def drop_repeated_ids(corpora: list[Corpus]) -> Corpus:
    """Join corpora; a conversation id seen in an earlier corpus is skipped with a reason."""
    kept: list[Corpus] = []
    seen: dict[str, str] = {}
    for corpus in corpora:
        rows = corpus.conversations
        location = rows["file"] + ", " + rows["record"]
        repeated = rows["conversation_id"].isin(list(seen))
        extra_skipped = [
            SkippedRecord(
                file,
                record,
                f"duplicate id {original!r} in source {src!r}: {seen[cid]} has the same id",
            )
            for cid, original, src, file, record in zip(
                rows["conversation_id"][repeated],
                rows["original_id"][repeated],
                rows["source"][repeated],
                rows["file"][repeated],
                rows["record"][repeated],
                strict=True,
            )
        ]
        if extra_skipped:
            corpus = corpus.subset(rows["conversation_id"][~repeated])
            corpus.skipped.extend(extra_skipped)
        seen.update(zip(rows["conversation_id"][~repeated], location[~repeated], strict=True))
        kept.append(corpus)
    return Corpus.concat(kept)


# --- sniffing -------------------------------------------------------------------------------


def _sniff(path: Path, head: Head, column_map: Mapping[str, str]) -> str:
    for fmt in registry.formats():
        if isinstance(fmt, FileFormat) and fmt.detect(path, head, column_map):
            return fmt.name
    kind_ = reading.container(path, head)
    if kind_ == "document":
        first = reading.first_document_value(path, head)
        found = registry.record_format_of(first.value)
        if found is None:
            raise UnknownFormatError(
                path, f"{first.where} {_describe(first.value)}; expected {registry.hints()}"
            )
        return found
    with contextlib.closing(reading.iter_records(path, head)) as records:
        first_seen = next(records, None)
        if first_seen is None:
            raise UnknownFormatError(path, "holds no records")
        for record in itertools.chain([first_seen], itertools.islice(records, SNIFF_LINES - 1)):
            if record.problem is None and (found := registry.record_format_of(record.value)):
                return found
    if first_seen.undecodable:
        raise EncodingError(path, first_seen.problem or "", record=first_seen.where)
    seen = first_seen.problem or _describe(first_seen.value)
    unit = "rows" if kind_ == "parquet" else "lines"
    raise UnknownFormatError(
        path,
        f"no record in the first {SNIFF_LINES} {unit} has a known shape: {first_seen.where} "
        f"{seen}; expected {registry.hints()}",
    )


def _describe(value: object) -> str:
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(repr(k) for k in keys[:12]) + (", ..." if len(keys) > 12 else "")
        return f"has keys [{shown}]"
    return f"is {kind(value)}"


# --- collecting conversations ---------------------------------------------------------------


def _collect_records(
    records: Iterable[RawRecord], fmt: RecordFormat, context: RecordContext, collector: Collector
) -> None:
    for record in records:
        if record.problem is not None:
            collector.skip(record.where, record.problem, undecodable=record.undecodable)
            continue
        if not isinstance(record.value, dict):
            collector.skip(record.where, f"the record is {kind(record.value)}, expected an object")
            continue
        try:
            conversations = fmt.parse(record.value, context, record.number)
        except SkipRecord as exc:
            collector.skip(record.where, "; ".join((*record.changes, str(exc))))
            continue
        if not collector.add(conversations, record.where):
            continue
        if record.repairs:
            collector.repair(
                record.where,
                f"{record.repairs} lone surrogate escape{'s' if record.repairs > 1 else ''} "
                "(half of a UTF-16 pair, e.g. \\ud83d) replaced by U+FFFD",
            )
        for change in record.changes:
            collector.repair(record.where, change)
