"""tau-bench trajectories: `{task_id, trial, info: {task: {instruction}}, traj: [messages]}`."""

from __future__ import annotations

from simgap_core.io.records import (
    RecordContext,
    message_turns,
    optional_text,
    require_user,
    required,
    wrong_type,
)
from simgap_core.io.registry import RecordFormat, register
from simgap_core.model import Conversation


def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
    turns = message_turns(required(record, "traj"), "traj")
    require_user(turns, "traj")
    return [context.conversation(record, number, turns, task=_instruction(record))]


def _instruction(record: dict) -> str | None:
    info = record.get("info")
    if info is None:
        return None
    if not isinstance(info, dict):
        raise wrong_type("info", info, "an object")
    task = info.get("task")
    if task is None:
        return None
    if not isinstance(task, dict):
        raise wrong_type("info.task", task, "an object")
    return optional_text(task, "instruction", "info.task.instruction")


register(
    RecordFormat(
        "taubench",
        hint="traj (taubench)",
        detect=lambda record: "traj" in record,
        parse=parse,
        priority=20,
    )
)
