"""Reading input files: what a file is (gzip, Parquet, text), and its records one at a time.

Every record container yields `RawRecord`s: JSONL line by line (streamed, gzip too), a JSON
document value by value (a list, one object, or objects written one after another as `jq .`
does), and Parquet row by row in batches. A record that cannot be decoded is a `RawRecord`
with a `problem`, never an exception, so the loader can list it and go on. Lone UTF-16
surrogate escapes (valid JSON, not valid text) are replaced by U+FFFD and counted.
"""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import gzip
import json
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

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
    UnknownFormatError,
)

# Generous enough for any real conversation; small enough that one corrupt line cannot exhaust
# memory. Module constants (read at call time) so tests can lower them.
MAX_LINE_BYTES = 50 * 1024 * 1024
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024

PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
PARQUET_BATCH_ROWS = 1024

_HEAD_BYTES = 64 * 1024
_BLANK_CHUNK_BYTES = 1024 * 1024
_BINARY_PROBE_BYTES = 1024
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_GZIP_ERRORS = (EOFError, OSError, zlib.error)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNREADABLE_REST = "; the file may be truncated; nothing after this point can be read"


@dataclass(frozen=True)
class Head:
    """The first bytes of a file's content (gunzipped, UTF-8 BOM removed) and how to reopen it."""

    data: bytes
    gzipped: bool
    parquet: bool

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class RawRecord:
    """One record as read: its location, its decoded value, or the problem that stopped it.

    `repairs` counts lone surrogates replaced by U+FFFD while decoding it; `changes` says
    what else was changed to read it (a Parquet value out of range read as null).
    """

    where: str
    number: int
    value: object = None
    problem: str | None = None
    undecodable: bool = False
    repairs: int = 0
    changes: tuple[str, ...] = ()


def read_head(path: Path) -> Head:
    """Check that `path` is a non-empty text (or Parquet) file and return its first bytes."""
    if _regular_file_size(path) == 0:
        raise EmptyFileError(path, "the file is empty (0 bytes)")
    try:
        with path.open("rb") as raw:
            magic = raw.read(4)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    if magic == _PARQUET_MAGIC:
        return Head(magic, gzipped=False, parquet=True)
    gzipped = magic.startswith(_GZIP_MAGIC)
    data = _read_start(path, gzipped)
    if data.startswith(_UTF16_BOMS):
        raise EncodingError(
            path, "is UTF-16 text; simgap reads UTF-8 (convert it, e.g. with iconv)"
        )
    if gzipped and data.startswith(_PARQUET_MAGIC):
        raise BinaryFileError(
            path,
            "is a gzip-compressed Parquet file; decompress it first (gunzip): Parquet "
            "compresses its own columns and is read as is",
        )
    if b"\x00" in data[:_BINARY_PROBE_BYTES]:
        what = "its gzip content holds" if gzipped else "it holds"
        raise BinaryFileError(
            path, f"is a binary file, not text: {what} NUL bytes in the first 1 KB"
        )
    return Head(data.removeprefix(_UTF8_BOM), gzipped=gzipped, parquet=False)


@dataclass
class _Blank:
    """The content read so far while it is all white space: how much, and of what kind."""

    size: int = 0
    line_breaks: int = 0
    only_space: bool = True
    only_line_breaks: bool = True
    ends_with_line_break: bool = True

    def add(self, chunk: bytes) -> None:
        if not self.only_space:
            return
        if chunk.strip():
            self.only_space = False
            return
        self.size += len(chunk)
        self.line_breaks += chunk.count(b"\n")
        self.only_line_breaks = self.only_line_breaks and not chunk.strip(b"\r\n")
        self.ends_with_line_break = chunk.endswith(b"\n")

    def kind(self) -> str:
        return "blank lines" if self.only_line_breaks else "white space"

    def what(self) -> str:
        """How many lines, and of what, e.g. 4,194,304 blank lines or 2 lines of white space
        (a last line without a line break counts)."""
        lines = self.line_breaks + (not self.ends_with_line_break)
        if self.only_line_breaks:
            return f"{lines:,} blank line{'s' if lines != 1 else ''}"
        return f"{lines:,} line{'s' if lines != 1 else ''} of white space"


