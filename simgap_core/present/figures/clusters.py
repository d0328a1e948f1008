"""Per behaviour cluster: the shares of the reference and one simulator side by side, and their
difference with its stored interval, coloured by category (missed, hallucinated, captured)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simgap_core.present.figures.common import (
    CATEGORY_COLORS,
    NEUTRAL_LINE,
    REFERENCE_COLOR,
    SIMULATOR_COLORS,
    interval_bars,
    plotly_text,
    plotly_texts,
    themed,
)


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
    labels = plotly_texts(gaps["name"]).tolist()
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
                y=plotly_texts(rows["name"]),
                x=rows["diff"],
                orientation="h",
                name=category,
                marker_color=color,
                customdata=rows["cluster"],
                error_x=interval_bars(
                    rows["diff"], rows["diff_low"], rows["diff_high"], color=NEUTRAL_LINE
                ),
                hovertemplate="%{y}: %{x:+.1%}<extra>" + category + "</extra>",
                legendgroup="categories",
            ),
            row=1,
            col=2,
        )
    figure.update_yaxes(categoryorder="array", categoryarray=labels[::-1], type="category", dtick=1)
    figure.update_xaxes(tickformat=".0%", row=1, col=1)
    figure.update_xaxes(tickformat="+.0%", zeroline=True, zerolinecolor=NEUTRAL_LINE, row=1, col=2)
    figure.update_layout(
        barmode="group",
        height=height,
        margin={"l": 10, "r": 10, "t": 96, "b": 10},
        # At the very top, above the subplot titles, however tall the figure is.
        legend={"orientation": "h", "yref": "container", "yanchor": "top", "y": 1, "x": 0},
        bargap=0.25,
    )
    return themed(figure)
