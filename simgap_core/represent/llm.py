"""The LLM annotator: behaviour facets written by a model behind an OpenAI-compatible endpoint.

`LLMAnnotator.describe(corpus)` sends each conversation once to `{base_url}/chat/completions`
(vLLM, Ollama, llama.cpp, OpenAI, ...) with the project's own prompts, parses the JSON answer
robustly and returns one row per annotated conversation with the `BEHAVIOUR_FACETS` columns.

Every answer is written to an on-disk cache as soon as it arrives, keyed by (model,
`PROMPT_VERSION`, hash of the conversation's turns as sent), so an interrupted run resumes
where it stopped and a rerun costs no requests. Requests go through the shared client
(`simgap_core.http`): transient failures (429, 5xx, timeouts, dropped connections) are retried
with exponential backoff and jitter, honouring `Retry-After`; at most `concurrency` requests are
in flight at once; several base URLs share the load round-robin.

What is an error of the whole run and what is an error of one conversation:
- 401 / 403 / 404 / 405 (bad key, wrong URL or model) and a server still failing after
  `max_retries` retries raise `LLMEndpointError` at once: every other request would fail the
  same way. Answers received until then stay cached, so the rerun resumes.
- Any other 4xx (e.g. 400 "context length exceeded"), a conversation without user turns, or an
  answer that is still unusable after one re-ask becomes an `AnnotationFailure` in
  `.failures`; the conversation is left out of the returned frame.
- When not one conversation of a non-empty corpus could be annotated, `describe` raises
  `AnnotationError`: an empty frame would only fail later, far from the cause.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pandas as pd

from simgap_core import cache_root
from simgap_core.errors import SimgapError
from simgap_core.http import (
    EndpointError,
    OpenAIClient,
    RequestRejected,
    Stopped,
    check_base_url,
    endpoint_url,
    redact_urls,
)
from simgap_core.model import Corpus
from simgap_core.parts import Part, PartError, register
from simgap_core.represent import BEHAVIOUR_FACETS, DIALOG_ACTS, Progress

# Bump whenever SYSTEM_PROMPT, the user prompt or the re-ask wording changes: it is part of the
# cache key, so old answers are never served for new prompts.
PROMPT_VERSION = "1"

BASE_URL_ENV = "SIMGAP_LLM_BASE_URL"
MODEL_ENV = "SIMGAP_LLM_MODEL"
FALLBACK_API_KEY_ENV = "OPENAI_API_KEY"

_FACET_INSTRUCTIONS = {
    "requests": (
        "How the user states what they want: how fully the first request is specified "
        "(constraints, examples, output format given or left open), whether the goal arrives "
        "whole or is decomposed across turns, and how later requests relate to earlier ones "
        "(refinement, follow-up, a new goal)."
    ),
    "responses": (
        "How the user reacts to and steers the assistant: accepting, thanking, correcting, "
        "pushing back, asking for alternatives or clarification, ignoring an answer, "
        "redirecting; and how that changes over the conversation. If the user speaks only "
        "once, say so."
    ),
    "context": (
        "How much background the user gives, when (up front or later), and whether it is "
        "volunteered or only given when the assistant asks. Describe pasted material (code, "
        "logs, documents, data) by kind and size, never by content."
    ),
    "style": (
        "Register and tone, verbosity, sentence form (imperative, question, fragment), "
        "formatting (lists, code blocks, casing, punctuation, typos, emoji), politeness "
        "markers, and the language used."
    ),
    "dialog_acts": (
        "One sentence per user turn, in order, of the form "
        '"Turn N: LABEL[, LABEL] - what the turn does, in abstract terms." using only the '
        "dialog act labels listed below."
    ),
}

_DIALOG_ACT_MEANINGS = {
    "INFORM": "gives information, constraints or preferences",
    "REQUEST": "asks for information or for something to be done",
    "AFFIRM": "agrees or confirms",
    "NEGATE": "denies, rejects or corrects",
    "SELECT": "picks one of the options offered",
    "INFORM_INTENT": "states a (new) goal",
    "AFFIRM_INTENT": "confirms wanting the action the assistant proposed",
    "NEGATE_INTENT": "declines the action the assistant proposed",
    "REQUEST_ALTS": "asks for other options",
    "THANK": "thanks the assistant",
    "GOODBYE": "ends the conversation",
    "GREET": "greets the assistant",
}

SYSTEM_PROMPT = (
    "You annotate the behaviour of the USER in a conversation between a user and an AI "
    "assistant. Describe how the user behaves, never what the conversation is about: do not "
    "name the topic, domain, entities, products, places, people, numbers or other content "
    "words from the conversation. Two users who behave alike on unrelated topics must get "
    "nearly the same description.\n\n"
    "Answer with one JSON object with exactly these keys, each value a string of one to four "
    "plain sentences:\n"
    + "".join(f'- "{facet}": {_FACET_INSTRUCTIONS[facet]}\n' for facet in BEHAVIOUR_FACETS)
    + "\nDialog act labels (a turn may carry several):\n"
    + "".join(f"- {label}: {_DIALOG_ACT_MEANINGS[label]}\n" for label in DIALOG_ACTS)
    + "\nReply with the JSON object only: no prose before or after it, no code fences."
)

_USER_PROMPT = (
    "Conversation: {n_user} user turn(s), {n_assistant} assistant turn(s).{cut_note}\n\n"
    "{transcript}\n\n"
    "Describe the USER's behaviour as the JSON object with the keys {keys}."
)

_REASK_PROMPT = (
    "Your answer could not be used: {reason}. Reply again with only the JSON object with the "
    "keys {keys}, each value a string."
)

_CUT_MARK = " [...{n} characters cut]"


class AnnotatorConfigError(PartError):
    """The annotator cannot start: an endpoint, model or parameter is missing or invalid."""


class LLMEndpointError(SimgapError):
    """The endpoint refused the run (bad key, URL or model) or kept failing after retries."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


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


