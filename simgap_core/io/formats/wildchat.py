"""WildChat and LMSYS-Chat-1M: `{conversation_id | conversation_hash, conversation: [{role,
content, ...}], model, language, turn, timestamp, ...}`.

Published as JSON lists, JSONL (often gzipped) and Parquet shards whose `conversation` column is
a list of structs; every container reaches this module as plain records. The record's scalar
fields (model, language, turn, timestamp, country, ...) are kept as the conversation's
`metadata`; nested ones (moderation scores, headers) are left out.
"""

from __future__ import annotations

from simgap_core.io.records import (
    ID_FIELDS,
    RecordContext,
    message_turns,
    require_user,
    required,
    scalar_metadata,
)
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    turns = message_turns(required(record, "conversation"), "conversation")
    require_user(turns, "conversation")
    metadata = scalar_metadata(record, exclude=("conversation", *ID_FIELDS))
    return [context.conversation(record, number, turns, metadata=metadata)]


register(
    RecordFormat(
        "wildchat",
        hint="conversation (wildchat / lmsys)",
        detect=lambda record: isinstance(record.get("conversation"), list),
        parse=parse,
        priority=45,
    )
)
