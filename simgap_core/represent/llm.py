"""The LLM annotator: behaviour facets written by a model behind an OpenAI-compatible endpoint.

`LLMAnnotator.describe(corpus)` sends each conversation once to `{base_url}/chat/completions`
(vLLM, Ollama, llama.cpp, OpenAI, ...) with the project's own prompts (`llm_prompts.toml`
beside this module), parses the JSON answer robustly and returns one row per annotated
conversation with the `BEHAVIOUR_FACETS` columns.

The endpoint, the requests, the re-ask and the answer cache are the shared LLM client's
(`simgap_core.llm`): every answer is cached on disk as soon as it arrives, keyed by (model,
`PROMPT_VERSION`, hash of the conversation's turns as sent), so an interrupted run resumes
where it stopped and a rerun costs no requests; transient failures are retried with backoff
honouring `Retry-After`; at most `concurrency` requests are in flight; several base URLs share
the load.

What is an error of the whole run and what is an error of one conversation:
- a bad key, URL or model, or a server still failing after retries, raises `LLMEndpointError`
  at once; answers received until then stay cached, so the rerun resumes;
- any other rejected request (e.g. 400 "context length exceeded"), a conversation without user
  turns, or an answer still unusable after one re-ask becomes an `AnnotationFailure` in
  `.failures`; the conversation is left out of the returned frame;
- when not one conversation of a non-empty corpus could be annotated, `describe` raises
  `AnnotationError`: an empty frame would only fail later, far from the cause.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple, Unpack

import pandas as pd

from simgap_core.errors import SimgapError
from simgap_core.llm.answers import not_text, object_with_keys
from simgap_core.llm.base import ChatModelBase, ChatOptions, Question, Unanswered
from simgap_core.llm.cache import content_digest
from simgap_core.llm.chat import LLMConfigError, LLMEndpointError
from simgap_core.llm.prompts import load_prompts
from simgap_core.model import Corpus
from simgap_core.parts import Part, register
from simgap_core.represent import BEHAVIOUR_FACETS, DIALOG_ACTS, Progress

__all__ = [
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "AnnotationError",
    "AnnotationFailure",
    "AnnotatorConfigError",
    "LLMAnnotator",
    "LLMEndpointError",
    "build_messages",
    "parse_facets",
    "render_turns",
]

_PROMPTS = load_prompts(__package__, "llm_prompts.toml", ("system", "user", "reask", "cut_note"))
# Part of every cache key (read when a call starts, so a bumped version misses the cache).
PROMPT_VERSION: str = _PROMPTS["version"]
SYSTEM_PROMPT: str = _PROMPTS["system"].format(
    facets="".join(f'- "{facet}": {_PROMPTS["facets"][facet]}\n' for facet in BEHAVIOUR_FACETS),
    dialog_acts="".join(f"- {act}: {_PROMPTS['dialog_acts'][act]}\n" for act in DIALOG_ACTS),
)

_CUT_MARK = " [...{n} characters cut]"
_CUT = re.compile(r" \[\.\.\.\d+ characters cut\]$")
_KEY_ALIASES = {"communication_style": "style", "dialogue_acts": "dialog_acts"}

# The annotator's configuration errors are the LLM client's; the name is the one callers catch.
AnnotatorConfigError = LLMConfigError


class AnnotationFailure(NamedTuple):
    """A conversation that got no annotation, and why."""

    conversation_id: str
    reason: str

    def __str__(self) -> str:
        return f"conversation {self.conversation_id}: {self.reason}"


class AnnotationError(SimgapError):
    """Not one conversation could be annotated; `failures` says why for each."""

    def __init__(self, failures: list[AnnotationFailure]) -> None:
        self.failures = failures
        shown = "; ".join(str(f) for f in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        super().__init__(
            f"the LLM annotator could not annotate any of {len(failures)} conversation(s): "
            f"{shown}{more}"
        )


def render_turns(turns: list[tuple[str, str]], *, max_chars_per_turn: int) -> list[list[str]]:
    """The turns as sent to the model: each text cut to `max_chars_per_turn` characters."""
    rendered = []
    for role, text in turns:
        text = text or ""
        if len(text) > max_chars_per_turn:
            cut = len(text) - max_chars_per_turn
            text = text[:max_chars_per_turn] + _CUT_MARK.format(n=cut)
        rendered.append([role, text])
    return rendered


def build_messages(turns: list[list[str]]) -> list[dict[str, str]]:
    """The chat messages (system prompt + one user prompt) for one conversation's turns."""
    blocks = []
    user_index = 0
    for role, text in turns:
        if role == "user":
            user_index += 1
            label = f"USER turn {user_index}"
        else:
            label = role.upper()
        blocks.append(f"[{label}]\n{text}")
    prompt = _PROMPTS["user"].format(
        n_user=user_index,
        n_assistant=sum(role == "assistant" for role, _ in turns),
        cut_note=_PROMPTS["cut_note"] if any(_CUT.search(text) for _, text in turns) else "",
        transcript="\n\n".join(blocks),
        keys=", ".join(BEHAVIOUR_FACETS),
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]


def _as_text(value: Any, facet: str) -> str:
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, list | tuple):
        text = " ".join(_as_text(item, facet) for item in value)
    elif isinstance(value, dict):
        text = " ".join(f"{key}: {_as_text(item, facet)}" for key, item in value.items())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        raise not_text(facet, value)
    return text


