"""Table exports: both formats written, and their contents equal the run directory's data."""

from __future__ import annotations

import json
from pathlib import Path

import metrics_fixtures
import numpy as np
import pandas as pd
import pytest

from simgap_core.errors import RunDirectoryError, SimgapError
from simgap_core.present.export import TABLES, export_tables, leaderboard_csv
from simgap_core.present.leaderboard import leaderboard, leaderboard_columns
from simgap_core.run import Run
from simgap_core.schema import SCHEMA_VERSION, read_metrics

DEMO_RUN = Path(__file__).resolve().parent.parent / "data" / "demo_run"
SIMULATORS = ("chatty_sim", "close_sim", "narrow_sim")


@pytest.fixture(scope="module")
def v2_run(tmp_path_factory) -> Path:
    """The demo run, or while it still holds a v1 metrics.json, a copy with a v2 one."""
    if json.loads((DEMO_RUN / "metrics.json").read_text()).get("schema_version") == SCHEMA_VERSION:
        return DEMO_RUN
    return metrics_fixtures.demo_run(tmp_path_factory.mktemp("v2") / "demo_run")


@pytest.fixture(scope="module")
def exported(tmp_path_factory, v2_run) -> tuple[list[Path], dict[str, dict[str, pd.DataFrame]]]:
    folder = tmp_path_factory.mktemp("tables")
    written = export_tables(v2_run, folder)
    tables = {
        name: {
            "csv": pd.read_csv(folder / f"{name}.csv"),
            "parquet": pd.read_parquet(folder / f"{name}.parquet"),
        }
        for name in TABLES
    }
    return written, tables


def _same(exported: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Equal up to the dtype changes a CSV round trip makes (strings, nullable ints)."""
    assert list(exported.columns) == list(expected.columns)
    assert len(exported) == len(expected)
    for column in expected.columns:
        left, right = exported[column], expected[column]
        if pd.api.types.is_numeric_dtype(right):
            np.testing.assert_allclose(
                left.to_numpy(dtype=float), right.to_numpy(dtype=float), rtol=1e-12, equal_nan=True
            )
        else:
            assert left.astype(object).fillna("").astype(str).tolist() == (
                right.astype(object).fillna("").astype(str).tolist()
            )


def test_every_table_is_written_in_both_formats(exported) -> None:
    written, _ = exported
    names = [path.name for path in written]
    assert names == [f"{name}.{ext}" for name in TABLES for ext in ("csv", "parquet")]
    assert all(path.is_file() and path.stat().st_size > 0 for path in written)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_leaderboard_equals_the_runs_leaderboard(exported, v2_run, fmt) -> None:
    metrics = read_metrics(v2_run)
    expected = leaderboard(metrics)
    table = exported[1]["leaderboard"][fmt]
    _same(table, expected)
    assert table.columns.tolist() == leaderboard_columns()
    assert table["simulator"].tolist() == metrics.simulator_names
    for row in table.itertuples():
        paper = metrics.simulators[row.simulator].paper
        assert (row.js, row.js_low, row.js_high) == (paper.js, *paper.js_ci)


def test_one_leaderboard_csv_for_export_and_the_report_page(exported, v2_run) -> None:
    written, _ = exported
    exported_csv = next(p for p in written if p.name == "leaderboard.csv")
    assert exported_csv.read_bytes() == leaderboard_csv(read_metrics(v2_run))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_cluster_table_equals_clusters_summary(exported, fmt) -> None:
    _same(exported[1]["clusters"][fmt], Run(DEMO_RUN).clusters_summary())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_assignments_place_every_conversation(exported, fmt) -> None:
    run = Run(DEMO_RUN)
    table = exported[1]["assignments"][fmt]
    expected_columns = [
        "conversation_id",
        "source",
        "cluster",
        "cluster_name",
        "x",
        "y",
        "misalignment",
        *(f"misalignment_{sim}" for sim in SIMULATORS),
        *(f"category_{sim}" for sim in SIMULATORS),
    ]
    assert list(table.columns) == expected_columns
    projection = run.projection()
    assert len(table) == len(projection) == 6000
    assert table["conversation_id"].tolist() == projection["conversation_id"].tolist()
    assert table["source"].tolist() == projection["source"].tolist()
    for axis in ("x", "y"):  # float32 in the projection; CSV holds their shortest repr
        np.testing.assert_array_equal(table[axis].to_numpy(dtype=np.float32), projection[axis])

    clusters = run.clusters().set_index("conversation_id")["cluster"]
    assert (table["cluster"].to_numpy() == clusters.loc[table["conversation_id"]].to_numpy()).all()
    # The name shown is the name stored (cluster_names.csv), after the cluster's number.
    names = run.cluster_names_by_number() if (run.path / "cluster_names.csv").is_file() else {}
    for cluster, name in zip(table["cluster"], table["cluster_name"], strict=True):
        if cluster == -1:
            assert name == "noise"
        elif names.get(cluster):
            assert name == f"{cluster} · {names[cluster]}"
        else:
            assert name == f"cluster {cluster}"

    scores = run.misalignment().set_index("conversation_id")
    np.testing.assert_allclose(
        table["misalignment"], scores.loc[table["conversation_id"], "misalignment"], rtol=1e-12
    )
    # A simulated conversation has a pair score only against its own simulator.
    chatty = table[table["source"] == "chatty_sim"]
    assert chatty["misalignment_chatty_sim"].notna().all()
    assert chatty["misalignment_close_sim"].isna().all()

    summary = run.clusters_summary()
    for sim in SIMULATORS:
        category = dict(zip(summary["cluster"], summary[f"category_{sim}"], strict=True))
        for cluster, rows in table.groupby("cluster"):
            assert set(rows[f"category_{sim}"]) == {category[cluster]}, (sim, cluster)
    # The demo's planted gap: the angry-complaint cluster is missed by narrow_sim.
    assert "missed" in set(table["category_narrow_sim"])


def test_parquet_keeps_types(exported) -> None:
    table = exported[1]["assignments"]["parquet"]
    assert pd.api.types.is_integer_dtype(table["cluster"])
    assert pd.api.types.is_float_dtype(table["x"])


def test_export_of_a_missing_run_raises(tmp_path) -> None:
    with pytest.raises(RunDirectoryError, match="does not exist"):
        export_tables(tmp_path / "absent", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_into_a_file_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    target = tmp_path / "tables.csv"
    target.write_text("mine")
    with pytest.raises(SimgapError, match="tables.csv is a file: give a folder"):
        export_tables(Path(__file__).resolve().parent.parent / "data" / "demo_run", target)
    assert target.read_text() == "mine"
