"""The demo's phrase banks, read at run time from the JSON files in `phrases/` (package data).

The words a demo conversation is written with are data, so they live in data files that can be
read and edited without touching the generator: `user.json` and `assistant.json` (named banks of
templates for user and assistant turns), `languages.json` (the banks of the non-English
archetype, per language) and `topics.json` (the subject areas). In a template `{a|b}` picks one
alternative and `{name}` is a slot of the conversation: task, terse, other_task, term, label,
app, or one of the topic's own slots.

The files are checked when loaded, so a missing or malformed file stops the generator with an
error naming the file and the entry, not with a KeyError in the middle of a conversation. The
order of every list and object matters: the generator draws from them by position, and the
committed demo data depends on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from types import MappingProxyType
from typing import Any

from simgap_core.errors import SimgapError

PHRASE_DIR = "phrases"
LANGUAGE_BANKS = ("greetings", "requests", "followups", "replies")
CONVERSATION_SLOTS = frozenset({"task", "terse", "other_task", "term", "label", "app"})
"""The slots every conversation fills, whatever its topic (see `writing.Conversation`)."""
_SLOT_NAME = re.compile(r"\{([^{}|]*)\}")
_TOPIC_TEXT_FIELDS = ("key", "label", "app")
_TOPIC_LIST_FIELDS = ("terms", "facts")


class PhraseFileError(SimgapError):
    """A phrase file of the demo generator is missing or does not have the expected shape."""

    def __init__(self, file: str, reason: str, *, entry: str | None = None) -> None:
        self.file = file
        self.entry = entry
        self.reason = reason
        where = f"{file}, entry {entry}" if entry else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class Topic:
    """One subject area; `{name}` slots in its strings are filled once per conversation."""

    key: str
    label: str
    """The area in a few words, for prose ("home cooking")."""
    app: str
    """Something in this area that can show an error ("my recipe scaling script")."""
    slots: MappingProxyType[str, tuple[str, ...]]
    tasks: tuple[tuple[str, str], ...]
    """(request as a verb phrase, the same request as a terse search-like fragment)."""
    terms: tuple[str, ...]
    """Words an answer uses that a user may ask about."""
    facts: tuple[str, ...]
    """Sentences of answer content."""
    foreign: MappingProxyType[str, str]
    """A request subject per language of `Phrases.languages` (accusative in German)."""


@dataclass(frozen=True)
class Phrases:
    """Every phrase bank of the demo generator, as loaded and checked from `phrases/`."""

    banks: MappingProxyType[str, tuple[str, ...]]
    """The user-turn and assistant-turn banks by name (the names are unique across both)."""
    languages: MappingProxyType[str, MappingProxyType[str, tuple[str, ...]]]
    """Per language code, in file order, the banks named in `LANGUAGE_BANKS`."""
    topics: tuple[Topic, ...]


@cache
def load_phrases() -> Phrases:
    """Read and check the phrase files shipped with the package (once per process)."""
    return read_phrases(resources.files(__package__) / PHRASE_DIR)


def read_phrases(folder: Traversable) -> Phrases:
    """Read and check the four phrase files in `folder`; raise `PhraseFileError` on any fault."""
    user = _named_banks(folder, "user.json")
    assistant = _named_banks(folder, "assistant.json")
    shared = sorted(set(user) & set(assistant))
    if shared:
        raise PhraseFileError(
            _name(folder, "assistant.json"),
            f"bank names also used in user.json: {', '.join(shared)}",
        )
    languages = _languages(folder, "languages.json")
    topics = _topics(folder, "topics.json", tuple(languages))
    return Phrases(MappingProxyType({**user, **assistant}), languages, topics)


def _name(folder: Traversable, file: str) -> str:
    return str(folder / file)


def _read_json(folder: Traversable, file: str) -> Any:
    path = folder / file
    if not path.is_file():
        raise PhraseFileError(str(path), "phrase file is missing (is the package installed whole?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise PhraseFileError(str(path), f"not valid UTF-8 ({error.reason})") from error
    except json.JSONDecodeError as error:
        reason = f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
        raise PhraseFileError(str(path), reason) from error


def _object(value: Any, file: str, entry: str | None) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise PhraseFileError(file, "expected a non-empty JSON object", entry=entry)
    return value


def _text(value: Any, file: str, entry: str) -> str:
    if not isinstance(value, str):
        raise PhraseFileError(file, f"expected a string, got {type(value).__name__}", entry=entry)
    return value


def _texts(
    value: Any, file: str, entry: str, slots: Collection[str] | None = None
) -> tuple[str, ...]:
    """A non-empty list of strings; with `slots`, every `{name}` in them must be one of those."""
    if not isinstance(value, list) or not value:
        raise PhraseFileError(file, "expected a non-empty list of strings", entry=entry)
    texts = tuple(_text(item, file, f"{entry}[{i}]") for i, item in enumerate(value))
    if slots is not None:
        for index, text in enumerate(texts):
            unknown = sorted(set(_SLOT_NAME.findall(text)) - set(slots))
            if unknown:
                reason = f"unknown slot {{{unknown[0]}}}; known here: {', '.join(sorted(slots))}"
                raise PhraseFileError(file, reason, entry=f"{entry}[{index}]")
    return texts


def _named_banks(folder: Traversable, file: str) -> dict[str, tuple[str, ...]]:
    name = _name(folder, file)
    data = _object(_read_json(folder, file), name, None)
    return {bank: _texts(items, name, bank, CONVERSATION_SLOTS) for bank, items in data.items()}


def _languages(
    folder: Traversable, file: str
) -> MappingProxyType[str, MappingProxyType[str, tuple[str, ...]]]:
    name = _name(folder, file)
    data = _object(_read_json(folder, file), name, None)
    languages = {}
    for language, banks in data.items():
        banks = _object(banks, name, language)
        if sorted(banks) != sorted(LANGUAGE_BANKS):
            expected = ", ".join(LANGUAGE_BANKS)
            raise PhraseFileError(name, f"expected exactly the banks {expected}", entry=language)
        languages[language] = MappingProxyType(
            {
                bank: _texts(banks[bank], name, f"{language}.{bank}", {"subject"})
                for bank in LANGUAGE_BANKS
            }
        )
    return MappingProxyType(languages)


def _topics(folder: Traversable, file: str, languages: tuple[str, ...]) -> tuple[Topic, ...]:
    name = _name(folder, file)
    data = _read_json(folder, file)
    if not isinstance(data, list) or not data:
        raise PhraseFileError(name, "expected a non-empty JSON list of topics")
    topics = tuple(_topic(raw, name, f"[{i}]", languages) for i, raw in enumerate(data))
    keys = [t.key for t in topics]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise PhraseFileError(name, f"topic keys used more than once: {', '.join(repeated)}")
    return topics


def _topic(raw: Any, name: str, where: str, languages: tuple[str, ...]) -> Topic:
    """One topic; its app, tasks and slot values are filled from its own slots only."""
    raw = _object(raw, name, where)
    expected = {*_TOPIC_TEXT_FIELDS, *_TOPIC_LIST_FIELDS, "slots", "tasks", "foreign"}
    if set(raw) != expected:
        reason = f"expected exactly the fields {', '.join(sorted(expected))}"
        raise PhraseFileError(name, reason, entry=where)
    own = tuple(_object(raw["slots"], name, f"{where}.slots"))
    every = CONVERSATION_SLOTS | set(own)
    texts = {f: _text(raw[f], name, f"{where}.{f}") for f in _TOPIC_TEXT_FIELDS}
    _texts([texts["app"]], name, f"{where}.app", own)
    lists = {f: _texts(raw[f], name, f"{where}.{f}", every) for f in _TOPIC_LIST_FIELDS}
    slots = {s: _texts(v, name, f"{where}.slots.{s}", own) for s, v in raw["slots"].items()}
    if not isinstance(raw["tasks"], list) or not raw["tasks"]:
        raise PhraseFileError(name, "expected a non-empty list", entry=f"{where}.tasks")
    tasks = []
    for number, pair in enumerate(raw["tasks"]):
        pair = _texts(pair, name, f"{where}.tasks[{number}]", own)
        if len(pair) != 2:
            reason = "expected [request, terse fragment]"
            raise PhraseFileError(name, reason, entry=f"{where}.tasks[{number}]")
        tasks.append((pair[0], pair[1]))
    foreign = _object(raw["foreign"], name, f"{where}.foreign")
    if list(foreign) != list(languages):
        reason = "expected one subject per language of languages.json, in its order: "
        raise PhraseFileError(name, reason + ", ".join(languages), entry=f"{where}.foreign")
    subjects = _texts(list(foreign.values()), name, f"{where}.foreign", every)
    return Topic(
        **texts,
        slots=MappingProxyType(slots),
        tasks=tuple(tasks),
        **lists,
        foreign=MappingProxyType(dict(zip(languages, subjects, strict=True))),
    )
