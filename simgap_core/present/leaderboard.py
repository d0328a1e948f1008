"""Tables read off `metrics.json` through the schema: the simulator leaderboard and the pairwise
matrix (and its order by hierarchical clustering, so families of simulators sit together).

The CLI, the dashboard, the report and the export all show these, so they are built once, here,
and their columns come from the metric registry (`simgap_core.schema.METRICS`): a registered
metric appears in every front end without another edit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from simgap_core.schema import METRICS, Metric, Metrics

# Columns every leaderboard has before the registered metrics.
LEADING_COLUMNS = ("rank", "simulator", "n", "reliable", "reliability", "tied_with")
LOW, HIGH = "_low", "_high"
RELIABILITY_HELP = (
    "A comparison is unreliable when its bins hold fewer than 10 conversations each on average "
    "(n/k < 10) or the two sizes differ by more than 2x: its interval may not cover the truth."
)


def reliability_text(metrics: Metrics, simulator: str) -> str:
    """'' for a reliable comparison, else 'unreliable: <every note>' (shown next to its JS)."""
    entry = metrics.simulators[simulator]
    if entry.reliable:
        return ""
    notes = "; ".join(entry.reliability_notes) or "the measurement flagged this comparison"
    return f"unreliable: {notes}"


def shared_ranks(metrics: Metrics) -> dict[str, str]:
    """Each simulator's place, closest first: '1', '2', ... and '=1' for statistically tied
    simulators, which share the place of the first of them (a rank counts only the simulators
    ahead that are not tied with it). Within a tie the order is the leaderboard's stated rule:
    corrected JS, then the upper end of its interval, then the name."""
    names = metrics.simulator_names
    ranks = {}
    for position, name in enumerate(names):
        tied = metrics.simulators[name].tied_with
        ahead = [other for other in names[:position] if other not in tied]
        shared = any(other in tied for other in names)
        ranks[name] = f"={len(ahead) + 1}" if shared else str(len(ahead) + 1)
    return ranks


def leaderboard(metrics: Metrics) -> pd.DataFrame:
    """One row per simulator, closest first (by the bias-corrected JS, as `metrics.leaderboard`).

    Columns: rank ('1', or '=1' for simulators tied for a place: `shared_ranks`), simulator, n,
    reliable, reliability (the notes, '' when reliable), tied_with
    (names joined by ', '), then one column per registered metric (its key), followed for an
    estimate by `<key>_low` and `<key>_high` (its interval). A statistic that was not computed
    is NaN.
    """
    rows = []
    ranks = shared_ranks(metrics)
    for name, entry in metrics.ranked():
        row: dict[str, object] = {
            "rank": ranks[name],
            "simulator": name,
            "n": entry.n,
            "reliable": entry.reliable,
            "reliability": reliability_text(metrics, name),
            "tied_with": ", ".join(entry.tied_with),
        }
        for metric in METRICS:
            value = metric.value(entry)
            row[metric.key] = float("nan") if value is None else value
            if metric.kind == "estimate":
                bounds = metric.bounds(entry)
                row[metric.key + LOW] = float("nan") if bounds is None else bounds[0]
                row[metric.key + HIGH] = float("nan") if bounds is None else bounds[1]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(leaderboard_columns()))


def leaderboard_columns() -> list[str]:
    """The columns of `leaderboard`, in order."""
    columns = list(LEADING_COLUMNS)
    for metric in METRICS:
        columns.append(metric.key)
        if metric.kind == "estimate":
            columns += [metric.key + LOW, metric.key + HIGH]
    return columns


def cell_text(metric: Metric, metrics: Metrics, simulator: str) -> str:
    """How every front end writes one number: with its interval, or labelled, or why skipped.

    An estimate reads '0.0120 [0.0040, 0.0210]'; a descriptive number, a p-value or a count as
    itself (a descriptive column says so in its header, `header`); a statistic not computed
    'skipped: <reason>' when the run says why, else '—'.
    """
    entry = metrics.simulators[simulator]
    value = metric.value(entry)
    if value is None:
        reason = metrics.skip_reason(simulator, metric.statistic)
        return f"skipped: {reason}" if reason else "—"
    text = metric.text(value)
    if metric.kind == "estimate":
        bounds = metric.bounds(entry)
        if bounds is None:
            return f"{text} (no interval)"
        return f"{text} [{metric.text(bounds[0])}, {metric.text(bounds[1])}]"
    return text


def header(metric: Metric) -> str:
    """A metric's column header: its label, marked '(descriptive)' when no verdict rests on it."""
    return f"{metric.label} (descriptive)" if metric.kind == "descriptive" else metric.label


def leaderboard_cells(metrics: Metrics) -> pd.DataFrame:
    """The leaderboard as text, headed by labels: what the CLI and the report print.

    Columns: '#', 'simulator', 'JS' (the first registered metric), 'reliability', then the
    other registered metrics, headed by `header`; values from `cell_text`.
    """
    first, *rest = METRICS
    rows = []
    ranks = shared_ranks(metrics)
    for name in metrics.simulator_names:
        row = {"#": ranks[name], "simulator": name, header(first): cell_text(first, metrics, name)}
        row["reliability"] = reliability_text(metrics, name) or "reliable"
        row.update({header(metric): cell_text(metric, metrics, name) for metric in rest})
        rows.append(row)
    columns = ["#", "simulator", header(first), "reliability", *(header(m) for m in rest)]
    return pd.DataFrame(rows, columns=columns)


def pairwise_matrix(metrics: Metrics) -> pd.DataFrame:
    """The pairwise JS matrix between all sources (reference included), labelled."""
    sources = metrics.pairwise.sources
    return pd.DataFrame(metrics.pairwise.js, index=sources, columns=sources)


@dataclass(frozen=True)
class ClusteredPairwise:
    """A pairwise matrix in the leaf order of its hierarchical clustering.

    `matrix`: the same values, rows and columns reordered; `linkage`: scipy's linkage matrix,
    whose `scipy.cluster.hierarchy.dendrogram` draws the leaves in `matrix`'s order; None when
    there is nothing to cluster (fewer than 3 sources, or a missing value).
    """

    matrix: pd.DataFrame
    linkage: np.ndarray | None


def cluster_pairwise(matrix: pd.DataFrame) -> ClusteredPairwise:
    """`matrix` (sources x sources JS, as `pairwise_matrix`) ordered by average-linkage
    hierarchical clustering with optimal leaf ordering: sources that are close to each other
    (a family of simulators) end up next to each other, and the dendrogram shows the families.

    The clustering reads the matrix as distances: symmetrized (mean of the two triangles),
    negatives clipped to 0, diagonal ignored. Values are never changed, only reordered.
    """
    values = matrix.to_numpy(dtype=np.float64)
    if len(values) < 3 or not np.isfinite(values).all():
        return ClusteredPairwise(matrix, None)
    distances = np.clip((values + values.T) / 2, 0.0, None)
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), method="average", optimal_ordering=True)
    order = leaves_list(tree)
    return ClusteredPairwise(matrix.iloc[order, order], tree)