def conversation_digest(turns: list[list[str]]) -> str:
    """SHA-256 of the canonical JSON of the (role, text) turns."""
    canonical = json.dumps(turns, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
    n_assistant = sum(role == "assistant" for role, _ in turns)
    cut = any(re.search(r" \[\.\.\.\d+ characters cut\]$", text) for _, text in turns)
    prompt = _USER_PROMPT.format(
        n_user=user_index,
        n_assistant=n_assistant,
        cut_note=" Long turns were cut; the cut is marked." if cut else "",
        transcript="\n\n".join(blocks),
        keys=", ".join(BEHAVIOUR_FACETS),
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]


# --- JSON answers -------------------------------------------------------------------------

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCED = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_PYTHON_LITERALS = {"True": "true", "False": "false", "None": "null"}
_KEY_ALIASES = {"communication_style": "style", "dialogue_acts": "dialog_acts"}


def _drop_trailing_comma(out: list[str]) -> None:
    index = len(out) - 1
    while index >= 0 and out[index].isspace():
        index -= 1
    if index >= 0 and out[index] == ",":
        del out[index]


def repair_json(text: str) -> str:
    """Fix what models commonly break in JSON, outside string contents.

    Single-quoted strings become double-quoted, Python's True/False/None become JSON
    literals, trailing commas go, and an unterminated string, array or object is closed.
    """
    out: list[str] = []
    closers: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote is not None:
            if char == "\\" and index + 1 < len(text):
                escaped = text[index + 1]
                out.append("'" if quote == "'" and escaped == "'" else char + escaped)
                index += 2
                continue
            if char == quote:
                out.append('"')
                quote = None
            else:
                out.append('\\"' if char == '"' else char)
        elif char in "\"'":
            quote = char
            out.append('"')
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
            out.append(char)
        elif char in "}]":
            _drop_trailing_comma(out)
            if closers:
                closers.pop()
            out.append(char)
        elif char.isalpha() or char == "_":
            end = index
            while end < len(text) and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[index:end]
            out.append(_PYTHON_LITERALS.get(word, word))
            index = end
            continue
        else:
            out.append(char)
        index += 1
    if quote is not None:
        out.append('"')
    _drop_trailing_comma(out)
    out.extend(reversed(closers))
    return "".join(out)


def extract_json_object(answer: str) -> dict[str, Any]:
    """The JSON object in a model's answer, after stripping fences and repairing it.

    Raises `ValueError` saying what was wrong when there is no usable object.
    """
    text = _THINK_BLOCK.sub("", answer)
    fenced = _FENCED.search(text)
    if fenced and "{" in fenced.group(1):
        text = fenced.group(1)
    start = text.find("{")
    if start < 0:
        raise ValueError("the answer holds no JSON object")
    text = text[start:]
    try:
        # raw_decode takes the first complete object and ignores prose after it.
        value, _ = json.JSONDecoder(strict=False).raw_decode(text)
    except json.JSONDecodeError:
        end = text.rfind("}")
        # Up to the last brace first (drops trailing prose), then everything (a missing brace).
        candidates = dict.fromkeys([text[: end + 1], text] if end > 0 else [text])
        value, error = None, None
        for candidate in candidates:
            try:
                value = json.loads(repair_json(candidate), strict=False)
                break
            except json.JSONDecodeError as exc:
                error = exc
        if value is None:
            raise ValueError(
                f"the answer is not valid JSON even after repair ({error.msg}, "
                f"character {error.pos})"
            ) from None
    if not isinstance(value, dict):
        raise ValueError(f"the answer is a JSON {type(value).__name__}, not an object")
    return value


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
        raise ValueError(f"key {facet!r} holds {json.dumps(value)}, not text")
    return text


def parse_facets(answer: str) -> dict[str, str]:
    """One text per behaviour facet from a model's answer; `ValueError` says what is wrong."""
    found = extract_json_object(answer)
    normalised = {}
    for key, value in found.items():
        name = re.sub(r"[\s-]+", "_", str(key).strip().lower())
        normalised[_KEY_ALIASES.get(name, name)] = value
    missing = [facet for facet in BEHAVIOUR_FACETS if facet not in normalised]
    if missing:
        raise ValueError(
            f"the JSON object lacks the key(s) {', '.join(missing)} "
            f"(it has {', '.join(map(str, found)) or 'none'})"
        )
    facets = {facet: _as_text(normalised[facet], facet) for facet in BEHAVIOUR_FACETS}
    empty = [facet for facet, text in facets.items() if not text]
    if empty:
        raise ValueError(f"the key(s) {', '.join(empty)} are empty")
    return facets


# --- HTTP (shared with the LLM cluster namer) ---------------------------------------------


def resolve_endpoint(
    base_url: str | Sequence[str] | None, model: str | None, *, user: str
) -> tuple[list[str], str]:
    """The checked API roots and the model, from the arguments or else the environment.

    `user` ("the LLM annotator") starts the `AnnotatorConfigError` raised when either is missing.
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    urls = urls or ([os.environ[BASE_URL_ENV]] if os.environ.get(BASE_URL_ENV) else [])
    model = model or os.environ.get(MODEL_ENV)
    if not urls:
        raise AnnotatorConfigError(
            f"{user} needs an endpoint: pass base_url or set ${BASE_URL_ENV} "
            "(an OpenAI-compatible API root such as http://localhost:8000/v1)"
        )
    try:
        checked = [check_base_url(url) for url in urls]
    except SimgapError as error:
        raise AnnotatorConfigError(str(error)) from None
    if not model:
        raise AnnotatorConfigError(f"{user} needs a model name: pass model or set ${MODEL_ENV}")
    return checked, model


def api_key_from_env(api_key_env: str) -> str | None:
    """The API key in `$<api_key_env>`, else `$OPENAI_API_KEY`; None for a keyless server."""
    return os.environ.get(api_key_env) or os.environ.get(FALLBACK_API_KEY_ENV)


def complete_chat(
    client: OpenAIClient,
    messages: list[dict[str, str]],
    *,
    model: str,
    temperature: float,
    json_mode: bool,
    api_key_env: str,
    stop: threading.Event,
) -> str:
    """POST one chat completion (the client retries); the answer's text.

    Raises `LLMEndpointError` when the whole run is refused (with a hint naming the key, URL or
    model to check), `RequestRejected` when only this request is (or the reply is not a chat
    completion), and `Stopped` when `stop` was set before the request went out.
    """
    payload: dict[str, Any] = {"model": model, "messages": messages, "temperature": temperature}
    if json_mode:
        payload["response_format"] = {"type": "json_object"}
    try:
        response = client.post("chat/completions", payload, stop=stop)
    except EndpointError as exc:
        if exc.status is not None:
            hints = {
                401: f"check the API key in ${api_key_env} (or ${FALLBACK_API_KEY_ENV})",
                403: f"the key in ${api_key_env} may not use model {model!r}",
                404: f"check that base_url ends at the API root (e.g. .../v1) and that model "
                f"{model!r} is served",
                405: "check that base_url is the API root of an OpenAI-compatible server",
            }
            # `exc` names the server that answered, its URL already redacted.
            raise LLMEndpointError(f"{exc} ({hints[exc.status]})", status=exc.status) from None
        raise LLMEndpointError(
            f"{exc} Answers received so far are cached; rerun to resume."
        ) from None
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise RequestRejected(
            "the server's reply is not an OpenAI chat completion "
            f"(no choices[0].message.content): {response.text[:200]!r}"
        ) from None
    return content or ""


Parsed = TypeVar("Parsed")


def ask_with_one_reask(
    complete: Callable[[list[dict[str, str]]], str],
    messages: list[dict[str, str]],
    parse: Callable[[str], Parsed],
    reask: Callable[[ValueError], str],
) -> Parsed:
    """`parse(answer)`; when it raises `ValueError`, the model is told why (`reask(error)`) and
    asked once more. A second unusable answer raises that second `ValueError`."""
    answer = complete(messages)
    try:
        return parse(answer)
    except ValueError as first:
        retry = [
            *messages,
            {"role": "assistant", "content": answer[:4000]},
            {"role": "user", "content": reask(first)},
        ]
        return parse(complete(retry))


def answer_key(**parts: str) -> str:
    """The cache key of an answer: SHA-256 of everything that changes it (model, prompt
    version, the digest of what was sent)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    """Model answers on disk as JSON, one file per `answer_key`, sharded by its first two digits.

    An entry is written as soon as its answer arrives (tmp + os.replace, so a reader or a
    resumed run never sees half a file); one that cannot be read counts as missing and is
    asked again and overwritten.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def read(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(self.path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return entry if isinstance(entry, dict) else None

    def write(self, key: str, entry: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entry, file, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@register
class LLMAnnotator(Part):
    """Behaviour facets written by a chat model behind an OpenAI-compatible endpoint.

    `base_url` is the API root that `/chat/completions` is appended to (e.g.
    `http://localhost:8000/v1` for vLLM, `http://localhost:11434/v1` for Ollama); it and
    `model` default to `$SIMGAP_LLM_BASE_URL` and `$SIMGAP_LLM_MODEL`. The API key is read from
    `$<api_key_env>` or else `$OPENAI_API_KEY`; without one no Authorization header is sent
    (local servers need none). The key is only ever sent as a Bearer header, never stored.

    `cache_dir` defaults to `$SIMGAP_CACHE_DIR/llm`, or `~/.cache/simgap/llm`. `backoff` is the
    first retry's delay in seconds, doubled per retry with jitter and capped (like a
    `Retry-After` wait) at `max_backoff`. `json_mode` asks the server for
    `response_format={"type": "json_object"}`; turn it off for servers that reject it.

    After `describe`: `failures` lists the conversations left out and why, `requests_made`
    counts HTTP requests sent (retries and re-asks included), `cache_hits` the conversations
    answered from the cache; all three describe the last call only.
    """

    kind = "annotator"
    name = "llm"
    # Where the model runs and how it is reached, not what it writes (see `params`).
    output_neutral = frozenset(
        {"base_url", "api_key_env", "cache_dir", "concurrency", "max_retries", "timeout"}
        | {"backoff", "max_backoff"}
    )

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {
            "base_url": params.llm_base_url,
            "model": params.llm_model,
            "concurrency": params.llm_concurrency,
        }

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        *,
        api_key_env: str = "SIMGAP_LLM_API_KEY",
        cache_dir: Path | None = None,
        concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        temperature: float = 0.0,
        max_chars_per_turn: int = 2000,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        json_mode: bool = True,
    ) -> None:
        self.base_urls, model = resolve_endpoint(base_url, model, user="the LLM annotator")
        checks = {
            "concurrency": (concurrency, concurrency >= 1),
            "max_retries": (max_retries, max_retries >= 0),
            "timeout": (timeout, timeout > 0),
            "max_chars_per_turn": (max_chars_per_turn, max_chars_per_turn >= 1),
            "backoff": (backoff, backoff >= 0),
            "max_backoff": (max_backoff, max_backoff >= 0),
        }
        for parameter, (value, valid) in checks.items():
            if not valid:
                raise AnnotatorConfigError(f"invalid {parameter}={value!r}")
        self.base_url = self.base_urls[0]
        self.model = model
        self.api_key_env = api_key_env
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_root() / "llm"
        self._cache = AnswerCache(self.cache_dir)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.temperature = temperature
        self.max_chars_per_turn = max_chars_per_turn
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.json_mode = json_mode
        self.version = f"prompts-v{PROMPT_VERSION}/{model}"
        self._api_key = api_key_from_env(api_key_env)
        self.failures: list[AnnotationFailure] = []
        self.requests_made = 0
        self.cache_hits = 0

    def __repr__(self) -> str:
        return f"LLMAnnotator(base_url={redact_urls(self.base_url)!r}, model={self.model!r})"

    def params(self) -> dict[str, Any]:
        """What changes the answers: model, prompts, how turns are cut, sampling, JSON mode.

        The base URLs are not part of it: they say where the model runs, not what it writes,
        and the answer cache is shared across servers for the same reason. Credentials in a
        URL (`user:pw@`, `?api_key=`) therefore never reach a cache key or cache file either,
        and a changed password does not invalidate the cache.
        """
        return {
            "model": self.model,
            "prompt_version": PROMPT_VERSION,
            "max_chars_per_turn": self.max_chars_per_turn,
            "temperature": self.temperature,
            "json_mode": self.json_mode,
        }

    @property
    def endpoint(self) -> str:
        """The chat completions URL of the first server (with its credentials: send, never
        show it; `redact_urls` it first)."""
        return endpoint_url(self.base_url, "chat/completions")

    def describe(self, corpus: Corpus, *, progress: Progress | None = None) -> pd.DataFrame:
        """One row per annotated conversation, in corpus order: id + one column per facet."""
        self.failures, self.requests_made, self.cache_hits = [], 0, 0
        ids = corpus.conversations["conversation_id"].tolist()
        turns_by_id = corpus.turns_by_conversation()
        total = len(ids)
        done = 0
        facets_by_key: dict[str, dict[str, str]] = {}
        reasons: dict[str, str] = {}  # conversation id -> why it failed
        pending: dict[str, list[list[str]]] = {}  # cache key -> turns, one request per key
        ids_by_key: dict[str, list[str]] = {}
        key_by_id: dict[str, str] = {}
        for cid in ids:
            turns = render_turns(
                turns_by_id.get(cid, []), max_chars_per_turn=self.max_chars_per_turn
            )
            if not any(role == "user" for role, _ in turns):
                reasons[cid] = "it has no user turns to describe"
                done += 1
                continue
            key = key_by_id[cid] = self._cache_key(turns)
            ids_by_key.setdefault(key, []).append(cid)
            if key in facets_by_key or key in pending:
                continue
            cached = self._read_cache(key)
            if cached is not None:
                facets_by_key[key] = cached
            else:
                pending[key] = turns
        self.cache_hits = sum(len(ids_by_key[key]) for key in facets_by_key)
        done += self.cache_hits
        if progress is not None:
            progress(done, total)
        if pending:
            self._request_all(pending, ids_by_key, facets_by_key, reasons, done, total, progress)
        rows = []
        for cid in ids:
            if cid in reasons:
                self.failures.append(AnnotationFailure(cid, reasons[cid]))
                continue
            rows.append({"conversation_id": cid, **facets_by_key[key_by_id[cid]]})
        if total and not rows:
            raise AnnotationError(self.failures)
        return pd.DataFrame(rows, columns=["conversation_id", *BEHAVIOUR_FACETS])

    def _request_all(
        self,
        pending: dict[str, list[list[str]]],
        ids_by_key: dict[str, list[str]],
        facets_by_key: dict[str, dict[str, str]],
        reasons: dict[str, str],
        done: int,
        total: int,
        progress: Progress | None,
    ) -> None:
        stop = threading.Event()
        client = OpenAIClient(
            self.base_urls,
            api_key=self._api_key,
            concurrency=self.concurrency,
            max_retries=self.max_retries,
            timeout=self.timeout,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
        )
        executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="simgap-llm")
        try:
            futures: dict[Future, str] = {
                executor.submit(self._annotate, client, key, turns, stop): key
                for key, turns in pending.items()
            }
            for future in as_completed(futures):
                if isinstance(future.exception(), Stopped):
                    continue  # the fatal error that stopped it comes in its own future
                key = futures[future]
                outcome = future.result()
                if isinstance(outcome, dict):
                    facets_by_key[key] = outcome
                else:
                    for cid in ids_by_key[key]:
                        reasons[cid] = outcome
                done += len(ids_by_key[key])
                if progress is not None:
                    progress(done, total)
        finally:
            # Requests already in flight finish (and are cached); queued ones never start.
            stop.set()
            executor.shutdown(wait=True, cancel_futures=True)
            self.requests_made += client.requests_made
            client.close()

    def _annotate(
        self, client: OpenAIClient, key: str, turns: list[list[str]], stop: threading.Event
    ) -> dict[str, str] | str:
        """The facets for one conversation (cached on arrival), or why there are none."""
        keys = ", ".join(BEHAVIOUR_FACETS)
        try:
            facets = ask_with_one_reask(
                lambda messages: complete_chat(
                    client,
                    messages,
                    model=self.model,
                    temperature=self.temperature,
                    json_mode=self.json_mode,
                    api_key_env=self.api_key_env,
                    stop=stop,
                ),
                build_messages(turns),
                parse_facets,
                lambda error: _REASK_PROMPT.format(reason=error, keys=keys),
            )
        except ValueError as exc:
            return f"the model's answer was unusable after one re-ask: {exc}"
        except RequestRejected as exc:
            return str(exc)
        except LLMEndpointError:
            stop.set()  # before this worker takes the next conversation from the queue
            raise
        self._write_cache(key, turns, facets)
        return facets

    # --- cache ------------------------------------------------------------------------------

    def _cache_key(self, turns: list[list[str]]) -> str:
        return answer_key(
            model=self.model,
            prompt_version=PROMPT_VERSION,
            conversation=conversation_digest(turns),
        )

    def _read_cache(self, key: str) -> dict[str, str] | None:
        entry = self._cache.read(key)
        facets = entry.get("facets") if entry is not None else None
        valid = (
            isinstance(facets, dict)
            and entry.get("model") == self.model
            and entry.get("prompt_version") == PROMPT_VERSION
            and all(isinstance(facets.get(facet), str) for facet in BEHAVIOUR_FACETS)
        )
        return {facet: facets[facet] for facet in BEHAVIOUR_FACETS} if valid else None

    def _write_cache(self, key: str, turns: list[list[str]], facets: dict[str, str]) -> None:
        entry = {
            "model": self.model,
            "prompt_version": PROMPT_VERSION,
            "conversation_digest": conversation_digest(turns),
            "facets": facets,
        }
        self._cache.write(key, entry)
