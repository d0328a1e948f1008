"""The static embedder: distilled once from a sentence-transformers model, stored, reused, redone
when damaged, keyed by what it was made from, and never online.

The source is a tiny sentence-transformers model built here (a 2-layer BERT over a WordPiece
vocabulary of about a hundred tokens), so a distillation takes about a second; the real
all-MiniLM-L6-v2 is distilled by `bench/static_embedder.py`.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from simgap_core import parts
from simgap_core.embed import CachedEmbedder, SentenceTransformerEmbedder
from simgap_core.embed.static import (
    MANIFEST,
    StaticEmbedder,
    pca,
    zipf_sif_weights,
)
from simgap_core.parts import PartError
from simgap_core.run import AnalysisParams
from simgap_core.run.analysis import make_part

HIDDEN = 32
WORDS = [
    "the",
    "user",
    "asks",
    "for",
    "help",
    "with",
    "code",
    "error",
    "please",
    "thanks",
    "again",
    "short",
    "long",
    "question",
    "answer",
    "book",
    "table",
    "time",
    "flight",
    "hotel",
    "cancel",
    "change",
    "password",
    "reset",
]
UNUSED = [f"[unused{i}]" for i in range(10)]
TEXTS = [
    "the user asks for help with code",
    "please reset my password",
    "book a table , thanks !",
    "cancel the flight and the hotel",
    "error error error",
    "",  # no token at all
    "😀 ☃",  # only characters outside the vocabulary
]


def build_tiny_model(folder: Path, seed: int) -> Path:
    """A sentence-transformers model (BERT, mean pooling, normalization) saved in `folder`."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *UNUSED]
    vocabulary += [*"abcdefghijklmnopqrstuvwxyz0123456789.,!?'", *WORDS]
    vocabulary += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + ["##ing", "##ed"]
    vocabulary = list(dict.fromkeys(vocabulary))
    transformer = folder / "transformer"
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(vocabulary)})
    import torch

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(transformer)
    tokenizer.save_pretrained(transformer)
    modules = [
        Transformer(str(transformer), max_seq_length=32),
        Pooling(HIDDEN, "mean"),
        Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder / "model"))
    return folder / "model"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture(scope="module")
def other_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("other"), seed=1)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline as users run it, and any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def distilled(model: Path, cache: Path, **options) -> StaticEmbedder:
    """A static embedder whose model is loaded or distilled now."""
    embedder = StaticEmbedder(str(model), cache_dir=cache, **options)
    embedder.encode(["warm"])
    return embedder


def test_distilled_vectors_are_unit_deterministic_and_offline(
    tiny: Path, tmp_path: Path, no_network
) -> None:
    seen: list[tuple[int, int]] = []
    first = StaticEmbedder(str(tiny), cache_dir=tmp_path / "a", progress=lambda *p: seen.append(p))
    vectors = first.encode(TEXTS)
    assert first.distillations == 1
    vocabulary = json.loads((first.folder / MANIFEST).read_text())["shape"][0]
    assert seen[0] == (0, vocabulary) and seen[-1] == (vocabulary, vocabulary)
    assert vectors.shape == (len(TEXTS), HIDDEN) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Texts without a known token share the (distilled) vector of the empty text.
    np.testing.assert_allclose(vectors[5], vectors[6], atol=1e-6)
    # Another distillation, elsewhere, gives the same vectors; so does encoding again.
    second = StaticEmbedder(str(tiny), cache_dir=tmp_path / "b")
    np.testing.assert_allclose(second.encode(TEXTS), vectors, atol=1e-5)
    assert second.distillations == 1
    np.testing.assert_array_equal(first.encode(TEXTS[::-1]), vectors[::-1])
    # Distinct texts are distinct, repeated ones equal.
    assert abs(float(vectors[0] @ vectors[1])) < 0.999
    np.testing.assert_array_equal(first.encode([TEXTS[0]] * 2), vectors[[0, 0]])


