"""A model whose vectors change length must not poison the embedding cache: one clear error
naming the model and both lengths, nothing of the new length stored, old stores still readable.
Also: unusable embedding answers (NaN, wrong count, no list) keep their clear errors."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer, Step, fake_embedding
from typer.testing import CliRunner

from simgap_core.embed import CachedEmbedder, EmbeddingDimensionError, OpenAIEmbedder, unit_rows
from simgap_core.embed.cache import VectorStore
from simgap_core.embed.openai import EmbeddingServerError

TEXTS = [f"behaviour text number {i}" for i in range(8)]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIMGAP_EMBED_API_KEY", "OPENAI_API_KEY", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(embedding_dim=32) as fake:
        yield fake


def make(url: str, **options) -> OpenAIEmbedder:
    defaults = {"model": "fake-embed", "backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0}
    return OpenAIEmbedder(base_urls=url, **{**defaults, **options})


def expected(texts: Sequence[str], dim: int) -> np.ndarray:
    return unit_rows(np.array([fake_embedding(text, dim) for text in texts]))


def stored(cache: CachedEmbedder) -> tuple[list[int], str | None]:
    """The distinct row lengths in the store's file and the length its meta records."""
    with sqlite3.connect(cache.store().path) as connection:
        dims = [d for (d,) in connection.execute("SELECT DISTINCT dim FROM rows ORDER BY dim")]
        meta = connection.execute("SELECT value FROM meta WHERE key = 'dimension'").fetchone()
    return dims, meta[0] if meta else None


def test_a_model_that_shrinks_between_runs_is_one_clear_error_and_the_cache_stays_good(
    server, tmp_path: Path
) -> None:
    first = CachedEmbedder(make(server.url), cache_dir=tmp_path)
    np.testing.assert_allclose(first.encode(TEXTS[:4]), expected(TEXTS[:4], 32), atol=1e-6)
    server.embedding_dim = 16  # another model now answers to the same name
    cached_and_new = CachedEmbedder(make(server.url), cache_dir=tmp_path)
    with pytest.raises(EmbeddingDimensionError) as caught:
        cached_and_new.encode(TEXTS)
    message = str(caught.value)
    assert "'fake-embed'" in message and "16-d" in message and "32-d" in message
    assert "\n" not in message and str(cached_and_new.store().path) in message
    # Nothing of the new length was stored, and what was cached still serves, unchanged.
    assert stored(cached_and_new) == ([32], "32")
    again = CachedEmbedder(make(server.url), cache_dir=tmp_path)
    np.testing.assert_allclose(again.encode(TEXTS[:4]), expected(TEXTS[:4], 32), atol=1e-6)
    assert (again.embedded_count, again.cache_hits) == (0, 4)


def test_new_texts_of_another_length_than_the_cache_holds_are_refused(
    server, tmp_path: Path
) -> None:
    CachedEmbedder(make(server.url), cache_dir=tmp_path).encode(TEXTS[:2])
    server.embedding_dim = 48
    only_new = CachedEmbedder(make(server.url), cache_dir=tmp_path)
    with pytest.raises(EmbeddingDimensionError, match=r"48-d vectors, but the cache .* 32-d"):
        only_new.encode(TEXTS[4:])
    assert stored(only_new) == ([32], "32")


def test_servers_alternating_lengths_inside_one_run_are_stopped_before_anything_is_cached(
    server, tmp_path: Path
) -> None:
    server.script(Step(dim=32), Step(dim=16))  # two batches, two lengths
    cache = CachedEmbedder(make(server.url, batch_size=4, concurrency=1), cache_dir=tmp_path)
    with pytest.raises(EmbeddingServerError) as caught:
        cache.encode(TEXTS)
    message = str(caught.value)
    assert "'fake-embed'" in message and "16-d" in message and "32-d" in message
    assert stored(cache) == ([], None)


def test_truncation_does_not_hide_a_model_that_changed_length_mid_run(server) -> None:
    server.script(Step(dim=64), Step(dim=32))
    embedder = make(server.url, dim=8, batch_size=4, concurrency=1)
    with pytest.raises(EmbeddingServerError, match=r"32-d vectors .* after 64-d vectors"):
        embedder.encode(TEXTS)


class ShrinkingEmbedder:
    """An in-process embedder (like sentence-transformers) whose length drops after one call."""

    name = "shrinking"

    def __init__(self) -> None:
        self.calls = 0

    def identity(self) -> dict[str, str]:
        return {"kind": "embedder", "name": "shrinking", "model": "toy-model"}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        dim = 8 if self.calls == 1 else 4
        return unit_rows(np.array([fake_embedding(text, dim) for text in texts]))


