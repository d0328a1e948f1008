"""The run manifest (issue 17, "Trust II"): simgap replaces only the files it wrote.

A folder is a run by its manifest.json (every file simgap wrote, with size and sha256); a run
overwrites or deletes only listed files; `report -o` and `export --to` refuse existing files
without --force and never create missing parent folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import metrics_fixtures
import pytest
from test_run import SMALL, HashEmbedder, write_sources
from typer.testing import CliRunner

from simgap_core.cli import app
from simgap_core.errors import RunDirectoryError
from simgap_core.run import AnalysisParams, analyze, file_sha256
from simgap_core.run.directory import MANIFEST, Manifest, recording, write_atomic

ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = ROOT / "data" / "demo_run"
runner = CliRunner()


def _one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _check_manifest(folder: Path) -> dict[str, dict]:
    """The manifest's entries, after checking each present file's size and hash against it."""
    listed = json.loads((folder / MANIFEST).read_text())["files"]
    for name, entry in listed.items():
        path = folder / name
        if path.is_file():
            assert entry["size"] == path.stat().st_size, name
            assert entry["sha256"] == file_sha256(path), name
    return listed


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    folder = tmp_path_factory.mktemp("manifest")
    inputs = write_sources(folder)
    (folder / "run").mkdir()  # an empty folder is a fine --out
    analyze(inputs, folder / "run", AnalysisParams(**SMALL), embedder=HashEmbedder())
    return inputs, folder / "run"


@pytest.fixture
def run_copy(built, tmp_path: Path) -> tuple[list, Path]:
    inputs, run = built
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return inputs, target


def test_analyze_lists_every_file_it_wrote_with_size_and_hash(built) -> None:
    _, run = built
    listed = _check_manifest(run)
    on_disk = set(_files(run)) - {MANIFEST}
    assert set(listed) == on_disk
    assert any(name.startswith("cache/") for name in on_disk)  # the measure memos too
    assert {"params.json", "stages.json", "corpus/turns.parquet", "embeddings.npy"} <= on_disk
    assert all(entry["sha256"] for entry in listed.values())


def test_a_users_files_in_corpus_and_beside_it_survive_a_recompute(run_copy) -> None:
    inputs, run = run_copy
    (run / "corpus" / "notes.txt").write_text("my notes on the corpus")
    (run / "mine.csv").write_text("=1+1\n")
    before = (run / "corpus" / "turns.parquet").read_bytes()
    fewer = [type(spec)(spec.path, spec.source, spec.format, 30, 1) for spec in inputs]
    again = analyze(fewer, run, AnalysisParams(**SMALL), embedder=HashEmbedder())
    assert again.params.recomputed[0] == "corpus"
    assert (run / "corpus" / "turns.parquet").read_bytes() != before
    assert (run / "corpus" / "notes.txt").read_text() == "my notes on the corpus"
    assert (run / "mine.csv").read_text() == "=1+1\n"
    listed = _check_manifest(run)
    assert "corpus/notes.txt" not in listed and "mine.csv" not in listed
    assert not [p for p in run.rglob(".*")], "a temporary file or folder was left"


def test_a_file_the_manifest_does_not_list_is_never_overwritten(run_copy) -> None:
    inputs, run = run_copy
    # cluster_mass.csv as the user's own file: present, but not listed.
    manifest = Manifest.read(run)
    del manifest.files["cluster_mass.csv"]
    manifest.save()
    (run / "cluster_mass.csv").write_text("mine")
    with pytest.raises(RunDirectoryError, match=r"cluster_mass\.csv exists and simgap did not"):
        analyze(
            inputs, run, AnalysisParams(**{**SMALL, "min_cluster_size": 6}), embedder=HashEmbedder()
        )
    assert (run / "cluster_mass.csv").read_text() == "mine"


def test_a_listed_file_removed_after_the_run_is_written_again(run_copy) -> None:
    # As `make demo-run` does: embeddings.npy is removed, still listed; the run still reads.
    inputs, run = run_copy
    (run / "embeddings.npy").unlink()
    assert runner.invoke(app, ["compare", str(run)]).exit_code == 0
    again = analyze(inputs, run, AnalysisParams(**SMALL), embedder=HashEmbedder())
    assert "embed" in again.params.recomputed
    assert _check_manifest(run)["embeddings.npy"]["size"] == (run / "embeddings.npy").stat().st_size


@pytest.mark.parametrize("command", ["analyze", "compare", "report", "export"])
def test_a_folder_with_a_planted_params_and_stages_is_not_a_run(
    tmp_path: Path, command: str
) -> None:
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "params.json").write_text("{}")
    (planted / "stages.json").write_text('{"simgap_stages": 2, "stages": {}}')
    (planted / "metrics.json").write_text("{}")
    before = _files(planted)
    arguments = {
        "analyze": ["analyze", "--demo", "--out", str(planted)],
        "compare": ["compare", str(planted)],
        "report": ["report", str(planted)],
        "export": ["export", str(planted), "--to", str(tmp_path / "tables")],
    }[command]
    line = _one_error_line(runner.invoke(app, arguments))
    assert "not a simgap run" in line or "not a run directory" in line
    assert "manifest.json" in line
    assert _files(planted) == before
    assert not (tmp_path / "tables").exists()


def test_an_interrupted_write_stays_listed_and_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"

    def interrupted(partial: Path) -> None:
        partial.write_text('{"half":')
        raise KeyboardInterrupt

    with recording(Manifest(tmp_path)), pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST]
    # Listed before it was written, so the rerun may write it.
    assert Manifest.read(tmp_path).files == {"metrics.json": {"size": None, "sha256": None}}
    with recording(Manifest.read(tmp_path)):
        write_atomic(target, lambda partial: partial.write_text("{}"))
    assert _check_manifest(tmp_path)["metrics.json"]["size"] == 2


def test_the_committed_demo_run_manifest_lists_exactly_its_files() -> None:
    listed = _check_manifest(DEMO_RUN)
    assert set(listed) == set(_files(DEMO_RUN)) - {MANIFEST}


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return metrics_fixtures.demo_run(tmp_path_factory.mktemp("v2") / "demo_run")


def test_report_refuses_a_missing_folder_and_an_existing_file_without_force(
    demo_copy: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.html"
    line = _one_error_line(runner.invoke(app, ["report", str(demo_copy), "-o", str(missing)]))
    assert f"the folder {missing.parent} does not exist" in line
    assert not (tmp_path / "nonexistent").exists()

    mine = tmp_path / "mine.html"
    mine.write_text("my page")
    line = _one_error_line(runner.invoke(app, ["report", str(demo_copy), "-o", str(mine)]))
    assert f"{mine} exists; pass --force" in line
    assert mine.read_text() == "my page"
    forced = runner.invoke(app, ["report", str(demo_copy), "-o", str(mine), "--force"])
    assert forced.exit_code == 0, forced.output
    assert mine.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_report_written_into_its_run_is_listed_and_replaced_without_force(
    demo_copy: Path,
) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["report", str(demo_copy)])
        assert result.exit_code == 0, result.output
    entry = json.loads((demo_copy / MANIFEST).read_text())["files"]["report.html"]
    assert entry["sha256"] == file_sha256(demo_copy / "report.html")


def test_export_refuses_existing_tables_without_force_and_a_missing_parent(
    demo_copy: Path, tmp_path: Path
) -> None:
    line = _one_error_line(
        runner.invoke(app, ["export", str(demo_copy), "--to", str(tmp_path / "a" / "b")])
    )
    assert f"the folder {tmp_path / 'a'} does not exist" in line
    assert not (tmp_path / "a").exists()

    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "clusters.csv").write_text("mine")
    (tables / "notes.txt").write_text("kept")
    line = _one_error_line(runner.invoke(app, ["export", str(demo_copy), "--to", str(tables)]))
    assert f"{tables / 'clusters.csv'} exists; pass --force" in line
    assert sorted(p.name for p in tables.iterdir()) == ["clusters.csv", "notes.txt"]
    assert (tables / "clusters.csv").read_text() == "mine"
    forced = runner.invoke(app, ["export", str(demo_copy), "--to", str(tables), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tables / "clusters.csv").read_text() != "mine"
    assert (tables / "notes.txt").read_text() == "kept"