def test_a_text_is_the_normalized_mean_of_its_token_vectors(tiny: Path, tmp_path: Path) -> None:
    from model2vec import StaticModel
    from tokenizers import Tokenizer

    embedder = distilled(tiny, tmp_path, dims=8)
    stored = StaticModel.from_pretrained(embedder.folder, force_download=False)
    rows = np.asarray(stored.embedding, dtype=np.float64)
    assert rows.shape[1] == 8 == embedder.dimension
    ids = Tokenizer.from_file(str(embedder.folder / "tokenizer.json")).get_vocab()
    expected = rows[ids["flight"]] + rows[ids["hotel"]]
    got = embedder.encode(["flight hotel"])[0]
    np.testing.assert_allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    # Placeholder tokens are dropped (zero rows); real tokens are down-weighted by Zipf rank,
    # so early (frequent) tokens carry far less weight than late ones.
    assert not rows[[ids[token] for token in UNUSED]].any()
    norms = np.linalg.norm(rows, axis=1)
    assert norms[ids["[PAD]"]] < 0.1 * np.median(norms[ids["##a"] :])


def test_zipf_sif_weights_and_pca_axes() -> None:
    # Ranks 2, 3, 4: p = 6/13, 4/13, 3/13; weight = sif / (sif + p).
    weights = zipf_sif_weights(3, sif=0.1)
    np.testing.assert_allclose(weights, [0.1 / (0.1 + p) for p in (6 / 13, 4 / 13, 3 / 13)])
    assert np.all(np.diff(zipf_sif_weights(1000)) > 0)
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)) * [5.0, 1.0, 0.1] + [3.0, -2.0, 7.0]
    mean, axes = pca(points, 2)
    np.testing.assert_allclose(mean, points.mean(axis=0))
    np.testing.assert_allclose(np.abs(axes), [[1, 0, 0], [0, 1, 0]], atol=0.05)
    np.testing.assert_array_equal(pca(points, 2)[1], axes)  # signs fixed: the same axes again
    flipped = pca(-points, 2)[1]
    scores, flipped_scores = (points - mean) @ axes.T, (-points + mean) @ flipped.T
    np.testing.assert_allclose(np.abs(scores).argmax(0), np.abs(flipped_scores).argmax(0))
    assert np.all(flipped_scores[np.abs(flipped_scores).argmax(0), [0, 1]] > 0)


