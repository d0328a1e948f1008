"""What the dashboard selects: map points, filters, a cluster's members, ranked examples, grids.

Pure functions over the run directory's tables (no Streamlit), so every selection the dashboard
makes is tested without a browser. A conversation is always named by its `conversation_id`:
a plotly selection is read from the ids carried in `customdata`, never from trace-local point
indices (which restart at 0 in every trace).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simgap_core.model import Corpus
from simgap_core.vocabulary import CAPTURED, GAP_CATEGORIES

NOISE = -1
# The dashboard shows every simulator up to this many, otherwise this many closest by default.
DEFAULT_SHOWN = 8
# The categories `interpret.categorize` assigns, in display order: the gaps first.
# Display order: the gaps first, then what simulators capture.
SHOWN_CATEGORIES = (*GAP_CATEGORIES, CAPTURED)
SNIPPET_CHARS = 160


def cluster_name(cluster: int, names: Mapping[int, str] | None = None) -> str:
    """How a cluster is called on screen: "11 · terse one-line requests" when the run named it
    (`names`, as `Run.cluster_names_by_number`), else "cluster 11"; noise (-1) is "noise".

    The number stays in front so a reader can still find the cluster in the tables and exports.
    """
    cluster = int(cluster)
    if cluster == NOISE:
        return "noise"
    name = (names or {}).get(cluster)
    return f"{cluster} · {name}" if isinstance(name, str) and name else f"cluster {cluster}"


def summary_names(summary: pd.DataFrame) -> dict[int, str]:
    """{cluster: name} from a clusters summary's `name` column ({} when it has none)."""
    if "name" not in summary:
        return {}
    return {
        int(c): str(n)
        for c, n in zip(summary["cluster"], summary["name"], strict=True)
        if isinstance(n, str) and n
    }


def source_order(sources: Iterable[str], reference: str) -> list[str]:
    """Distinct sources, the reference first, the others in order of first appearance."""
    distinct = list(dict.fromkeys(sources))
    return (
        [reference, *(s for s in distinct if s != reference)] if reference in distinct else distinct
    )


def shown_simulators(
    ranked: Sequence[str], chosen: Iterable[str] | None = None, *, limit: int = DEFAULT_SHOWN
) -> list[str]:
    """The simulators the dashboard shows, closest first.

    `ranked`: every simulator of the run, closest first (the leaderboard's order). `chosen`:
    what the reader picked, in any order; names the run does not have (a choice made on another
    run) are dropped. Nothing chosen (None, or nothing left) gives the default: every simulator
    when there are at most `limit`, else the `limit` closest. Raises ValueError when `limit` < 1.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    wanted = set(chosen or ())
    picked = [name for name in ranked if name in wanted]
    return picked or list(ranked[:limit])


def map_points(
    projection: pd.DataFrame,
    clusters: pd.DataFrame,
    misalignment: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per conversation: conversation_id, source, x, y, cluster (+ misalignment columns).

    Joined on `conversation_id`; raises ValueError when the tables do not cover the same ids.
    """
    points = projection[["conversation_id", "source", "x", "y"]].merge(
        clusters[["conversation_id", "cluster"]], on="conversation_id", how="left", validate="1:1"
    )
    if points["cluster"].isna().any():
        missing = points.loc[points["cluster"].isna(), "conversation_id"].iloc[0]
        raise ValueError(f"clusters.parquet has no cluster for {missing} (and maybe others)")
    points["cluster"] = points["cluster"].astype(np.int64)
    if misalignment is not None:
        scores = misalignment.drop(columns=["source"], errors="ignore")
        points = points.merge(scores, on="conversation_id", how="left", validate="1:1")
    return points


