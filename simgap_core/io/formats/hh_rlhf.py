"""Anthropic HH-RLHF: `{chosen, rejected}`, each a `\\n\\nHuman: ...\\n\\nAssistant: ...`
transcript; also a bare `transcript` or `text` field holding one."""

from __future__ import annotations

import re

from simgap_core.io.records import RecordContext, SkipRecord, require_user, wrong_type
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation

_MARKER = re.compile(r"\n\n(Human|Assistant):")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def detect(record: dict) -> bool:
    if "chosen" in record:
        return True
    for key in ("transcript", "text"):
        value = record.get(key)
        if isinstance(value, str) and _MARKER.search("\n\n" + value.lstrip()):
            return True
    return False


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    # The user turns of `chosen` and `rejected` are identical; `chosen` has the preferred replies.
    key = next((k for k in ("chosen", "transcript", "text") if k in record), None)
    if key is None:
        raise SkipRecord("field 'chosen' is missing (and there is no 'transcript' or 'text' field)")
    transcript = record[key]
    if not isinstance(transcript, str):
        raise wrong_type(key, transcript, "a Human:/Assistant: transcript string")
    turns = _turns(transcript, key)
    require_user(turns, key)
    return [context.conversation(record, number, turns)]


def _turns(transcript: str, field: str) -> list[tuple[str, str]]:
    body = transcript
    if body.lstrip().startswith(("Human:", "Assistant:")):
        body = "\n\n" + body.lstrip()
    parts = _MARKER.split(body)
    if len(parts) == 1:
        raise SkipRecord(f"field '{field}' holds no '\\n\\nHuman:' or '\\n\\nAssistant:' turn")
    if parts[0].strip():
        raise SkipRecord(f"field '{field}' has text before its first Human:/Assistant: turn")
    return [
        (_ROLES[speaker], text.strip())
        for speaker, text in zip(parts[1::2], parts[2::2], strict=True)
    ]


register(
    RecordFormat(
        "hh_rlhf",
        hint="chosen or a Human:/Assistant: transcript (hh_rlhf)",
        detect=detect,
        parse=parse,
        priority=60,
    )
)
