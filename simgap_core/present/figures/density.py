"""The map binned into a grid of cells: each source's share per cell (small multiples) and the
reference-minus-simulator difference, with the simulator's missed and invented clusters named
where they lie. Shares, never raw counts, so sources of different sizes compare.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from simgap_core.present.figures.common import (
    CATEGORY_COLORS,
    hide_map_axes,
    plotly_text,
    themed,
    title,
)
from simgap_core.present.selection import Grid

# Density panels side by side; more sources wrap onto further rows.
MAX_PANELS_PER_ROW = 6


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
                colorbar={"title": "share of the source", "tickformat": ".1%"},
                hovertemplate=f"{plotly_text(name)}: %{{z:.2%}} of its conversations"
                "<extra></extra>",
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    figure.update_layout(height=height * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return themed(figure)


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
        title=title(
            f"Blue: {reference} users are here more than {simulator}. "
            f"Red: {simulator} is here more than {reference} users."
        ),
    )
    themed(figure)
    hide_map_axes(figure)
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
