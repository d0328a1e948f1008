"""Figures of the Simulators view: the leaderboard with intervals, what one simulator's users
do differently (feature-gap forest plot), the pairwise divergence between all sources with its
dendrogram, and the mixture weights.

Numbers are drawn as stored in the run directory: an interval is exactly the stored bootstrap
interval, the heatmap holds exactly the stored pairwise values (reordered, never changed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.cluster.hierarchy import dendrogram

from simgap_core.present.figures.common import (
    NEUTRAL_LINE,
    SIMULATOR_COLORS,
    TRANSPARENT,
    interval_bars,
    plotly_text,
    plotly_texts,
    themed,
    titled,
)
from simgap_core.present.formatting import format_js, format_share
from simgap_core.present.leaderboard import cluster_pairwise, leaderboard
from simgap_core.schema import Metrics, Mixture


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
        labels = plotly_texts(rows["label"]).tolist()
        figure.add_trace(
            go.Scatter(
                x=rows["effect"],
                y=labels,
                mode="markers",
                marker={
                    "size": 9,
                    "color": np.where(rows["significant"], "#c51b7d", TRANSPARENT).tolist(),
                    "line": {"color": "#c51b7d", "width": 1.5},
                },
                error_x=interval_bars(
                    rows["effect"], rows["ci_low"], rows["ci_high"], color=NEUTRAL_LINE
                ),
                text=plotly_texts(rows["finding"]).to_numpy(dtype=object),
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
    figure.add_vline(x=1, line={"color": NEUTRAL_LINE, "dash": "dot"}, row=1, col=1)
    figure.add_vline(x=0, line={"color": NEUTRAL_LINE, "dash": "dot"}, row=1, col=2)
    figure.update_xaxes(type="log", row=1, col=1)
    longest = int(max(table["effect_kind"].value_counts().max(), 1)) if len(table) else 1
    figure.update_layout(
        height=max(320, 80 + 24 * longest),
        margin={"l": 10, "r": 10, "b": 10},
    )
    titled(
        figure,
        f"What {plotly_text(simulator)} users do differently (95% intervals; filled: q ≤ 0.05)",
        below=28,  # the two panels' titles
    )
    return themed(figure)


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


# The leaderboard's two spans per simulator, drawn in this order: (from, to, style).
LEADERBOARD_SPANS = (
    (
        "no_gap_js",
        "no_gap_q95",
        {
            "line": {"color": "rgba(150,150,150,0.35)", "width": 14},
            "name": "no-gap level of the plug-in JS (mean – 95th pct.)",
            "legendgroup": "no-gap",
            "hoverinfo": "skip",
        },
    ),
    (
        "js_low",
        "js_high",
        {
            "line": {"color": "#d62728", "width": 3},
            "name": "95% interval",
            "legendgroup": "interval",
            "hovertemplate": "interval %{x:.4f}<extra></extra>",
        },
    ),
)


def leaderboard_figure(board: pd.DataFrame) -> go.Figure:
    """The bias-corrected JS per simulator (closest at the top) with its interval.

    `board` is `leaderboard_table(metrics)`. The red line spans the stored interval js_low ..
    js_high around the corrected JS (filled dot: what ranks). The open grey circle is the plug-in
    JS (descriptive), drawn against its no-gap band (the permutation null's mean to its 95th
    percentile at the same sizes). An unreliable comparison is written 'unreliable' beside it.
    """
    # Escaped names are the categories, so ticks and hover texts (`%{y}`) show them as typed.
    names = [plotly_text(name) for name in board["simulator"]]
    figure = go.Figure()
    for index, (name, row) in enumerate(zip(names, board.to_dict("records"), strict=True)):
        for low, high, style in LEADERBOARD_SPANS:
            figure.add_trace(
                go.Scatter(
                    x=[row[low], row[high]],
                    y=[name] * 2,
                    mode="lines",
                    showlegend=index == 0,
                    **style,
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
            marker={"size": 11, "color": "#d62728"},
            text=[
                f"{value:.3f}" + ("" if reliable else " unreliable")
                for value, reliable in zip(board["js"], board["reliable"], strict=True)
            ],
            textposition="top center",
            cliponaxis=False,
            name="JS (bias-corrected; ranks)",
            hovertemplate="%{y}: JS %{x:.4f}<extra></extra>",
        )
    )
    figure.update_yaxes(categoryorder="array", categoryarray=names[::-1], type="category")
    figure.update_xaxes(
        title="Jensen-Shannon divergence to real (nats, max ln 2 ≈ 0.693)",
        range=[0, _leaderboard_reach(board)],
    )
    figure.update_layout(
        # Rows closer together past eight simulators, so 25 still fit a screen or two.
        height=max(260, 110 + (60 if len(names) <= 8 else 34) * len(names)),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    figure.update_xaxes(showgrid=True)
    return themed(figure)


def _leaderboard_reach(board: pd.DataFrame) -> float:
    """The x axis' end: past every drawn value, with room for the value written beside the
    largest ("0.123 unreliable"), so nothing is cut at the right edge."""
    columns = [c for c in ("js", "js_high", "js_plugin", "no_gap_q95") if c in board]
    top = float(np.nanmax(board[columns].to_numpy(np.float64))) if len(board) else 0.0
    return max(top, 1e-3) * 1.25


def _dendrogram_trace(tree: np.ndarray) -> go.Scatter:
    """The dendrogram of a linkage matrix as one line trace, leaf i over heatmap column i."""
    drawn = dendrogram(tree, no_plot=True)
    x: list[float | None] = []
    y: list[float | None] = []
    # scipy places leaf i at 10 i + 5: map it onto heatmap column i.
    for xs, ys in zip(drawn["icoord"], drawn["dcoord"], strict=True):
        x += [(value - 5) / 10 for value in xs] + [None]
        y += list(ys) + [None]
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        line={"color": NEUTRAL_LINE, "width": 1.3},
        hoverinfo="skip",
        showlegend=False,
        name="dendrogram",
    )


def _pairwise_heatmap(
    ordered: pd.DataFrame, labels: Sequence[str], *, colorbar_share: float
) -> go.Heatmap:
    """The stored values of `ordered` on positions 0..n-1, each cell written and hovered with
    its (escaped) pair of names; the colour bar spans `colorbar_share` of the height from the
    bottom (the heatmap's part, below the dendrogram)."""
    positions = list(range(len(labels)))
    values = ordered.to_numpy(np.float64)
    low, high = heat_range(values)
    return go.Heatmap(
        z=values,
        x=positions,
        y=positions,
        zmin=low,
        zmax=high,
        colorscale="Blues",
        texttemplate="%{z:.3f}",
        textfont={"size": 12 if len(labels) <= 12 else 9},
        text=[[f"{row} vs {column}" for column in labels] for row in labels],
        colorbar={
            "title": "JS (nats)",
            "tickformat": ".3f",
            "len": colorbar_share,
            "y": 0,
            "yanchor": "bottom",
        },
        hovertemplate="%{text}: JS %{z:.4f}<extra></extra>",
    )


def pairwise_figure(matrix: pd.DataFrame) -> go.Figure:
    """The pairwise JS matrix between all sources, ordered by hierarchical clustering
    (`leaderboard.cluster_pairwise`) with its dendrogram above, values written in the cells.

    Families of simulators (close to each other) sit in adjacent rows and join low in the
    dendrogram. The heatmap's z holds exactly the stored values, rows and columns reordered;
    the axes are numbered 0..n-1 in that order with the (escaped) source names as tick text, so
    the dendrogram's leaves sit over their columns.
    """
    clustered = cluster_pairwise(matrix)
    labels = [plotly_text(s) for s in clustered.matrix.index]
    n = len(labels)
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
        figure.add_trace(_dendrogram_trace(clustered.linkage), row=1, col=1)
    figure.add_trace(
        _pairwise_heatmap(
            clustered.matrix,
            labels,
            colorbar_share=heat_height / (heat_height + dendrogram_height),
        ),
        row=2,
        col=1,
    )
    ticks = {"tickmode": "array", "tickvals": list(range(n)), "ticktext": labels, "showgrid": False}
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
    )
    return themed(figure)


