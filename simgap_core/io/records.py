"""What every record format shares: field checks, role names, chat-message turns, ids.

A format module turns one decoded record (a dict) into conversations with these helpers; any
problem raises `SkipRecord`, whose message becomes the record's entry in the skip list. Keeping
the helpers here is what lets a new format be one short module.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from simgap_core.model import Conversation

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

ID_FIELDS = ("id", "conversation_id", "conversation_hash")

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg"}


class SkipRecord(Exception):
    """Raised inside a record parser; becomes a `SkippedRecord` with this reason."""


@dataclass(frozen=True)
class RecordContext:
    """Where a record comes from: its file, the file's stem, the source name asked for."""

    file: str
    stem: str
    source: str | None

    def conversation(
        self,
        record: dict,
        number: int,
        turns: list[tuple[str, str]],
        **overrides: Any,
    ) -> Conversation:
        """A `Conversation` from the record's id, task, intent and language fields."""
        fields: dict[str, Any] = {
            "original_id": original_id(record, self.stem, number),
            "source": self.source or self.stem,
            "task": optional_text(record, "task"),
            "intent": optional_text(record, "intent"),
            "language": language(record),
        }
        fields.update(overrides)
        return Conversation(turns=turns, **fields)


# --- field checks -------------------------------------------------------------------------


def kind(value: object) -> str:
    """A value's JSON kind in words, for messages."""
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


def wrong_type(field: str, value: object, expected: str) -> SkipRecord:
    return SkipRecord(f"field '{field}' is {kind(value)}, expected {expected}")


def required(record: dict, key: str) -> Any:
    if key not in record:
        raise SkipRecord(f"field '{key}' is missing")
    return record[key]


def optional_text(record: dict, key: str, field: str | None = None) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise wrong_type(field or key, value, "a string")


def _id_text(value: object, field: str) -> str:
    """An id exactly as written: `c1` and ` c1 ` are two ids, never silently one."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        raise SkipRecord(f"field '{field}' is empty")
    raise wrong_type(field, value, "a string or an integer")


def original_id(record: dict, stem: str, number: int) -> str:
    """The record's id (`id`, `conversation_id`, `conversation_hash`, or tau-bench's task_id +
    trial), else `stem-N`."""
    for key in ID_FIELDS:
        if record.get(key) is not None:
            return _id_text(record[key], key)
    if record.get("task_id") is not None:
        task_id = _id_text(record["task_id"], "task_id")
        if record.get("trial") is None:
            return task_id
        return f"{task_id}-{_id_text(record['trial'], 'trial')}"
    return f"{stem}-{number}"


def language(record: dict) -> str | None:
    for key in ("language", "lang"):
        if record.get(key) is not None:
            return optional_text(record, key)
    metadata = record.get("metadata")
    if isinstance(metadata, dict):
        return optional_text(metadata, "language", "metadata.language")
    return None


def scalar_metadata(record: dict, exclude: tuple[str, ...]) -> str | None:
    """The record's scalar fields (model, turn, timestamp, ...) as a JSON object string.

    Nested values (moderation scores, request headers) are left out: they are large and no
    stage reads them. None when nothing is left.
    """
    kept: dict[str, object] = {}
    for key, value in record.items():
        if key in exclude:
            continue
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if value is None or isinstance(value, str | int | float | bool):
            kept[str(key)] = value
    return json.dumps(kept, ensure_ascii=False, sort_keys=True) if kept else None


# --- roles and chat messages ----------------------------------------------------------------


def normalise_role(value: object, field: str, at: str = "") -> str:
    """One of `model.ROLES`; `at` adds a location (a table row) to the reason."""
    suffix = f" at {at}" if at else ""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise SkipRecord(f"field '{field}' is {'missing' if value is None else 'empty'}{suffix}")
    if not isinstance(value, str):
        raise wrong_type(field, value, "a role name")
    role = ROLE_ALIASES.get(value.strip().lower())
    if role is None:
        raise SkipRecord(
            f"field '{field}' has unknown role {value!r}{suffix} "
            "(expected user, assistant, system or tool, or an alias such as human, gpt, bot)"
        )
    return role


def message_turns(
    messages: object,
    field: str,
    *,
    role_keys: tuple[str, ...] = ("role",),
    text_keys: tuple[str, ...] = ("content",),
) -> list[tuple[str, str]]:
    """(role, text) turns of a list of chat messages; any bad message skips the whole record."""
    if not isinstance(messages, list):
        raise wrong_type(field, messages, "a list of messages")
    turns = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise wrong_type(where, message, "an object")
        role_key = next((key for key in role_keys if key in message), role_keys[0])
        if role_key in message and message[role_key] is None:
            # A Parquet struct always has the key: say null, not missing, so the user looks
            # for the right thing.
            raise SkipRecord(f"field '{where}.{role_key}' is null")
        role = normalise_role(message.get(role_key), f"{where}.{role_key}")
        turns.append((role, _message_text(message, where, text_keys)))
    return turns


def _message_text(message: dict, where: str, text_keys: tuple[str, ...]) -> str:
    """The message's text, with any tool calls written out so they stay readable."""
    text_key = next((key for key in text_keys if key in message), None)
    calls = _tool_call_lines(message, where)
    if text_key is None and not calls:
        raise SkipRecord(f"field '{where}.{text_keys[0]}' is missing")
    text = content_text(message.get(text_key) if text_key else None, f"{where}.{text_key}")
    return "\n".join(part for part in (text, *calls) if part)


def _tool_call_lines(message: dict, where: str) -> list[str]:
    functions: list[object] = []
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise wrong_type(f"{where}.tool_calls", calls, "a list")
        for index, call in enumerate(calls):
            if not isinstance(call, dict):
                raise wrong_type(f"{where}.tool_calls[{index}]", call, "an object")
            functions.append(call.get("function", call))
    legacy = message.get("function_call")
    if legacy is not None:
        functions.append(legacy)
    lines = []
    for function in functions:
        if not isinstance(function, dict):
            raise wrong_type(f"{where}.tool_calls", function, "an object with a name")
        name = function.get("name") if isinstance(function.get("name"), str) else "(unnamed)"
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        lines.append(f"[tool call] {name} {(arguments or '').strip()}".rstrip())
    return lines


def content_text(value: object, field: str) -> str:
    """A message content: a string, null (no text), or a list of parts (text, images, files)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_part_text(part, f"{field}[{i}]") for i, part in enumerate(value))
    raise wrong_type(field, value, "a string")


def _part_text(part: object, field: str) -> str:
    if isinstance(part, str):
        return _attachment_text(part)
    if not isinstance(part, dict):
        raise wrong_type(field, part, "a string or an object")
    if isinstance(part.get("text"), str):
        return part["text"]
    label_kind = str(part.get("type") or "attachment")
    target = part.get(label_kind, part.get("url", part.get("image_url")))
    if isinstance(target, dict):
        target = target.get("url", target.get("filename"))
    name = _attachment_name(target) if isinstance(target, str) else None
    label = "image" if "image" in label_kind else label_kind
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


def require_user(turns: list[tuple[str, str]], field: str) -> None:
    """A conversation without a (non-empty) user turn says nothing about user behaviour."""
    users = [text for role, text in turns if role == "user"]
    if not users:
        roles = ", ".join(sorted({role for role, _ in turns})) or "none"
        raise SkipRecord(f"no user turn in field '{field}' (roles present: {roles})")
    if not any(text.strip() for text in users):
        raise SkipRecord(f"every user turn in field '{field}' is empty")
