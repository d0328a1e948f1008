"""Tables of a run for people who work in a spreadsheet or a notebook: CSV and Parquet.

Three tables, each written in both formats:

- `leaderboard`: one row per simulator (`leaderboard.leaderboard`: the columns of the metric
  registry, each estimate with its interval), closest first. The Report page offers the same
  bytes (`leaderboard_csv`) under the same name, so there is one `leaderboard.csv`;
- `clusters`: one row per map cluster (`clusters_summary.csv` as measured, with each cluster's
  `name` and `description` from `cluster_names.csv` after its number: shares per source,
  differences with intervals, q-values, categories, terms);
- `assignments`: one row per conversation: conversation_id, source, cluster, cluster_name
  ("11 · terse one-line requests"), x, y,
  misalignment, misalignment_<sim> and category_<sim> (the category of its cluster for each
  simulator).

CSV text cells that a spreadsheet would run as a formula get a leading `'`
(`simgap_core.untrusted.csv_text`); the Parquet files hold the exact values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from simgap_core.errors import RunDirectoryError, SimgapError
from simgap_core.present.leaderboard import leaderboard
from simgap_core.present.selection import cluster_name, summary_names
from simgap_core.run import Run
from simgap_core.run.directory import (
    MANIFEST,
    check_output_file,
    is_run_directory,
    recording_into,
    write_csv,
    write_parquet,
)
from simgap_core.schema import Metrics, read_metrics
from simgap_core.untrusted import csv_text

EXPORT_ARTIFACTS = (
    "params.json",
    "projection.parquet",
    "clusters.parquet",
    "metrics.json",
    "clusters_summary.csv",
    "misalignment.parquet",
)
TABLES = ("leaderboard", "clusters", "assignments")


def open_run(run_dir: str | Path, *, artifacts: Sequence[str] = EXPORT_ARTIFACTS) -> Run:
    """The run at `run_dir`, after checking it holds every artifact in `artifacts`.

    Raises RunDirectoryError naming the first thing missing, so a caller fails before any work.
    """
    run = Run(run_dir)
    if not run.path.is_dir():
        raise RunDirectoryError(f"{run.path} is not a run directory (it does not exist)")
    if not is_run_directory(run.path):
        raise RunDirectoryError(
            f"{run.path} is not a run directory (it has no valid {MANIFEST}); create one with "
            f"`simgap analyze --out {run.path}`"
        )
    for name in artifacts:
        run.require(name)
    return run


def simulators_of(run: Run) -> list[str]:
    """The run's simulators in the order `metrics.json` lists its sources (reference excluded)."""
    metrics = read_metrics(run.path)
    return [s for s in metrics.sources if s != metrics.reference]


def leaderboard_csv(metrics: Metrics) -> bytes:
    """`leaderboard.csv` as `export_tables` writes it (UTF-8): one file, one content."""
    return csv_text(leaderboard(metrics)).encode("utf-8")


def assignments(run: Run) -> pd.DataFrame:
    """One row per conversation, in projection order: where it sits and how it is judged.

    Columns: conversation_id, source, cluster (-1 = noise), cluster_name (`cluster_name`: the
    number and the run's name for it), x, y (the 2-d map), misalignment
    (its overall neighbourhood score), misalignment_<sim> (its score in that simulator's pair;
    empty outside the pair) and category_<sim> (captured / missed / hallucinated: the category
    of its cluster for that simulator).
    """
    simulators = simulators_of(run)
    points = run.projection()[["conversation_id", "source", "x", "y"]].merge(
        run.clusters()[["conversation_id", "cluster"]],
        on="conversation_id",
        how="left",
        validate="1:1",
    )
    if points["cluster"].isna().any():
        missing = points.loc[points["cluster"].isna(), "conversation_id"].iloc[0]
        raise RunDirectoryError(f"{run.path}/clusters.parquet has no cluster for {missing}")
    points["cluster"] = points["cluster"].astype("int64")
    scores = run.misalignment()
    score_columns = ["misalignment", *(f"misalignment_{sim}" for sim in simulators)]
    points = points.merge(
        scores[["conversation_id", *score_columns]],
        on="conversation_id",
        how="left",
        validate="1:1",
    )
    summary = run.clusters_summary()
    names = summary_names(summary)
    points["cluster_name"] = points["cluster"].map(lambda c: cluster_name(c, names))
    summary = summary.set_index("cluster")
    for sim in simulators:
        points[f"category_{sim}"] = points["cluster"].map(summary[f"category_{sim}"])
    columns = ["conversation_id", "source", "cluster", "cluster_name", "x", "y", *score_columns]
    return points[columns + [f"category_{sim}" for sim in simulators]]


def export_tables(run_dir: str | Path, folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write leaderboard, clusters and assignments as CSV and Parquet into `folder`.

    `folder` is created if its parent exists (never a chain of folders); an existing table is
    replaced only with `force`. Everything is checked before the first file is written, and
    each file is written atomically. Returns the written paths (CSV then Parquet, per table,
    in `TABLES` order).
    """
    run = open_run(run_dir)
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise SimgapError(f"{target} is a file: give a folder to write the tables to")
    paths = [target / f"{name}.{ext}" for name in TABLES for ext in ("csv", "parquet")]
    if not target.parent.is_dir():
        raise SimgapError(
            f"the folder {target.parent} does not exist (create it first); nothing was written"
        )
    for path in paths if target.is_dir() else []:
        check_output_file(path, force=force)
    tables = {
        "leaderboard": leaderboard(read_metrics(run.path)),
        "clusters": run.clusters_summary(),
        "assignments": assignments(run),
    }
    target.mkdir(exist_ok=True)
    with recording_into(target, force=force):
        for name in TABLES:
            write_csv(target / f"{name}.csv", tables[name])
            write_parquet(target / f"{name}.parquet", tables[name])
    return paths
