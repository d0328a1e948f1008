"""One OpenAI-compatible HTTP client for every part that talks to a server.

The LLM parts (`simgap_core.llm`, `/chat/completions`) and the embeddings part (`/embeddings`)
meet the same servers (vLLM, Text Embeddings Inference, Ollama, OpenAI) and the same failures,
so they share one policy instead of two copies of it:

- transient failures (408, 409, 425, 429, 5xx, timeouts, refused or dropped connections) are
  retried with exponential backoff and jitter, honouring a `Retry-After` header (seconds or an
  HTTP date) when the server sends one; every wait is capped at `max_backoff`;
- 401 / 403 / 404 / 405 mean a wrong key, URL or model: every further request would fail the
  same way, so they raise `EndpointError` at once, as does a server still failing after
  `max_retries` retries;
- any other 4xx is about this one request (e.g. a prompt over the context length) and raises
  `RequestRejected`, which callers record per item;
- at most `concurrency` requests are in flight at once over all threads;
- several base URLs (interchangeable servers) share the load round-robin, and a retry goes to
  the next server, so one dead server slows a run down instead of stopping it.

A base URL may carry credentials (`http://user:password@host/v1`, `?api_key=...`): they are
sent to the server as given (httpx turns userinfo into Basic auth; a query string stays on
every request), and `redact_urls` masks them in every message this module raises, so they
never reach a terminal, a log or a run directory.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from simgap_core.errors import SimgapError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
FATAL_STATUS = frozenset({401, 403, 404, 405})


class EndpointError(SimgapError):
    """The server refused the run (bad key, URL or model) or kept failing after retries."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        self.status = status
        self.detail = detail
        super().__init__(message)


class RequestRejected(SimgapError):
    """The server rejected this one request (a 4xx that is not about the whole run)."""


class Stopped(Exception):
    """The caller abandoned the run (its stop event was set) before this request was sent."""


