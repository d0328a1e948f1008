"""The shared map of a run as a scatter: one point per conversation (or per stack of identical
ones), coloured by source or by cluster, with density contours and cluster labels.

Every trace with points carries the conversation ids in `customdata`, so a box or lasso
selection names conversations, whatever trace a point sits in; contours and labels carry none,
so a selection holds only conversations. Hover text is built here, escaped (`plotly_texts`),
rather than from `%{customdata}`, which plotly would insert unescaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from simgap_core.present.figures.common import (
    CLUSTER_COLORS,
    NOISE_COLOR,
    categorical_marker,
    hide_map_axes,
    plotly_text,
    plotly_texts,
    source_colors,
)
from simgap_core.present.selection import NOISE, cluster_name, source_order

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
    hide_map_axes(figure)
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


def _hover_text(rows: pd.DataFrame, *details: pd.Series) -> np.ndarray:
    """Each point's hover text: its id (and its stack's other members), then `details`
    (escaped columns) joined by " · " on a second line."""
    text = plotly_texts(rows["conversation_id"]) + _stack_note(rows) + "<br>" + details[0]
    for detail in details[1:]:
        text = text + " · " + detail
    return text.to_numpy(dtype=object)


def _points_trace(
    rows: pd.DataFrame,
    *,
    name: str,
    text: np.ndarray,
    marker: Mapping[str, object],
    marker_size: float,
    opacity: float,
    **options: object,
) -> go.Scattergl:
    """One WebGL trace of `rows` (stacks drawn larger), its ids in customdata."""
    return go.Scattergl(
        x=rows["x"].to_numpy(),
        y=rows["y"].to_numpy(),
        customdata=rows["conversation_id"].to_numpy(dtype=object),
        text=text,
        mode="markers",
        name=name,
        marker={"size": _stack_sizes(rows, marker_size), "opacity": opacity, **marker},
        **options,
    )


def _named_clusters(values: pd.Series, names: Mapping[int, str] | None) -> pd.Series:
    """Each cluster number as its escaped name ("11 · terse one-line requests")."""
    return plotly_texts(values.map(lambda c: cluster_name(c, names)))


def _source_traces(
    points: pd.DataFrame,
    *,
    sources: Sequence[str],
    colors: Mapping[str, str],
    names: Mapping[int, str] | None,
    marker_size: float,
    opacity: float,
) -> list[go.Scattergl]:
    """Coloured by source: every point in one trace, in a seeded random order so no source is
    always drawn over the others, then one point-less legend entry per source."""
    rows = points.iloc[np.random.default_rng(0).permutation(len(points))]
    codes = rows["source"].map({s: i for i, s in enumerate(sources)}).to_numpy()
    conversations = _points_trace(
        rows,
        name="conversations",
        text=_hover_text(
            rows, plotly_texts(rows["source"]), _named_clusters(rows["cluster"], names)
        ),
        marker=categorical_marker(codes, [colors[s] for s in sources]),
        marker_size=marker_size,
        opacity=opacity,
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
    )
    counts = (
        points.groupby("source")["count"].sum()
        if "count" in points
        else points["source"].value_counts()
    )
    # Legend entries only: one null point each (plotly.js leaves a trace with no points out of
    # the legend; a null point is never drawn, so never selected).
    legend = [
        go.Scattergl(
            x=[None],
            y=[None],
            customdata=[None],
            mode="markers",
            name=f"{plotly_text(source)} ({counts.get(source, 0):,})",
            marker={"size": 9, "color": colors[source]},
        )
        for source in sources
    ]
    return [conversations, *legend]


def _cluster_traces(
    points: pd.DataFrame,
    *,
    names: Mapping[int, str] | None,
    marker_size: float,
    opacity: float,
) -> list[go.Scattergl]:
    """Coloured by cluster: one trace of noise (grey), one of every clustered point (a colour
    per cluster)."""
    hover = "%{text}<extra>%{fullData.name}</extra>"
    noise = points[points["cluster"] == NOISE]
    clustered = points[points["cluster"] != NOISE]
    return [
        _points_trace(
            noise,
            name=f"noise ({_conversations(noise):,})",
            text=_hover_text(noise, plotly_texts(noise["source"])),
            marker={"color": NOISE_COLOR},
            marker_size=marker_size,
            opacity=opacity,
            hovertemplate=hover,
        ),
        _points_trace(
            clustered,
            name=f"in clusters ({_conversations(clustered):,})",
            text=_hover_text(
                clustered,
                _named_clusters(clustered["cluster"], names),
                plotly_texts(clustered["source"]),
            ),
            marker=categorical_marker(
                clustered["cluster"].to_numpy() % len(CLUSTER_COLORS), CLUSTER_COLORS
            ),
            marker_size=marker_size,
            opacity=opacity,
            hovertemplate=hover,
        ),
    ]


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
    sources = source_order(points["source"], reference)
    colors = {**source_colors(sources, reference=reference), **(colors or {})}
    traces = (
        _source_traces(
            points,
            sources=sources,
            colors=colors,
            names=names,
            marker_size=marker_size,
            opacity=opacity,
        )
        if color_by == "source"
        else _cluster_traces(points, names=names, marker_size=marker_size, opacity=opacity)
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
    points: pd.DataFrame, *, reference: str, colors: Mapping[str, str]
) -> list[go.Histogram2dContour]:
    """One density contour per source (lines only, no hover, `colors` of every source): drawn
    under the points, they carry no customdata, so a selection still names only conversations."""
    traces = []
    for source in source_order(points["source"], reference):
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
