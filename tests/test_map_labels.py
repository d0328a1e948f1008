"""The labelled map: label placement, search highlights, and figures that follow the theme.

Pure functions on hand-made inputs, no browser: `labels.place_labels` (no two label boxes
overlap), `map.cluster_labels` (names escaped, cut, anchored), `selection.matching`,
`map.highlight_trace`, and the theme-neutral layout and colour ranges of the other figures.
"""

from __future__ import annotations

import itertools

import metrics_fixtures
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from simgap_core.present.figures.common import TITLE_LINE_PX, TRANSPARENT, titled
from simgap_core.present.figures.density import COLORBAR_PX, density_figure, difference_figure
from simgap_core.present.figures.labels import label_lines, place_labels, text_extent
from simgap_core.present.figures.map import (
    HIGHLIGHT_COLOR,
    cluster_labels,
    highlight_trace,
    map_range,
    map_scatter,
)
from simgap_core.present.figures.simulators import (
    heat_range,
    leaderboard_figure,
    leaderboard_table,
    mixture_figure,
    pairwise_figure,
)
from simgap_core.present.leaderboard import pairwise_matrix
from simgap_core.present.selection import Grid, matching, stack_points
from simgap_core.schema import parse_metrics


def _boxes(centres, extents) -> list[tuple[float, float, float, float]]:
    return [
        (x - w / 2, x + w / 2, y - h / 2, y + h / 2)
        for (x, y), (w, h) in zip(centres, extents, strict=True)
    ]


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def test_labels_on_one_crowded_spot_never_overlap_and_stay_in_the_plot() -> None:
    rng = np.random.default_rng(7)
    # 30 labels, half of them anchored within 10 px of one spot, the rest anywhere.
    anchors = np.vstack([400 + rng.normal(0, 5, (15, 2)), rng.uniform(0, 600, (15, 2))])
    extents = np.array([text_extent(["x" * int(n)]) for n in rng.integers(5, 30, 30)])
    spots = place_labels(anchors, extents, bounds=(800, 600), obstacles=anchors)
    placed = [(s, e) for s, e in zip(spots, extents, strict=True) if s is not None]
    assert len(placed) >= 20  # most find room
    boxes = _boxes([s for s, _ in placed], [e for _, e in placed])
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b)
    for x0, x1, y0, y1 in boxes:
        assert x0 >= 0 and x1 <= 800 and y0 >= 0 and y1 <= 600
    # The same input, the same placement.
    assert place_labels(anchors, extents, bounds=(800, 600), obstacles=anchors) == spots
    # With no points to avoid, the first (most important) label sits on its anchor.
    free = place_labels(anchors, extents, bounds=(800, 600))
    assert free[0] == pytest.approx(tuple(anchors[0]))


def test_a_label_moves_off_the_points_it_would_cover_but_stays_near() -> None:
    anchor = np.array([[300.0, 300.0]])
    extent = np.array([[60.0, 20.0]])
    # A dense blob under the anchor: the label moves beside it, a few rings out at most.
    blob = 300 + np.random.default_rng(0).uniform(-25, 25, (200, 2))
    (spot,) = place_labels(anchor, extent, bounds=(600, 600), obstacles=blob)
    assert spot is not None and spot != pytest.approx((300.0, 300.0))
    assert np.hypot(spot[0] - 300, spot[1] - 300) < 200
    (alone,) = place_labels(anchor, extent, bounds=(600, 600))
    assert alone == pytest.approx((300.0, 300.0))


def test_no_labels_one_label_and_a_label_with_no_room() -> None:
    assert place_labels(np.empty((0, 2)), np.empty((0, 2)), bounds=(100, 100)) == []
    (one,) = place_labels(np.array([[50.0, 50.0]]), np.array([[20.0, 10.0]]), bounds=(100, 100))
    assert one == pytest.approx((50.0, 50.0))
    # A label wider than the plot has no spot: left out (None), never drawn over the edge.
    spots = place_labels(
        np.array([[50.0, 50.0], [50.0, 50.0]]),
        np.array([[20.0, 10.0], [500.0, 10.0]]),
        bounds=(100, 100),
    )
    assert spots[0] == pytest.approx((50.0, 50.0)) and spots[1] is None


def _clustered(n_clusters: int, per: int = 12, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 10, (n_clusters, 2))
    rows = []
    for cluster, (cx, cy) in enumerate(centres):
        for i in range(per):
            rows.append(
                (
                    f"c{cluster}-{i}",
                    "real",
                    cx + rng.normal(0, 0.2),
                    cy + rng.normal(0, 0.2),
                    cluster,
                )
            )
    return pd.DataFrame(rows, columns=["conversation_id", "source", "x", "y", "cluster"])


