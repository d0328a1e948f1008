"""The run directory on small inputs: stages, reuse, errors, and the LLM annotator end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.demo import generate_demo
from simgap_core.errors import EmptyFileError, EmptySourceError
from simgap_core.run import AnalysisParams, InputSpec, analyze


class HashEmbedder:
    """Deterministic stand-in for the model: each distinct text gets its own unit vector."""

    precision = "fp32"

    def __init__(self) -> None:
        self.embedded_count = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.embedded_count += len(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            rows.append(np.random.default_rng(seed).normal(size=32))
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def write_sources(folder: Path, per_source: int = 40) -> list[InputSpec]:
    data = generate_demo(seed=5, per_source=per_source)
    inputs = []
    for source in ("real", "close_sim"):
        path = folder / f"{source}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in data.records[source]))
        inputs.append(InputSpec(path, source, "openai"))
    return inputs


SMALL = {"bootstrap": 20, "floor_repeats": 5, "permutations": 50, "min_cluster_size": 5}


def test_stages_are_reused_and_recomputed_as_their_inputs_change(tmp_path: Path) -> None:
    inputs = write_sources(tmp_path)
    embedder = HashEmbedder()
    run = analyze(inputs, tmp_path / "run", AnalysisParams(**SMALL), embedder=embedder)
    assert run.params["recomputed"] == [
        "corpus",
        "describe",
        "represent",
        "embed",
        "project",
        "cluster",
        "measure",
    ]
    assert embedder.embedded_count == 80

    again = analyze(inputs, tmp_path / "run", AnalysisParams(**SMALL), embedder=embedder)
    assert again.params["recomputed"] == []
    assert embedder.embedded_count == 80

    facet = analyze(
        inputs, tmp_path / "run", AnalysisParams(**SMALL, facet="user_turns"), embedder=embedder
    )
    assert facet.params["recomputed"] == ["represent", "embed", "project", "cluster", "measure"]
    assert (facet.representations()["facet"] == "user_turns").all()
    assert facet.metrics()["representation"]["facet"] == "user_turns"


def test_an_empty_simulator_file_is_a_clear_error(tmp_path: Path) -> None:
    inputs = write_sources(tmp_path)
    empty = tmp_path / "empty_sim.jsonl"
    empty.write_text("")
    with pytest.raises(EmptyFileError, match="empty_sim.jsonl"):
        analyze([*inputs, InputSpec(empty, "empty_sim")], tmp_path / "run", embedder=HashEmbedder())


def test_a_missing_reference_is_a_clear_error(tmp_path: Path) -> None:
    inputs = write_sources(tmp_path)
    with pytest.raises(EmptySourceError, match="reference source 'human'"):
        analyze(
            inputs, tmp_path / "run", AnalysisParams(reference="human"), embedder=HashEmbedder()
        )


def test_llm_annotator_end_to_end_through_a_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))  # a cold annotation cache
    inputs = write_sources(tmp_path, per_source=20)
    with FakeOpenAIServer() as server:
        params = AnalysisParams(
            **SMALL,
            annotator="llm",
            llm_base_url=server.url,
            llm_model="fake-model",
            facet="style",
        )
        run = analyze(inputs, tmp_path / "run", params, embedder=HashEmbedder())
        assert len(server.chat_requests()) == 40
        texts = run.representations()["text"]
        assert texts.str.startswith("style of ").all()
        # Resumed from the annotator's cache: a new run directory asks the server nothing.
        analyze(inputs, tmp_path / "again", params, embedder=HashEmbedder())
        assert len(server.chat_requests()) == 40
    assert run.params["params"]["annotator"] == "llm"
