"""Paired files, the paper's release format: `{real_messages, simulated_messages}` per record.

Each record gives two conversations: the real one (source "real") and the simulated one (the
source asked for, else "simulated"), both with the record's id as `pair_id`.
"""

from __future__ import annotations

from simgap_core.io.records import (
    RecordContext,
    message_turns,
    original_id,
    require_user,
    required,
)
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    real = message_turns(required(record, "real_messages"), "real_messages")
    require_user(real, "real_messages")
    simulated = message_turns(required(record, "simulated_messages"), "simulated_messages")
    require_user(simulated, "simulated_messages")
    pair_id = original_id(record, context.stem, number)
    return [
        context.conversation(record, number, real, source="real", pair_id=pair_id),
        context.conversation(
            record, number, simulated, source=context.source or "simulated", pair_id=pair_id
        ),
    ]


register(
    RecordFormat(
        "paired",
        hint="real_messages + simulated_messages (paired)",
        detect=lambda record: "real_messages" in record and "simulated_messages" in record,
        parse=parse,
        priority=10,
    )
)
