"""Long tables: one turn a row, `conversation_id, turn, role, text` (+ `source`, `pair_id`,
`task`, `intent`, `language`), as CSV, TSV (gzipped or not) or Parquet.

CSV is parsed strictly: a quote that opens a field and never closes properly would swallow the
rows after it into one cell; instead that row is skipped with its line and the reader starts
again on the next line, so every other row is kept. Parquet text columns of binary type (as
Spark writes strings) are decoded as UTF-8; list or struct columns are refused per file.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa

from simgap_core.errors import UnknownFormatError
from simgap_core.io import reading
from simgap_core.io.reading import Head, content_suffix, parquet_schema, read_document_text
from simgap_core.io.records import RecordContext, SkipRecord, normalise_role, require_user
from simgap_core.io.registry import (
    SNIFF_RECORDS,
    Collector,
    FileFormat,
    record_format_of,
    register,
)
from simgap_core.model import Conversation

COLUMNS = ("conversation_id", "turn", "role", "text")
OPTIONAL_COLUMNS = ("source", "pair_id", "task", "intent", "language")

_Row = tuple[str, list[object]]


def check_column_map(column_map: Mapping[str, str] | None) -> None:
    """A mapping onto a name that is not a table column is a mistake the user must hear of."""
    known = COLUMNS + OPTIONAL_COLUMNS
    for theirs, ours in (column_map or {}).items():
        if ours not in known:
            raise ValueError(
                f"column_map maps {theirs!r} onto {ours!r}, which is not a table column; "
                f"known: {', '.join(known)}"
            )


def _columns(path: Path, header: list[str], column_map: Mapping[str, str]) -> list[str]:
    """The header renamed by `column_map`; a table without the needed columns is no transcript."""
    columns = [column_map.get(name, name) for name in header]
    missing = [name for name in COLUMNS if name not in columns]
    if missing:
        raise UnknownFormatError(
            path,
            f"is a table with columns {header} but not a conversation table: it lacks "
            f"{', '.join(missing)} (a conversation table needs {', '.join(COLUMNS)}; "
            "map other column names onto them with column_map)",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise UnknownFormatError(path, f"more than one column is named {repeated[0]!r}")
    return columns


def detect(path: Path, head: Head, column_map: Mapping[str, str]) -> bool:
    suffix = content_suffix(path)
    if head.parquet:
        names = parquet_schema(path).names
        mapped = {column_map.get(name, name) for name in names}
        if not mapped.issuperset(COLUMNS) and _rows_are_records(path):
            return False  # one conversation a row (WildChat, LMSYS shards), or no row at all
        _columns(path, names, column_map)
        return True
    if suffix in reading.PARQUET_SUFFIXES:
        raise UnknownFormatError(path, "has a Parquet extension but is not a Parquet file")
    if suffix in reading.TABLE_SUFFIXES:
        delimiter = reading.TABLE_SUFFIXES[suffix]
        try:
            header = next(csv.reader(_lines(head.text())[:1], delimiter=delimiter), [])
        except csv.Error as exc:
            raise UnknownFormatError(path, f"its header line is not valid CSV ({exc})") from exc
        _columns(path, header, column_map)
        return True
    return False


def _rows_are_records(path: Path) -> bool:
    """True when one of the first rows of a Parquet file has a record format's shape (a nested
    `conversation` column beside a `conversation_id` column is LMSYS-Chat-1M, not a long
    table), or when it has no row (the record sniffer then says it holds no records).

    Only the first `registry.SNIFF_RECORDS` rows are read, so a large shard is not read whole.
    """
    with contextlib.closing(reading.iter_parquet_rows(path)) as rows:
        first = list(itertools.islice(rows, SNIFF_RECORDS))
    return not first or any(
        row.problem is None and record_format_of(row.value) is not None for row in first
    )


def _check_parquet_types(path: Path, columns: list[str], schema: pa.Schema) -> None:
    for name, ours in zip(schema.names, columns, strict=True):
        kind = schema.field(name).type
        if ours in COLUMNS + OPTIONAL_COLUMNS and pa.types.is_nested(kind):
            raise UnknownFormatError(
                path,
                f"column {name!r} is of type {kind}, not text: a conversation table holds one "
                "turn a row with a text (or integer) value in each column",
                field=name,
            )


def _parquet_rows(path: Path, column_map: Mapping[str, str]) -> tuple[list[str], Iterator[_Row]]:
    """The table's own columns only: another column (a timestamp, a nested score) is never
    read, so it can neither slow the load nor fail it."""
    schema = parquet_schema(path)
    columns = _columns(path, schema.names, column_map)
    _check_parquet_types(path, columns, schema)
    known = COLUMNS + OPTIONAL_COLUMNS
    used = [name for name, ours in zip(schema.names, columns, strict=True) if ours in known]

    def rows() -> Iterator[_Row]:
        import pyarrow.parquet as pq

        try:
            number = 0
            batches = pq.ParquetFile(path).iter_batches(
                batch_size=reading.PARQUET_BATCH_ROWS, columns=used
            )
            for batch in batches:
                values = [reading.column_values(column) for column in batch.columns]
                for index in range(batch.num_rows):
                    number += 1
                    yield f"row {number}", [column[index] for column in values]
        except (pa.ArrowException, OSError) as exc:
            raise UnknownFormatError(path, f"is not a readable Parquet file ({exc})") from exc

    return [column_map.get(name, name) for name in used], rows()


def _csv_rows(
    path: Path, head: Head, column_map: Mapping[str, str], collector: Collector
) -> tuple[list[str], list[_Row]]:
    """Rows of a CSV/TSV, each with its first line; a row that breaks the quoting rules is
    skipped with its line and reading resumes on the line after it."""
    delimiter = reading.TABLE_SUFFIXES.get(content_suffix(path), ",")
    # Turns longer than csv's default 128 KB field limit are real (pasted logs, documents).
    csv.field_size_limit(max(csv.field_size_limit(), reading.MAX_LINE_BYTES))
    lines = _lines(read_document_text(path, head))
    try:
        header = next(csv.reader(lines[:1], delimiter=delimiter), [])
    except csv.Error as exc:
        raise UnknownFormatError(path, f"its header line is not valid CSV ({exc})") from exc
    columns = _columns(path, header, column_map)
    rows: list[_Row] = []
    start = 1  # index into `lines` of the next row's first line
    while start < len(lines):
        reader = csv.reader(iter(lines[start:]), delimiter=delimiter, strict=True)
        consumed = 0
        try:
            for row in reader:
                first_line = start + consumed + 1
                previous, consumed = consumed, reader.line_num
                where = f"line {first_line}"
                if not any(cell.strip() for cell in row):
                    continue
                swallowed = _swallowed_row(
                    lines[start + previous + 1 : start + consumed], columns, delimiter
                )
                if swallowed is not None:
                    collector.skip(
                        where,
                        f"a quoted field runs over {consumed - previous} lines and line "
                        f"{start + previous + 2 + swallowed} inside it reads as a row of its "
                        "own: a stray quote would merge rows; the row is skipped and reading "
                        "goes on at the next line",
                    )
                    raise _Restart(first_line)
                if len(row) != len(columns):
                    collector.skip(
                        where, f"the row has {len(row)} fields but the header has {len(columns)}"
                    )
                    continue
                rows.append((where, list(row)))
            start = len(lines)
        except _Restart as restart:
            start = restart.line  # index of the line after the bad row's first line
        except csv.Error as exc:
            bad_line = start + consumed + 1
            collector.skip(
                f"line {bad_line}",
                f"the row breaks the CSV quoting rules ({exc}): a quote opens a field that does "
                "not close before the next delimiter or line end; the row is skipped and "
                "reading goes on at the next line",
            )
            start = bad_line  # index of the line after the bad row's first line
    return columns, rows


class _Restart(Exception):  # noqa: N818  (control flow, not an error)
    """Resume reading at `line` (an index into the file's lines)."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _swallowed_row(continuation: list[str], columns: list[str], delimiter: str) -> int | None:
    """The index in `continuation` (the 2nd, 3rd, ... physical lines of one multi-line row) of
    the first line that parses on its own as a full row of this table (every field, an integer
    turn and a known role), or None. Text with line breaks in a quoted cell is normal; a line
    inside it that looks exactly like a row means a stray quote swallowed the rows after it."""
    turn, role = columns.index("turn"), columns.index("role")
    for index, line in enumerate(continuation):
        try:
            [fields] = list(csv.reader([line], delimiter=delimiter, strict=True)) or [[]]
        except (csv.Error, ValueError):
            continue
        if len(fields) != len(columns) or not fields[turn].strip().lstrip("-").isdigit():
            continue
        try:
            normalise_role(fields[role], "role")
        except SkipRecord:
            continue
        return index
    return None


def _lines(text: str) -> list[str]:
    """Physical lines, ending at "\n" (or at "\r" in a file that has no "\n" at all): a bare
    "\r" inside a quoted cell stays in its line, where the csv reader keeps it as text."""
    separator = "\n" if "\n" in text or "\r" not in text else "\r"
    return [line for line in re.split(f"(?<={separator})", text) if line]


def _cell(value: object, name: str, where: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, reading.Unreadable):
        raise SkipRecord(f"field '{name}' at {where} {value.reason}")
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SkipRecord(
                f"field '{name}' at {where} is binary data that is not UTF-8 text "
                f"(byte 0x{value[exc.start]:02x} at byte {exc.start + 1})"
            ) from exc
    if isinstance(value, list | dict):
        raise SkipRecord(f"field '{name}' at {where} is a {type(value).__name__}, expected text")
    return str(value)


def _turn_number(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _cell(value, "turn", where).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise SkipRecord(f"field 'turn' is {text!r} at {where}, expected an integer")
    return int(number)


def collect(
    path: Path,
    head: Head,
    context: RecordContext,
    column_map: Mapping[str, str],
    collector: Collector,
) -> None:
    if head.parquet:
        columns, rows = _parquet_rows(path, column_map)
    else:
        columns, rows = _csv_rows(path, head, column_map, collector)
    index = {name: position for position, name in enumerate(columns)}
    groups: dict[tuple[str, str], list[_Row]] = {}
    for where, values in rows:
        try:
            conversation_id = _cell(values[index["conversation_id"]], "conversation_id", where)
            source = _cell(values[index["source"]], "source", where) if "source" in index else ""
        except SkipRecord as exc:
            collector.skip(where, str(exc))
            continue
        if not conversation_id.strip():
            collector.skip(where, "field 'conversation_id' is empty")
            continue
        # Ids are kept exactly as written: `c1` and ` c1 ` are two conversations. Sources are
        # stripped later, so two that differ only in white space meet in `Collector.add`,
        # which lists the second as a duplicate rather than merging their rows.
        groups.setdefault((source, conversation_id), []).append((where, values))
    for (source, conversation_id), group in groups.items():
        first_where = group[0][0]
        try:
            conversation = _conversation(conversation_id, source, group, index, context)
        except SkipRecord as exc:
            collector.skip(first_where, f"conversation {conversation_id!r}: {exc}")
            continue
        collector.add([conversation], first_where)


def _conversation(
    conversation_id: str,
    source: str,
    group: list[_Row],
    index: dict[str, int],
    context: RecordContext,
) -> Conversation:
    numbered: list[tuple[int, str, str, str]] = []
    for where, values in group:
        turn = _turn_number(values[index["turn"]], where)
        role = normalise_role(_cell(values[index["role"]], "role", where), "role", at=where)
        numbered.append((turn, where, role, _cell(values[index["text"]], "text", where)))
    numbered.sort(key=lambda row: row[0])
    for (turn, first, _, _), (next_turn, second, _, _) in zip(numbered, numbered[1:], strict=False):
        if turn == next_turn:
            raise SkipRecord(f"field 'turn': turn {turn} appears twice ({first} and {second})")
    turns = [(role, text) for _, _, role, text in numbered]
    require_user(turns, "role")
    metadata = {}
    for name in ("pair_id", "task", "intent", "language"):
        if name not in index:
            metadata[name] = None
            continue
        values = list(
            dict.fromkeys(v for where, row in group if (v := _cell(row[index[name]], name, where)))
        )
        if len(values) > 1:
            raise SkipRecord(f"field '{name}' differs within the conversation: {values[:3]}")
        metadata[name] = values[0] if values else None
    return Conversation(
        original_id=conversation_id,
        source=context.source or source.strip() or context.stem,
        turns=turns,
        **metadata,
    )


register(
    FileFormat(
        "table",
        hint="a CSV/TSV/Parquet table with conversation_id, turn, role, text (table)",
        detect=detect,
        collect=collect,
        priority=10,
    )
)
