"""A real HTTP server on 127.0.0.1 that answers like an OpenAI-compatible chat endpoint.

It serves `POST /v1/chat/completions` and `POST /v1/embeddings` from a `ThreadingHTTPServer`
in a background thread (port 0, so tests never collide) and records every request it receives.
Embeddings are deterministic: `fake_embedding(text, dim)` (a seeded normal vector from the
text's hash, not normalized, so truncation plus re-normalization is visible). What it answers
is scriptable:

- markers in the conversation text pick the answer for that conversation: `#fenced` (JSON in
  a code fence), `#broken` (JSON that needs repair), `#garbage` (never JSON), `#fix-on-reask`
  (garbage, then valid JSON when re-asked), `#missing-style` (valid JSON without "style"),
  `#too-long` (HTTP 400); anything else gets well-formed JSON;
- `script(*steps)` queues one-off replies taken by the next requests in arrival order:
  an HTTP status with headers (429 + Retry-After, 500), a dropped connection, a slow reply,
  an embeddings answer of another length (`Step(dim=16)`) or a raw JSON body (`Step(body=...)`,
  e.g. NaN vectors or a wrong count);
- `status` answers every request with that HTTP status (e.g. 401);
- `fail_after` gives that many good answers, then HTTP 500 to every request;
- `delay` makes every reply slow; `max_in_flight` records the most concurrent requests.

Every answer names the `id=<token>` found in the conversation, so a test can check that each
conversation got its own facets back.

A prompt of the LLM cluster namer (it holds `TARGET_HEADING`) is answered with
`{"name", "description"}` naming the `id=<token>` of the cluster to name (`name_for(token)`);
only that cluster's section counts for the token and the markers, so a marked neighbour does
not change its neighbour's answer. The markers above apply, plus `#same-name` (every such
cluster gets one and the same name) and `#long-name` (an 11-word name).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from simgap_core.behaviour.llm_names import TARGET_HEADING

_TOKEN = re.compile(r"id=([\w-]+)")
SAME_NAME = "one and the same behaviour"

# What a developer's shell may set that must never reach a test of an LLM part: its own
# endpoint, model, key or cache folder, and proxies (httpx honours them; a proxy must not sit
# between the tests and 127.0.0.1).
LLM_ENV_VARS = (
    "SIMGAP_LLM_BASE_URL",
    "SIMGAP_LLM_MODEL",
    "SIMGAP_LLM_API_KEY",
    "OPENAI_API_KEY",
    "SIMGAP_CACHE_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def clear_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every variable of `LLM_ENV_VARS` for the current test."""
    for name in LLM_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclass(frozen=True)
class Step:
    """One scripted reply: an HTTP status (with headers), a dropped connection, or a pause."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    sleep: float = 0.0
    dim: int | None = None  # embeddings of this length instead of the server's
    body: Any = None  # answer this JSON (with `status`) instead of the usual reply


@dataclass
class RecordedRequest:
    time: float
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the server answered; 0 for a dropped connection
    query: str = ""  # the URL's query string (e.g. `api_key=...`), routed on without it

    @property
    def prompt(self) -> str:
        """The conversation's user prompt (the first user message)."""
        messages = self.body.get("messages", [])
        return next((m["content"] for m in messages if m.get("role") == "user"), "")

    @property
    def namer_section(self) -> str | None:
        """For a cluster namer's prompt, the section of the cluster to name; else None."""
        prompt = self.prompt
        start = prompt.find(TARGET_HEADING)
        if start < 0:
            return None
        end = prompt.find("\n## ", start + len(TARGET_HEADING))
        return prompt[start : end if end >= 0 else len(prompt)]

    @property
    def token(self) -> str | None:
        section = self.namer_section
        found = _TOKEN.search(self.prompt if section is None else section)
        return found.group(1) if found else None

    @property
    def is_reask(self) -> bool:
        return len(self.body.get("messages", [])) > 2


def fake_embedding(text: str, dim: int = 64) -> list[float]:
    """The vector the fake server returns for `text`: same text, same vector, in any server."""
    import numpy as np

    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    return (np.random.default_rng(seed).normal(size=dim) * 3.0).round(6).tolist()


def facets_for(token: str | None) -> dict[str, Any]:
    """The well-formed answer for a conversation (dialog_acts as a list, as models often do)."""
    return {
        "requests": f"requests of {token}",
        "responses": f"responses of {token}",
        "context": f"context of {token}",
        "style": f"style of {token}",
        "dialog_acts": [f"Turn 1: GREET, REQUEST - opens ({token}).", "Turn 2: THANK - closes."],
    }


def name_for(token: str | None) -> dict[str, str]:
    """The namer's well-formed answer for the cluster whose texts hold `id=<token>`."""
    return {
        "name": f"{token} behaviour as named by the model",
        "description": f"Sets {token} apart from its neighbours.",
    }


def _broken(token: str | None) -> str:
    # Prose before, single quotes, a trailing comma, a Python literal, no closing brace.
    return (
        "Sure! Here is the annotation:\n"
        f"{{'requests': 'requests of {token}', \"responses\": \"responses of {token}\", "
        f"'context': 'context of {token}', \"style\": \"style of {token}\", "
        f"'dialog_acts': ['Turn 1: GREET, REQUEST - opens ({token}).', "
        "'Turn 2: THANK - closes.',], 'confident': True,"
    )


