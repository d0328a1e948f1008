"""What every figure shares: the palettes, colours per source, escaping for plotly, interval bars.

Plotly draws hover text, labels, titles, ticks and annotations as an HTML subset
(`<span style=...>`, `<a href>`, `<b>`): every piece of data that goes into one (ids, source and
simulator names, cluster names) passes through `plotly_text` (or `plotly_texts` for a column), so
a conversation id such as `<span style="background:url(http://...)">` is shown as typed and
fetches nothing. A source keeps one colour in every figure of a run (`source_colors`), and an
interval is drawn as exactly the stored bootstrap interval (`interval_bars`), never recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
# Figure backgrounds: none, so the page's theme (light or dark) shows through; lines drawn on
# them (zero lines, interval whiskers) in a grey that reads on white and on near-black alike.
TRANSPARENT = "rgba(0,0,0,0)"
NEUTRAL_LINE = "rgba(128,128,128,0.9)"
# A figure title is broken into lines of about this many characters (plotly never wraps), each
# line about `TITLE_LINE_PX` tall.
TITLE_LINE_CHARS = 90
TITLE_LINE_PX = 19
CATEGORY_COLORS = {"missed": "#01665e", "hallucinated": "#c51b7d", "captured": "#bdbdbd"}


def plotly_text(value: object) -> str:
    """`value` as literal text in a plotly label or hover text (`&`, `<` and `>` escaped)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plotly_texts(values: pd.Series) -> pd.Series:
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


def categorical_marker(codes: np.ndarray, colors: Sequence[str]) -> dict[str, Any]:
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


def interval_bars(
    value: pd.Series, low: pd.Series, high: pd.Series, *, color: str
) -> dict[str, Any]:
    """Plotly `error_x` spanning exactly `low` .. `high` around `value` (the stored interval)."""
    return {
        "type": "data",
        "symmetric": False,
        "array": (high - value).clip(lower=0).to_numpy(),
        "arrayminus": (value - low).clip(lower=0).to_numpy(),
        "color": color,
        "thickness": 1.2,
        "width": 3,
    }


def wrap_text(text: str, width: int) -> str:
    """`text` (already escaped) broken into lines of about `width` characters, joined by <br>
    (at spaces only, so an escaped entity such as `&lt;` is never split)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def titled(
    figure: go.Figure, text: str, *, width: int = TITLE_LINE_CHARS, below: int = 0
) -> go.Figure:
    """`figure` with a title (`text` already escaped) that is never cut off: wrapped onto lines
    of about `width` characters, left-aligned at the top, the top margin made tall enough for
    its lines plus `below` pixels (room for subplot titles under it).

    The margin is set here rather than by plotly's title automargin, which draws a title of
    several lines anchored at the top partly above the figure.
    """
    wrapped = wrap_text(text, width)
    lines = wrapped.count("<br>") + 1
    figure.update_layout(
        title={
            "text": wrapped,
            "font": {"size": 13},
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": 10, "l": 8},
        },
        margin={"t": 16 + TITLE_LINE_PX * lines + below},
    )
    return figure


def themed(figure: go.Figure) -> go.Figure:
    """No background colour of its own (the theme's shows through) and axes that grow their
    margins to fit long tick labels and titles, so nothing is clipped in either theme."""
    figure.update_layout(paper_bgcolor=TRANSPARENT, plot_bgcolor=TRANSPARENT)
    figure.update_xaxes(automargin=True)
    figure.update_yaxes(automargin=True)
    return figure


def hide_map_axes(figure: go.Figure) -> None:
    """The map's axes: titled UMAP 1 and 2, no ticks, grid or zero line (their units mean
    nothing)."""
    figure.update_xaxes(title="UMAP 1", showticklabels=False, showgrid=False, zeroline=False)
    figure.update_yaxes(title="UMAP 2", showticklabels=False, showgrid=False, zeroline=False)
