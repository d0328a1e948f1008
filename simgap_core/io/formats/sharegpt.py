"""ShareGPT: `{id?, conversations: [{from, value}]}` (roles human/gpt/system/...)."""

from __future__ import annotations

from simgap_core.io.records import RecordContext, message_turns, require_user, required
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    turns = message_turns(
        required(record, "conversations"),
        "conversations",
        role_keys=("from", "role"),
        text_keys=("value", "content"),
    )
    require_user(turns, "conversations")
    return [context.conversation(record, number, turns)]


register(
    RecordFormat(
        "sharegpt",
        hint="conversations (sharegpt)",
        detect=lambda record: "conversations" in record,
        parse=parse,
        priority=40,
    )
)
