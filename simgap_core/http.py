"""One OpenAI-compatible HTTP client for every part that talks to a server.

The LLM annotator (`/chat/completions`) and the embeddings part (`/embeddings`) meet the same
servers (vLLM, Text Embeddings Inference, Ollama, OpenAI) and the same failures, so they share
one policy instead of two copies of it:

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
"""

from __future__ import annotations

import email.utils
import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

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


def check_base_url(base_url: str, *, option: str = "base_url") -> str:
    """`base_url` without its trailing slash; `SimgapError` when it is not http(s)."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise SimgapError(f"{option} must start with http:// or https://: {base_url!r}")
    return base_url.rstrip("/")


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
        return f"OpenAIClient(base_urls={self.base_urls!r}, concurrency={self.concurrency})"

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
        problem, url = "", ""
        for attempt in range(self.max_retries + 1):
            if stop.is_set():
                raise Stopped
            with self._lock:
                base = self.base_urls[next(self._next_url)]
                self.requests_made += 1
                self.requests_by_url[base] += 1
            url = f"{base}/{path.lstrip('/')}"
            wait = None
            try:
                with self._slots:
                    response = self._http.post(url, json=payload)
            except httpx.TransportError as exc:  # timeouts, refused or dropped connections
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status == 200:
                    return response
                message = server_message(response)
                if status in FATAL_STATUS:
                    raise EndpointError(
                        f"{url} answered HTTP {status}: {message}", status=status, detail=message
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
            f"{url} still failing after {self.max_retries + 1} attempt(s): {problem}",
            detail=problem,
        )
