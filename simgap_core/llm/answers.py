"""JSON objects out of chat models' answers: found, repaired, and checked for their keys.

Models asked for "one JSON object only" still wrap it in prose or code fences, think aloud in
`<think>` blocks, use single quotes or Python's True/None, leave trailing commas, or stop
before the closing brace. `extract_json_object` copes with all of that and says what was wrong
when there is no usable object, in words fit to send back to the model when re-asking it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCED = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_KEY_SEPARATORS = re.compile(r"[\s-]+")


def _drop_trailing_comma(out: list[str]) -> None:
    index = len(out) - 1
    while index >= 0 and out[index].isspace():
        index -= 1
    if index >= 0 and out[index] == ",":
        del out[index]


def repair_json(text: str) -> str:
    """Fix what models commonly break in JSON, outside string contents.

    Single-quoted strings become double-quoted, Python's True/False/None become JSON
    literals, trailing commas go, and an unterminated string, array or object is closed.
    """
    out: list[str] = []
    closers: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\" and index + 1 < len(text):
                escaped = text[index + 1]
                out.append("'" if quote == "'" and escaped == "'" else char + escaped)
                index += 2
                continue
            if char == quote:
                out.append('"')
                quote = None
            else:
                out.append('\\"' if char == '"' else char)
        elif char in "\"'":
            quote = char
            out.append('"')
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
            out.append(char)
        elif char in "}]":
            _drop_trailing_comma(out)
            if closers:
                closers.pop()
            out.append(char)
        elif char.isalpha() or char == "_":
            end = index
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[index:end]
            out.append(_PYTHON_LITERALS.get(word, word))
            index = end
            continue
        else:
            out.append(char)
        index += 1
    if quote is not None:
        out.append('"')
    _drop_trailing_comma(out)
    out.extend(reversed(closers))
    return "".join(out)


def extract_json_object(answer: str) -> dict[str, Any]:
    """The JSON object in a model's answer, after stripping fences and repairing it.

    Raises `ValueError` saying what was wrong when there is no usable object.
    """
    text = _THINK_BLOCK.sub("", answer)
    fenced = _FENCED.search(text)
    if fenced and "{" in fenced.group(1):
        text = fenced.group(1)
    start = text.find("{")
    if start < 0:
        raise ValueError("the answer holds no JSON object")
    text = text[start:]
    try:
        # raw_decode takes the first complete object and ignores prose after it.
        value, _ = json.JSONDecoder(strict=False).raw_decode(text)
    except json.JSONDecodeError:
        end = text.rfind("}")
        # Up to the last brace first (drops trailing prose), then everything (a missing brace).
        candidates = dict.fromkeys([text[: end + 1], text] if end > 0 else [text])
        value, error = None, None
        for candidate in candidates:
            try:
                value = json.loads(repair_json(candidate), strict=False)
                break
            except json.JSONDecodeError as exc:
                error = exc
        if value is None:
            raise ValueError(
                f"the answer is not valid JSON even after repair ({error.msg}, "
                f"character {error.pos})"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(f"the answer is a JSON {type(value).__name__}, not an object")
    return value


def object_with_keys(
    answer: str, keys: Iterable[str], *, aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The JSON object in `answer` with its keys normalised ("Dialog Acts" -> "dialog_acts",
    then `aliases`); `ValueError` naming the `keys` it lacks."""
    found = extract_json_object(answer)
    normalised = {}
    for key, value in found.items():
        name = _KEY_SEPARATORS.sub("_", str(key).strip().lower())
        normalised[(aliases or {}).get(name, name)] = value
    missing = [key for key in keys if key not in normalised]
    if missing:
        raise ValueError(
            f"the JSON object lacks the key(s) {', '.join(missing)} "
            f"(it has {', '.join(map(str, found)) or 'none'})"
        )
    return normalised


def not_text(key: str, value: Any) -> ValueError:
    """The error for a key whose value is not text (null, a number where words were asked)."""
    return ValueError(f"key {key!r} holds {json.dumps(value)}, not text")
