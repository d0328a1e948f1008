"""The OpenAI-compatible embedder against a real local server: vectors, retries, several
servers, Matryoshka truncation, the key, and a text embedded once across two runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer, Step, fake_embedding

from simgap_core.embed import CachedEmbedder, OpenAIEmbedder
from simgap_core.embed.openai import EmbeddingServerError
from simgap_core.parts import PartError, create

ENV_VARS = ("SIMGAP_EMBED_API_KEY", "OPENAI_API_KEY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
ENV_VARS += tuple(name.lower() for name in ENV_VARS[2:])
TEXTS = [f"behaviour text number {i}" for i in range(7)]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def expected(texts: list[str], dim: int | None = None) -> np.ndarray:
    """The fake server's vectors, truncated and re-normalized independently of the embedder."""
    rows = np.array([fake_embedding(text) for text in texts], dtype=np.float64)
    if dim is not None:
        rows = rows[:, :dim]
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make(urls, **options) -> OpenAIEmbedder:
    defaults = {"model": "fake-embed", "backoff": 0.001, "max_backoff": 2.0, "timeout": 5.0}
    return OpenAIEmbedder(base_urls=urls, **{**defaults, **options})


def test_vectors_are_batched_truncated_renormalized_and_in_input_order(server) -> None:
    embedder = make(server.url, dim=16, batch_size=3)
    texts = [*TEXTS, TEXTS[0]]  # a repeated text is sent once
    vectors = embedder.encode(texts)
    assert vectors.shape == (8, 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected(texts, 16), atol=1e-6)
    requests = server.embedding_requests()
    assert sorted(len(r.body["input"]) for r in requests) == [1, 3, 3]  # concurrent: any order
    assert sorted(t for r in requests for t in r.body["input"]) == sorted(TEXTS)
    assert {r.body["model"] for r in requests} == {"fake-embed"}
    assert embedder.facts()["native_dimension"] == 64


def test_without_dim_the_full_vector_is_normalized(server) -> None:
    np.testing.assert_allclose(make(server.url).encode(TEXTS[:2]), expected(TEXTS[:2]), atol=1e-6)


def test_429_is_retried_after_the_retry_after_delay(server) -> None:
    server.script(Step(status=429, headers={"Retry-After": "1"}))
    embedder = make(server.url, concurrency=1)
    vectors = embedder.encode(TEXTS[:2])
    first, second = server.embedding_requests()
    assert (first.status, second.status) == (429, 200)
    # Honoured (at least the 1 s asked), not the 1 ms backoff. No upper bound: a loaded machine
    # may start the retry late, and waiting longer than asked is allowed.
    assert second.time - first.time >= 0.95
    assert embedder.requests_made == 2
    np.testing.assert_allclose(vectors, expected(TEXTS[:2]), atol=1e-6)


def test_several_servers_share_the_load_and_a_failing_one_is_retried_elsewhere() -> None:
    with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        embedder = make([one.url, two.url], batch_size=2, concurrency=1)
        vectors = embedder.encode([f"t{i}" for i in range(8)])
        assert len(one.embedding_requests()) == len(two.embedding_requests()) == 2
        np.testing.assert_allclose(vectors, expected([f"t{i}" for i in range(8)]), atol=1e-6)

        two.script(Step(status=503))
        make([two.url, one.url], concurrency=1).encode(["retried"])
        assert two.embedding_requests()[-1].status == 503
        assert one.embedding_requests()[-1].body["input"] == ["retried"]


def test_auth_errors_stop_at_once_with_the_servers_message(server) -> None:
    server.status = 401
    with pytest.raises(EmbeddingServerError, match="fake-embed.*HTTP 401: Incorrect API key"):
        make(server.url, batch_size=1, concurrency=1).encode(TEXTS[:3])
    assert len(server.embedding_requests()) == 1


def test_a_dimension_above_the_models_is_refused(server) -> None:
    with pytest.raises(EmbeddingServerError, match="64-d vectors, fewer than --embed-dim 100"):
        make(server.url, dim=100).encode(["x"])