def server_message(response: httpx.Response) -> str:
    """The error message an OpenAI-compatible server put in its body, or the body itself."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if body.get("message"):
            return str(body["message"])
    return json.dumps(body)[:500]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# A URL in free text: scheme, then (optionally) userinfo up to the last "@" before the query,
# fragment or end, then the rest. "/" may sit in a password typed unencoded, so it does not end
# the userinfo: a URL whose path holds "@" loses its host in the message, never a secret.
_URL_IN_TEXT = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<userinfo>[^\s/?#'\"<>][^\s?#'\"<>]*@)?"
    r"(?P<rest>[^\s'\"<>]*)"
)
_QUERY_PAIR = re.compile(r"(?P<lead>[?&;#])(?P<name>[^=&;#\s'\"<>]+)=(?P<value>[^&;#\s'\"<>]*)")
# Parameter names that carry secrets: api_key, key, token, access_token, sig, X-Amz-Signature,
# X-Amz-Credential, password, client_secret, auth, session ids. Masking a harmless parameter
# costs readability only; missing a secret costs the secret.
_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session|cookie", re.I)
MASK = "***"


def redact_urls(text: str) -> str:
    """`text` with the credentials of every URL in it masked: userinfo becomes `***@` and the
    value of every secret-looking query (or fragment) parameter `***`.

    The one redaction of the project: it runs on every URL simgap stores or prints (a bare
    base URL is a text holding one URL) and on messages that may quote one, such as httpx's.
    """

    def mask_pair(pair: re.Match[str]) -> str:
        if not _SECRET_NAME.search(unquote(pair["name"])):
            return pair[0]
        return f"{pair['lead']}{pair['name']}={MASK}"

    def mask_url(url: re.Match[str]) -> str:
        userinfo = f"{MASK}@" if url["userinfo"] is not None else ""
        return url["scheme"] + userinfo + _QUERY_PAIR.sub(mask_pair, url["rest"])

    return _URL_IN_TEXT.sub(mask_url, str(text))


def check_base_url(base_url: str, *, option: str = "base_url") -> str:
    """`base_url` without its trailing slash; `SimgapError` when it is not an http(s) URL
    with a host (the message shows the URL redacted)."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        shown = redact_urls(repr(base_url))
        raise SimgapError(f"{option} must start with http:// or https://: {shown}")
    try:
        host = httpx.URL(base_url).host
    except httpx.InvalidURL as error:
        raise SimgapError(f"{option} {redact_urls(base_url)} is not a valid URL: {error}") from None
    if not host:
        raise SimgapError(f"{option} {redact_urls(base_url)} names no host")
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def endpoint_url(base_url: str, path: str) -> str:
    """`path` appended to the API root's path; its query (e.g. `?api-version=...&key=...`)
    stays at the end, where the server reads it."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path.lstrip('/')}"))


def check_client_options(
    *, concurrency: int, max_retries: int, timeout: float, backoff: float, max_backoff: float
) -> None:
    """`SimgapError` naming the first `OpenAIClient` option outside its range.

    Parts that build their client only when they first send call it in their constructor, so
    a bad option fails when it is given, not after the cache was read.
    """
    checks = {
        "concurrency": (concurrency, concurrency >= 1, "at least 1"),
        "max_retries": (max_retries, max_retries >= 0, "at least 0"),
        "timeout": (timeout, timeout > 0, "above 0 seconds"),
        "backoff": (backoff, backoff >= 0, "at least 0 seconds"),
        "max_backoff": (max_backoff, max_backoff >= 0, "at least 0 seconds"),
    }
    for name, (value, valid, allowed) in checks.items():
        if not valid:
            raise SimgapError(f"invalid {name}={value!r}: must be {allowed}")


class OpenAIClient:
    """POST JSON to one or several OpenAI-compatible API roots with the retry policy above.

    `base_urls` are API roots (e.g. `http://localhost:8000/v1`) that `path` is appended to.
    `api_key` is sent as a Bearer header when given, never stored anywhere else.
    `requests_made` counts HTTP requests sent (retries included) and `requests_by_url` the
    same per base URL. Thread-safe; close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise SimgapError("an OpenAI-compatible client needs at least one base URL")
        check_client_options(
            concurrency=concurrency,
            max_retries=max_retries,
            timeout=timeout,
            backoff=backoff,
            max_backoff=max_backoff,
        )
        self.base_urls = [check_base_url(url) for url in urls]
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.requests_made = 0
        self.requests_by_url = dict.fromkeys(self.base_urls, 0)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._next_url = itertools.cycle(range(len(self.base_urls)))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency * len(self.base_urls)),
        )

    def __repr__(self) -> str:
        shown = [redact_urls(url) for url in self.base_urls]
        return f"OpenAIClient(base_urls={shown!r}, concurrency={self.concurrency})"

    def __enter__(self) -> OpenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def post(
        self, path: str, payload: dict[str, Any], *, stop: threading.Event | None = None
    ) -> httpx.Response:
        """The 200 response to POST `payload` at `path`, after retries.

        Raises `EndpointError` (fatal status, or still failing after `max_retries` retries),
        `RequestRejected` (another 4xx), or `Stopped` when `stop` is set before a request.
        """
        stop = stop or threading.Event()
        problem, shown = "", ""
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise Stopped
            with self._lock:
                base = self.base_urls[next(self._next_url)]
                self.requests_made += 1
                self.requests_by_url[base] += 1
            url = endpoint_url(base, path)
            shown = redact_urls(url)
            wait = None
            try:
                with self._slots:
                    response = self._http.post(url, json=payload)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                problem = redact_urls(f"{type(exc).__name__}: {exc}")
            else:
                status = response.status_code
                if status == 200:
                    return response
                message = redact_urls(server_message(response))  # servers may echo the URL
                if status in FATAL_STATUS:
                    raise EndpointError(
                        f"{shown} answered HTTP {status}: {message}", status=status, detail=message
                    )
                if status < 500 and status not in RETRYABLE_STATUS:
                    raise RequestRejected(f"the server answered HTTP {status}: {message}")
                problem = f"HTTP {status}: {message}"
                wait = retry_after(response)
            if attempt == self.max_retries:
                break
            if wait is None:
                delay = self.backoff * 2**attempt
                wait = delay / 2 + random.uniform(0, delay / 2)  # jitter spreads the retries
            stop.wait(min(wait, self.max_backoff))
        raise EndpointError(
            f"{shown} still failing after {self.max_retries + 1} attempt(s): {problem}",
            detail=problem,
        )