def filter_points(
    points: pd.DataFrame,
    *,
    sources: Sequence[str] | None = None,
    clusters: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The rows whose source is in `sources` and cluster in `clusters` (None keeps everything)."""
    keep = np.ones(len(points), dtype=bool)
    if sources is not None:
        keep &= points["source"].isin(list(sources)).to_numpy()
    if clusters is not None:
        keep &= points["cluster"].isin([int(c) for c in clusters]).to_numpy()
    return points[keep]


def selected_ids(event: Mapping[str, Any] | None) -> list[str]:
    """The conversation ids of a plotly selection event, in selection order, without repeats.

    `event` is what `st.plotly_chart(on_select="rerun")` returns (`{"selection": {"points":
    [...]}}`) or its `selection` part. Each point's `customdata` is the id, or a list whose first
    item is the id; points without customdata carry no conversation and are ignored.
    """
    if not event:
        return []
    selection = event.get("selection", event)
    ids: dict[str, None] = {}
    for point in selection.get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, list | tuple):
            data = data[0] if data else None
        if data is not None:
            ids[str(data)] = None
    return list(ids)


def cluster_members(points: pd.DataFrame, cluster: int, *, reference: str) -> pd.DataFrame:
    """The conversations of one cluster: reference source first, then by source and id."""
    members = points[points["cluster"] == int(cluster)]
    order = {s: i for i, s in enumerate(source_order(points["source"], reference))}
    return (
        members.assign(_order=members["source"].map(order))
        .sort_values(["_order", "conversation_id"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class Examples:
    """Ranked examples, most misaligned first; `rank` starts at 1 in each table."""

    real: pd.DataFrame  # reference conversations whose neighbourhood the simulator under-fills
    simulated: pd.DataFrame  # simulated conversations whose neighbourhood real users under-fill
    score_column: str


def misalignment_column(simulator: str | None) -> str:
    """The misalignment column for one simulator, or the overall one (None)."""
    return "misalignment" if simulator is None else f"misalignment_{simulator}"


def rank_examples(
    points: pd.DataFrame,
    *,
    reference: str,
    simulator: str | None = None,
    cluster: int | None = None,
    ids: Sequence[str] | None = None,
    top: int | None = None,
) -> Examples:
    """Rank a cluster's (or a selection's) conversations by misalignment against `simulator`.

    Real conversations rank by how under-represented their neighbourhood is in the simulator
    (`misalignment_<sim>` of a real row), simulated ones by how over-represented theirs is
    (`misalignment_<sim>` of that simulator's rows). With `simulator=None` real rows use their
    mean over the simulators and every simulated row its own pair's score (`misalignment`).
    """
    column = misalignment_column(simulator)
    if column not in points:
        raise KeyError(f"no {column} column: this run has no misalignment scores for it")
    scope = points
    if cluster is not None:
        scope = scope[scope["cluster"] == int(cluster)]
    if ids is not None:
        scope = scope[scope["conversation_id"].isin(list(ids))]
    is_real = scope["source"] == reference
    is_simulated = ~is_real if simulator is None else scope["source"] == simulator

    def ranked(rows: pd.DataFrame) -> pd.DataFrame:
        rows = rows[rows[column].notna()].sort_values(
            [column, "conversation_id"], ascending=[False, True], kind="stable"
        )
        if top is not None:
            rows = rows.head(top)
        return rows.assign(rank=np.arange(1, len(rows) + 1)).reset_index(drop=True)

    return Examples(ranked(scope[is_real]), ranked(scope[is_simulated]), column)


def conversation_overview(corpus: Corpus, *, snippet_chars: int = SNIPPET_CHARS) -> pd.DataFrame:
    """Per conversation: turns, user turns and the start of its first user turn (for listings)."""
    turns = corpus.turns.sort_values(["conversation_id", "turn"], kind="stable")
    user = turns[turns["role"] == "user"]
    first = user.groupby("conversation_id", sort=False)["text"].first().astype(str)
    first = first.str.replace(r"\s+", " ", regex=True).str.strip().str.slice(0, snippet_chars)
    overview = pd.DataFrame(
        {
            "turns": turns.groupby("conversation_id", sort=False).size(),
            "user_turns": user.groupby("conversation_id", sort=False).size(),
            "first_request": first,
        }
    )
    overview = overview.reindex(corpus.conversations["conversation_id"])
    overview["turns"] = overview["turns"].fillna(0).astype(int)
    overview["user_turns"] = overview["user_turns"].fillna(0).astype(int)
    overview["first_request"] = overview["first_request"].fillna("")
    overview.index.name = "conversation_id"
    return overview


@dataclass(frozen=True)
class Grid:
    """A 2-d histogram on the map: `values[row, col]` for y bin `row` and x bin `col`."""

    x_edges: np.ndarray
    y_edges: np.ndarray
    values: np.ndarray

    @property
    def x_centers(self) -> np.ndarray:
        return (self.x_edges[:-1] + self.x_edges[1:]) / 2

    @property
    def y_centers(self) -> np.ndarray:
        return (self.y_edges[:-1] + self.y_edges[1:]) / 2


def grid_edges(points: pd.DataFrame, *, bins: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges covering every point, shared by all sources so their grids line up."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if points.empty:
        raise ValueError("no points to bin")
    edges = []
    for axis in ("x", "y"):
        low, high = float(points[axis].min()), float(points[axis].max())
        pad = (high - low) * 1e-6 or 0.5  # keep the maximum inside the last bin
        edges.append(np.linspace(low - pad, high + pad, bins + 1))
    return edges[0], edges[1]


def share_grid(
    points: pd.DataFrame,
    *,
    source: str,
    x_edges: np.ndarray,
    y_edges: np.ndarray,
    total: int | None = None,
) -> Grid:
    """Each cell's share of `source`'s conversations.

    Shares are of `total` (default: the source's rows in `points`, so the grid sums to 1); pass
    the source's full size when `points` is filtered, so shares stay comparable with the map.
    """
    rows = points[points["source"] == source]
    total = len(rows) if total is None else total
    if total <= 0:
        raise ValueError(f"source {source!r} has no points")
    counts, _, _ = np.histogram2d(rows["y"], rows["x"], bins=[y_edges, x_edges])
    return Grid(x_edges, y_edges, counts / total)


def difference_grid(
    points: pd.DataFrame,
    *,
    reference: str,
    simulator: str,
    x_edges: np.ndarray,
    y_edges: np.ndarray,
    totals: Mapping[str, int] | None = None,
) -> Grid:
    """Reference share minus simulator share per cell: > 0 where real users are and it is not.

    `totals` gives each source's full size when `points` is filtered (see `share_grid`).
    """
    totals = totals or {}
    real = share_grid(
        points, source=reference, x_edges=x_edges, y_edges=y_edges, total=totals.get(reference)
    )
    simulated = share_grid(
        points, source=simulator, x_edges=x_edges, y_edges=y_edges, total=totals.get(simulator)
    )
    return Grid(x_edges, y_edges, real.values - simulated.values)


def cluster_gaps(summary: pd.DataFrame, *, simulator: str, reference: str) -> pd.DataFrame:
    """One row per cluster for one simulator, the largest |share difference| first.

    Columns: cluster, name, n, reference_share, simulator_share, diff (reference - simulator),
    diff_low, diff_high (bootstrap interval), log_ratio, q_value, category, and the cluster's
    description and c-TF-IDF terms when the run has them. `name` is `cluster_name` with the
    summary's `name` column ("11 · terse one-line requests"). Ties keep the cluster order.
    """
    needed = [f"share_{reference}", f"share_{simulator}", f"diff_{simulator}"]
    missing = [c for c in needed if c not in summary]
    if missing:
        raise KeyError(f"clusters_summary.csv lacks {', '.join(missing)}")
    names = summary_names(summary)
    gaps = pd.DataFrame(
        {
            "cluster": summary["cluster"].astype(int),
            "name": summary["cluster"].map(lambda c: cluster_name(c, names)),
            "n": summary["n"].astype(int),
            "reference_share": summary[f"share_{reference}"],
            "simulator_share": summary[f"share_{simulator}"],
            "diff": summary[f"diff_{simulator}"],
            "diff_low": summary[f"diff_low_{simulator}"],
            "diff_high": summary[f"diff_high_{simulator}"],
            "log_ratio": summary[f"log_ratio_{simulator}"],
            "q_value": summary[f"q_value_{simulator}"],
            "category": summary[f"category_{simulator}"],
        }
    )
    for text in ("description", "terms_representation", "terms_user"):
        if text in summary:
            gaps[text] = summary[text].fillna("")
    order = np.argsort(-gaps["diff"].abs().to_numpy(), kind="stable")
    return gaps.iloc[order].reset_index(drop=True)


def stack_points(points: pd.DataFrame, texts: pd.DataFrame) -> pd.DataFrame:
    """The map's points with conversations at identical coordinates drawn once.

    Why: identical representation texts have identical embeddings, so the map puts them on one
    spot (of every source alike) and a pile of 40 looks like one point whose colour hides the
    other sources under it. Each group of rows with equal (x, y) becomes one row with `count` =
    its size; `conversation_id` is the group's first member (in `points` order), the id the
    plotly point carries in `customdata`; `members` holds every member id; `sources` its
    (source, count) pairs, the largest first (ties: first seen); `source` the first of them
    (what colours the point); `cluster` the members' most common cluster (ties: the smallest
    number); `text` the first member's text (what its hover shows). Other columns are the first
    member's. `texts`: conversation_id, text (every point's).
    """
    text = points["conversation_id"].map(texts.set_index("conversation_id")["text"])
    if text.isna().any():
        missing = points.loc[text.isna(), "conversation_id"].iloc[0]
        raise ValueError(f"the map has no text for {missing} (and maybe others)")
    if points.empty:
        return points.assign(count=[], members=[], text=[], sources=[])
    group = points.groupby(["x", "y"], sort=False).ngroup().to_numpy()
    order = np.argsort(group, kind="stable")  # rows by group, `points` order within one
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    firsts = order[np.r_[0, bounds]]
    stacked = points.iloc[firsts].copy()
    stacked["count"] = np.diff(np.r_[0, bounds, len(points)])
    ids = points["conversation_id"].to_numpy(dtype=object)[order]
    stacked["members"] = [tuple(chunk) for chunk in np.split(ids, bounds)]
    stacked["text"] = text.to_numpy(dtype=object)[firsts]
    stacked["sources"] = _largest_first(group, points["source"], len(stacked))
    stacked["source"] = [pairs[0][0] for pairs in stacked["sources"]]
    clusters = _largest_first(group, points["cluster"], len(stacked), ties="value")
    stacked["cluster"] = [int(pairs[0][0]) for pairs in clusters]
    return stacked.sort_index(kind="stable").reset_index(drop=True)


def _largest_first(
    group: np.ndarray, values: pd.Series, groups: int, *, ties: str = "first"
) -> list[tuple[tuple[Any, int], ...]]:
    """Per group number 0..groups-1: its (value, count) pairs, the most common first; ties go
    to the value seen first (`ties="first"`) or to the smallest value (`ties="value"`)."""
    counted = (
        pd.DataFrame({"group": group, "value": values.to_numpy(), "seen": np.arange(len(group))})
        .groupby(["group", "value"], sort=False)
        .agg(n=("seen", "size"), seen=("seen", "min"))
        .reset_index()
    )
    tiebreak = "seen" if ties == "first" else "value"
    counted = counted.sort_values(
        ["group", "n", tiebreak], ascending=[True, False, True], kind="stable"
    )
    pairs: list[list[tuple[Any, int]]] = [[] for _ in range(groups)]
    for g, value, n in zip(counted["group"], counted["value"], counted["n"], strict=True):
        pairs[g].append((value, int(n)))
    return [tuple(p) for p in pairs]


def matching(texts: pd.Series, query: str) -> np.ndarray:
    """Which `texts` contain `query`, ignoring case (a plain substring, never a pattern): what
    the map's search box highlights. An empty or blank query matches nothing."""
    query = query.strip()
    if not query:
        return np.zeros(len(texts), dtype=bool)
    found = texts.astype(str).str.contains(query, case=False, regex=False)
    return found.to_numpy(dtype=bool)