class FakeOpenAIServer:
    """An OpenAI-compatible chat endpoint for tests; use as a context manager or start/close."""

    def __init__(self, *, delay: float = 0.0, embedding_dim: int = 64) -> None:
        self.delay = delay
        self.embedding_dim = embedding_dim
        self.status: int | None = None
        self.fail_after: int | None = None
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._answers = 0
        self._steps: deque[Step] = deque()
        self._lock = threading.Lock()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        # A short poll interval: shutdown() waits for the serving loop to notice.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The API root to pass as `base_url`."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps.extend(steps)

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def embedding_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/embeddings"]

    def _decide(self, path: str, body: dict[str, Any]) -> tuple[Step, str | None]:
        """The reply to give (status/headers/drop/sleep) and, for a 200, which content kind."""
        if path == "/v1/embeddings":
            with self._lock:
                step = self._steps.popleft() if self._steps else Step()
                if step.status != 200 or step.drop:
                    return step, None
                if self.status is not None:
                    return Step(status=self.status), None
            return step, "embeddings"
        if path != "/v1/chat/completions":
            return Step(status=404), None
        recorded = RecordedRequest(0.0, path, {}, body, 0)
        section = recorded.namer_section
        prompt = recorded.prompt if section is None else section
        kinds = ("garbage", "fenced", "broken", "fix-on-reask", "missing-style", "too-long")
        kinds += ("same-name", "long-name")
        kind = next((k for k in kinds if f"#{k}" in prompt), "ok")
        with self._lock:
            step = self._steps.popleft() if self._steps else Step()
            if step.status != 200 or step.drop:
                return step, None
            if self.status is not None:
                return Step(status=self.status), None
            if self.fail_after is not None and self._answers >= self.fail_after:
                return Step(status=500), None
            if kind == "too-long":
                return Step(status=400), None
            self._answers += 1
        return step, kind


def _namer_content(kind: str, request: RecordedRequest) -> str:
    answer = name_for(request.token)
    if kind == "same-name":
        answer["name"] = SAME_NAME
    elif kind == "long-name":
        answer["name"] = f"{request.token} users who paste logs and then complain about the answer"
    good = json.dumps(answer)
    if kind == "fenced":
        return f"Here you go.\n```json\n{good}\n```"
    if kind == "broken":
        return "Sure:\n{'name': " + repr(answer["name"]) + ", 'description': 'unfinished"
    if kind == "garbage" or (kind == "fix-on-reask" and not request.is_reask):
        return "I am sorry, but I cannot name this cluster."
    return good


def _content(kind: str, request: RecordedRequest) -> str:
    if request.namer_section is not None:
        return _namer_content(kind, request)
    token = request.token
    good = json.dumps(facets_for(token), indent=2)
    if kind == "fenced":
        return f"Here you go.\n```json\n{good}\n```\nAnything else?"
    if kind == "broken":
        return _broken(token)
    if kind == "garbage" or (kind == "fix-on-reask" and not request.is_reask):
        return "I am sorry, but I cannot describe this conversation."
    if kind == "missing-style":
        facets = facets_for(token)
        del facets["style"]
        return json.dumps(facets)
    return good


_ERRORS = {
    400: ("This model's maximum context length is 8192 tokens.", "invalid_request_error"),
    401: ("Incorrect API key provided: sk-wr***ng.", "invalid_request_error"),
    404: ("The model `nope` does not exist.", "invalid_request_error"),
    429: ("Rate limit reached, please retry later.", "rate_limit_error"),
    500: ("The server had an error while processing your request.", "server_error"),
    503: ("The engine is currently overloaded.", "server_error"),
}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() must never wait on a client's idle keep-alive connection
    fake: FakeOpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with fake._lock:
            fake._in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
        try:
            self._answer(fake, body)
        finally:
            with fake._lock:
                fake._in_flight -= 1

    def _answer(self, fake: FakeOpenAIServer, body: dict[str, Any]) -> None:
        arrived = time.monotonic()
        path, _, query = self.path.partition("?")
        step, kind = fake._decide(path, body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        recorded = RecordedRequest(
            arrived, path, headers, body, 0 if step.drop else step.status, query
        )
        with fake._lock:
            fake.requests.append(recorded)
        time.sleep(fake.delay + step.sleep)
        if step.drop:
            self.close_connection = True
            return
        status = recorded.status
        if step.body is not None:
            payload = step.body
        elif status == 200 and kind == "embeddings":
            texts = body["input"] if isinstance(body.get("input"), list) else [body.get("input")]
            payload = {
                "object": "list",
                "model": body.get("model"),
                "data": [
                    {
                        "object": "embedding",
                        "index": index,
                        "embedding": fake_embedding(text, step.dim or fake.embedding_dim),
                    }
                    for index, text in enumerate(texts)
                ],
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            }
        elif status == 200:
            content = _content(kind, recorded)
            prompt_tokens = len(json.dumps(body["messages"])) // 4
            payload = {
                "id": f"chatcmpl-fake-{len(fake.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": prompt_tokens + len(content) // 4,
                },
            }
        else:
            message, kind_of_error = _ERRORS.get(status, ("error", "server_error"))
            payload = {"error": {"message": message, "type": kind_of_error, "code": status}}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in step.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test): nothing to answer