def test_the_cache_checks_any_embedder_between_its_batches(tmp_path: Path) -> None:
    cache = CachedEmbedder(ShrinkingEmbedder(), cache_dir=tmp_path, chunk_size=3)
    with pytest.raises(
        EmbeddingDimensionError,
        match=r"'toy-model' returned 4-d vectors, but an earlier batch of this run had 8-d",
    ):
        cache.encode(TEXTS)
    assert stored(cache) == ([8], "8")  # the first batch is kept, the second never written
    assert cache.embedded_count == 3


def write_old_store(path: Path, identity: dict, rows: dict[str, np.ndarray]) -> None:
    """A store as simgap wrote it before rows carried their length (and the bug mixed them)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute(
            "INSERT INTO meta VALUES ('identity', ?)", (json.dumps(identity, sort_keys=True),)
        )
        connection.execute("INSERT INTO meta VALUES ('dimension', '32')")
        connection.executemany(
            "INSERT INTO vectors VALUES (?, ?)",
            [(h, v.astype(np.float32).tobytes()) for h, v in rows.items()],
        )


def test_a_store_poisoned_before_the_fix_is_migrated_and_serves_only_its_length(
    server, tmp_path: Path
) -> None:
    from simgap_core.embed import text_hash

    embedder = make(server.url)
    old = {text_hash(t): expected([t], 32)[0] for t in TEXTS[:3]}
    old |= {text_hash(t): expected([t], 16)[0] for t in TEXTS[3:5]}  # the poison
    write_old_store(VectorStore(tmp_path, embedder.identity()).path, embedder.identity(), old)
    cache = CachedEmbedder(embedder, cache_dir=tmp_path)
    np.testing.assert_allclose(cache.encode(TEXTS), expected(TEXTS, 32), atol=1e-6)
    assert (cache.cache_hits, cache.embedded_count) == (3, 5)  # 16-d rows are never served
    sent = sorted(t for r in server.embedding_requests() for t in r.body["input"])
    assert sent == sorted(TEXTS[3:])
    assert stored(cache) == ([16, 32], "32")  # kept apart, by length
    with sqlite3.connect(cache.store().path) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    assert "vectors" not in tables


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            {
                "data": [
                    {"index": 0, "embedding": [math.nan, 1.0]},
                    {"index": 1, "embedding": [1, 2]},
                ]
            },
            "returned a zero or non-finite vector",
        ),
        ({"data": [{"index": 0, "embedding": [1.0, 2.0]}]}, "returned 1 vectors for 2 texts"),
        ({"data": "not a list"}, "did not answer like an OpenAI embeddings endpoint"),
        ({"vectors": []}, "did not answer like an OpenAI embeddings endpoint"),
    ],
)
def test_unusable_answers_keep_their_clear_errors(server, tmp_path: Path, body, problem) -> None:
    server.script(Step(body=body))
    cache = CachedEmbedder(make(server.url, batch_size=2), cache_dir=tmp_path)
    with pytest.raises(EmbeddingServerError, match=problem):
        cache.encode(TEXTS[:2])
    assert stored(cache) == ([], None)


def test_the_cli_names_both_lengths_in_one_line_instead_of_an_unexpected_error(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_run import write_sources

    from simgap_core.cli import app

    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    real, sim = write_sources(tmp_path, per_source=30)
    arguments = ["analyze", "--real", str(real.path), "--sim", f"sim={sim.path}"]
    arguments += ["--no-measure", "--embedder", "openai", "--embed-base-url", server.url]
    arguments += ["--embed-model", "fake-embed", "--facet", "user_turns", "--min-cluster-size", "5"]
    runner = CliRunner()
    first = runner.invoke(app, [*arguments, "--out", str(tmp_path / "first")])
    assert first.exit_code == 0, first.output
    server.embedding_dim = 16
    with Path(sim.path).open("a") as file:  # one new text to embed
        file.write(
            '{"id": "sim-new", "messages": [{"role": "user", "content": "a brand new question"}, '
            '{"role": "assistant", "content": "an answer"}]}\n'
        )
    second = runner.invoke(app, [*arguments, "--out", str(tmp_path / "second")])
    assert second.exit_code == 2, second.output
    lines = second.stderr.strip().splitlines()
    assert lines[-1].startswith("error: embedding model 'fake-embed' returned 16-d vectors")
    assert "32-d" in lines[-1] and "unexpected" not in second.stderr
