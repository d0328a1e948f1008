"""One chat completion from an OpenAI-compatible server, and where its endpoint comes from.

The endpoint (API roots and model) comes from the arguments or else `$SIMGAP_LLM_BASE_URL` and
`$SIMGAP_LLM_MODEL`; the API key from `$<api_key_env>` or else `$OPENAI_API_KEY`, read when a
client is built and only ever sent as a Bearer header. Requests go through the shared client
(`simgap_core.http.OpenAIClient`: retries, backoff honouring Retry-After, concurrency limit,
several servers, redacted URLs); this module adds what is particular to chat: the payload, the
answer's text, the hints that name the key, URL or model to check, and the one re-ask.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from simgap_core.errors import SimgapError
from simgap_core.http import EndpointError, OpenAIClient, RequestRejected, check_base_url
from simgap_core.parts import PartError

BASE_URL_ENV = "SIMGAP_LLM_BASE_URL"
MODEL_ENV = "SIMGAP_LLM_MODEL"
API_KEY_ENV = "SIMGAP_LLM_API_KEY"
FALLBACK_API_KEY_ENV = "OPENAI_API_KEY"
REASK_ANSWER_CHARS = 4000  # of the unusable answer, quoted back to the model when re-asking


class LLMConfigError(PartError):
    """An LLM part cannot start: an endpoint, model or parameter is missing or invalid."""


class LLMEndpointError(SimgapError):
    """The endpoint refused the run (bad key, URL or model) or kept failing after retries."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


def resolve_endpoint(
    base_url: str | Sequence[str] | None, model: str | None, *, user: str
) -> tuple[list[str], str]:
    """The checked API roots and the model, from the arguments or else the environment.

    `user` ("the LLM annotator") starts the `LLMConfigError` raised when either is missing.
    """
    urls = [base_url] if isinstance(base_url, str) else list(base_url or [])
    urls = urls or ([os.environ[BASE_URL_ENV]] if os.environ.get(BASE_URL_ENV) else [])
    model = model or os.environ.get(MODEL_ENV)
    if not urls:
        raise LLMConfigError(
            f"{user} needs an endpoint: pass base_url or set ${BASE_URL_ENV} "
            "(an OpenAI-compatible API root such as http://localhost:8000/v1)"
        )
    try:
        checked = [check_base_url(url) for url in urls]
    except SimgapError as error:
        raise LLMConfigError(str(error)) from None
    if not model:
        raise LLMConfigError(f"{user} needs a model name: pass model or set ${MODEL_ENV}")
    return checked, model


def api_key_from_env(api_key_env: str) -> str | None:
    """The API key in `$<api_key_env>`, else `$OPENAI_API_KEY`; None for a keyless server."""
    return os.environ.get(api_key_env) or os.environ.get(FALLBACK_API_KEY_ENV)


def _refusal_hint(status: int, *, model: str, api_key_env: str) -> str:
    """What to check when the server refuses the whole run with `status`."""
    return {
        401: f"check the API key in ${api_key_env} (or ${FALLBACK_API_KEY_ENV})",
        403: f"the key in ${api_key_env} may not use model {model!r}",
        404: f"check that base_url ends at the API root (e.g. .../v1) and that model "
        f"{model!r} is served",
        405: "check that base_url is the API root of an OpenAI-compatible server",
    }[status]


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
            hint = _refusal_hint(exc.status, model=model, api_key_env=api_key_env)
            # `exc` names the server that answered, its URL already redacted.
            raise LLMEndpointError(f"{exc} ({hint})", status=exc.status) from None
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
            {"role": "assistant", "content": answer[:REASK_ANSWER_CHARS]},
            {"role": "user", "content": reask(first)},
        ]
        return parse(complete(retry))
