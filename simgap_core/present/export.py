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
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from simgap_core.errors import RunDirectoryError, SimgapError
from simgap_core.present.leaderboard import leaderboard
from simgap_core.present.selection import cluster_name, summary_names
from simgap_core.run import Run
from simgap_core.schema import Metrics, read_metrics

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
    for name in artifacts:
        run.require(name)
    return run


def simulators_of(run: Run) -> list[str]:
    """The run's simulators in the order `metrics.json` lists its sources (reference excluded)."""
    metrics = read_metrics(run.path)
    return [s for s in metrics.sources if s != metrics.reference]


def leaderboard_csv(metrics: Metrics) -> bytes:
    """`leaderboard.csv` as `export_tables` writes it (UTF-8): one file, one content."""
    return leaderboard(metrics).to_csv(index=False).encode("utf-8")


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


def export_tables(run_dir: str | Path, folder: str | Path) -> list[Path]:
    """Write leaderboard, clusters and assignments as CSV and Parquet into `folder`.

    Returns the written paths (CSV then Parquet, per table, in `TABLES` order).
    """
    run = open_run(run_dir)
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise SimgapError(f"{target} is a file: give a folder to write the tables to")
    target.mkdir(parents=True, exist_ok=True)
    tables = {
        "leaderboard": leaderboard(read_metrics(run.path)),
        "clusters": run.clusters_summary(),
        "assignments": assignments(run),
    }
    written = []
    for name in TABLES:
        table = tables[name]
        csv_path, parquet_path = target / f"{name}.csv", target / f"{name}.parquet"
        table.to_csv(csv_path, index=False, encoding="utf-8")
        table.to_parquet(parquet_path, index=False)
        written += [csv_path, parquet_path]
    return written
