"""Untrusted text (source names, ids, file names, transcripts) made safe for where it goes.

Two destinations need it besides HTML and Markdown (escaped where they are built):

- a terminal: `terminal_safe` shows control, bidi and line-separator characters as escapes
  (`\\u001b`, `\\u202e`, `\\n`), so a source name cannot clear the screen, retitle the window,
  reverse the line or forge a new one; ordinary Unicode (accents, CJK, emoji) is kept;
- a CSV file: `csv_text` prefixes a single quote to every text cell that a spreadsheet would
  run as a formula (OWASP's rule: cells starting with = + - @, tab or carriage return), and
  `read_csv` undoes it, so simgap reads back exactly the values it wrote. Numbers stay numbers:
  only text cells are touched.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

# Zero-width (non-)joiners shape Persian, Indic scripts and emoji sequences; tag characters
# spell subdivision flags. All are format characters a terminal shows harmlessly.
_KEPT_FORMAT = frozenset({"\u200c", "\u200d"})
_TAGS = ("\U000e0020", "\U000e007f")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(char: str) -> bool:
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Zl", "Zp"):
        return True
    if category == "Cf":
        return char not in _KEPT_FORMAT and not (_TAGS[0] <= char <= _TAGS[1])
    return False


def _escape(char: str) -> str:
    """`\\n`, `\\r`, `\\t`, else `\\uXXXX` (a UTF-16 pair above U+FFFF): also valid inside a
    JSON string, so `simgap load --json` output escaped this way still parses to the same data."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """`text` with every control (C0, DEL, C1), bidi or other format character, lone surrogate
    and line/paragraph separator shown as a visible escape; everything else unchanged."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(_escape(char) if _unsafe(char) else char for char in text)


# OWASP CSV injection: a cell starting with one of these is run as a formula by spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def csv_cell(value: Any) -> Any:
    """A text cell with a leading `'` when a spreadsheet would run it (or when it already starts
    with `'`, so that `uncsv_cell` restores every value exactly); any other value unchanged."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, QUOTE)):
        return QUOTE + value
    return value


def uncsv_cell(value: Any) -> Any:
    """The value `csv_cell` was given."""
    if isinstance(value, str) and value.startswith(QUOTE):
        return value[1:]
    return value


def _map_text(frame: pd.DataFrame, cell: Any, *, index: bool) -> pd.DataFrame:
    result = frame.copy()
    for position, dtype in enumerate(result.dtypes):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            result.isetitem(position, result.iloc[:, position].map(cell))
    result.columns = [cell(label) for label in result.columns]
    if index:
        result.index = result.index.map(cell)
    return result


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """`frame` as CSV text with formula-like text cells (and header cells) escaped: the one
    way simgap writes a CSV, run artifact or export.

    Lines end in CRLF (RFC 4180): the csv module quotes a field holding any character of the
    line terminator, so a text with a lone carriage return is quoted, not split into two rows.
    """
    return _map_text(frame, csv_cell, index=index).to_csv(index=index, lineterminator="\r\n")


def read_csv(path: str | Path, **options: Any) -> pd.DataFrame:
    """A CSV written by `csv_text`, with the values it was given (`pandas.read_csv` options)."""
    return _map_text(pd.read_csv(path, **options), uncsv_cell, index=False)