def _label_boxes(points: pd.DataFrame, annotations, *, width: float, height: float):
    """Each label's box in the pixel frame `cluster_labels` plans in."""
    low, span = map_range(points)
    boxes = []
    for a in annotations:
        anchor = np.array([a["x"], a["y"]])
        px = np.array([width, height]) * (anchor - low) / span
        centre = (px[0] + a["ax"], px[1] - a["ay"]) if a["showarrow"] else tuple(px)
        lines = a["text"].split("<br>")
        raw = [
            line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines
        ]
        boxes.append(_boxes([centre], [text_extent(raw)])[0])
    return boxes


def test_cluster_labels_of_many_long_hostile_names_are_escaped_cut_and_apart() -> None:
    points = _clustered(40)
    names = {
        c: f"<img src=x onerror=alert({c})> & an extremely long behaviour name number {c} "
        "that goes on and on"
        for c in range(40)
    }
    annotations = cluster_labels(points, names, height_px=640, width_px=700)
    assert len(annotations) >= 20
    for a in annotations:
        assert "<img" not in a["text"] and "&lt;img" in a["text"]
        lines = a["text"].split("<br>")
        assert len(lines) <= 3
        assert "font" in a and "color" not in a["font"]  # the theme's text colour
    boxes = _label_boxes(points, annotations, width=700, height=640 - 75)
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b)


def test_label_lines_wrap_and_cut() -> None:
    assert label_lines("3 · casual lowercase writing, single-turn requests, terse") == [
        "3 · casual lowercase",
        "writing, single-turn",
        "requests, terse",
    ]
    long = "3 · casual lowercase writing, single-turn requests, terse and many more words"
    assert label_lines(long) == [
        "3 · casual lowercase",
        "writing, single-turn",
        "requests, terse and man…",
    ]
    assert label_lines("short") == ["short"]
    assert label_lines("") == [""]


def test_a_map_of_one_cluster_or_none_gets_one_label_or_none() -> None:
    one = _clustered(1)
    figure = map_scatter(one, color_by="cluster", reference="real", names={0: "only one"})
    assert [a.text for a in figure.layout.annotations] == ["0 · only one"]
    assert figure.layout.annotations[0].showarrow is False  # on its centre: no leader line
    noise = one.assign(cluster=-1)
    figure = map_scatter(noise, color_by="cluster", reference="real")
    assert not figure.layout.annotations and [t.name for t in figure.data] == ["noise (12)"]


def test_matching_is_a_case_insensitive_substring_never_a_pattern() -> None:
    texts = pd.Series(["Fix my Python error", "python", "PyThOn.", "nothing", None, "a.b*"])
    assert matching(texts, "PYTHON").tolist() == [True, True, True, False, False, False]
    assert matching(texts, "  python ").tolist() == [True, True, True, False, False, False]
    assert matching(texts, ".b*").tolist() == [False] * 5 + [True]  # literal, not a regex
    assert matching(texts, "").tolist() == [False] * 6
    assert matching(texts, "   ").tolist() == [False] * 6
    assert matching(pd.Series([], dtype=object), "x").tolist() == []


def test_the_search_highlight_rings_every_point_holding_a_match() -> None:
    points = pd.DataFrame(
        {
            "conversation_id": ["a", "b", "c", "d"],
            "source": ["real", "sim", "real", "sim"],
            "x": [0.0, 0.0, 1.0, 2.0],
            "y": [0.0, 0.0, 1.0, 2.0],
            "cluster": [0, 0, 1, -1],
        }
    )
    texts = pd.DataFrame({"conversation_id": list("abcd"), "text": ["x", "y", "z", "w"]})
    stacked = stack_points(points, texts)
    trace = highlight_trace(stacked, {"b", "d"}, label="matches <b>'help'</b>")
    # b sits in a's group: the group is ringed (its id is the group's), and d on its own.
    assert sorted(trace.customdata) == ["a", "d"]
    assert trace.name == "matches &lt;b&gt;'help'&lt;/b&gt; (2)"
    assert trace.marker.color == HIGHLIGHT_COLOR and trace.marker.symbol == "circle-open"
    empty = highlight_trace(stacked, {"zz"}, label="nothing")
    assert len(empty.x) == 0 and empty.name == "nothing (0)"
    # Unstacked points work too: each stands for itself.
    assert sorted(highlight_trace(points, {"c"}, label="m").customdata) == ["c"]


def _metrics():
    return parse_metrics(metrics_fixtures.realistic())


def _figures() -> dict[str, object]:
    edges = np.array([0.0, 1.0, 2.0])
    grid = Grid(edges, edges, np.array([[0.5, 0.0], [0.25, 0.25]]))
    metrics = _metrics()
    return {
        "map": map_scatter(_clustered(3), color_by="cluster", reference="real"),
        "density": density_figure({"real": grid}),
        "difference": difference_figure(grid, reference="real", simulator="sim"),
        "leaderboard": leaderboard_figure(leaderboard_table(metrics)),
        "pairwise": pairwise_figure(pairwise_matrix(metrics)),
        "mixture": mixture_figure(metrics.mixture),
    }