def parse_facets(answer: str) -> dict[str, str]:
    """One text per behaviour facet from a model's answer; `ValueError` says what is wrong."""
    found = object_with_keys(answer, BEHAVIOUR_FACETS, aliases=_KEY_ALIASES)
    facets = {facet: _as_text(found[facet], facet) for facet in BEHAVIOUR_FACETS}
    empty = [facet for facet, text in facets.items() if not text]
    if empty:
        raise ValueError(f"the key(s) {', '.join(empty)} are empty")
    return facets


@register
class LLMAnnotator(ChatModelBase[dict[str, str]], Part):
    """Behaviour facets written by a chat model behind an OpenAI-compatible endpoint.

    `base_url`, `model` and `options` (key, cache folder, concurrency, retries, timeout,
    backoff, temperature, JSON mode) are the shared LLM client's: see
    `simgap_core.llm.base.ChatModelBase`. The cache folder defaults to `$SIMGAP_CACHE_DIR/llm`,
    or `~/.cache/simgap/llm`. `max_chars_per_turn` cuts each turn before it is sent.

    After `describe`: `failures` lists the conversations left out and why, `requests_made`
    counts HTTP requests sent (retries and re-asks included), `cache_hits` the conversations
    answered from the cache; all three describe the last call only.
    """

    kind = "annotator"
    name = "llm"
    user = "the LLM annotator"
    cache_folder = "llm"
    content = "conversation"
    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        *,
        max_chars_per_turn: int = 2000,
        **options: Unpack[ChatOptions],
    ) -> None:
        super().__init__(base_url, model, **options)
        if max_chars_per_turn < 1:
            raise AnnotatorConfigError(
                f"invalid max_chars_per_turn={max_chars_per_turn!r}: must be at least 1"
            )
        self.max_chars_per_turn = max_chars_per_turn
        self.version = f"prompts-v{PROMPT_VERSION}/{self.model}"
        self.failures: list[AnnotationFailure] = []

    @property
    def prompt_version(self) -> str:
        return PROMPT_VERSION

    def params(self) -> dict[str, Any]:
        """What changes the answers: model, prompts, how turns are cut, sampling, JSON mode
        (not the servers: see `ChatModelBase.answer_identity`)."""
        return self.answer_identity(max_chars_per_turn=self.max_chars_per_turn)

    def describe(self, corpus: Corpus, *, progress: Progress | None = None) -> pd.DataFrame:
        """One row per annotated conversation, in corpus order: id + one column per facet."""
        self.failures, self.requests_made, self.cache_hits = [], 0, 0
        ids = corpus.conversations["conversation_id"].tolist()
        reasons: dict[str, str] = {}  # conversation id -> why it failed
        ids_by_key: dict[str, list[str]] = {}  # identical conversations share one request
        questions: dict[str, Question] = {}
        key_by_id = self._questions(corpus, questions, ids_by_key, reasons)
        facets_by_key, pending = self.lookup(questions)
        self.cache_hits = sum(len(ids_by_key[key]) for key in facets_by_key)
        done = len(reasons) + self.cache_hits
        if progress is not None:
            progress(done, len(ids))

        def arrived(key: str, outcome: dict[str, str] | Unanswered) -> None:
            nonlocal done
            if isinstance(outcome, Unanswered):
                reasons.update(dict.fromkeys(ids_by_key[key], outcome.reason))
            else:
                facets_by_key[key] = outcome
            done += len(ids_by_key[key])
            if progress is not None:
                progress(done, len(ids))

        self.ask_all(pending, arrived)
        rows = []
        for cid in ids:
            if cid in reasons:
                self.failures.append(AnnotationFailure(cid, reasons[cid]))
            else:
                rows.append({"conversation_id": cid, **facets_by_key[key_by_id[cid]]})
        if ids and not rows:
            raise AnnotationError(self.failures)
        return pd.DataFrame(rows, columns=["conversation_id", *BEHAVIOUR_FACETS])

    def _questions(
        self,
        corpus: Corpus,
        questions: dict[str, Question],
        ids_by_key: dict[str, list[str]],
        reasons: dict[str, str],
    ) -> dict[str, str]:
        """Fill `questions` (one per distinct conversation, by cache key), `ids_by_key` and
        `reasons` (conversations that cannot be asked about); the cache key of each other id."""
        turns_by_id = corpus.turns_by_conversation()
        cache = self.answer_cache()
        key_by_id = {}
        for cid in corpus.conversations["conversation_id"]:
            turns = render_turns(
                turns_by_id.get(cid, []), max_chars_per_turn=self.max_chars_per_turn
            )
            if not any(role == "user" for role, _ in turns):
                reasons[cid] = "it has no user turns to describe"
                continue
            digest = content_digest(turns)
            key = key_by_id[cid] = cache.key(digest)
            ids_by_key.setdefault(key, []).append(cid)
            if key not in questions:
                questions[key] = Question(digest, build_messages(turns))
        return key_by_id

    # --- reading and caching answers ---------------------------------------------------------

    def parse_answer(self, text: str) -> dict[str, str]:
        return parse_facets(text)

    def reask_prompt(self, error: ValueError) -> str:
        return _PROMPTS["reask"].format(reason=error, keys=", ".join(BEHAVIOUR_FACETS))

    def answer_fields(self, answer: dict[str, str]) -> dict[str, Any]:
        return {"facets": answer}

    def answer_from_fields(self, entry: dict[str, Any]) -> dict[str, str] | None:
        facets = entry.get("facets")
        if not isinstance(facets, dict) or not all(
            isinstance(facets.get(facet), str) for facet in BEHAVIOUR_FACETS
        ):
            return None
        return {facet: facets[facet] for facet in BEHAVIOUR_FACETS}