def stack_members(stacked: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """{the id a stacked point carries: every conversation it stands for} (see `stack_points`)."""
    return dict(zip(stacked["conversation_id"].astype(str), stacked["members"], strict=True))


def expand_ids(ids: Sequence[str], members: Mapping[str, Sequence[str]]) -> list[str]:
    """The conversations behind selected map points: each id replaced by all its stack's
    members (an id that is no stack stands for itself), in order, without repeats."""
    expanded: dict[str, None] = {}
    for cid in ids:
        for member in members.get(str(cid), (cid,)):
            expanded[str(member)] = None
    return list(expanded)


def gap_regions(
    points: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    simulator: str,
    reference: str,
    top: int = 3,
) -> pd.DataFrame:
    """Where on the map `simulator`'s largest missed and invented clusters lie, with names.

    One row per cluster (at most `top` per category, largest |share difference| first):
    cluster, category ("missed" or "hallucinated"), label (`cluster_name` with the run's
    names), x, y (the median of the cluster's points), diff (reference - simulator share).
    """
    gaps = cluster_gaps(summary, simulator=simulator, reference=reference)
    gaps = gaps[gaps["cluster"] != NOISE]
    chosen = pd.concat(
        [gaps[gaps["category"] == category].head(top) for category in GAP_CATEGORIES]
    )
    centres = points[points["cluster"].isin(chosen["cluster"])].groupby("cluster")[["x", "y"]]
    centres = centres.median()
    chosen = chosen[chosen["cluster"].isin(centres.index)]
    return pd.DataFrame(
        {
            "cluster": chosen["cluster"].astype(int).to_numpy(),
            "category": chosen["category"].to_numpy(),
            "label": chosen["name"].to_numpy(),
            "x": centres.loc[chosen["cluster"], "x"].to_numpy(),
            "y": centres.loc[chosen["cluster"], "y"].to_numpy(),
            "diff": chosen["diff"].to_numpy(),
        }
    )


def top_feature_gaps(gaps: pd.DataFrame, *, simulator: str, top: int = 3) -> pd.DataFrame:
    """`simulator`'s `top` largest significant feature gaps (q <= 0.05), largest effect first.

    The effect is compared on one scale for both kinds (`behaviour.gaps.effect_size`: |d| for a
    mean, Cohen's h for a rate).
    """
    from simgap_core.behaviour.gaps import SIGNIFICANCE, effect_size

    rows = gaps[gaps["simulator"].astype(str) == simulator]
    rows = rows[rows["q_value"] <= SIGNIFICANCE]
    order = np.argsort(-effect_size(rows), kind="stable")
    return rows.iloc[order].head(top).reset_index(drop=True)


def feature_gap_table(gaps: pd.DataFrame, *, simulator: str) -> pd.DataFrame:
    """One simulator's feature gaps for display: significant rows first, then by effect size,
    with the `gap_sentence` of each row in `finding` and its effect as that sentence states it
    in `effect_shown` (`effect_text`)."""
    from simgap_core.behaviour.gaps import SIGNIFICANCE, effect_size, effect_text, gap_sentence

    rows = gaps[gaps["simulator"].astype(str) == simulator].copy()
    rows["significant"] = rows["q_value"] <= SIGNIFICANCE
    rows["_size"] = effect_size(rows)
    rows = rows.sort_values(["significant", "_size"], ascending=[False, False], kind="stable")
    rows["finding"] = [gap_sentence(row) for _, row in rows.iterrows()]
    rows["effect_shown"] = [effect_text(row) for _, row in rows.iterrows()]
    return rows.drop(columns="_size").reset_index(drop=True)