def _read_start(path: Path, gzipped: bool) -> bytes:
    """The first `_HEAD_BYTES` of the content (gunzipped).

    Small reads at first, so that a truncated gzip still shows the text before its break (the
    record reader reports the break). A content of white space only is read to its end in
    bounded chunks, never held, and is an error saying what it holds: a 400 MB gzip of blank
    lines is "no records", not an undecodable or empty file.
    """
    data, blank = b"", _Blank()
    with open_binary(path, gzipped) as stream:
        try:
            while len(data) < _HEAD_BYTES or blank.only_space:
                chunk = stream.read(4096 if len(data) < _HEAD_BYTES else _BLANK_CHUNK_BYTES)
                if not chunk:
                    break
                first = not data
                if len(data) < _HEAD_BYTES:
                    data += chunk
                blank.add(chunk.removeprefix(_UTF8_BOM) if first else chunk)
        except _GZIP_ERRORS as exc:
            if not blank.only_space:
                return data
            if not blank.size:
                raise BinaryFileError(
                    path, f"is gzip-compressed but does not decompress ({exc})"
                ) from exc
            # The read that failed loses what it had decompressed: the size is a lower bound.
            raise BinaryFileError(
                path,
                f"no records: its gzip content holds only {blank.kind()} (at least "
                f"{blank.size:,} bytes of them), then breaks off ({exc}); the file is "
                "truncated or damaged",
            ) from exc
    if not blank.only_space:
        return data
    if not blank.size:
        # Only a gzip gets here: a plain empty file is refused by its size.
        raise EmptyFileError(path, "no records: its gzip content is empty (0 bytes)")
    holder = "its gzip content" if gzipped else "the file"
    raise EmptyFileError(
        path, f"no records: {holder} holds only {blank.what()} ({blank.size:,} bytes)"
    )


def unreadable(path: Path, exc: OSError) -> InputError:
    """The error for a file the system will not let simgap read (permissions, I/O errors)."""
    return InputError(path, f"cannot be read: {exc.strerror or exc}")


