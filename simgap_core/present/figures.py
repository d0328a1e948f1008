"""Plotly figures of a run, shared by the dashboard and the HTML report (no Streamlit here).

Every map trace carries the conversation ids in `customdata`, so a box or lasso selection names
conversations, whatever trace a point sits in. Plotly draws hover text, labels, titles, ticks and
annotations as an HTML subset (`<span style=...>`, `<a href>`, `<b>`): every piece of data that
goes into one (ids, source and simulator names, cluster names) passes through `plotly_text`, so a
conversation id such as `<span style="background:url(http://...)">` is shown as typed and fetches
nothing. Hover text is built here, escaped, rather than from `%{customdata}`, which plotly would
insert unescaped. Numbers are drawn as stored in the run directory:
an interval is exactly the stored bootstrap interval, never recomputed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram

from simgap_core.present.leaderboard import cluster_pairwise, leaderboard
from simgap_core.present.selection import NOISE, Grid, cluster_name, source_order
from simgap_core.schema import Metrics, Mixture

REFERENCE_COLOR = "#1f4e79"
# One colour per simulator, in order, so 25 simulators (26 sources) never share one. The first
# eight are the d3 colours the dashboard always used (minus its blue and grey); the rest were
# picked greedily from plotly's qualitative palettes (Alphabet, Dark24, Light24, D3, Vivid,
# Safe, ...) for the largest CIELAB distance to every colour already chosen, to the reference
# colour, to the noise grey and to white, among colours neither too dark nor too pale to read
# as a marker (L* 25-80). Every pair is at least 27 apart (delta E 1976), as far as the first
# eight are from each other; tests/test_figures.py checks it.
SIMULATOR_COLORS = (
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#511cfb",
    "#fe00fa",
    "#fc0080",
    "#a6761d",
    "#00cc96",
    "#990099",
    "#ff9da6",
    "#882255",
    "#2e91e5",
    "#636efa",
    "#6c7c32",
    "#24796c",
    "#fc1cbf",
    "#86ce00",
    "#edad08",
    "#6e899c",
    "#862a16",
)
CLUSTER_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)
NOISE_COLOR = "#c8c8c8"
CATEGORY_COLORS = {"missed": "#01665e", "hallucinated": "#c51b7d", "captured": "#bdbdbd"}
# Above this many clusters the map labels only the largest ones (labels would overlap).
MAX_CLUSTER_LABELS = 60
# The largest clusters get their name at their centroid; the others only their number.
MAX_NAMED_LABELS = 12
# A cluster name on the map is wrapped at about this many characters per line.
LABEL_LINE_CHARS = 28
# A stack of identical representations is drawn with an area proportional to its size, up to
# this many times a single point's diameter.
MAX_STACK_SCALE = 5.0
# The hover text of a stack names this many of its other members.
STACK_IDS_SHOWN = 3
# Density panels side by side; more sources wrap onto further rows.
MAX_PANELS_PER_ROW = 6


def plotly_text(value: object) -> str:
    """`value` as literal text in a plotly label or hover text (`&`, `<` and `>` escaped)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plotly_texts(values: pd.Series) -> pd.Series:
    """`plotly_text` over a column (vectorised: the map has one hover text per point)."""
    return (
        values.astype(str)
        .str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
    )


def source_colors(sources: Sequence[str], *, reference: str) -> dict[str, str]:
    """A stable colour per source: the reference dark blue, simulators in palette order.

    Pass every source of the run (not a filtered subset), so a source keeps its colour whatever
    is shown beside it. Up to 25 simulators get distinct colours; beyond that they repeat.
    """
    others = [s for s in sources if s != reference]
    colors = {s: SIMULATOR_COLORS[i % len(SIMULATOR_COLORS)] for i, s in enumerate(others)}
    return {reference: REFERENCE_COLOR, **colors} if reference in sources else colors


