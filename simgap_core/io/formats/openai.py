"""OpenAI chat `messages`: `{id?, messages: [{role, content, tool_calls?}], ...}`.

Also the shape of OASST paths, the shared WildChat sample and most fine-tuning sets.
"""

from __future__ import annotations

from simgap_core.io.records import RecordContext, message_turns, require_user, required
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    turns = message_turns(required(record, "messages"), "messages")
    require_user(turns, "messages")
    return [context.conversation(record, number, turns)]


register(
    RecordFormat(
        "openai",
        hint="messages (openai)",
        detect=lambda record: "messages" in record,
        parse=parse,
        priority=50,
    )
)
