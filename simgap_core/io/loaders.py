"""Loaders: transcript files in the formats people publish them in -> one `Corpus`.

`load_file` sniffs the format (or takes it by name), streams the records, normalises roles to
`ROLES`, and returns a `Corpus` whose `skipped` list names every record it could not use and why.
A file that cannot be read at all raises an `InputError` subclass naming the file, the line or
record and the field. JSONL is read line by line; whole-document JSON and CSV are read at once,
under a size limit.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import itertools
import json
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from simgap_core.errors import (
    BinaryFileError,
    EmptyFileError,
    EncodingError,
    FileTooLargeError,
    InputError,
    MissingFileError,
    NoConversationsError,
    SkippedRecord,
    UnknownFormatError,
)
from simgap_core.model import Conversation, Corpus

FORMATS = ("openai", "sharegpt", "hh_rlhf", "taubench", "simulatorarena", "table", "paired")

TABLE_COLUMNS = ("conversation_id", "turn", "role", "text")
TABLE_OPTIONAL_COLUMNS = ("source", "pair_id", "task", "intent", "language")

# Generous enough for any real conversation; small enough that one corrupt line cannot exhaust
# memory. Module constants (read at call time) so tests can lower them.
MAX_LINE_BYTES = 50 * 1024 * 1024
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024

SNIFF_LINES = 50
_HEAD_BYTES = 64 * 1024
_BINARY_PROBE_BYTES = 1024
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_GZIP_ERRORS = (EOFError, OSError, zlib.error)

ROLE_ALIASES = {
    **dict.fromkeys(("user", "human", "prompter", "customer"), "user"),
    **dict.fromkeys(
        ("assistant", "gpt", "chatgpt", "bing", "bard", "bot", "model", "ai", "agent"),
        "assistant",
    ),
    # ShareGPT function-calling sets write the model's own call as a `function_call` turn.
    "function_call": "assistant",
    **dict.fromkeys(("system", "developer"), "system"),
    **dict.fromkeys(
        ("tool", "function", "observation", "ipython", "function_response", "tool_response"),
        "tool",
    ),
}

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg"}
_HH_MARKER = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


class _SkipRecord(Exception):
    """Raised inside a record parser; becomes a `SkippedRecord` with this reason."""


# --- public entry points ------------------------------------------------------------------


def sniff_format(path: str | Path, *, column_map: Mapping[str, str] | None = None) -> str:
    """The format of `path`, from its extension and its first record (never the whole file).

    `column_map` (the user's column name -> a `TABLE_COLUMNS` name) is used to check a table's
    header. Raises `UnknownFormatError` naming the file and what was seen.
    """
    path = Path(path)
    return _sniff(path, _read_head(path), column_map)


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
    if format is not None and format not in FORMATS:
        raise UnknownFormatError(path, f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if source is not None and not source.strip():
        raise ValueError("source must be a non-empty name")
    _check_column_map(column_map)
    head = _read_head(path)
    chosen = format or _sniff(path, head, column_map)
    if chosen == "paired" and source == "real":
        raise InputError(
            path,
            "a paired file holds a real and a simulated conversation per record; its real side "
            "is always 'real', so name the simulated side instead (--sim NAME=PATH, or "
            "--source NAME)",
        )
    context = _Context(file=str(path), stem=_stem(path), source=source)
    collector = _Collector(context.file)
    if chosen == "table":
        _collect_table(path, head, context, column_map or {}, collector)
    else:
        _collect_records(_iter_records(path, head), _PARSERS[chosen], context, collector)
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
    the reason, never silently overwritten.
    """
    paths = list(paths)
    if not paths:
        raise ValueError("no paths given")
    corpora: list[Corpus] = []
    seen: dict[str, str] = {}
    for path in paths:
        corpus = load_file(path, format=format, source=source, column_map=column_map)
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
        corpora.append(corpus)
    return Corpus.concat(corpora)


# --- opening files --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    """The first bytes of a file's content (gunzipped, UTF-8 BOM removed) and how to reopen it."""

    data: bytes
    gzipped: bool
    parquet: bool


def _read_head(path: Path) -> _Head:
    """Check that `path` is a non-empty text (or Parquet) file and return its first bytes."""
    if not path.exists():
        raise MissingFileError(path, "no such file")
    if not path.is_file():
        raise MissingFileError(path, "is not a regular file")
    if path.stat().st_size == 0:
        raise EmptyFileError(path, "the file is empty (0 bytes)")
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic == _PARQUET_MAGIC:
        return _Head(magic, gzipped=False, parquet=True)
    gzipped = magic.startswith(_GZIP_MAGIC)
    data, blank = b"", True
    with _open_binary(path, gzipped) as stream:
        try:
            # Small reads, so that a truncated gzip still shows the text before its break (the
            # record reader reports the break); a file of white space only is read to its end.
            while (len(data) < _HEAD_BYTES or blank) and (chunk := stream.read(4096)):
                if len(data) < _HEAD_BYTES:
                    data += chunk
                blank = blank and not chunk.strip()
        except _GZIP_ERRORS as exc:
            if not data.strip():
                raise BinaryFileError(
                    path, f"is gzip-compressed but does not decompress ({exc})"
                ) from exc
            blank = False
    if data.startswith(_UTF16_BOMS):
        raise EncodingError(
            path, "is UTF-16 text; simgap reads UTF-8 (convert it, e.g. with iconv)"
        )
    if b"\x00" in data[:_BINARY_PROBE_BYTES]:
        what = "its gzip content holds" if gzipped else "it holds"
        raise BinaryFileError(
            path, f"is a binary file, not text: {what} NUL bytes in the first 1 KB"
        )
    if blank:
        raise EmptyFileError(
            path, "decompresses to nothing but white space" if gzipped else "holds only white space"
        )
    return _Head(data.removeprefix(_UTF8_BOM), gzipped=gzipped, parquet=False)


def _open_binary(path: Path, gzipped: bool) -> IO[bytes]:
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _stem(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    return PurePosixPath(name).stem or name


def _content_suffix(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return PurePosixPath(name).suffix


def _read_document_text(path: Path, head: _Head) -> str:
    """The whole file as text, under `MAX_DOCUMENT_BYTES`; non-UTF-8 bytes are an error."""
    with _open_binary(path, head.gzipped) as stream:
        try:
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
        except _GZIP_ERRORS as exc:
            raise BinaryFileError(
                path, f"is gzip-compressed but does not decompress ({exc})"
            ) from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise FileTooLargeError(
            path,
            f"is over {MAX_DOCUMENT_BYTES:,} bytes, the limit for a file read whole; "
            "write it as JSONL (one record a line) so it can be streamed",
        )
    data = data.removeprefix(_UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise EncodingError(
            path,
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
            record=f"line {line}",
        ) from exc


# --- sniffing -------------------------------------------------------------------------------


def _record_format(record: object) -> str | None:
    """The format a single decoded record belongs to, or None."""
    if not isinstance(record, dict):
        return None
    if "real_messages" in record and "simulated_messages" in record:
        return "paired"
    if "traj" in record:
        return "taubench"
    if "user_queries" in record:
        return "simulatorarena"
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai"
    if "chosen" in record:
        return "hh_rlhf"
    for key in ("transcript", "text"):
        value = record.get(key)
        if isinstance(value, str) and _HH_MARKER.search("\n\n" + value.lstrip()):
            return "hh_rlhf"
    return None


_FORMAT_HINT = (
    "messages (openai), conversations (sharegpt), chosen or a Human:/Assistant: transcript "
    "(hh_rlhf), traj (taubench), user_queries (simulatorarena), real_messages + "
    "simulated_messages (paired)"
)


def _sniff(path: Path, head: _Head, column_map: Mapping[str, str] | None) -> str:
    suffix = _content_suffix(path)
    if head.parquet or suffix in _PARQUET_SUFFIXES:
        if not head.parquet:
            raise UnknownFormatError(path, "has a Parquet extension but is not a Parquet file")
        _table_columns(path, _parquet_schema_names(path), column_map or {})
        return "table"
    if suffix in _TABLE_SUFFIXES:
        header = next(csv.reader(io.StringIO(_head_text(head)), delimiter=_TABLE_SUFFIXES[suffix]))
        _table_columns(path, header, column_map or {})
        return "table"
    if _container(path, head) == "jsonl":
        return _sniff_jsonl(path, head)
    first = _first_document_record(path, head)
    found = _record_format(first.value)
    if found is None:
        raise UnknownFormatError(
            path, f"{first.where} {_describe(first.value)}; expected {_FORMAT_HINT}"
        )
    return found


def _head_text(head: _Head) -> str:
    return head.data.decode("utf-8", errors="replace")


def _container(path: Path, head: _Head) -> str:
    """ "jsonl" (one record a line) or "document" (one JSON value: a list of records, or one)."""
    text = _head_text(head).lstrip()
    if text.startswith("["):
        return "document"
    if text.startswith("{"):
        # A pretty-printed object opens with a line holding only "{"; a JSONL line never does.
        return "document" if text.split("\n", 1)[0].strip() == "{" else "jsonl"
    raise UnknownFormatError(
        path,
        f"starts with {text[:40]!r}, which is not a JSON object or list, and its extension "
        f"{_content_suffix(path)!r} is not .csv, .tsv or .parquet; known formats: "
        + ", ".join(FORMATS),
    )


def _sniff_jsonl(path: Path, head: _Head) -> str:
    with contextlib.closing(_iter_jsonl(path, head)) as records:
        # The head held non-blank text, so there is at least one record.
        first_seen = next(records)
        for record in itertools.chain([first_seen], itertools.islice(records, SNIFF_LINES - 1)):
            if record.problem is None and (found := _record_format(record.value)):
                return found
    if first_seen.undecodable:
        raise EncodingError(path, first_seen.problem or "", record=first_seen.where)
    seen = first_seen.problem or _describe(first_seen.value)
    raise UnknownFormatError(
        path,
        f"no record in the first {SNIFF_LINES} lines has a known shape: {first_seen.where} "
        f"{seen}; expected {_FORMAT_HINT}",
    )


def _describe(value: object) -> str:
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(repr(k) for k in keys[:12]) + (", ..." if len(keys) > 12 else "")
        return f"has keys [{shown}]"
    return f"is {_kind(value)}"


def _first_document_record(path: Path, head: _Head) -> _RawRecord:
    """Decode the first element of a JSON list (or the one object), reading as little as can be."""
    decoder = json.JSONDecoder()
    incremental = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    chunk_size = _HEAD_BYTES
    with _open_binary(path, head.gzipped) as stream:
        while True:
            chunk = stream.read(chunk_size)
            text += incremental.decode(chunk, final=not chunk)
            body = text.lstrip("\ufeff \t\r\n")
            start = 0
            if body.startswith("["):
                start = _skip_space(body, 1)
                if body[start : start + 1] == "]":
                    raise NoConversationsError(path, "the JSON list is empty: no records")
            try:
                value, _ = decoder.raw_decode(body, start)
                return _RawRecord("record 1", 1, value)
            except json.JSONDecodeError as exc:
                if not chunk or len(text) > MAX_DOCUMENT_BYTES:
                    raise UnknownFormatError(
                        path, f"record 1 is not valid JSON ({exc.msg}: line {exc.lineno})"
                    ) from exc
            except RecursionError as exc:
                raise UnknownFormatError(
                    path, "record 1 is JSON nested too deeply to read"
                ) from exc
            chunk_size *= 2


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


# --- reading records ------------------------------------------------------------------------


@dataclass(frozen=True)
class _RawRecord:
    """One record as read: its location, its decoded value, or the problem that stopped it."""

    where: str
    number: int
    value: object = None
    problem: str | None = None
    undecodable: bool = False


def _iter_records(path: Path, head: _Head) -> Iterator[_RawRecord]:
    if _container(path, head) == "jsonl":
        return _iter_jsonl(path, head)
    return _iter_document(path, head)


def _iter_jsonl(path: Path, head: _Head) -> Iterator[_RawRecord]:
    """Stream a JSONL file line by line; a bad line is a record with a problem, not an error."""
    limit = MAX_LINE_BYTES
    with _open_binary(path, head.gzipped) as stream:
        number = 0
        while True:
            try:
                line = stream.readline(limit + 1)
            except _GZIP_ERRORS as exc:
                yield _RawRecord(
                    f"line {number + 1}",
                    number + 1,
                    problem=f"the gzip stream breaks off here ({exc}): the file is truncated "
                    "and nothing after this point can be read",
                )
                return
            if not line:
                return
            number += 1
            where = f"line {number}"
            if number == 1:
                line = line.removeprefix(_UTF8_BOM)
            if len(line.rstrip(b"\r\n")) > limit:
                total = len(line) + _drain_line(stream, line)
                yield _RawRecord(
                    where,
                    number,
                    problem=f"the line is over {limit:,} bytes ({total:,} bytes); "
                    "skipped rather than held in memory",
                )
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield _RawRecord(
                    where,
                    number,
                    problem=f"not valid UTF-8: byte 0x{line[exc.start]:02x} at byte "
                    f"{exc.start + 1} of the line",
                    undecodable=True,
                )
                continue
            yield _decode_json_line(text, where, number)


def _drain_line(stream: IO[bytes], line: bytes) -> int:
    """Read past the rest of an over-long line without keeping it; return the bytes skipped."""
    skipped = 0
    while not line.endswith(b"\n"):
        line = stream.readline(1024 * 1024)
        if not line:
            break
        skipped += len(line)
    return skipped


def _decode_json_line(text: str, where: str, number: int) -> _RawRecord:
    try:
        return _RawRecord(where, number, json.loads(text))
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            problem = f"invalid JSON ({exc.msg}): the line ends before the record does (truncated)"
        else:
            problem = f"invalid JSON ({exc.msg}: character {exc.pos + 1})"
        return _RawRecord(where, number, problem=problem)
    except RecursionError:
        return _RawRecord(where, number, problem="the JSON is nested too deeply to read")


def _iter_document(path: Path, head: _Head) -> Iterator[_RawRecord]:
    """The records of a whole-document JSON file: each element of a list, or the one object.

    Elements are decoded one at a time so that a truncated list still yields every record
    before the point where it breaks.
    """
    text = _read_document_text(path, head)
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    is_list = text.startswith("[", position)
    if is_list:
        position = _skip_space(text, position + 1)
    number = 0
    while not (is_list and text.startswith("]", position)):
        number += 1
        where = f"record {number}"
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON ({exc.msg}: {_line_column(text, exc.pos)})"
            yield _RawRecord(where, number, problem=f"{problem}{_UNREADABLE_REST}")
            return
        except RecursionError:
            yield _RawRecord(
                where, number, problem=f"the JSON is nested too deeply{_UNREADABLE_REST}"
            )
            return
        yield _RawRecord(where, number, value)
        position = _skip_space(text, position)
        if not is_list:
            break
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            ending = "the file ends" if position >= len(text) else f"found {text[position]!r}"
            yield _RawRecord(
                f"record {number + 1}",
                number + 1,
                problem=f"expected ',' or ']' after record {number} at "
                f"{_line_column(text, position)} but {ending}{_UNREADABLE_REST}",
            )
            return
    position = _skip_space(text, position + 1 if is_list else position)
    if position < len(text):
        yield _RawRecord(
            f"record {number + 1}",
            number + 1,
            problem=f"text after the end of the JSON document at {_line_column(text, position)} "
            "is not read",
        )


_UNREADABLE_REST = "; the file may be truncated; nothing after this point can be read"


def _line_column(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


# --- collecting conversations ---------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    file: str
    stem: str
    source: str | None


class _Collector:
    """Conversations and skipped records of one file; a repeated id is skipped, not overwritten."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.conversations: list[Conversation] = []
        self.skipped: list[SkippedRecord] = []
        self._undecodable: list[SkippedRecord] = []
        self._seen: dict[str, str] = {}

    def skip(self, where: str, reason: str, *, undecodable: bool = False) -> None:
        self.skipped.append(SkippedRecord(self.file, where, reason))
        if undecodable:
            self._undecodable.append(self.skipped[-1])

    def add(self, conversations: list[Conversation], where: str) -> None:
        for conversation in conversations:
            first = self._seen.get(conversation.conversation_id)
            if first is not None:
                self.skip(
                    where,
                    f"duplicate id {conversation.original_id!r} in source "
                    f"{conversation.source!r}: {first} has the same id",
                )
                return
        for conversation in conversations:
            conversation.file = self.file
            conversation.record = where
            self._seen[conversation.conversation_id] = where
        self.conversations.extend(conversations)

    def corpus(self) -> Corpus:
        if self.conversations:
            return Corpus.from_conversations(self.conversations, self.skipped)
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


_Parser = Callable[[dict, _Context, int], list[Conversation]]


def _collect_records(
    records: Iterable[_RawRecord], parse: _Parser, context: _Context, collector: _Collector
) -> None:
    for record in records:
        if record.problem is not None:
            collector.skip(record.where, record.problem, undecodable=record.undecodable)
            continue
        if not isinstance(record.value, dict):
            collector.skip(record.where, f"the record is {_kind(record.value)}, expected an object")
            continue
        try:
            conversations = parse(record.value, context, record.number)
        except _SkipRecord as exc:
            collector.skip(record.where, str(exc))
            continue
        collector.add(conversations, record.where)


# --- field helpers --------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _wrong_type(field: str, value: object, expected: str) -> _SkipRecord:
    return _SkipRecord(f"field '{field}' is {_kind(value)}, expected {expected}")


def _required(record: dict, key: str) -> Any:
    if key not in record:
        raise _SkipRecord(f"field '{key}' is missing")
    return record[key]


def _optional_text(record: dict, key: str, field: str | None = None) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _wrong_type(field or key, value, "a string")


def _id_text(value: object, field: str) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        raise _SkipRecord(f"field '{field}' is empty")
    raise _wrong_type(field, value, "a string or an integer")


def _original_id(record: dict, context: _Context, number: int) -> str:
    """The record's id (`id`, `conversation_id`, or tau-bench's task_id + trial), else stem-N."""
    for key in ("id", "conversation_id"):
        if record.get(key) is not None:
            return _id_text(record[key], key)
    if record.get("task_id") is not None:
        task_id = _id_text(record["task_id"], "task_id")
        if record.get("trial") is None:
            return task_id
        return f"{task_id}-{_id_text(record['trial'], 'trial')}"
    return f"{context.stem}-{number}"


def _language(record: dict) -> str | None:
    for key in ("language", "lang"):
        if record.get(key) is not None:
            return _optional_text(record, key)
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        return _optional_text(metadata, "language", "metadata.language")
    return None


def _normalise_role(value: object, field: str, at: str = "") -> str:
    """One of `ROLES`; `at` adds a location (a table row) to the reason."""
    suffix = f" at {at}" if at else ""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _SkipRecord(f"field '{field}' is {'missing' if value is None else 'empty'}{suffix}")
    if not isinstance(value, str):
        raise _wrong_type(field, value, "a role name")
    role = ROLE_ALIASES.get(value.strip().lower())
    if role is None:
        raise _SkipRecord(
            f"field '{field}' has unknown role {value!r}{suffix} "
            "(expected user, assistant, system or tool, or an alias such as human, gpt, bot)"
        )
    return role


def _message_turns(
    messages: object,
    field: str,
    *,
    role_keys: tuple[str, ...] = ("role",),
    text_keys: tuple[str, ...] = ("content",),
) -> list[tuple[str, str]]:
    """(role, text) turns of a list of chat messages; any bad message skips the whole record."""
    if not isinstance(messages, list):
        raise _wrong_type(field, messages, "a list of messages")
    turns = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise _wrong_type(where, message, "an object")
        role_key = next((key for key in role_keys if key in message), role_keys[0])
        role = _normalise_role(message.get(role_key), f"{where}.{role_key}")
        turns.append((role, _message_text(message, where, text_keys)))
    return turns


def _message_text(message: dict, where: str, text_keys: tuple[str, ...]) -> str:
    """The message's text, with any tool calls written out so they stay readable."""
    text_key = next((key for key in text_keys if key in message), None)
    calls = _tool_call_lines(message, where)
    if text_key is None and not calls:
        raise _SkipRecord(f"field '{where}.{text_keys[0]}' is missing")
    text = _content_text(message.get(text_key) if text_key else None, f"{where}.{text_key}")
    return "\n".join(part for part in (text, *calls) if part)


def _tool_call_lines(message: dict, where: str) -> list[str]:
    functions: list[object] = []
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise _wrong_type(f"{where}.tool_calls", calls, "a list")
        for index, call in enumerate(calls):
            if not isinstance(call, dict):
                raise _wrong_type(f"{where}.tool_calls[{index}]", call, "an object")
            functions.append(call.get("function", call))
    legacy = message.get("function_call")
    if legacy is not None:
        functions.append(legacy)
    lines = []
    for function in functions:
        if not isinstance(function, dict):
            raise _wrong_type(f"{where}.tool_calls", function, "an object with a name")
        name = function.get("name") if isinstance(function.get("name"), str) else "(unnamed)"
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        lines.append(f"[tool call] {name} {(arguments or '').strip()}".rstrip())
    return lines


def _content_text(value: object, field: str) -> str:
    """A message content: a string, null (no text), or a list of parts (text, images, files)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_part_text(part, f"{field}[{i}]") for i, part in enumerate(value))
    raise _wrong_type(field, value, "a string")


def _part_text(part: object, field: str) -> str:
    if isinstance(part, str):
        return _attachment_text(part)
    if not isinstance(part, dict):
        raise _wrong_type(field, part, "a string or an object")
    if isinstance(part.get("text"), str):
        return part["text"]
    kind = str(part.get("type") or "attachment")
    target = part.get(kind, part.get("url", part.get("image_url")))
    if isinstance(target, dict):
        target = target.get("url", target.get("filename"))
    name = _attachment_name(target) if isinstance(target, str) else None
    label = "image" if "image" in kind else kind
    return f"[{label}: {name}]" if name else f"[{label}]"


def _attachment_name(target: str) -> str | None:
    if not target or target.startswith("data:"):
        return None
    return re.split(r"[/\\]", target.split("?", 1)[0].rstrip("/\\"))[-1] or None


def _attachment_text(text: str) -> str:
    """A bare file path inside a list-valued message is an attachment: say so, keep its name."""
    candidate = text.strip()
    if not candidate or any(c.isspace() for c in candidate) or not re.search(r"[/\\]", candidate):
        return text
    name = _attachment_name(candidate)
    suffix = PurePosixPath(name or "").suffix.lower()
    if not name or not suffix:
        return text
    return f"[image: {name}]" if suffix in _IMAGE_SUFFIXES else f"[file: {name}]"


def _require_user(turns: list[tuple[str, str]], field: str) -> None:
    users = [text for role, text in turns if role == "user"]
    if not users:
        roles = ", ".join(sorted({role for role, _ in turns})) or "none"
        raise _SkipRecord(f"no user turn in field '{field}' (roles present: {roles})")
    if not any(text.strip() for text in users):
        raise _SkipRecord(f"every user turn in field '{field}' is empty")


def _conversation(
    record: dict,
    context: _Context,
    number: int,
    turns: list[tuple[str, str]],
    **overrides: Any,
) -> Conversation:
    fields: dict[str, Any] = {
        "original_id": _original_id(record, context, number),
        "source": context.source or context.stem,
        "task": _optional_text(record, "task"),
        "intent": _optional_text(record, "intent"),
        "language": _language(record),
    }
    fields.update(overrides)
    return Conversation(turns=turns, **fields)


# --- the formats ----------------------------------------------------------------------------


def _parse_openai(record: dict, context: _Context, number: int) -> list[Conversation]:
    turns = _message_turns(_required(record, "messages"), "messages")
    _require_user(turns, "messages")
    return [_conversation(record, context, number, turns)]


def _parse_sharegpt(record: dict, context: _Context, number: int) -> list[Conversation]:
    turns = _message_turns(
        _required(record, "conversations"),
        "conversations",
        role_keys=("from", "role"),
        text_keys=("value", "content"),
    )
    _require_user(turns, "conversations")
    return [_conversation(record, context, number, turns)]


def _parse_hh_rlhf(record: dict, context: _Context, number: int) -> list[Conversation]:
    # The user turns of `chosen` and `rejected` are identical; `chosen` has the preferred replies.
    key = next((k for k in ("chosen", "transcript", "text") if k in record), None)
    if key is None:
        raise _SkipRecord(
            "field 'chosen' is missing (and there is no 'transcript' or 'text' field)"
        )
    transcript = record[key]
    if not isinstance(transcript, str):
        raise _wrong_type(key, transcript, "a Human:/Assistant: transcript string")
    turns = _hh_turns(transcript, key)
    _require_user(turns, key)
    return [_conversation(record, context, number, turns)]


def _hh_turns(transcript: str, field: str) -> list[tuple[str, str]]:
    body = transcript
    if body.lstrip().startswith(("Human:", "Assistant:")):
        body = "\n\n" + body.lstrip()
    parts = _HH_MARKER.split(body)
    if len(parts) == 1:
        raise _SkipRecord(f"field '{field}' holds no '\\n\\nHuman:' or '\\n\\nAssistant:' turn")
    if parts[0].strip():
        raise _SkipRecord(f"field '{field}' has text before its first Human:/Assistant: turn")
    return [
        (_HH_ROLES[speaker], text.strip())
        for speaker, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


def _parse_taubench(record: dict, context: _Context, number: int) -> list[Conversation]:
    turns = _message_turns(_required(record, "traj"), "traj")
    _require_user(turns, "traj")
    return [_conversation(record, context, number, turns, task=_tau_instruction(record))]


def _tau_instruction(record: dict) -> str | None:
    info = record.get("info")
    if info is None:
        return None
    if not isinstance(info, dict):
        raise _wrong_type("info", info, "an object")
    task = info.get("task")
    if task is None:
        return None
    if not isinstance(task, dict):
        raise _wrong_type("info.task", task, "an object")
    return _optional_text(task, "instruction", "info.task.instruction")


def _parse_simulatorarena(record: dict, context: _Context, number: int) -> list[Conversation]:
    queries = _required(record, "user_queries")
    if not isinstance(queries, list):
        raise _wrong_type("user_queries", queries, "a list")
    responses = record.get("ai_responses") or []
    if not isinstance(responses, list):
        raise _wrong_type("ai_responses", responses, "a list")
    turns = []
    # The two lists alternate, user first: query i is answered by response i.
    for index in range(max(len(queries), len(responses))):
        if index < len(queries):
            turns.append(("user", _content_text(queries[index], f"user_queries[{index}]")))
        if index < len(responses):
            turns.append(("assistant", _content_text(responses[index], f"ai_responses[{index}]")))
    _require_user(turns, "user_queries")
    return [_conversation(record, context, number, turns)]


def _parse_paired(record: dict, context: _Context, number: int) -> list[Conversation]:
    real = _message_turns(_required(record, "real_messages"), "real_messages")
    _require_user(real, "real_messages")
    simulated = _message_turns(_required(record, "simulated_messages"), "simulated_messages")
    _require_user(simulated, "simulated_messages")
    pair_id = _original_id(record, context, number)
    return [
        _conversation(record, context, number, real, source="real", pair_id=pair_id),
        _conversation(
            record,
            context,
            number,
            simulated,
            source=context.source or "simulated",
            pair_id=pair_id,
        ),
    ]


_PARSERS: dict[str, _Parser] = {
    "openai": _parse_openai,
    "sharegpt": _parse_sharegpt,
    "hh_rlhf": _parse_hh_rlhf,
    "taubench": _parse_taubench,
    "simulatorarena": _parse_simulatorarena,
    "paired": _parse_paired,
}


# --- long tables (CSV / Parquet) ------------------------------------------------------------


def _check_column_map(column_map: Mapping[str, str] | None) -> None:
    known = TABLE_COLUMNS + TABLE_OPTIONAL_COLUMNS
    for theirs, ours in (column_map or {}).items():
        if ours not in known:
            raise ValueError(
                f"column_map maps {theirs!r} onto {ours!r}, which is not a table column; "
                f"known: {', '.join(known)}"
            )


def _table_columns(path: Path, header: list[str], column_map: Mapping[str, str]) -> list[str]:
    """The header renamed by `column_map`; a table without the needed columns is no transcript."""
    columns = [column_map.get(name, name) for name in header]
    missing = [name for name in TABLE_COLUMNS if name not in columns]
    if missing:
        raise UnknownFormatError(
            path,
            f"is a table with columns {header} but not a conversation table: it lacks "
            f"{', '.join(missing)} (a conversation table needs {', '.join(TABLE_COLUMNS)}; "
            "map other column names onto them with column_map)",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise UnknownFormatError(path, f"more than one column is named {repeated[0]!r}")
    return columns


def _parquet_schema_names(path: Path) -> list[str]:
    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise UnknownFormatError(path, f"is not a readable Parquet file ({exc})") from exc


_Row = tuple[str, list[object]]


def _table_rows(
    path: Path, head: _Head, column_map: Mapping[str, str], collector: _Collector
) -> tuple[list[str], list[_Row]]:
    """The mapped column names and the rows, each with its location ("line N" / "row N")."""
    if head.parquet:
        columns = _table_columns(path, _parquet_schema_names(path), column_map)
        try:
            data = pq.read_table(path).to_pydict()
        except (pa.ArrowException, OSError) as exc:
            raise UnknownFormatError(path, f"is not a readable Parquet file ({exc})") from exc
        values = list(data.values())
        rows = [(f"row {i + 1}", [column[i] for column in values]) for i in range(len(values[0]))]
        return columns, rows
    delimiter = _TABLE_SUFFIXES.get(_content_suffix(path), ",")
    # Turns longer than csv's default 128 KB field limit are real (pasted logs, documents).
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    reader = csv.reader(
        io.StringIO(_read_document_text(path, head), newline=""), delimiter=delimiter
    )
    header = next(reader)
    columns = _table_columns(path, header, column_map)
    rows: list[_Row] = []
    previous_line = reader.line_num
    try:
        for row in reader:
            where, previous_line = f"line {previous_line + 1}", reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                collector.skip(
                    where, f"the row has {len(row)} fields but the header has {len(columns)}"
                )
                continue
            rows.append((where, list(row)))
    except csv.Error as exc:
        collector.skip(
            f"line {previous_line + 1}",
            f"the CSV cannot be read past this point ({exc}); nothing after it was loaded",
        )
    return columns, rows


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _turn_number(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _cell(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise _SkipRecord(f"field 'turn' is {text!r} at {where}, expected an integer")
    return int(number)


def _collect_table(
    path: Path,
    head: _Head,
    context: _Context,
    column_map: Mapping[str, str],
    collector: _Collector,
) -> None:
    columns, rows = _table_rows(path, head, column_map, collector)
    index = {name: position for position, name in enumerate(columns)}
    groups: dict[tuple[str, str], list[_Row]] = {}
    for where, values in rows:
        conversation_id = _cell(values[index["conversation_id"]]).strip()
        if not conversation_id:
            collector.skip(where, "field 'conversation_id' is empty")
            continue
        source = _cell(values[index["source"]]).strip() if "source" in index else ""
        groups.setdefault((source, conversation_id), []).append((where, values))
    for (source, conversation_id), group in groups.items():
        first_where = group[0][0]
        try:
            conversation = _table_conversation(conversation_id, source, group, index, context)
        except _SkipRecord as exc:
            collector.skip(first_where, f"conversation {conversation_id!r}: {exc}")
            continue
        collector.add([conversation], first_where)


def _table_conversation(
    conversation_id: str,
    source: str,
    group: list[_Row],
    index: dict[str, int],
    context: _Context,
) -> Conversation:
    numbered: list[tuple[int, str, str, str]] = []
    for where, values in group:
        turn = _turn_number(values[index["turn"]], where)
        role = _normalise_role(_cell(values[index["role"]]), "role", at=where)
        numbered.append((turn, where, role, _cell(values[index["text"]])))
    numbered.sort(key=lambda row: row[0])
    for (turn, first, _, _), (next_turn, second, _, _) in zip(numbered, numbered[1:], strict=False):
        if turn == next_turn:
            raise _SkipRecord(f"field 'turn': turn {turn} appears twice ({first} and {second})")
    turns = [(role, text) for _, _, role, text in numbered]
    _require_user(turns, "role")
    metadata = {}
    for name in ("pair_id", "task", "intent", "language"):
        values = list(
            dict.fromkeys(v for _, row in group if name in index and (v := _cell(row[index[name]])))
        )
        if len(values) > 1:
            raise _SkipRecord(f"field '{name}' differs within the conversation: {values[:3]}")
        metadata[name] = values[0] if values else None
    return Conversation(
        original_id=conversation_id,
        source=context.source or source or context.stem,
        turns=turns,
        **metadata,
    )
