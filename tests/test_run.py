"""The run directory on small inputs: stages, reuse, errors, and the LLM annotator end to end."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from fake_openai_server import FakeOpenAIServer
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.cli import app
from simgap_core.demo import generate_demo
from simgap_core.errors import EmptyFileError, EmptySourceError, RunDirectoryError, SimgapError
from simgap_core.run import AnalysisParams, InputSpec, Run, analyze
from simgap_core.run.stages import measure as measure_stage


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
    assert run.params.recomputed == [
        "corpus",
        "features",
        "describe",
        "represent",
        "embed",
        "project",
        "cluster",
        "behaviour",
        "measure",
    ]
    assert embedder.embedded_count == 80

    again = analyze(inputs, tmp_path / "run", AnalysisParams(**SMALL), embedder=embedder)
    assert again.params.recomputed == []
    assert embedder.embedded_count == 80

    facet = analyze(
        inputs, tmp_path / "run", AnalysisParams(**SMALL, facet="user_turns"), embedder=embedder
    )
    assert facet.params.recomputed == [
        "represent",
        "embed",
        "project",
        "cluster",
        "behaviour",
        "measure",
    ]
    assert (facet.representations()["facet"] == "user_turns").all()
    assert facet.metrics().representation["facet"] == "user_turns"

    # The pairs' binning is a measure parameter: only measure is redone, and it is recorded.
    each = analyze(
        inputs,
        tmp_path / "run",
        AnalysisParams(**SMALL, facet="user_turns", pair_bins="each"),
        embedder=embedder,
    )
    assert each.params.recomputed == ["measure"]
    assert each.params.params.pair_bins == "each"
    assert each.metrics().settings.pair_quantization == "each"
    with pytest.raises(SimgapError, match="unknown pair bins 'pooled'; choose shared or each"):
        AnalysisParams(pair_bins="pooled").validate()


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
    assert run.params.params.annotator == "llm"


# --- atomic artifacts (issue 11, defects 2, 9 and 15) ---------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[InputSpec], Path]:
    """One finished small run, copied by each test that breaks it."""
    folder = tmp_path_factory.mktemp("atomic")
    inputs = write_sources(folder)
    analyze(inputs, folder / "run", AnalysisParams(**SMALL), embedder=HashEmbedder())
    return inputs, folder / "run"


def copy_run(finished_run: tuple[list[InputSpec], Path], target: Path) -> Path:
    shutil.copytree(finished_run[1], target)
    return target


def test_an_interrupted_run_after_a_parameter_change_is_recomputed_by_the_original_command(
    finished_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, _ = finished_run
    run_dir = copy_run(finished_run, tmp_path / "run")
    original = AnalysisParams(**SMALL)
    changed = AnalysisParams(**{**SMALL, "bootstrap": 7})
    real_write = measure_stage.write_parquet

    def killed_mid_stage(path: Path, frame) -> None:
        if path.name == "misalignment.parquet":
            raise KeyboardInterrupt  # metrics.json (7 resamples) is written, the stage is not
        real_write(path, frame)

    monkeypatch.setattr(measure_stage, "write_parquet", killed_mid_stage)
    with pytest.raises(KeyboardInterrupt):
        analyze(inputs, run_dir, changed, embedder=HashEmbedder())
    assert json.loads((run_dir / "metrics.json").read_text())["settings"]["bootstrap"] == 7
    assert "measure" not in Run(run_dir).stages  # the killed stage vouches for nothing
    monkeypatch.setattr(measure_stage, "write_parquet", real_write)

    rerun = analyze(inputs, run_dir, original, embedder=HashEmbedder())
    assert rerun.params.recomputed == ["measure"]
    assert rerun.params.params.bootstrap == 20
    assert rerun.metrics().settings.bootstrap == 20
    assert not list(run_dir.glob(".*.tmp"))  # no temporary file is left behind


def test_a_truncated_clusters_file_is_recomputed_with_a_notice(
    finished_run, tmp_path: Path
) -> None:
    inputs, original = finished_run
    run_dir = copy_run(finished_run, tmp_path / "run")
    clusters = run_dir / "clusters.parquet"
    clusters.write_bytes(clusters.read_bytes()[: clusters.stat().st_size // 2])
    notices: list[str] = []

    rerun = analyze(
        inputs, run_dir, AnalysisParams(**SMALL), embedder=HashEmbedder(), notice=notices.append
    )

    assert rerun.params.recomputed == ["cluster", "behaviour", "measure"]
    assert len(notices) == 1 and "clusters.parquet is unreadable" in notices[0]
    assert notices[0].startswith("cluster: ")
    assert rerun.params.notices == notices
    assert rerun.clusters().equals(Run(original).clusters())


def test_invalid_metrics_json_is_recomputed_and_readers_name_the_file(
    finished_run, tmp_path: Path
) -> None:
    inputs, original = finished_run
    run_dir = copy_run(finished_run, tmp_path / "run")
    (run_dir / "metrics.json").write_text('{"reference": "real", "simul')
    with pytest.raises(RunDirectoryError, match=r"metrics\.json is not valid JSON"):
        Run(run_dir).metrics()
    notices: list[str] = []
    rerun = analyze(
        inputs, run_dir, AnalysisParams(**SMALL), embedder=HashEmbedder(), notice=notices.append
    )
    assert rerun.params.recomputed == ["measure"]
    assert "metrics.json" in notices[0]
    assert rerun.metrics() == Run(original).metrics()


def test_a_missing_artifact_is_recomputed(finished_run, tmp_path: Path) -> None:
    inputs, _ = finished_run
    run_dir = copy_run(finished_run, tmp_path / "run")
    (run_dir / "projection.parquet").unlink()
    notices: list[str] = []
    rerun = analyze(
        inputs, run_dir, AnalysisParams(**SMALL), embedder=HashEmbedder(), notice=notices.append
    )
    assert rerun.params.recomputed == ["project", "cluster", "behaviour", "measure"]
    assert "has no projection.parquet" in notices[0]


def test_stage_records_hold_inputs_parts_artifacts_and_facts(finished_run) -> None:
    _, run_dir = finished_run
    records = {name: entry.model_dump() for name, entry in Run(run_dir).stages.items()}
    assert list(records) == [
        "corpus",
        "features",
        "describe",
        "represent",
        "embed",
        "project",
        "cluster",
        "behaviour",
        "measure",
    ]
    assert records["cluster"]["inputs"] == {"project": records["project"]["fingerprint"]}
    assert records["cluster"]["parts"]["clusterer"] == {
        "kind": "clusterer",
        "name": "hdbscan",
        "min_cluster_size": 5,
        "min_samples": None,
        "method": "eom",
        "stacks": "auto",
    }
    assert records["cluster"]["facts"]["min_cluster_size_used"] == 5
    assert records["cluster"]["artifacts"] == ["clusters.parquet", "cluster_mass.csv"]
    assert records["describe"]["parts"]["annotator"] == {
        "kind": "annotator",
        "name": "heuristic",
        "version": "1",
    }
    assert records["project"]["facts"]["map"]["n_neighbors"] == 15
    # No stage wrote into the parameters: what stages learn is in their records only.
    params = Run(run_dir).params
    assert "extra" not in params.params.model_dump()
    assert "extra" not in asdict(AnalysisParams())


def test_a_users_own_folder_is_refused_and_left_untouched(tmp_path: Path) -> None:
    inputs = write_sources(tmp_path)
    mine = tmp_path / "my_results"
    mine.mkdir()
    (mine / "metrics.json").write_text('{"accuracy": 0.93}')
    (mine / "stages.json").write_text('{"draft": true}')
    before = {p.name: p.read_bytes() for p in mine.iterdir()}

    with pytest.raises(RunDirectoryError, match="non-empty folder that is not a simgap run"):
        analyze(inputs, mine, AnalysisParams(**SMALL), embedder=HashEmbedder())
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before

    result = CliRunner().invoke(app, ["analyze", "--demo", "--out", str(mine)])
    assert result.exit_code == 2
    assert "not a simgap run" in result.output
    assert "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before


def test_embeddings_are_stored_as_float16_and_a_rerun_measures_the_same(
    finished_run, tmp_path: Path
) -> None:
    inputs, run_dir = finished_run
    stored = Run(run_dir).embeddings()
    assert stored.dtype == np.float16 and isinstance(stored, np.memmap)
    # A rerun that recomputes the projection reads the stored vectors back: the first run
    # measured those same (rounded) vectors, so every number is identical.
    copy = copy_run(finished_run, tmp_path / "run")
    (copy / "projection.parquet").unlink()
    rerun = analyze(inputs, copy, AnalysisParams(**SMALL), embedder=HashEmbedder())
    assert "embed" not in rerun.params.recomputed
    assert json.loads((copy / "metrics.json").read_text()) == json.loads(
        (run_dir / "metrics.json").read_text()
    )


def test_storage_precision_keeps_float32_where_float16_would_overflow() -> None:
    from simgap_core.run.directory import storage_precision

    unit = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    half = storage_precision(unit)
    assert half.dtype == np.float16
    cosines = np.sum(half.astype(np.float32) * unit, axis=1) / np.linalg.norm(
        half.astype(np.float32), axis=1
    )
    assert np.all(cosines > 1 - 1e-6)
    assert storage_precision(unit * 1e5).dtype == np.float32
