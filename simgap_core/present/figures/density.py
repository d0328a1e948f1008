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
    titled,
)
from simgap_core.present.figures.labels import label_lines, place_labels, text_extent
from simgap_core.present.selection import Grid

# Density panels side by side; more sources wrap onto further rows.
MAX_PANELS_PER_ROW = 6
# The difference map's width the gap labels are placed for when the caller does not know it,
# and the part of it its colour bar takes.
DIFFERENCE_WIDTH_PX = 900
COLORBAR_PX = 130
# A gap region's label is wrapped at about this many characters per line.
REGION_LINE_CHARS = 32


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
    width_px: int = DIFFERENCE_WIDTH_PX,
) -> go.Figure:
    """Reference share minus simulator share per cell, diverging around 0.

    `regions` (`selection.gap_regions`): the simulator's largest missed and invented clusters,
    labelled with their names where they lie ("missed: 3 · pasted error logs"), the labels
    placed apart for a figure about `width_px` wide.
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
    figure.update_layout(height=height, margin={"l": 10, "r": 10, "b": 10})
    titled(
        figure,
        f"Blue: {reference} users are here more than {simulator}. "
        f"Red: {simulator} is here more than {reference} users.",
    )
    themed(figure)
    hide_map_axes(figure)
    # The cells' edges are the axes' ends, so a region's pixel position is known for its label.
    figure.update_xaxes(range=[grid.x_edges[0], grid.x_edges[-1]])
    figure.update_yaxes(range=[grid.y_edges[0], grid.y_edges[-1]])
    if regions is not None and len(regions):
        plot = (width_px - COLORBAR_PX, height - figure.layout.margin.t - 40)
        figure.update_layout(annotations=_region_labels(grid, regions, plot=plot))
    return figure


def _region_labels(
    grid: Grid, regions: pd.DataFrame, *, plot: tuple[float, float]
) -> list[dict[str, object]]:
    """A boxed label per region ("missed: 3 · pasted error logs"), an arrow to where it lies,
    no two labels overlapping (`labels.place_labels` in a plot of `plot` pixels; a label with
    no free spot is left out)."""
    kinds = ["missed" if c == "missed" else "invented" for c in regions["category"]]
    texts = [
        label_lines(f"{kind}: {label}", width=REGION_LINE_CHARS)
        for kind, label in zip(kinds, regions["label"], strict=True)
    ]
    low = np.array([grid.x_edges[0], grid.y_edges[0]])
    span = np.array([grid.x_edges[-1], grid.y_edges[-1]]) - low
    span[span == 0] = 1.0
    anchors = np.array(plot) * (regions[["x", "y"]].to_numpy(np.float64) - low) / span
    # Each label starts a little above its region (its arrow stays visible).
    lifted = anchors + np.array([0.0, 30.0])
    extents = np.array([text_extent(lines) for lines in texts]) + np.array([8.0, 8.0])
    spots = place_labels(lifted, extents, bounds=plot)
    annotations = []
    for (_, row), kind, lines, anchor, spot in zip(
        regions.iterrows(), kinds, texts, anchors, spots, strict=True
    ):
        if spot is None:
            continue
        # The kind in bold: the first line starts with it (wrapping keeps "missed:" whole).
        text = "<br>".join(plotly_text(line) for line in lines)
        color = CATEGORY_COLORS[row["category"]]
        annotations.append(
            {
                "x": row["x"],
                "y": row["y"],
                "text": f"<b>{kind}</b>" + text[len(kind) :],
                "showarrow": True,
                "arrowhead": 2,
                "arrowcolor": color,
                "ax": float(spot[0] - anchor[0]),
                "ay": float(anchor[1] - spot[1]),
                "font": {"size": 12, "color": color},
                # A light box: the category's dark colours read on it in either theme.
                "bgcolor": "rgba(255,255,255,0.85)",
                "bordercolor": color,
            }
        )
    return annotations
