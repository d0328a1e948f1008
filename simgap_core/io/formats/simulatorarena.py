"""SimulatorArena: `{user_queries: [...], ai_responses: [...], intent, ...}`, alternating with
the user first."""

from __future__ import annotations

from simgap_core.io.records import (
    RecordContext,
    content_text,
    require_user,
    required,
    wrong_type,
)
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    queries = required(record, "user_queries")
    if not isinstance(queries, list):
        raise wrong_type("user_queries", queries, "a list")
    responses = record.get("ai_responses") or []
    if not isinstance(responses, list):
        raise wrong_type("ai_responses", responses, "a list")
    turns = []
    # Query i is answered by response i.
    for index in range(max(len(queries), len(responses))):
        if index < len(queries):
            turns.append(("user", content_text(queries[index], f"user_queries[{index}]")))
        if index < len(responses):
            turns.append(("assistant", content_text(responses[index], f"ai_responses[{index}]")))
    require_user(turns, "user_queries")
    return [context.conversation(record, number, turns)]


register(
    RecordFormat(
        "simulatorarena",
        hint="user_queries (simulatorarena)",
        detect=lambda record: "user_queries" in record,
        parse=parse,
        priority=30,
    )
)