@pytest.mark.parametrize("variable", ["SIMGAP_EMBED_API_KEY", "OPENAI_API_KEY"])
def test_key_comes_from_the_environment(server, monkeypatch, variable) -> None:
    monkeypatch.setenv(variable, "sk-embed-test")
    make(server.url).encode(["x"])
    assert server.embedding_requests()[0].headers["authorization"] == "Bearer sk-embed-test"
    assert "sk-embed-test" not in repr(make(server.url))


def test_simgap_key_wins_over_openai_key(server, monkeypatch) -> None:
    monkeypatch.setenv("SIMGAP_EMBED_API_KEY", "sk-simgap")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    make(server.url).encode(["x"])
    assert server.embedding_requests()[0].headers["authorization"] == "Bearer sk-simgap"


def test_parameters_are_validated_with_the_allowed_range() -> None:
    with pytest.raises(PartError, match="needs a model name"):
        OpenAIEmbedder(base_urls="http://127.0.0.1:9/v1")
    with pytest.raises(PartError, match="at least one --embed-base-url"):
        OpenAIEmbedder("m")
    with pytest.raises(PartError, match="http:// or https://"):
        OpenAIEmbedder("m", base_urls="localhost:8000/v1")
    with pytest.raises(PartError, match="dim must be a positive integer"):
        OpenAIEmbedder("m", base_urls="http://127.0.0.1:9/v1", dim=0)
    with pytest.raises(PartError, match="batch_size must be an integer of at least 1"):
        create("embedder", "openai", model="m", base_urls=["http://127.0.0.1:9/v1"], batch_size=0)


def test_identity_is_model_and_dim_and_not_the_server(server, tmp_path: Path) -> None:
    a = make(server.url, dim=16)
    assert a.identity() == {"kind": "embedder", "name": "openai", "model": "fake-embed", "dim": 16}
    assert make("http://other:8000/v1", dim=16).identity() == a.identity()
    CachedEmbedder(a, cache_dir=tmp_path).encode(TEXTS)
    sent = len(server.embedding_requests())
    with FakeOpenAIServer() as other:  # the same model behind another server: all cached
        cached = CachedEmbedder(make(other.url, dim=16), cache_dir=tmp_path)
        np.testing.assert_allclose(cached.encode(TEXTS), expected(TEXTS, 16), atol=1e-6)
        assert other.embedding_requests() == []
        assert (cached.embedded_count, cached.cache_hits) == (0, len(TEXTS))
    # Another dimension is another configuration: it shares no entry.
    wider = CachedEmbedder(make(server.url, dim=32), cache_dir=tmp_path)
    wider.encode(TEXTS)
    assert wider.embedded_count == len(TEXTS)
    assert len(server.embedding_requests()) > sent


def test_a_run_embeds_each_text_once_across_two_runs(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_run import SMALL, write_sources

    from simgap_core.run import AnalysisParams, analyze

    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    inputs = write_sources(tmp_path, per_source=30)
    params = AnalysisParams(
        **SMALL,
        measure=False,
        embedder="openai",
        embed_base_url=[server.url],
        embed_model="fake-embed",
        embed_dim=24,
    )
    first = analyze(inputs, tmp_path / "first", params)
    texts = first.representations()["text"]
    sent = [t for r in server.embedding_requests() for t in r.body["input"]]
    assert sorted(sent) == sorted(set(texts))  # each distinct text once
    # Stored as float16: within its rounding (relative 2^-11) of the server's vectors.
    np.testing.assert_allclose(first.embeddings(), expected(texts.tolist(), 24), atol=1e-3)
    facts = first.facts("embed")
    assert facts["embedded_texts"] == texts.nunique() and facts["dimension"] == 24

    requests = len(server.embedding_requests())
    second = analyze(inputs, tmp_path / "second", params)
    assert len(server.embedding_requests()) == requests  # second run: zero requests
    assert second.facts("embed")["embedded_texts"] == 0
    np.testing.assert_array_equal(second.embeddings(), first.embeddings())
    stages = json.loads((second.path / "stages.json").read_text())["stages"]
    assert stages["embed"]["parts"]["embedder"] == {
        "kind": "embedder",
        "name": "openai",
        "model": "fake-embed",
        "dim": 24,
    }
