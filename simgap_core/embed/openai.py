"""Embeddings from OpenAI-compatible servers: vLLM (`--runner pooling`), TEI, OpenAI, ...

`OpenAIEmbedder` posts batches of texts to `{base_url}/embeddings` through the shared client
(`simgap_core.http`): several batches in flight, retries with backoff honouring Retry-After,
and several base URLs sharing the load round-robin. With `dim` it keeps the first `dim`
components and re-normalizes them (Matryoshka truncation, as the paper did with the first
1,024 dimensions of Qwen3-Embedding-8B); a model trained that way loses little by it.

Its identity is (model, dim): the base URLs are left out on purpose. They name where the
model runs, not what it computes, so a cache filled through one server serves the same model
behind another (a second GPU box, a new port) without embedding anything again. Pointing two
different models at one name is the user's error, as with any model name. Leaving the URLs out
also keeps credentials a URL may carry (`http://user:pw@host/v1`, `?api_key=...`) out of every
cache key and cache file, and a changed password neither splits nor invalidates the cache.
Every message that names a server shows its URL through `simgap_core.http.redact_urls`.

A model whose vectors change length under one name (a new model behind the name, or servers
that disagree) is stopped with an `EmbeddingServerError` naming both lengths, before a vector
of the new length is returned or cached.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from simgap_core.embed import Embedder, check_texts, unit_rows
from simgap_core.errors import SimgapError
from simgap_core.parts import PartError, register

API_KEY_ENV = "SIMGAP_EMBED_API_KEY"
FALLBACK_API_KEY_ENV = "OPENAI_API_KEY"


class EmbeddingServerError(SimgapError):
    """The embeddings server refused the run, kept failing, or answered something unusable."""


@register
class OpenAIEmbedder(Embedder):
    """Vectors from `model` behind one or several OpenAI-compatible `/embeddings` endpoints.

    `base_urls` are API roots (e.g. `http://gpu1:8000/v1`). The key comes from
    `$SIMGAP_EMBED_API_KEY`, else `$OPENAI_API_KEY`; without one no Authorization header is
    sent. `concurrency` batches are in flight per server. `requests_made` and
    `embedded_count` count HTTP requests (retries included) and texts sent.
    """

    name = "openai"
    # The servers say where the model runs, not what it returns (see the module docstring).
    output_neutral = frozenset(
        {"base_urls", "batch_size", "concurrency", "max_retries", "timeout", "backoff"}
        | {"max_backoff", "progress"}
    )

    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {
            "model": params.embed_model,
            "base_urls": params.embed_base_url,
            "dim": params.embed_dim,
        }

    def __init__(
        self,
        model: str | None = None,
        *,
        base_urls: str | Sequence[str] | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 60.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        from simgap_core.http import check_base_url

        if not model:
            raise PartError("the openai embedder needs a model name (--embed-model)")
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls or [])
        if not urls:
            raise PartError("the openai embedder needs at least one --embed-base-url")
        try:
            self.base_urls = [check_base_url(url, option="--embed-base-url") for url in urls]
        except SimgapError as error:
            raise PartError(str(error)) from None
        if dim is not None and (not isinstance(dim, int) or dim < 1):
            raise PartError(f"dim must be a positive integer (or omitted), got {dim!r}")
        for option, value in (("batch_size", batch_size), ("concurrency", concurrency)):
            if not isinstance(value, int) or value < 1:
                raise PartError(f"{option} must be an integer of at least 1, got {value!r}")
        if max_retries < 0 or timeout <= 0 or backoff < 0 or max_backoff < 0:
            raise PartError(
                "max_retries and backoff must be at least 0 and timeout above 0, got "
                f"max_retries={max_retries}, timeout={timeout}, backoff={backoff}"
            )
        self.model = model
        self.dim = dim
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.progress = progress
        self.requests_made = 0
        self.embedded_count = 0
        self.native_dimension: int | None = None
        self._dimension_lock = threading.Lock()

    def params(self) -> dict[str, Any]:
        """Model and truncation dimension; not the servers (see the module docstring)."""
        return {"model": self.model, "dim": self.dim}

    def facts(self) -> dict[str, Any]:
        return {"native_dimension": self.native_dimension, "requests": self.requests_made}

    def __repr__(self) -> str:
        from simgap_core.http import redact_urls

        shown = [redact_urls(url) for url in self.base_urls]
        return f"OpenAIEmbedder(model={self.model!r}, dim={self.dim}, base_urls={shown})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts` in input order; identical texts are sent once."""
        from simgap_core.http import EndpointError, OpenAIClient, RequestRejected, Stopped

        texts = check_texts(texts)
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, self.dim or 0), dtype=np.float32)
        batches = [
            unique[start : start + self.batch_size]
            for start in range(0, len(unique), self.batch_size)
        ]
        api_key = os.environ.get(API_KEY_ENV) or os.environ.get(FALLBACK_API_KEY_ENV)
        stop = threading.Event()
        done = 0
        lock = threading.Lock()
        if self.progress is not None:
            self.progress(0, len(unique))
        client = OpenAIClient(
            self.base_urls,
            api_key=api_key,
            concurrency=self.concurrency * len(self.base_urls),
            max_retries=self.max_retries,
            timeout=self.timeout,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
        )

        def embed(batch: list[str]) -> np.ndarray:
            nonlocal done
            try:
                response = client.post(
                    "embeddings", {"model": self.model, "input": batch}, stop=stop
                )
            except BaseException:
                stop.set()  # before this worker takes the next batch from the queue
                raise
            vectors = self._vectors(response, len(batch))
            with lock:
                done += len(batch)
                if self.progress is not None:
                    self.progress(done, len(unique))
            return vectors

        try:
            with ThreadPoolExecutor(client.concurrency, thread_name_prefix="simgap-embed") as pool:
                futures = [pool.submit(embed, batch) for batch in batches]
                try:
                    rows = [future.result() for future in futures]
                except Stopped:
                    # A batch that saw the stop: the error that set it is in another future.
                    errors = [f.exception() for f in futures]
                    raise next(
                        (e for e in errors if e is not None and not isinstance(e, Stopped)),
                        Stopped(),
                    ) from None
                except BaseException:
                    stop.set()  # queued batches never start
                    raise
        except EndpointError as error:
            raise EmbeddingServerError(f"embeddings for model {self.model!r}: {error}") from None
        except RequestRejected as error:
            raise EmbeddingServerError(
                f"embeddings for model {self.model!r}: {error} (a batch of up to "
                f"{self.batch_size} texts; a smaller --embed-batch-size may help)"
            ) from None
        except Stopped:
            raise EmbeddingServerError("embedding was stopped") from None
        finally:
            self.requests_made += client.requests_made
            client.close()
        self.embedded_count += len(unique)
        vectors = np.vstack(rows)
        row = {text: i for i, text in enumerate(unique)}
        return vectors[[row[text] for text in texts]]

    def _vectors(self, response: Any, expected: int) -> np.ndarray:
        """The rows of an embeddings answer, in input order, truncated and re-normalized."""
        from simgap_core.http import redact_urls

        server = redact_urls(str(response.url))
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as error:
            raise EmbeddingServerError(
                f"{server} did not answer like an OpenAI embeddings endpoint "
                f"(data[i].embedding): {type(error).__name__}: {str(error)[:200]}"
            ) from None
        if matrix.ndim != 2 or len(matrix) != expected:
            raise EmbeddingServerError(
                f"{server} returned {len(matrix)} vectors for {expected} texts"
            )
        self._check_native_dimension(int(matrix.shape[1]), server)
        if self.dim is not None:
            if matrix.shape[1] < self.dim:
                raise EmbeddingServerError(
                    f"model {self.model!r} returns {matrix.shape[1]}-d vectors, fewer than "
                    f"--embed-dim {self.dim}"
                )
            matrix = matrix[:, : self.dim]
        if not np.isfinite(matrix).all() or (np.abs(matrix).sum(axis=1) == 0).any():
            raise EmbeddingServerError(f"{server} returned a zero or non-finite vector")
        return unit_rows(matrix)

    def _check_native_dimension(self, dimension: int, server: str) -> None:
        """Record the model's vector length; a batch of another length (servers that disagree,
        a model swapped mid-run) is an error, checked before truncation hides it."""
        with self._dimension_lock:
            if self.native_dimension is None:
                self.native_dimension = dimension
            elif dimension != self.native_dimension:
                raise EmbeddingServerError(
                    f"model {self.model!r} returned {dimension}-d vectors from {server} after "
                    f"{self.native_dimension}-d vectors earlier in this run; every server must "
                    "run the same model"
                )