def _map_layout(figure: go.Figure, *, height: int) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        dragmode="select",
        # Zoom and selection survive reruns as long as the map itself does not change.
        uirevision="map",
        legend={
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.01,
            "x": 0,
            "itemsizing": "constant",
            # Legend entries are labels here, not switches (filters live beside the map).
            "itemclick": False,
            "itemdoubleclick": False,
        },
        plot_bgcolor="white",
        hovermode="closest",
    )
    figure.update_xaxes(title="UMAP 1", showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(title="UMAP 2", showticklabels=False, showgrid=False, zeroline=False)
    return figure


def _stack_sizes(rows: pd.DataFrame, marker_size: float) -> float | np.ndarray:
    """Marker diameters: one size, or for stacked points (a `count` column, see
    `selection.stack_points`) a diameter growing with the square root of the count."""
    if "count" not in rows:
        return marker_size
    scale = np.sqrt(rows["count"].to_numpy(np.float64)).clip(1.0, MAX_STACK_SCALE)
    return marker_size * scale


def _stack_note(rows: pd.DataFrame) -> pd.Series:
    """ " (×N identical: also a, b, c and K more)" after the hover text of a stack of N > 1
    conversations (escaped for plotly), naming up to `STACK_IDS_SHOWN` of its other members."""
    if "count" not in rows:
        return pd.Series("", index=rows.index)
    members = rows["members"] if "members" in rows else pd.Series([()] * len(rows), rows.index)
    notes = []
    # Built as text even when empty: an empty `map` keeps the int dtype, and str + int fails.
    for n, stack in zip(rows["count"].astype(int), members, strict=True):
        if n <= 1:
            notes.append("")
            continue
        others = [plotly_text(m) for m in list(stack)[1 : 1 + STACK_IDS_SHOWN]]
        more = n - 1 - len(others)
        listed = ", ".join(others) + (f" and {more:,} more" if more > 0 else "")
        notes.append(f" (×{n:,} identical" + (f": also {listed})" if others else ")"))
    return pd.Series(notes, index=rows.index, dtype=str)


def map_scatter(
    points: pd.DataFrame,
    *,
    color_by: str = "source",
    reference: str = "real",
    marker_size: float = 5,
    opacity: float = 0.65,
    height: int = 640,
    names: Mapping[int, str] | None = None,
    contours: bool = False,
    colors: Mapping[str, str] | None = None,
    contour_sources: Sequence[str] | None = None,
) -> go.Figure:
    """The shared map in WebGL: one point per conversation (or per stack of identical ones),
    ids in every trace's customdata.

    `color_by="source"`: all points in one trace, coloured by source and drawn in a seeded random
    order (plus point-less legend entries, reference first). `color_by="cluster"`: one trace for
    noise and one for all clustered points (a colour per cluster), clusters labelled at their
    median position, the largest by name. `names`: {cluster: name} (`Run.cluster_names_by_number`)
    for hover texts and labels. Points with a `count` column (`selection.stack_points`) are
    stacks: drawn larger, their count in the hover text. `contours`: add a density contour per
    source (line colour = source colour), to see where each source's conversations concentrate.
    `colors`: {source: colour} of the whole run (`source_colors` of all its sources), so a map
    of some sources keeps each one's colour; by default from the sources in `points`.
    `contour_sources`: draw the contours of these sources only (default: every source).
    """
    if color_by not in ("source", "cluster"):
        raise ValueError(f"color_by must be 'source' or 'cluster', got {color_by!r}")

    def named(values: pd.Series) -> pd.Series:
        return _plotly_texts(values.map(lambda c: cluster_name(c, names)))

    traces = []
    if color_by == "source":
        sources = source_order(points["source"], reference)
        colors = {**source_colors(sources, reference=reference), **(colors or {})}
        # One trace in a seeded random order, so no source is always drawn over the others.
        rows = points.iloc[np.random.default_rng(0).permutation(len(points))]
        traces.append(
            go.Scattergl(
                x=rows["x"].to_numpy(),
                y=rows["y"].to_numpy(),
                customdata=rows["conversation_id"].to_numpy(dtype=object),
                text=(
                    _plotly_texts(rows["conversation_id"])
                    + _stack_note(rows)
                    + "<br>"
                    + _plotly_texts(rows["source"])
                    + " · "
                    + named(rows["cluster"])
                ).to_numpy(dtype=object),
                mode="markers",
                name="conversations",
                marker={
                    "size": _stack_sizes(rows, marker_size),
                    "opacity": opacity,
                    **_categorical_marker(
                        rows["source"].map({s: i for i, s in enumerate(sources)}).to_numpy(),
                        [colors[s] for s in sources],
                    ),
                },
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            )
        )
        counts = (
            points.groupby("source")["count"].sum()
            if "count" in points
            else points["source"].value_counts()
        )
        # Legend entries only: one null point each (plotly.js leaves a trace with no points out
        # of the legend; a null point is never drawn, so never selected).
        traces.extend(
            go.Scattergl(
                x=[None],
                y=[None],
                customdata=[None],
                mode="markers",
                name=f"{plotly_text(source)} ({counts.get(source, 0):,})",
                marker={"size": 9, "color": colors[source]},
            )
            for source in sources
        )
    else:
        hover = "%{text}<extra>%{fullData.name}</extra>"
        noise = points[points["cluster"] == NOISE]
        clustered = points[points["cluster"] != NOISE]
        traces.append(
            go.Scattergl(
                x=noise["x"].to_numpy(),
                y=noise["y"].to_numpy(),
                customdata=noise["conversation_id"].to_numpy(dtype=object),
                text=(
                    _plotly_texts(noise["conversation_id"])
                    + _stack_note(noise)
                    + "<br>"
                    + _plotly_texts(noise["source"])
                ).to_numpy(dtype=object),
                mode="markers",
                name=f"noise ({_conversations(noise):,})",
                marker={
                    "size": _stack_sizes(noise, marker_size),
                    "color": NOISE_COLOR,
                    "opacity": opacity,
                },
                hovertemplate=hover,
            )
        )
        traces.append(
            go.Scattergl(
                x=clustered["x"].to_numpy(),
                y=clustered["y"].to_numpy(),
                customdata=clustered["conversation_id"].to_numpy(dtype=object),
                text=(
                    _plotly_texts(clustered["conversation_id"])
                    + _stack_note(clustered)
                    + "<br>"
                    + named(clustered["cluster"])
                    + " · "
                    + _plotly_texts(clustered["source"])
                ).to_numpy(dtype=object),
                mode="markers",
                name=f"in clusters ({_conversations(clustered):,})",
                marker={
                    "size": _stack_sizes(clustered, marker_size),
                    "opacity": opacity,
                    **_categorical_marker(
                        clustered["cluster"].to_numpy() % len(CLUSTER_COLORS), CLUSTER_COLORS
                    ),
                },
                hovertemplate=hover,
            )
        )
    if contours:
        outlined = (
            points if contour_sources is None else points[points["source"].isin(contour_sources)]
        )
        traces[:0] = _contour_traces(outlined, reference=reference, colors=colors)
    figure = _map_layout(go.Figure(traces), height=height)
    if color_by == "cluster":
        _label_clusters(figure, points, names)
    return figure


def _conversations(rows: pd.DataFrame) -> int:
    """How many conversations `rows` stand for (stacks count their members)."""
    return int(rows["count"].sum()) if "count" in rows else len(rows)


def _contour_traces(
    points: pd.DataFrame, *, reference: str, colors: Mapping[str, str] | None = None
) -> list[go.Histogram2dContour]:
    """One density contour per source (lines only, no hover): drawn under the points, they
    carry no customdata, so a selection still names only conversations."""
    sources = source_order(points["source"], reference)
    colors = {**source_colors(sources, reference=reference), **(colors or {})}
    traces = []
    for source in sources:
        rows = points[points["source"] == source]
        weights = rows.get("count")
        traces.append(
            go.Histogram2dContour(
                x=rows["x"].to_numpy(),
                y=rows["y"].to_numpy(),
                z=None if weights is None else weights.to_numpy(np.float64),
                histfunc="sum" if weights is not None else "count",
                name=f"{plotly_text(source)} density",
                contours={"coloring": "none", "showlines": True},
                line={"color": colors[source], "width": 1.2},
                ncontours=6,
                nbinsx=40,
                nbinsy=40,
                showscale=False,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    return traces


def _categorical_marker(codes: np.ndarray, colors: Sequence[str]) -> dict[str, Any]:
    """Marker colours as integer codes on a stepwise colour scale.

    Plotly validates a per-point array of colour strings element by element (0.15 s per 20k
    points); numbers on a discrete scale draw the same and validate at numpy speed.
    """
    k = len(colors)
    scale = []
    for i, color in enumerate(colors):
        scale += [[i / k, color], [(i + 1) / k, color]]
    return {
        # int16 codes: a quarter of int64's bytes on the wire, room for 32k categories.
        "color": np.asarray(codes, dtype=np.int16),
        "colorscale": scale,
        "cmin": -0.5,
        "cmax": k - 0.5,
        "showscale": False,
    }


def _wrap(text: str, width: int = LABEL_LINE_CHARS) -> list[str]:
    """`text` broken into lines of at most about `width` characters, at spaces."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def label_plan(
    centres: pd.DataFrame,
    sizes: pd.Series,
    names: Mapping[int, str] | None,
    *,
    max_named: int = MAX_NAMED_LABELS,
    width_px: int = 1000,
    height_px: int = 640,
) -> dict[int, list[str]]:
    """The label lines of each cluster in `centres` (x, y per cluster): the largest clusters
    (`sizes`, descending) get their wrapped name, the others their number. A name whose box
    would overlap a name already placed (boxes estimated from the text, 7 px per character and
    16 px per line of a `width_px` x `height_px` plot) is shown as its number instead, so dense
    regions stay readable; the larger cluster keeps its name."""
    if centres.empty:
        return {}
    x_span = float(np.ptp(centres["x"])) or 1.0
    y_span = float(np.ptp(centres["y"])) or 1.0
    placed: list[tuple[float, float, float, float]] = []
    plan: dict[int, list[str]] = {}
    order = [c for c in sizes.index if c in centres.index]
    for rank, cluster in enumerate(order):
        number = [str(cluster)]
        if not names or rank >= max_named:
            plan[cluster] = number
            continue
        lines = _wrap(cluster_name(cluster, names))
        half_w = max(len(line) for line in lines) * 7 / width_px * x_span / 2
        half_h = len(lines) * 16 / height_px * y_span / 2
        x, y = float(centres.at[cluster, "x"]), float(centres.at[cluster, "y"])
        box = (x - half_w, x + half_w, y - half_h, y + half_h)
        clash = any(
            box[0] < other[1] and other[0] < box[1] and box[2] < other[3] and other[2] < box[3]
            for other in placed
        )
        if clash:
            plan[cluster] = number
        else:
            placed.append(box)
            plan[cluster] = lines
    return plan


def _label_clusters(
    figure: go.Figure, points: pd.DataFrame, names: Mapping[int, str] | None = None
) -> None:
    """Each cluster's number at its median position; the `MAX_NAMED_LABELS` largest also get
    their name (`names`), wrapped and drawn larger, unless it would overlap a larger cluster's
    name (`label_plan`)."""
    clustered = points[points["cluster"] != NOISE]
    sizes = (
        clustered.groupby("cluster")["count"].sum().sort_values(ascending=False, kind="stable")
        if "count" in clustered
        else clustered["cluster"].value_counts()
    )
    shown = sizes.index[:MAX_CLUSTER_LABELS]
    centres = clustered[clustered["cluster"].isin(shown)].groupby("cluster")[["x", "y"]].median()
    height = figure.layout.height or 640
    plan = label_plan(centres, sizes[shown], names, height_px=height)
    # Annotations, not a text trace: they cannot be selected, so a selection holds only points.
    # Set in one layout update: add_annotation per label costs ~2 ms each.
    figure.update_layout(
        annotations=[
            {
                "x": row["x"],
                "y": row["y"],
                "text": "<br>".join(plotly_text(line) for line in plan[cluster]),
                "showarrow": False,
                "font": {"size": 12 if plan[cluster] != [str(cluster)] else 11, "color": "#111"},
                "bgcolor": "rgba(255,255,255,0.8)",
            }
            for cluster, row in centres.iterrows()
        ]
    )


def density_figure(
    grids: Mapping[str, Grid], *, height: int = 420, per_row: int = MAX_PANELS_PER_ROW
) -> go.Figure:
    """Small multiples: each source's share of its conversations per map cell, one colour scale.

    Up to `per_row` panels side by side; more wrap onto further rows (`height` per row).
    """
    names = list(grids)
    top = max(float(g.values.max()) for g in grids.values()) or 1.0
    columns = min(len(names), per_row)
    rows = -(-len(names) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[plotly_text(name) for name in names],
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=0.08 / rows if rows > 1 else 0.0,
    )
    for index, name in enumerate(names):
        grid = grids[name]
        figure.add_trace(
            go.Heatmap(
                x=grid.x_centers,
                y=grid.y_centers,
                z=np.where(grid.values > 0, grid.values, np.nan),
                zmin=0,
                zmax=top,
                colorscale="Viridis",
                showscale=index == len(names) - 1,
                colorbar={"title": "share", "tickformat": ".1%"},
                hovertemplate=f"{plotly_text(name)}: %{{z:.2%}} of its conversations"
                "<extra></extra>",
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_layout(height=height * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return figure


def difference_figure(
    grid: Grid,
    *,
    reference: str,
    simulator: str,
    height: int = 640,
    regions: pd.DataFrame | None = None,
) -> go.Figure:
    """Reference share minus simulator share per cell, diverging around 0.

    `regions` (`selection.gap_regions`): the simulator's largest missed and invented clusters,
    labelled with their names where they lie ("missed: 3 · pasted error logs").
    """
    bound = float(np.abs(grid.values).max()) or 1.0
    reference, simulator = plotly_text(reference), plotly_text(simulator)
    values = np.where(grid.values != 0, grid.values, np.nan)
    figure = go.Figure(
        go.Heatmap(
            x=grid.x_centers,
            y=grid.y_centers,
            z=values,
            zmin=-bound,
            zmid=0,
            zmax=bound,
            colorscale="RdBu",
            colorbar={"title": f"{reference} − {simulator}", "tickformat": "+.1%"},
            hovertemplate=(f"{reference} share − {simulator} share: %{{z:+.2%}}<extra></extra>"),
        )
    )
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        plot_bgcolor="white",
        title={
            "text": f"Blue: {reference} users are here more than {simulator}. "
            f"Red: {simulator} is here more than {reference} users.",
            "font": {"size": 13},
        },
    )
    figure.update_xaxes(title="UMAP 1", showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(title="UMAP 2", showticklabels=False, showgrid=False, zeroline=False)
    if regions is not None and len(regions):
        figure.update_layout(
            annotations=[
                {
                    "x": row["x"],
                    "y": row["y"],
                    "text": f"<b>{'missed' if row['category'] == 'missed' else 'invented'}</b>: "
                    + plotly_text(row["label"]),
                    "showarrow": True,
                    "arrowhead": 2,
                    "ax": 0,
                    "ay": -28,
                    "font": {"size": 12, "color": CATEGORY_COLORS[row["category"]]},
                    "bgcolor": "rgba(255,255,255,0.85)",
                    "bordercolor": CATEGORY_COLORS[row["category"]],
                }
                for _, row in regions.iterrows()
            ]
        )
    return figure


def feature_gap_figure(table: pd.DataFrame, *, simulator: str) -> go.Figure:
    """Forest plot of one simulator's feature gaps: each effect with its stored interval.

    `table`: `selection.feature_gap_table` (significant rows first, drawn at the top). Rates
    are compared as ratios (left panel, log axis, 1 = no gap), means as standardized differences
    (right panel, 0 = no gap); significant gaps are filled, the others hollow.
    """
    kinds = (
        ("rate_ratio", "ratio of rates (simulator / real)"),
        ("smd", "standardized difference (sd)"),
    )
    figure = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.28,
        subplot_titles=[title for _, title in kinds],
    )
    for column, (kind, _) in enumerate(kinds, start=1):
        rows = table[table["effect_kind"] == kind]
        labels = _plotly_texts(rows["label"]).tolist()
        figure.add_trace(
            go.Scatter(
                x=rows["effect"],
                y=labels,
                mode="markers",
                marker={
                    "size": 9,
                    "color": np.where(rows["significant"], "#c51b7d", "#ffffff").tolist(),
                    "line": {"color": "#c51b7d", "width": 1.5},
                },
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (rows["ci_high"] - rows["effect"]).clip(lower=0).to_numpy(),
                    "arrayminus": (rows["effect"] - rows["ci_low"]).clip(lower=0).to_numpy(),
                    "color": "#555",
                    "thickness": 1.2,
                    "width": 3,
                },
                text=_plotly_texts(rows["finding"]).to_numpy(dtype=object),
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=column,
        )
        figure.update_yaxes(
            categoryorder="array",
            categoryarray=labels[::-1],
            type="category",
            dtick=1,
            row=1,
            col=column,
        )
    figure.add_vline(x=1, line={"color": "#444", "dash": "dot"}, row=1, col=1)
    figure.add_vline(x=0, line={"color": "#444", "dash": "dot"}, row=1, col=2)
    figure.update_xaxes(type="log", row=1, col=1)
    longest = int(max(table["effect_kind"].value_counts().max(), 1)) if len(table) else 1
    figure.update_layout(
        height=max(320, 80 + 24 * longest),
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        plot_bgcolor="white",
        title={
            "text": f"What {plotly_text(simulator)} users do differently (95% intervals; "
            "filled: q ≤ 0.05)",
            "font": {"size": 13},
        },
    )
    return figure


def cluster_gap_figure(
    gaps: pd.DataFrame,
    *,
    reference: str,
    simulator: str,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Per cluster: the two shares side by side, and their difference with its interval.

    `gaps` comes from `selection.cluster_gaps` (largest gap first, drawn at the top). The error
    bars span exactly diff_low .. diff_high. `colors` (e.g. `source_colors` of the run) keeps
    each source's map colour; by default the reference is dark blue, the simulator red.
    """
    colors = {reference: REFERENCE_COLOR, simulator: SIMULATOR_COLORS[0], **(colors or {})}
    labels = _plotly_texts(gaps["name"]).tolist()
    height = max(320, 60 + 22 * len(gaps))
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=(
            "share of each source's conversations",
            f"difference ({plotly_text(reference)} − {plotly_text(simulator)}) with 95% interval",
        ),
    )
    for column, name in (("reference_share", reference), ("simulator_share", simulator)):
        figure.add_trace(
            go.Bar(
                y=labels,
                x=gaps[column],
                orientation="h",
                name=plotly_text(name),
                marker_color=colors[name],
                customdata=gaps["cluster"],
                hovertemplate=f"%{{y}}: {plotly_text(name)} %{{x:.1%}}<extra></extra>",
                legendgroup="shares",
            ),
            row=1,
            col=1,
        )
    for category, color in CATEGORY_COLORS.items():
        rows = gaps[gaps["category"] == category]
        if rows.empty:
            continue
        figure.add_trace(
            go.Bar(
                y=_plotly_texts(rows["name"]),
                x=rows["diff"],
                orientation="h",
                name=category,
                marker_color=color,
                customdata=rows["cluster"],
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (rows["diff_high"] - rows["diff"]).clip(lower=0).to_numpy(),
                    "arrayminus": (rows["diff"] - rows["diff_low"]).clip(lower=0).to_numpy(),
                    "color": "#333",
                    "thickness": 1.2,
                    "width": 3,
                },
                hovertemplate="%{y}: %{x:+.1%}<extra>" + category + "</extra>",
                legendgroup="categories",
            ),
            row=1,
            col=2,
        )
    figure.update_yaxes(categoryorder="array", categoryarray=labels[::-1], type="category", dtick=1)
    figure.update_xaxes(tickformat=".0%", row=1, col=1)
    figure.update_xaxes(tickformat="+.0%", zeroline=True, zerolinecolor="#444", row=1, col=2)
    figure.update_layout(
        barmode="group",
        height=height,
        margin={"l": 10, "r": 10, "t": 96, "b": 10},
        # At the very top, above the subplot titles, however tall the figure is.
        legend={"orientation": "h", "yref": "container", "yanchor": "top", "y": 1, "x": 0},
        bargap=0.25,
    )
    return figure


def leaderboard_table(metrics: Metrics) -> pd.DataFrame:
    """`leaderboard(metrics)` plus `no_gap_q95`: what `leaderboard_figure` draws.

    `no_gap_js` / `no_gap_q95` are the mean and 95th percentile of the permutation null of the
    plug-in JS at the pair's own sizes: the level the plug-in JS would reach with no gap at all.
    """
    board = leaderboard(metrics)
    q95 = []
    for name in board["simulator"]:
        null = metrics.simulators[name].paper.null_js
        q95.append(np.nan if null is None else null.q95)
    return board.assign(no_gap_q95=q95)


def leaderboard_figure(board: pd.DataFrame) -> go.Figure:
    """The bias-corrected JS per simulator (closest at the top) with its interval.

    `board` is `leaderboard_table(metrics)`. The red line spans the stored interval js_low ..
    js_high around the corrected JS (filled dot: what ranks). The open grey circle is the plug-in
    JS (descriptive), drawn against its no-gap band (the permutation null's mean to its 95th
    percentile at the same sizes). An unreliable comparison is written 'unreliable' beside it.
    """
    names = board["simulator"].tolist()
    figure = go.Figure()
    for index, row in enumerate(board.itertuples(index=False)):
        figure.add_trace(
            go.Scatter(
                x=[row.no_gap_js, row.no_gap_q95],
                y=[row.simulator, row.simulator],
                mode="lines",
                line={"color": "rgba(150,150,150,0.35)", "width": 14},
                name="no-gap level of the plug-in JS (mean – 95th pct.)",
                legendgroup="no-gap",
                showlegend=index == 0,
                hoverinfo="skip",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=[row.js_low, row.js_high],
                y=[row.simulator, row.simulator],
                mode="lines",
                line={"color": "#d62728", "width": 3},
                name="95% interval",
                legendgroup="interval",
                showlegend=index == 0,
                hovertemplate="interval %{x:.4f}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=board["js_plugin"],
            y=names,
            mode="markers",
            marker={"symbol": "circle-open", "size": 10, "color": "#777", "line": {"width": 2}},
            name="plug-in JS (descriptive)",
            hovertemplate="plug-in %{x:.4f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=board["js"],
            y=names,
            mode="markers+text",
            marker={"size": 11, "color": "#111"},
            text=[
                f"{value:.3f}" + ("" if reliable else " unreliable")
                for value, reliable in zip(board["js"], board["reliable"], strict=True)
            ],
            textposition="top center",
            name="JS (bias-corrected; ranks)",
            hovertemplate="%{y}: JS %{x:.4f}<extra></extra>",
        )
    )
    figure.update_yaxes(categoryorder="array", categoryarray=names[::-1], type="category")
    figure.update_xaxes(title="Jensen-Shannon divergence to real (nats, max ln 2 ≈ 0.693)")
    figure.update_xaxes(rangemode="tozero")
    figure.update_layout(
        # Rows closer together past eight simulators, so 25 still fit a screen or two.
        height=max(260, 110 + (60 if len(names) <= 8 else 34) * len(names)),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        plot_bgcolor="white",
    )
    figure.update_xaxes(showgrid=True, gridcolor="#eee")
    return figure


def pairwise_figure(matrix: pd.DataFrame) -> go.Figure:
    """The pairwise JS matrix between all sources, ordered by hierarchical clustering
    (`leaderboard.cluster_pairwise`) with its dendrogram above, values written in the cells.

    Families of simulators (close to each other) sit in adjacent rows and join low in the
    dendrogram. The heatmap's z holds exactly the stored values, rows and columns reordered;
    the axes are numbered 0..n-1 in that order with the (escaped) source names as tick text, so
    the dendrogram's leaves sit over their columns.
    """
    clustered = cluster_pairwise(matrix)
    ordered = clustered.matrix
    labels = [plotly_text(s) for s in ordered.index]
    n = len(labels)
    positions = list(range(n))
    cell = 70 if n <= 8 else max(24, 560 // n)
    heat_height = cell * n
    dendrogram_height = 0 if clustered.linkage is None else (90 if n <= 8 else 130)
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.0,
        row_heights=[dendrogram_height or 1, heat_height],
    )
    if clustered.linkage is not None:
        tree = dendrogram(clustered.linkage, no_plot=True)
        x: list[float | None] = []
        y: list[float | None] = []
        # scipy places leaf i at 10 i + 5: map it onto heatmap column i.
        for xs, ys in zip(tree["icoord"], tree["dcoord"], strict=True):
            x += [(value - 5) / 10 for value in xs] + [None]
            y += list(ys) + [None]
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                line={"color": "#555", "width": 1.3},
                hoverinfo="skip",
                showlegend=False,
                name="dendrogram",
            ),
            row=1,
            col=1,
        )
    figure.add_trace(
        go.Heatmap(
            z=ordered.to_numpy(),
            x=positions,
            y=positions,
            zmin=0,
            colorscale="Blues",
            texttemplate="%{z:.3f}",
            textfont={"size": 12 if n <= 12 else 9},
            text=[[f"{row} vs {column}" for column in labels] for row in labels],
            colorbar={
                "title": "JS",
                "len": heat_height / (heat_height + dendrogram_height),
                "y": 0,
                "yanchor": "bottom",
            },
            hovertemplate="%{text}: JS %{z:.4f}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    ticks = {"tickmode": "array", "tickvals": positions, "ticktext": labels, "showgrid": False}
    figure.update_xaxes(range=[-0.5, n - 0.5], zeroline=False, showgrid=False)
    figure.update_xaxes(**ticks, row=2, col=1)
    figure.update_yaxes(**ticks, autorange="reversed", zeroline=False, row=2, col=1)
    figure.update_yaxes(
        title={"text": "average JS", "font": {"size": 10}},
        tickfont={"size": 9},
        rangemode="tozero",
        showgrid=False,
        zeroline=False,
        visible=clustered.linkage is not None,
        row=1,
        col=1,
    )
    figure.update_layout(
        height=120 + heat_height + dendrogram_height,
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        plot_bgcolor="white",
    )
    return figure


def mixture_figure(
    mixture: Mixture,
    *,
    colors: Mapping[str, str] | None = None,
    names: Sequence[str] | None = None,
) -> go.Figure:
    """The mixture weights (on the simplex), titled with the held-out gain and its interval.

    `colors` (e.g. `source_colors` of the run) gives each simulator its map colour. `names`:
    draw only these simulators' weights (the fit is over all of them either way). The title
    says "helps" only when `mixture.helps` (the gain's interval lies above 0).
    """
    weights = pd.Series(mixture.weights, dtype=float).sort_values(ascending=False)
    if names is not None:
        weights = weights[weights.index.isin(list(names))]
    if mixture.held_out_gain is None or mixture.held_out_gain_ci is None:
        title = "mixture not judged: a source is too small to halve for a held-out gain"
    else:
        low, high = mixture.held_out_gain_ci
        verdict = "helps" if mixture.helps else "does not help beyond noise"
        title = (
            f"mixture {verdict}: held-out gain {mixture.held_out_gain:.4f} "
            f"[{low:.4f}, {high:.4f}] over {plotly_text(mixture.best_single)}"
        )
    figure = go.Figure(
        go.Bar(
            x=[plotly_text(name) for name in weights.index],
            y=weights.to_numpy(),
            marker_color=[(colors or {}).get(name, SIMULATOR_COLORS[1]) for name in weights.index],
            text=[f"{w:.1%}" for w in weights],
            textposition="outside",
            hovertemplate="%{x}: weight %{y:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(title="weight", range=[0, 1.1], tickformat=".0%")
    figure.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title, "font": {"size": 13}},
        plot_bgcolor="white",
    )
    return figure