def _regular_file_size(path: Path) -> int:
    """The size of `path`, which must be a regular file (or a link to one): a broken link, a
    folder, a named pipe (which would block a read forever) or a device is an error naming it."""
    try:
        info = path.stat()
    except OSError as exc:
        if not path.is_symlink():
            if isinstance(exc, FileNotFoundError):
                raise MissingFileError(path, "no such file") from exc
            raise unreadable(path, exc) from exc
        target = os.readlink(path)
        raise MissingFileError(
            path, f"is a symbolic link to {target!r}, which cannot be followed ({exc.strerror})"
        ) from exc
    if not stat.S_ISREG(info.st_mode):
        raise MissingFileError(path, f"is {_file_kind(info.st_mode)}, not a regular file")
    return info.st_size


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def open_binary(path: Path, gzipped: bool) -> IO[bytes]:
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def stem(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    return PurePosixPath(name).stem or name


def content_suffix(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return PurePosixPath(name).suffix


def read_document_text(path: Path, head: Head) -> str:
    """The whole file as text, under `MAX_DOCUMENT_BYTES`; non-UTF-8 bytes are an error."""
    with open_binary(path, head.gzipped) as stream:
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


# --- containers -----------------------------------------------------------------------------


def container(path: Path, head: Head) -> str:
    """ "parquet", "jsonl" (one record a line) or "document" (JSON values, read whole)."""
    if head.parquet:
        return "parquet"
    text = head.text().lstrip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first_line = lines[0] if lines else ""
    if text.startswith("["):
        # A list on the first line followed by more JSON lines is JSONL whose first record
        # happens to be a list (it is listed as skipped); otherwise one JSON document.
        complete = len(lines) > 2 and _is_json(first_line) and _is_json(lines[1])
        return "jsonl" if complete else "document"
    if text.startswith("{"):
        # A pretty-printed object opens with a line holding only "{"; a JSONL line never does.
        # `jq .` writes an empty object on one line, so any such line in the head counts.
        pretty = any(line.strip() == "{" for line in text.splitlines())
        return "document" if pretty else "jsonl"
    if _is_json(first_line):
        return "jsonl"  # a first record that is not an object is listed as skipped, not fatal
    raise UnknownFormatError(
        path,
        f"starts with {text[:40]!r}, which is not a JSON object or list, and its extension "
        f"{content_suffix(path)!r} is not .csv, .tsv or .parquet",
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return True


def iter_records(path: Path, head: Head) -> Iterator[RawRecord]:
    """The file's records, whatever its container."""
    kind = container(path, head)
    if kind == "parquet":
        return iter_parquet_rows(path)
    if kind == "jsonl":
        return _iter_jsonl(path, head)
    return _iter_document(path, head)


def _iter_jsonl(path: Path, head: Head) -> Iterator[RawRecord]:
    """Stream a JSONL file line by line; a bad line is a record with a problem, not an error."""
    limit = MAX_LINE_BYTES
    with open_binary(path, head.gzipped) as stream:
        number = 0
        while True:
            try:
                line = stream.readline(limit + 1)
            except _GZIP_ERRORS as exc:
                yield RawRecord(
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
                yield RawRecord(
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
                yield RawRecord(
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


def _decode_json_line(text: str, where: str, number: int) -> RawRecord:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            problem = f"invalid JSON ({exc.msg}): the line ends before the record does (truncated)"
        else:
            problem = f"invalid JSON ({exc.msg}: character {exc.pos + 1})"
        return RawRecord(where, number, problem=problem)
    except RecursionError:
        return RawRecord(where, number, problem="the JSON is nested too deeply to read")
    return _repaired(RawRecord(where, number, value), text)


def _iter_document(path: Path, head: Head) -> Iterator[RawRecord]:
    """The records of a whole-document JSON file: each element of a list, the one object, or
    each of several objects written one after another (what `jq .` prints).

    Values are decoded one at a time with `raw_decode`, so a truncated list still yields every
    record before the point where it breaks.
    """
    text = read_document_text(path, head)
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    is_list = text.startswith("[", position)
    if is_list:
        position = _skip_space(text, position + 1)
    number = 0
    while not (is_list and text.startswith("]", position)) and position < len(text):
        number += 1
        where = f"record {number}"
        start = position
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            problem = f"invalid JSON ({exc.msg}: {_line_column(text, exc.pos)})"
            if not is_list and number > 1 and not text.startswith("{", start):
                problem = (
                    f"text after the end of the JSON document at {_line_column(text, start)} "
                    "is not read"
                )
                yield RawRecord(where, number, problem=problem)
                return
            yield RawRecord(where, number, problem=f"{problem}{_UNREADABLE_REST}")
            return
        except RecursionError:
            yield RawRecord(
                where, number, problem=f"the JSON is nested too deeply{_UNREADABLE_REST}"
            )
            return
        yield _repaired(RawRecord(where, number, value), text[start:position])
        position = _skip_space(text, position)
        if not is_list:
            continue
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            ending = "the file ends" if position >= len(text) else f"found {text[position]!r}"
            yield RawRecord(
                f"record {number + 1}",
                number + 1,
                problem=f"expected ',' or ']' after record {number} at "
                f"{_line_column(text, position)} but {ending}{_UNREADABLE_REST}",
            )
            return
    if not is_list:
        return
    position = _skip_space(text, position + 1)
    if position < len(text):
        yield RawRecord(
            f"record {number + 1}",
            number + 1,
            problem=f"text after the end of the JSON document at {_line_column(text, position)} "
            "is not read",
        )


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line_column(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def _repaired(record: RawRecord, source_text: str) -> RawRecord:
    """Replace lone surrogates (from escapes such as "\\ud83d") by U+FFFD, and count them.

    The regex on the source text is the fast path: only an escape can produce a surrogate.
    """
    if not _SURROGATE_ESCAPE.search(source_text):
        return record
    count = [0]
    value = _replace_surrogates(record.value, count)
    if not count[0]:
        return record
    return RawRecord(record.where, record.number, value, repairs=count[0])


def _replace_surrogates(value: object, count: list[int]) -> object:
    if isinstance(value, str):
        fixed, replaced = _SURROGATE.subn("\ufffd", value)
        count[0] += replaced
        return fixed
    if isinstance(value, list):
        return [_replace_surrogates(item, count) for item in value]
    if isinstance(value, dict):
        return {
            _replace_surrogates(key, count): _replace_surrogates(item, count)
            for key, item in value.items()
        }
    return value


# --- Parquet rows ---------------------------------------------------------------------------


def parquet_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise UnknownFormatError(path, f"is not a readable Parquet file ({exc})") from exc


@dataclass(frozen=True)
class Unreadable:
    """A Parquet value Python cannot hold (a date or time out of range): `reason` says so."""

    reason: str


def column_values(column: pa.Array) -> list[object]:
    """A column as Python values; one Python cannot represent (a timestamp of year 40,000)
    becomes an `Unreadable` in its place instead of failing the whole file."""
    try:
        return column.to_pylist()
    except (OverflowError, ValueError, pa.ArrowException):
        return [_scalar_value(column, index) for index in range(len(column))]


def _scalar_value(column: pa.Array, index: int) -> object:
    try:
        return column[index].as_py()
    except (OverflowError, ValueError, pa.ArrowException) as exc:
        return Unreadable(f"holds a {column.type} value that cannot be read ({exc})")


def iter_parquet_rows(path: Path) -> Iterator[RawRecord]:
    """Each row as a plain record (strings decoded, timestamps as ISO text), in batches."""
    try:
        names = pq.read_schema(path).names
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise UnknownFormatError(path, f"more than one column is named {repeated[0]!r}")
        batches = pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        number = 0
        for batch in batches:
            columns = [column_values(column) for column in batch.columns]
            for index in range(batch.num_rows):
                number += 1
                yield _parquet_record(names, [column[index] for column in columns], number)
    except (pa.ArrowException, OSError) as exc:
        raise UnknownFormatError(path, f"is not a readable Parquet file ({exc})") from exc


def _parquet_record(names: list[str], values: list[object], number: int) -> RawRecord:
    """One row; a value Python cannot hold is read as null and named in `changes`, so a bad
    timestamp in a metadata column does not cost the conversation (nor hide the row's shape
    from the sniffer)."""
    where = f"row {number}"
    changes = tuple(
        f"field '{name}' {value.reason}; read as null"
        for name, value in zip(names, values, strict=True)
        if isinstance(value, Unreadable)
    )
    row = {
        name: None if isinstance(value, Unreadable) else value
        for name, value in zip(names, values, strict=True)
    }
    try:
        value = _plain(row)
    except UnicodeDecodeError as exc:
        return RawRecord(
            where,
            number,
            problem=f"a binary field is not UTF-8 text (byte 0x"
            f"{exc.object[exc.start]:02x} at byte {exc.start + 1})",
        )
    return RawRecord(where, number, value, changes=changes)


def _plain(value: object) -> object:
    """A Parquet value as JSON would have it: binary text decoded as UTF-8, times as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def first_document_value(path: Path, head: Head) -> RawRecord:
    """Decode the first element of a JSON list (or the first object), reading as little as can
    be: sniffing a 1 GB list must not read it whole."""
    decoder = json.JSONDecoder()
    incremental = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = ""
    chunk_size = _HEAD_BYTES
    with open_binary(path, head.gzipped) as stream:
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
                value, end = decoder.raw_decode(body, start)
                return _repaired(RawRecord("record 1", 1, value), body[start:end])
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