def test_figures_leave_backgrounds_and_text_colours_to_the_theme() -> None:
    # No template is set either: the dashboard's is Streamlit's (the default once streamlit is
    # imported), the report sets its own.
    for name, figure in _figures().items():
        layout = figure.layout
        assert layout.paper_bgcolor == TRANSPARENT and layout.plot_bgcolor == TRANSPARENT, name
        assert layout.font.color is None, name
        for axis in (layout.xaxis, layout.yaxis):
            assert axis.automargin is True, name


def test_long_titles_are_wrapped_and_get_the_room_they_need() -> None:
    words = " ".join(["word"] * 40)  # 199 characters: three lines
    figure = titled(go.Figure(), words, below=20)
    heading = figure.layout.title.text
    assert all(len(line) <= 90 for line in heading.split("<br>"))
    assert heading.replace("<br>", " ") == words and heading.count("<br>") == 2
    assert figure.layout.margin.t == 16 + 3 * TITLE_LINE_PX + 20
    assert titled(go.Figure(), "short").layout.margin.t == 16 + TITLE_LINE_PX
    # An escaped entity is never split across lines.
    split = titled(go.Figure(), "x" * 85 + " &lt;script&gt; tail").layout.title.text
    assert "&lt;script&gt;" in split.split("<br>")[1]


def test_gap_region_labels_on_one_spot_are_placed_apart_and_escaped() -> None:
    edges = np.linspace(0.0, 10.0, 11)
    grid = Grid(edges, edges, np.full((10, 10), 0.01))
    regions = pd.DataFrame(
        {
            "cluster": [1, 2, 3],
            "category": ["missed", "hallucinated", "missed"],
            "label": ["1 · <b>pasted</b> error logs", "2 · thanks and leave", "3 · terse asks"],
            "x": [5.0, 5.05, 4.95],  # all three on one spot
            "y": [5.0, 5.0, 5.05],
            "diff": [0.1, -0.1, 0.05],
        }
    )
    figure = difference_figure(
        grid, reference="real", simulator="sim", regions=regions, width_px=900
    )
    annotations = figure.layout.annotations
    assert [a.text for a in annotations] == [
        "<b>missed</b>: 1 · &lt;b&gt;pasted&lt;/b&gt; error<br>logs",  # wrapped at 32
        "<b>invented</b>: 2 · thanks and leave",
        "<b>missed</b>: 3 · terse asks",
    ]
    # Each arrow points at its region; the label boxes, at their pixel offsets from it in the
    # plot area the figure planned for (its width less the colour bar, its height less the
    # margins), never overlap.
    plot = np.array([900 - COLORBAR_PX, 640 - figure.layout.margin.t - 40])
    boxes = []
    for a, (_, row) in zip(annotations, regions.iterrows(), strict=True):
        assert (a.x, a.y) == (row["x"], row["y"])
        x, y = plot * np.array([row["x"], row["y"]]) / 10 + np.array([a.ax, -a.ay])
        raw = a.text.replace("<b>", "").replace("</b>", "").replace("&lt;", "<")
        w, h = text_extent(raw.replace("&gt;", ">").split("<br>")) + np.array([8.0, 8.0])
        boxes.append((x - w / 2, x + w / 2, y - h / 2, y + h / 2))
    for one, other in itertools.combinations(boxes, 2):
        assert not _overlap(one, other)
    assert list(figure.layout.xaxis.range) == [0.0, 10.0]


def test_the_pairwise_colour_scale_tops_at_the_largest_value() -> None:
    figure = pairwise_figure(pairwise_matrix(_metrics()))
    heatmap = next(t for t in figure.data if t.type == "heatmap")
    values = np.asarray(heatmap.z, dtype=float)
    assert heatmap.zmax == pytest.approx(np.nanmax(values))
    assert heatmap.zmin == pytest.approx(min(0.0, np.nanmin(values)))
    assert "JS" in heatmap.colorbar.title.text
    # Small values: the darkest colour is the largest value, not a fixed top.
    assert heat_range(np.array([[0.0, 0.014], [0.014, 0.0]])) == pytest.approx((0.0, 0.014))
    # A bias-corrected value below 0 stays on the scale.
    assert heat_range(np.array([[-0.002, 0.01]])) == pytest.approx((-0.002, 0.01))
    assert heat_range(np.array([[np.nan]])) == (0.0, 1.0)
    low, high = heat_range(np.zeros((2, 2)))
    assert low == 0.0 and high > low


def test_the_leaderboard_leaves_room_for_its_labels() -> None:
    board = leaderboard_table(_metrics())
    figure = leaderboard_figure(board)
    end = figure.layout.xaxis.range[1]
    assert end > board[["js", "js_high", "js_plugin"]].to_numpy().max() * 1.2
    text = next(t for t in figure.data if t.mode == "markers+text")
    assert text.cliponaxis is False