def test_a_stored_model_is_reused_across_embedders(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = distilled(tiny, tmp_path).encode(TEXTS)

    def refuse(self: StaticEmbedder) -> None:
        raise AssertionError("distilled again although a valid model is stored")

    monkeypatch.setattr(StaticEmbedder, "_distil", refuse)
    again = StaticEmbedder(str(tiny), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(TEXTS), vectors)
    assert again.distillations == 0 and again.facts()["distilled_now"] is False
    assert [p.name for p in tmp_path.iterdir()] == [again.folder.name]  # no temporary left


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(folder: Path) -> None:
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the vectors: same size, still a readable file
    path.write_bytes(bytes(data))


def _remove_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


def _garble_manifest(folder: Path) -> None:
    (folder / MANIFEST).write_text('{"distillation": ', encoding="utf-8")


def _remove_manifest(folder: Path) -> None:
    (folder / MANIFEST).unlink()  # what an interrupted writer without the rename would leave


@pytest.mark.parametrize(
    "damage",
    [_truncate, _flip_a_byte, _remove_tokenizer, _garble_manifest, _remove_manifest],
    ids=lambda damage: damage.__name__.strip("_"),
)
def test_a_damaged_stored_model_is_distilled_again(tiny: Path, tmp_path: Path, damage) -> None:
    original = distilled(tiny, tmp_path)
    vectors = original.encode(TEXTS)
    damage(original.folder)
    redone = StaticEmbedder(str(tiny), cache_dir=tmp_path)
    np.testing.assert_allclose(redone.encode(TEXTS), vectors, atol=1e-5)
    assert redone.distillations == 1 and redone.distill_reason
    assert str(original.folder) in redone.distill_reason
    # The repaired folder is whole again: the next embedder uses it as it is.
    assert distilled(tiny, tmp_path).distillations == 0
    assert [p.name for p in tmp_path.iterdir()] == [original.folder.name]


def test_identity_follows_the_source_and_the_settings(
    tiny: Path, other_tiny: Path, tmp_path: Path
) -> None:
    base = StaticEmbedder(str(tiny), cache_dir=tmp_path)
    other = StaticEmbedder(str(other_tiny), cache_dir=tmp_path)
    narrower = StaticEmbedder(str(tiny), cache_dir=tmp_path, dims=8)
    keys = {e.identity_key() for e in (base, other, narrower)}
    folders = {e.folder for e in (base, other, narrower)}
    assert len(keys) == 3 and len(folders) == 3
    # Batch size, threads, progress and the cache folder do not change the vectors.
    same = StaticEmbedder(str(tiny), cache_dir=tmp_path / "x", batch_size=7, threads=1)
    assert same.identity() == base.identity()
    # The static model's vectors never share a cache entry with its source model's.
    stores = {
        CachedEmbedder(e, cache_dir=tmp_path).store().path
        for e in (base, SentenceTransformerEmbedder(str(tiny), precision="fp32"))
    }
    assert len(stores) == 2


def test_rewritten_weights_in_place_change_the_identity(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "v1", seed=0)
    before = StaticEmbedder(str(model), cache_dir=tmp_path / "cache")
    weights = next(model.rglob("model.safetensors"))
    replacement = next(build_tiny_model(tmp_path / "v2", seed=3).rglob("model.safetensors"))
    stat = weights.stat()
    weights.write_bytes(replacement.read_bytes())
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same time, same size
    after = StaticEmbedder(str(model), cache_dir=tmp_path / "cache")
    assert after.params()["distilled"] != before.params()["distilled"]
    assert after.folder != before.folder


def test_registered_selectable_and_validated(tiny: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from simgap_core.cli import app

    assert "static" in parts.available("embedder")
    part = make_part(AnalysisParams(embedder="static", embedding_model=str(tiny)), "embedder")
    assert isinstance(part, StaticEmbedder) and part.model == str(tiny)
    assert part.identity()["name"] == "static"
    help_text = CliRunner().invoke(app, ["analyze", "--help"], terminal_width=200).output
    assert "static" in help_text
    with pytest.raises(PartError, match="dims must be an integer of at least 1"):
        StaticEmbedder(str(tiny), cache_dir=tmp_path, dims=0)
    with pytest.raises(PartError, match="batch_size must be an integer of at least 1"):
        StaticEmbedder(str(tiny), cache_dir=tmp_path, batch_size=0)
    assert StaticEmbedder(str(tiny), cache_dir=tmp_path).encode([]).shape == (0, HIDDEN)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        StaticEmbedder(str(tiny), cache_dir=tmp_path).encode(["fine", 3])  # type: ignore[list-item]


@pytest.mark.slow
def test_analyze_with_the_static_embedder_reports_distillation(tiny: Path, tmp_path: Path) -> None:
    from simgap_core.demo import generate_demo
    from simgap_core.run import InputSpec, analyze

    data = generate_demo(seed=3, per_source=30)
    inputs = []
    for source in ("real", "close_sim"):
        path = tmp_path / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in data.records[source]))
        inputs.append(InputSpec(path, source, "openai"))
    params = AnalysisParams(
        embedder="static",
        embedding_model=str(tiny),
        measure=False,
        min_cluster_size=5,
        min_samples=5,
        part_options={"embedder": {"cache_dir": str(tmp_path / "static")}},
    )
    stages: list[tuple[str, int, int]] = []
    run = analyze(inputs, tmp_path / "run", params, progress=lambda *p: stages.append(p))
    distil = [(done, total) for stage, done, total in stages if stage == "distil"]
    assert distil and distil[-1][0] == distil[-1][1] > 50
    embed = run.stages["embed"]
    assert embed.parts["embedder"]["name"] == "static"
    assert embed.facts["distilled_now"] is True
    vectors = np.asarray(run.embeddings(), dtype=np.float32)
    assert vectors.shape == (60, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)  # float16
