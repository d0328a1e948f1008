"""What every part written by a chat model shares: its settings, its cache, its requests.

The LLM annotator and the LLM namer differ in what they ask and how they read the answer; the
rest is `ChatModelBase`: one constructor that finds and checks the endpoint, the model and the
client options (`LLMConfigError` at construction, not at the first request); the answer cache
(`VersionedAnswers`, keyed by model, the subclass's prompt version and the digest of what each
prompt is made of); and `ask_all`, which sends the prompts not answered from the cache,
`concurrency` at a time through one `OpenAIClient`, re-asks once when an answer is unusable,
caches each valid answer as it arrives, and hands each outcome back in the caller's thread.

What is an error of the whole call and what is an error of one prompt:
- 401 / 403 / 404 / 405 (bad key, wrong URL or model) and a server still failing after
  `max_retries` retries raise `LLMEndpointError` at once: every other request would fail the
  same way. Requests in flight finish (and are cached), queued ones never start, so a rerun
  resumes where this one stopped.
- Any other 4xx (e.g. 400 "context length exceeded") or an answer still unusable after one
  re-ask is an `Unanswered` outcome with the reason; it is never cached, so a rerun asks again.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, ClassVar, Generic, NamedTuple, TypedDict, TypeVar

from simgap_core import cache_root
from simgap_core.errors import SimgapError
from simgap_core.http import (
    OpenAIClient,
    RequestRejected,
    Stopped,
    check_client_options,
    endpoint_url,
    redact_urls,
)
from simgap_core.llm.cache import VersionedAnswers
from simgap_core.llm.chat import (
    API_KEY_ENV,
    LLMConfigError,
    LLMEndpointError,
    api_key_from_env,
    ask_with_one_reask,
    complete_chat,
    resolve_endpoint,
)

Answer = TypeVar("Answer")


class ChatOptions(TypedDict, total=False):
    """The keyword options every LLM part takes (see `ChatModelBase`)."""

    api_key_env: str
    cache_dir: Path | None
    concurrency: int
    max_retries: int
    timeout: float
    backoff: float
    max_backoff: float
    temperature: float
    json_mode: bool


class Question(NamedTuple):
    """One prompt to send: its chat messages and the digest of the content they were made
    from (the content part of its cache key)."""

    digest: str
    messages: list[dict[str, str]]


class Unanswered(NamedTuple):
    """A prompt that got no usable answer, and why (never cached: a rerun asks again)."""

    reason: str


class ChatModelBase(ABC, Generic[Answer]):
    """A part whose output a chat model writes, behind OpenAI-compatible endpoints.

    `base_url` (one API root such as `http://localhost:8000/v1`, or several interchangeable
    ones) and `model` default to `$SIMGAP_LLM_BASE_URL` and `$SIMGAP_LLM_MODEL`. The API key
    is read from `$<api_key_env>` or else `$OPENAI_API_KEY` when requests are about to be
    sent; without one no Authorization header is sent (local servers need none). The key is
    only ever sent as a Bearer header, never stored.

    `cache_dir` defaults to `$SIMGAP_CACHE_DIR/<cache_folder>` (or `~/.cache/simgap/...`).
    `backoff` is the first retry's delay in seconds, doubled per retry with jitter and capped
    (like a `Retry-After` wait) at `max_backoff`. `json_mode` asks the server for
    `response_format={"type": "json_object"}`; turn it off for servers that reject it.

    Subclasses set `user` (how errors name the part), `cache_folder` and `content` (what the
    digests of their questions are of), and say how to read and cache an answer.
    `requests_made` counts the HTTP requests of the last `ask_all` (retries and re-asks
    included); `cache_hits` is the subclass's count of what its last call found cached.
    """

    # Where the model runs and how it is reached, not what it writes (`answer_identity`).
    output_neutral = frozenset(
        {"base_url", "api_key_env", "cache_dir", "concurrency", "max_retries", "timeout"}
        | {"backoff", "max_backoff"}
    )

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        """The analysis's LLM endpoint, model and concurrency (`--llm-base-url` ...)."""
        return {
            "base_url": params.llm_base_url,
            "model": params.llm_model,
            "concurrency": params.llm_concurrency,
        }


    user: ClassVar[str]
    cache_folder: ClassVar[str]
    content: ClassVar[str]

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        *,
        api_key_env: str = API_KEY_ENV,
        cache_dir: Path | None = None,
        concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        temperature: float = 0.0,
        json_mode: bool = True,
    ) -> None:
        self.base_urls, self.model = resolve_endpoint(base_url, model, user=self.user)
        self.client_options = {
            "concurrency": concurrency,
            "max_retries": max_retries,
            "timeout": timeout,
            "backoff": backoff,
            "max_backoff": max_backoff,
        }
        try:
            check_client_options(**self.client_options)
        except SimgapError as error:
            raise LLMConfigError(str(error)) from None
        self.api_key_env = api_key_env
        self.cache_dir = (
            Path(cache_dir) if cache_dir is not None else cache_root() / self.cache_folder
        )
        self.concurrency = concurrency
        self.temperature = temperature
        self.json_mode = json_mode
        self.requests_made = 0
        self.cache_hits = 0  # what a hit counts (conversations, clusters) is the subclass's

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={redact_urls(self.base_url)!r}, model={self.model!r})"
        )

    @property
    def base_url(self) -> str:
        """The first API root (with its credentials: send, never show it)."""
        return self.base_urls[0]

    @property
    def endpoint(self) -> str:
        """The chat completions URL of the first server (with its credentials: send, never
        show it; `redact_urls` it first)."""
        return endpoint_url(self.base_url, "chat/completions")

    # --- what subclasses say ----------------------------------------------------------------

    @property
    @abstractmethod
    def prompt_version(self) -> str:
        """The version of the prompts, bumped whenever their wording changes (part of every
        cache key, so old answers are never served for new prompts)."""

    @abstractmethod
    def parse_answer(self, text: str) -> Answer:
        """The answer in a model's reply; `ValueError` saying what is wrong with it."""

    @abstractmethod
    def reask_prompt(self, error: ValueError) -> str:
        """The message that asks again after an unusable reply, saying why (`error`)."""

    @abstractmethod
    def answer_fields(self, answer: Answer) -> dict[str, Any]:
        """The JSON fields a cache entry stores for `answer`."""

    @abstractmethod
    def answer_from_fields(self, entry: dict[str, Any]) -> Answer | None:
        """The answer stored in a cache entry, or None when the entry is unusable."""

    # --- shared -----------------------------------------------------------------------------

    def answer_identity(self, **own: Any) -> dict[str, Any]:
        """What changes the answers: the model, the prompt version, the subclass's `own`
        parameters, sampling and JSON mode.

        The base URLs are not part of it: they say where the model runs, not what it writes,
        and the answer cache is shared across servers for the same reason. Credentials in a
        URL (`user:pw@`, `?api_key=`) therefore never reach a cache key or cache file either,
        and a changed password does not invalidate the cache.
        """
        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            **own,
            "temperature": self.temperature,
            "json_mode": self.json_mode,
        }

    def answer_cache(self) -> VersionedAnswers:
        """This model's answers to the current prompt version."""
        return VersionedAnswers(
            self.cache_dir,
            model=self.model,
            prompt_version=self.prompt_version,
            content=self.content,
        )

    def lookup(
        self, questions: Mapping[str, Question]
    ) -> tuple[dict[str, Answer], dict[str, Question]]:
        """(answers found in the cache, questions still to ask), both by cache key; keys come
        from `answer_cache().key(question.digest)`."""
        cache = self.answer_cache()
        found: dict[str, Answer] = {}
        pending: dict[str, Question] = {}
        for key, question in questions.items():
            entry = cache.read(key)
            answer = self.answer_from_fields(entry) if entry is not None else None
            if answer is None:
                pending[key] = question
            else:
                found[key] = answer
        return found, pending

    def ask_all(
        self,
        pending: Mapping[str, Question],
        arrived: Callable[[str, Answer | Unanswered], None],
    ) -> None:
        """Ask the model every pending question (by cache key); `arrived(key, outcome)` is
        called in this thread as each one finishes, in the order they finish.

        Raises `LLMEndpointError` when the endpoint refuses the run (see the module docstring).
        An exception raised by `arrived` (e.g. KeyboardInterrupt from a progress bar) stops
        the call the same way: requests in flight finish and are cached, queued ones never
        start.
        """
        self.requests_made = 0
        if not pending:
            return
        cache = self.answer_cache()
        stop = threading.Event()
        client = OpenAIClient(
            self.base_urls, api_key=api_key_from_env(self.api_key_env), **self.client_options
        )
        executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="simgap-llm")
        try:
            futures: dict[Future, str] = {
                executor.submit(self._ask, client, cache, key, question, stop): key
                for key, question in pending.items()
            }
            for future in as_completed(futures):
                if isinstance(future.exception(), Stopped):
                    continue  # the fatal error that stopped it comes in its own future
                arrived(futures[future], future.result())
        finally:
            stop.set()
            executor.shutdown(wait=True, cancel_futures=True)
            self.requests_made = client.requests_made
            client.close()

    def _ask(
        self,
        client: OpenAIClient,
        cache: VersionedAnswers,
        key: str,
        question: Question,
        stop: threading.Event,
    ) -> Answer | Unanswered:
        """One question's valid answer (cached on arrival), or why there is none."""
        try:
            answer = ask_with_one_reask(
                lambda messages: complete_chat(
                    client,
                    messages,
                    model=self.model,
                    temperature=self.temperature,
                    json_mode=self.json_mode,
                    api_key_env=self.api_key_env,
                    stop=stop,
                ),
                question.messages,
                self.parse_answer,
                self.reask_prompt,
            )
        except ValueError as exc:
            return Unanswered(f"the model's answer was unusable after one re-ask: {exc}")
        except RequestRejected as exc:
            return Unanswered(str(exc))
        except LLMEndpointError:
            stop.set()  # before this worker takes the next question from the queue
            raise
        cache.write(key, question.digest, self.answer_fields(answer))
        return answer