def heat_range(values: np.ndarray) -> tuple[float, float]:
    """The colour scale's (zmin, zmax): from 0 (or the smallest value, when a bias-corrected
    value is below 0) to the largest value, so the darkest colour is the largest value and
    nothing drawn is beyond the scale."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = min(0.0, float(finite.min())), float(finite.max())
    return low, high if high > low else low + 1e-9


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
        heading = "mixture not judged: a source is too small to halve for a held-out gain"
    else:
        low, high = mixture.held_out_gain_ci
        verdict = "helps" if mixture.helps else "does not help beyond noise"
        heading = (
            f"mixture {verdict}: held-out gain {format_js(mixture.held_out_gain)} "
            f"[{format_js(low)}, {format_js(high)}] over {plotly_text(mixture.best_single)}"
        )
    figure = go.Figure(
        go.Bar(
            x=[plotly_text(name) for name in weights.index],
            y=weights.to_numpy(),
            marker_color=[(colors or {}).get(name, SIMULATOR_COLORS[1]) for name in weights.index],
            text=[format_share(w) for w in weights],
            textposition="outside",
            hovertemplate="%{x}: weight %{y:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(title="weight", range=[0, 1.1], tickformat=".0%")
    figure.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "b": 10},
    )
    return themed(titled(figure, heading))
