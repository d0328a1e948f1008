"""The shared map of a run as a scatter: one point per conversation (or per group of
conversations at identical coordinates), coloured by source or by cluster, with cluster names
placed beside their clusters, density contours and search highlights.

Every trace with points carries the conversation ids in `customdata`, so a box or lasso
selection names conversations, whatever trace a point sits in; contours and labels carry none,
so a selection holds only conversations. Hover text is built here, escaped (`plotly_texts`),
rather than from `%{customdata}`, which plotly would insert unescaped: it shows the start of
the user's words (a `text` column, see `selection.stack_points`), the cluster's name and, for a
group, how many conversations of each source it holds.

No colour of the page is set here (backgrounds are transparent, text takes the theme's colour),
so the dashboard's light and dark themes both apply; the HTML report sets its own template.
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
    themed,
)
from simgap_core.present.figures.labels import label_lines, place_labels, text_extent
from simgap_core.present.selection import NOISE, SNIPPET_CHARS, cluster_name, source_order

# At most this many clusters (the largest) get a label on the map; all are in the legend.
MAX_CLUSTER_LABELS = 60
# A legend entry is cut at this many characters (a label on the map is wrapped, `label_lines`).
LEGEND_CHARS = 40
# The figure's width the labels are placed for, in pixels, when the caller does not know it
# (the dashboard's map fills the page's width): narrower than most pages, as a wider plot only
# spreads the clusters further apart (labels keep their size in pixels). The cluster legend, on
# the right, takes about `LEGEND_PX` of it.
ASSUMED_WIDTH_PX = 1000
LEGEND_PX = 330
# The figure's width outside its plot area besides the legend (margins, the y axis title).
HORIZONTAL_CHROME_PX = 50
# The map's axes reach this share of the points' extent beyond them on each side; its height
# minus `VERTICAL_CHROME_PX` (margins, axis title) is the plot area.
RANGE_PAD = 0.05
VERTICAL_CHROME_PX = 75
# A group of conversations at one spot is drawn with an area proportional to its size, up to
# this many times a single point's diameter.
MAX_STACK_SCALE = 5.0
# The hover text shows the user's words (`SNIPPET_CHARS` characters, as the listings) in lines of
# about this many characters.
HOVER_LINE_CHARS = 60
# The ring around a group holding several sources, and around search matches: mid-grey and
# gold read on light and dark backgrounds alike.
MIXED_OUTLINE = "rgba(128,128,128,0.95)"
HIGHLIGHT_COLOR = "#ffbf00"
# The column of escaped hover texts `map_scatter` adds to its copy of the points.
HOVER = "_hover"


def _map_layout(figure: go.Figure, *, height: int, toggles: bool) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        dragmode="select",
        # Zoom, selection and hidden legend entries survive reruns while the map is the same.
        uirevision="map",
        legend={
            "itemsizing": "constant",
            # A cluster's entry hides or shows it (double click: only it); a source's entry is
            # a label only (all sources share one trace, so none is always drawn on top).
            "itemclick": "toggle" if toggles else False,
            "itemdoubleclick": "toggleothers" if toggles else False,
            **(
                {"orientation": "v", "x": 1.01, "y": 1, "yanchor": "top"}
                if toggles
                else {"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0}
            ),
        },
        hovermode="closest",
        hoverlabel={"align": "left"},
    )
    themed(figure)
    hide_map_axes(figure)
    return figure


def _stack_sizes(rows: pd.DataFrame, marker_size: float) -> float | np.ndarray:
    """Marker diameters: one size, or for groups (a `count` column, see
    `selection.stack_points`) a diameter growing with the square root of the count."""
    if "count" not in rows:
        return marker_size
    scale = np.sqrt(rows["count"].to_numpy(np.float64)).clip(1.0, MAX_STACK_SCALE)
    return marker_size * scale


def excerpts(texts: pd.Series, *, chars: int = SNIPPET_CHARS) -> pd.Series:
    """The start of each text for a hover: whitespace collapsed, at most `chars` characters
    ("…" when cut), escaped for plotly and broken into lines of about `HOVER_LINE_CHARS`."""
    flat = texts.fillna("").astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    cut = flat.str.slice(0, chars) + np.where(flat.str.len() > chars, "…", "")
    wrapped = cut.str.replace(rf"(.{{1,{HOVER_LINE_CHARS}}})(?: +|$)", "\\1\n", regex=True)
    return plotly_texts(wrapped.str.rstrip("\n")).str.replace("\n", "<br>", regex=False)


def _who(rows: pd.DataFrame) -> pd.Series:
    """Who a point stands for, escaped: its source and id, or for a group its size and count
    per source ("3 conversations: real 2, close_sim 1")."""
    single = plotly_texts(rows["source"]) + " · " + plotly_texts(rows["conversation_id"])
    if "count" not in rows:
        return single
    groups = [
        f"{n:,} conversations: " + ", ".join(f"{plotly_text(s)} {k:,}" for s, k in pairs)
        for n, pairs in zip(rows["count"], rows["sources"], strict=True)
    ]
    return pd.Series(np.where(rows["count"] > 1, groups, single), index=rows.index, dtype=str)


def hover_texts(
    rows: pd.DataFrame, names: Mapping[int, str] | None, *, cluster: bool = True
) -> np.ndarray:
    """Each point's hover text (escaped): the user's words (`text`) when known, then its source
    and id, or its group's count per source, then (`cluster`) the cluster's name. A trace of one
    cluster leaves the name out: its hover template adds it once (`_points_trace`'s `meta`)."""
    text = _who(rows)
    if "text" in rows:
        text = excerpts(rows["text"]) + "<br>" + text
    if cluster:
        text = text + "<br>" + plotly_texts(rows["cluster"].map(lambda c: cluster_name(c, names)))
    return text.to_numpy(dtype=object)


def _mixed_outline(rows: pd.DataFrame) -> dict[str, object]:
    """A ring around each group that holds more than one source (so a reader knows the
    colour is only the largest source's)."""
    if "sources" not in rows:
        return {}
    mixed = np.fromiter((len(p) > 1 for p in rows["sources"]), dtype=bool, count=len(rows))
    return {"line": {"color": MIXED_OUTLINE, "width": np.where(mixed, 1.5, 0.0)}}


def _points_trace(
    rows: pd.DataFrame,
    *,
    name: str,
    marker: Mapping[str, object],
    marker_size: float,
    opacity: float,
    meta: str | None = None,
    **options: object,
) -> go.Scattergl:
    """One WebGL trace of `rows` (groups drawn larger), its ids in customdata, its hover texts
    from the `HOVER` column; `meta` (escaped), when given, is a last hover line shared by every
    point (written once, not once per point)."""
    return go.Scattergl(
        x=rows["x"].to_numpy(),
        y=rows["y"].to_numpy(),
        customdata=rows["conversation_id"].to_numpy(dtype=object),
        text=rows[HOVER].to_numpy(dtype=object),
        mode="markers",
        name=name,
        marker={
            "size": _stack_sizes(rows, marker_size),
            "opacity": opacity,
            **_mixed_outline(rows),
            **marker,
        },
        meta=meta,
        hovertemplate="%{text}" + ("<br>%{meta}" if meta else "") + "<extra></extra>",
        **options,
    )


def _source_traces(
    points: pd.DataFrame,
    *,
    sources: Sequence[str],
    colors: Mapping[str, str],
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
        marker=categorical_marker(codes, [colors[s] for s in sources]),
        marker_size=marker_size,
        opacity=opacity,
        showlegend=False,
    )
    counts = _source_counts(points)
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


def _source_counts(points: pd.DataFrame) -> pd.Series:
    """Conversations per source (a group counts each of its members under its own source)."""
    if "sources" not in points:
        return points["source"].value_counts()
    pairs = [pair for group in points["sources"] for pair in group]
    return pd.DataFrame(pairs, columns=["source", "n"]).groupby("source")["n"].sum()


def _legend_name(cluster: int, names: Mapping[int, str] | None, count: int) -> str:
    name = cluster_name(cluster, names)
    if len(name) > LEGEND_CHARS:
        name = name[: LEGEND_CHARS - 1].rstrip() + "…"
    return f"{plotly_text(name)} ({count:,})"


def _cluster_traces(
    points: pd.DataFrame,
    *,
    names: Mapping[int, str] | None,
    marker_size: float,
    opacity: float,
) -> list[go.Scattergl]:
    """Coloured by cluster: one trace per cluster, largest first (its legend entry names it and
    toggles it), then the noise as one grey trace."""
    sizes = _cluster_sizes(points)
    traces = []
    for cluster in [*sizes.index[sizes.index != NOISE], NOISE]:
        rows = points[points["cluster"] == cluster]
        if rows.empty:
            continue
        color = NOISE_COLOR if cluster == NOISE else CLUSTER_COLORS[cluster % len(CLUSTER_COLORS)]
        traces.append(
            _points_trace(
                rows,
                name=_legend_name(cluster, names, int(sizes[cluster])),
                meta=plotly_text(cluster_name(cluster, names)),
                marker={"color": color},
                marker_size=marker_size,
                opacity=opacity,
                legendrank=1000 if cluster == NOISE else None,
            )
        )
    return traces


def _cluster_sizes(points: pd.DataFrame) -> pd.Series:
    """Conversations per cluster (groups count their members), largest first, ties by
    number."""
    counts = (
        points.groupby("cluster")["count"].sum()
        if "count" in points
        else points.groupby("cluster").size()
    )
    return counts.sort_index().sort_values(ascending=False, kind="stable")


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
    width_px: int = ASSUMED_WIDTH_PX,
) -> go.Figure:
    """The shared map in WebGL: one point per conversation (or per group at identical
    coordinates), ids in every trace's customdata, clusters named beside their centres.

    `color_by="source"`: all points in one trace, coloured by source and drawn in a seeded random
    order (plus point-less legend entries, reference first). `color_by="cluster"`: one trace per
    cluster (its legend entry toggles it) and one grey trace of noise. Either way the largest
    clusters are labelled with their names (`names`: {cluster: name}, as
    `Run.cluster_names_by_number`) beside their median position, no two labels overlapping
    (`labels.place_labels`), a leader line to a label moved off its cluster. Points from
    `selection.stack_points` (a `count` column) are groups: drawn larger, ringed when they hold
    several sources, their count per source in the hover text. `contours`: a density contour per
    source (line colour = source colour). `colors`: {source: colour} of the whole run, so a map
    of some sources keeps each one's colour. `contour_sources`: outline these sources only.
    `width_px`: about how wide the figure will be drawn (labels are placed for it).
    """
    if color_by not in ("source", "cluster"):
        raise ValueError(f"color_by must be 'source' or 'cluster', got {color_by!r}")
    sources = source_order(points["source"], reference)
    # Every hover text built once (the per-trace slices share it).
    points = points.assign(**{HOVER: hover_texts(points, names, cluster=color_by == "source")})
    colors = {**source_colors(sources, reference=reference), **(colors or {})}
    traces = (
        _source_traces(
            points,
            sources=sources,
            colors=colors,
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
    figure = _map_layout(go.Figure(traces), height=height, toggles=color_by == "cluster")
    low, span = map_range(points)
    figure.update_xaxes(range=[low[0], low[0] + span[0]])
    figure.update_yaxes(range=[low[1], low[1] + span[1]])
    plot_width = width_px - HORIZONTAL_CHROME_PX - (LEGEND_PX if color_by == "cluster" else 0)
    figure.update_layout(
        annotations=cluster_labels(points, names, height_px=height, width_px=plot_width)
    )
    return figure


def highlight_trace(
    points: pd.DataFrame,
    ids: set[str],
    *,
    label: str,
    names: Mapping[int, str] | None = None,
    marker_size: float = 5,
) -> go.Scattergl:
    """The points holding any of `ids` (a group: any of its `members`) as gold rings, a trace to
    draw over the map (the search's matches). It carries their ids, so a selection still names
    conversations, and names `label` (escaped) and the number of matching conversations in the
    legend."""
    members = (
        points["members"]
        if "members" in points
        else points["conversation_id"].map(lambda cid: (cid,))
    )
    hits = np.fromiter(
        (sum(m in ids for m in group) for group in members), dtype=np.int64, count=len(points)
    )
    rows = points[hits > 0]
    return go.Scattergl(
        x=rows["x"].to_numpy(),
        y=rows["y"].to_numpy(),
        customdata=rows["conversation_id"].to_numpy(dtype=object),
        text=hover_texts(rows, names),
        hovertemplate="%{text}<extra></extra>",
        mode="markers",
        name=f"{plotly_text(label)} ({int(hits.sum()):,})",
        marker={
            "symbol": "circle-open",
            "size": np.asarray(_stack_sizes(rows, marker_size)) + 6,
            "color": HIGHLIGHT_COLOR,
            "line": {"width": 2.5},
        },
    )


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


def map_range(points: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The map's axis ranges as (low, span) per axis (x, y): every point plus a `RANGE_PAD`
    share of its extent on each side. Set on the figure, so the labels' pixel estimate of a
    point's position is what plotly draws."""
    low = points[["x", "y"]].min().to_numpy(np.float64) if len(points) else np.zeros(2)
    high = points[["x", "y"]].max().to_numpy(np.float64) if len(points) else np.ones(2)
    extent = high - low
    extent[extent == 0] = 1.0
    return low - RANGE_PAD * extent, extent * (1 + 2 * RANGE_PAD)


def cluster_labels(
    points: pd.DataFrame,
    names: Mapping[int, str] | None,
    *,
    height_px: int = 640,
    width_px: int = ASSUMED_WIDTH_PX - LEGEND_PX - HORIZONTAL_CHROME_PX,
    top: int = MAX_CLUSTER_LABELS,
) -> list[dict[str, object]]:
    """Plotly annotations naming the `top` largest clusters beside their median position.

    The label boxes (estimated in pixels for a plot of `width_px` x `height_px`) are placed by
    `place_labels`: none overlaps another, a label moved off its cluster points at it with a
    leader line (its offset is in pixels, so it follows the cluster when the reader zooms). A
    label with no free spot is left out. Annotations rather than a text trace: they cannot be
    selected, so a selection holds only conversations. No colours: text takes the theme's
    colour, with a contrasting halo (`font.shadow`) to read over points.
    """
    clustered = points[points["cluster"] != NOISE]
    if clustered.empty:
        return []
    sizes = _cluster_sizes(clustered).head(top)
    centres = clustered[clustered["cluster"].isin(sizes.index)].groupby("cluster")[["x", "y"]]
    centres = centres.median().loc[sizes.index]
    low, span = map_range(points)
    frame = np.array([width_px, height_px - VERTICAL_CHROME_PX], dtype=np.float64)
    to_px = frame * (centres.to_numpy(np.float64) - low) / span
    obstacles = frame * (points[["x", "y"]].to_numpy(np.float64) - low) / span
    lines = [label_lines(cluster_name(c, names)) for c in sizes.index]
    spots = place_labels(
        to_px,
        np.array([text_extent(text) for text in lines]),
        bounds=(float(frame[0]), float(frame[1])),
        obstacles=obstacles,
    )
    annotations = []
    for (cluster, centre), text, anchor, spot in zip(
        centres.iterrows(), lines, to_px, spots, strict=True
    ):
        if spot is None:
            continue
        dx, dy = float(spot[0] - anchor[0]), float(spot[1] - anchor[1])
        moved = abs(dx) > 0.5 or abs(dy) > 0.5
        annotations.append(
            {
                "x": float(centre["x"]),
                "y": float(centre["y"]),
                "text": "<br>".join(plotly_text(line) for line in text),
                "showarrow": moved,
                # Pixel offsets of the text from its cluster (screen y grows downwards).
                "ax": dx,
                "ay": -dy,
                "arrowhead": 0,
                "arrowwidth": 1,
                "arrowcolor": MIXED_OUTLINE,
                "font": {"size": 12, "shadow": "auto"},
                "name": f"cluster {cluster}",
            }
        )
    return annotations
