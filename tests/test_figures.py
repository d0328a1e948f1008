"""Figure builders: ids in customdata, intervals and values exactly as stored."""

from __future__ import annotations

import metrics_fixtures
import numpy as np
import pandas as pd
import pytest

from simgap_core.present.figures.clusters import cluster_gap_figure
from simgap_core.present.figures.common import (
    CLUSTER_COLORS,
    NOISE_COLOR,
    REFERENCE_COLOR,
    SIMULATOR_COLORS,
    plotly_text,
    source_colors,
)
from simgap_core.present.figures.density import density_figure, difference_figure
from simgap_core.present.figures.map import map_scatter
from simgap_core.present.figures.simulators import (
    leaderboard_figure,
    leaderboard_table,
    mixture_figure,
    pairwise_figure,
)
from simgap_core.present.leaderboard import cluster_pairwise, pairwise_matrix
from simgap_core.present.selection import Grid, cluster_gaps, cluster_name, source_order
from simgap_core.schema import Metrics, parse_metrics


def _points(n: int = 300, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sources = np.array(["sim_b", "real", "sim_a"])[rng.integers(0, 3, n)]
    return pd.DataFrame(
        {
            "conversation_id": [f"{s}:{i}" for i, s in enumerate(sources)],
            "source": sources,
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "cluster": rng.integers(-1, 25, n),
        }
    )


def _color_of(trace, index: int) -> str:
    """The colour a categorical marker gives point `index` (codes on a stepwise scale)."""
    code = int(trace.marker.color[index])
    return trace.marker.colorscale[2 * code][1]


def test_map_by_source_carries_every_id_with_its_position_and_colour() -> None:
    points = _points()
    figure = map_scatter(points, color_by="source", reference="real")
    by_id = points.set_index("conversation_id")
    order = source_order(points["source"], "real")
    colors = source_colors(order, reference="real")
    seen = []
    for trace in figure.data:
        assert trace.type == "scattergl"
        assert trace.customdata is not None and len(trace.customdata) == len(trace.x)
        if trace.showlegend is not False:  # a legend entry: one null point, never drawn
            assert list(trace.x) == list(trace.y) == list(trace.customdata) == [None]
            continue
        for i, cid in enumerate(trace.customdata):
            assert (trace.x[i], trace.y[i]) == (by_id.at[cid, "x"], by_id.at[cid, "y"])
            assert _color_of(trace, i) == colors[by_id.at[cid, "source"]]
        seen.extend(trace.customdata)
    assert sorted(seen) == sorted(points["conversation_id"])
    legend = [t.name for t in figure.data if t.showlegend is not False]
    counts = points["source"].value_counts()
    assert legend == [f"{s} ({counts[s]:,})" for s in order]
    assert order[0] == "real" and len(set(colors.values())) == 3
    assert figure.layout.dragmode == "select"


def test_map_by_cluster_draws_one_toggling_trace_per_cluster_and_labels_medians() -> None:
    points = _points()
    names = {c: f"behaviour {c}" for c in range(0, 25, 2)}  # odd clusters stay unnamed
    figure = map_scatter(points, color_by="cluster", reference="real", names=names)
    sizes = points[points["cluster"] >= 0]["cluster"].value_counts()
    expected = sorted(sizes.index, key=lambda c: (-sizes[c], c))
    # One trace per cluster, largest first, named in the legend; noise last, in grey.
    *clusters, noise = figure.data
    assert len(clusters) == len(expected)
    for trace, cluster in zip(clusters, expected, strict=True):
        rows = points[points["cluster"] == cluster]
        assert sorted(trace.customdata) == sorted(rows["conversation_id"])
        assert trace.marker.color == CLUSTER_COLORS[cluster % len(CLUSTER_COLORS)]
        label = f"{cluster} · behaviour {cluster}" if cluster % 2 == 0 else f"cluster {cluster}"
        assert trace.name == f"{label} ({len(rows):,})"
    assert sorted(noise.customdata) == sorted(
        points.loc[points["cluster"] == -1, "conversation_id"]
    )
    assert noise.marker.color == NOISE_COLOR and noise.name.startswith("noise (")
    # Clicking a legend entry hides or shows its cluster.
    assert figure.layout.legend.itemclick == "toggle"
    # Every label points at its cluster's median (the text may sit beside it).
    medians = points[points["cluster"] >= 0].groupby("cluster")[["x", "y"]].median()
    labelled = {int(a.name.split()[-1]): a for a in figure.layout.annotations}
    assert labelled and set(labelled) <= set(medians.index)
    for cluster, annotation in labelled.items():
        assert (annotation.x, annotation.y) == pytest.approx(tuple(medians.loc[cluster]))
        assert annotation.text == cluster_name(cluster, names)  # short names: one line
    with pytest.raises(ValueError, match="color_by"):
        map_scatter(points, color_by="topic")


def test_density_and_difference_heatmaps_show_the_grid_values() -> None:
    edges = np.array([0.0, 1.0, 2.0])
    real = Grid(edges, edges, np.array([[0.5, 0.0], [0.25, 0.25]]))
    sim = Grid(edges, edges, np.array([[0.1, 0.3], [0.2, 0.4]]))
    density = density_figure({"real": real, "sim": sim})
    assert [t.zmax for t in density.data] == [0.5, 0.5]
    assert [(t.xaxis, t.yaxis) for t in density.data] == [("x", "y"), ("x2", "y2")]
    # Nine sources: two rows, one colour scale, each panel titled with its source.
    many = density_figure({f"s{i}": real for i in range(9)}, per_row=5)
    assert len(many.data) == 9 and sum(bool(t.showscale) for t in many.data) == 1
    assert [a.text for a in many.layout.annotations] == [f"s{i}" for i in range(9)]
    assert many.layout.height == 2 * 420
    np.testing.assert_array_equal(density.data[0].z, [[0.5, np.nan], [0.25, 0.25]])
    np.testing.assert_array_equal(density.data[0].x, [0.5, 1.5])
    difference = Grid(edges, edges, real.values - sim.values)
    figure = difference_figure(difference, reference="real", simulator="sim")
    heatmap = figure.data[0]
    assert heatmap.zmid == 0 and heatmap.zmin == -heatmap.zmax == pytest.approx(-0.4)
    np.testing.assert_allclose(heatmap.z, real.values - sim.values)


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": [-1, 0, 1, 2],
            "n": [40, 30, 20, 10],
            "share_real": [0.3, 0.4, 0.2, 0.1],
            "share_sim": [0.25, 0.2, 0.3, 0.25],
            "diff_sim": [0.05, 0.2, -0.1, -0.15],
            "diff_low_sim": [-0.01, 0.12, -0.16, -0.2],
            "diff_high_sim": [0.1, 0.27, -0.03, -0.11],
            "log_ratio_sim": [0.2, 0.7, -0.4, -0.9],
            "p_value_sim": [0.3, 0.001, 0.01, 0.001],
            "q_value_sim": [0.3, 0.002, 0.013, 0.002],
            "category_sim": ["captured", "missed", "captured", "hallucinated"],
        }
    )


def test_cluster_gap_error_bars_span_exactly_the_stored_interval() -> None:
    gaps = cluster_gaps(_summary(), simulator="sim", reference="real")
    figure = cluster_gap_figure(gaps, reference="real", simulator="sim")
    shares = {t.name: t for t in figure.data if t.legendgroup == "shares"}
    np.testing.assert_allclose(shares["real"].x, gaps["reference_share"])
    np.testing.assert_allclose(shares["sim"].x, gaps["simulator_share"])
    by_cluster = gaps.set_index("cluster")
    drawn = []
    for trace in (t for t in figure.data if t.legendgroup == "categories"):
        for i, cluster in enumerate(trace.customdata):
            row = by_cluster.loc[cluster]
            assert row["category"] == trace.name
            assert trace.x[i] == pytest.approx(row["diff"])
            assert trace.x[i] + trace.error_x.array[i] == pytest.approx(row["diff_high"])
            assert trace.x[i] - trace.error_x.arrayminus[i] == pytest.approx(row["diff_low"])
            drawn.append(cluster)
    assert sorted(drawn) == [-1, 0, 1, 2]
    # The largest gap is drawn at the top: category axes list bottom to top.
    assert list(figure.layout.yaxis.categoryarray) == [
        "noise",
        "cluster 1",
        "cluster 2",
        "cluster 0",
    ]


def _metrics() -> Metrics:
    """The realistic v2 fixture: sim_a and sim_b tied, sim_c small and unreliable."""
    return parse_metrics(metrics_fixtures.realistic())


def test_leaderboard_table_and_chart_carry_intervals_and_the_no_gap_band() -> None:
    metrics = _metrics()
    board = leaderboard_table(metrics)
    assert board["simulator"].tolist() == ["sim_a", "sim_b", "sim_c"]
    stored = metrics_fixtures.realistic()["simulators"]
    papers = [stored[name]["paper"] for name in board["simulator"]]
    assert board["no_gap_js"].tolist() == [p["null_js"]["mean"] for p in papers]
    assert board["no_gap_q95"].tolist() == [p["null_js"]["q95"] for p in papers]
    figure = leaderboard_figure(board)
    intervals = [t for t in figure.data if t.legendgroup == "interval"]
    assert [list(t.x) for t in intervals] == [p["js_ci"] for p in papers]
    assert [t.y[0] for t in intervals] == ["sim_a", "sim_b", "sim_c"]
    bands = [list(t.x) for t in figure.data if t.legendgroup == "no-gap"]
    assert bands == [[p["null_js"]["mean"], p["null_js"]["q95"]] for p in papers]
    named = {t.name: t for t in figure.data}
    assert list(named["plug-in JS (descriptive)"].x) == [p["js_plugin"] for p in papers]
    ranked = named["JS (bias-corrected; ranks)"]
    assert list(ranked.x) == [p["js"] for p in papers]
    # The unreliable comparison says so beside its number.
    assert list(ranked.text) == ["0.012", "0.015", "0.061 unreliable"]


def test_pairwise_and_mixture_figures_show_the_metrics() -> None:
    metrics = _metrics()
    figure = pairwise_figure(pairwise_matrix(metrics))
    (heatmap,) = [t for t in figure.data if t.type == "heatmap"]
    order = list(figure.layout.xaxis2.ticktext)
    assert sorted(order) == ["real", "sim_a", "sim_b", "sim_c"]
    assert list(figure.layout.yaxis2.ticktext) == order
    # The stored values, rows and columns in the clustering's order.
    stored = pairwise_matrix(metrics)
    np.testing.assert_array_equal(heatmap.z, stored.loc[order, order].to_numpy())
    mixture = mixture_figure(metrics.mixture)
    bars = mixture.data[0]
    assert list(bars.x) == ["sim_a", "sim_b", "sim_c"] and list(bars.y) == [0.62, 0.38, 0.0]
    title = mixture.layout.title.text
    assert title == (
        "mixture does not help beyond noise: held-out gain -0.0007 [-0.0041, 0.0025] over sim_a"
    )
    helping = parse_metrics(metrics_fixtures.helping_mixture(metrics_fixtures.realistic()))
    title = mixture_figure(helping.mixture).layout.title.text
    assert title.startswith("mixture helps: held-out gain 0.0040 [0.0012, 0.0069]")
    # Some simulators only (the dashboard's choice): their weights as stored, largest first.
    some = mixture_figure(metrics.mixture, names=["sim_c", "sim_b"]).data[0]
    assert list(some.x) == ["sim_b", "sim_c"] and list(some.y) == [0.38, 0.0]


HOSTILE = [
    '<span style="background:url(http://127.0.0.1:9/y)">',
    "<img src=http://127.0.0.1:9/x>",
    "a & b <b>bold</b>",
]


def _all_label_strings(figure) -> list[str]:
    """Every string plotly would render as its HTML subset: hover, names, titles, ticks."""
    texts: list[str] = []
    for trace in figure.data:
        for field in ("text", "hovertext", "name", "hovertemplate", "meta", "y"):
            value = getattr(trace, field, None)
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            texts += [v for v in values if isinstance(v, str)]
    layout = figure.layout
    texts += [a.text for a in layout.annotations or () if a.text]
    if layout.title and layout.title.text:
        texts.append(layout.title.text)
    return texts


def _tags(text: str) -> set[str]:
    """Tag names in `text` (the markup plotly would interpret)."""
    import re

    return {m.lower() for m in re.findall(r"<\s*/?\s*([a-zA-Z]+)", text)}


def test_hostile_ids_and_names_are_escaped_in_every_map_label() -> None:
    points = _points(n=30)
    points.loc[:2, "conversation_id"] = HOSTILE
    points.loc[:2, "source"] = HOSTILE
    for color_by in ("source", "cluster"):
        figure = map_scatter(points, color_by=color_by, reference="real")
        texts = _all_label_strings(figure)
        # Only the line break and the hover's <extra> come from us; nothing from data is markup.
        assert set().union(*map(_tags, texts)) <= {"br", "extra"}, color_by
        hover = " ".join(t for t in texts)
        assert "&lt;span style=&quot;" not in hover  # quotes stay literal: only &, <, > escaped
        assert '&lt;span style="background:url(http://127.0.0.1:9/y)"&gt;' in hover
        assert "a &amp; b &lt;b&gt;bold&lt;/b&gt;" in hover
        # Selections still name the raw ids.
        ids = {c for trace in figure.data for c in list(trace.customdata) if c is not None}
        assert set(HOSTILE) <= ids


def test_hostile_source_names_are_escaped_in_grid_and_gap_figures() -> None:
    name = HOSTILE[0]
    grid = Grid(
        np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]), np.array([[0.2, 0.0], [0.3, 0.5]])
    )
    gaps = pd.DataFrame(
        {
            "cluster": [0, 1],
            "name": ["cluster 0", "cluster 1"],
            "reference_share": [0.2, 0.8],
            "simulator_share": [0.5, 0.5],
            "diff": [-0.3, 0.3],
            "diff_low": [-0.4, 0.2],
            "diff_high": [-0.2, 0.4],
            "category": ["hallucinated", "missed"],
        }
    )
    for figure in (
        density_figure({name: grid, "real": grid}),
        difference_figure(grid, reference="real", simulator=name),
        cluster_gap_figure(gaps, reference="real", simulator=name),
    ):
        texts = _all_label_strings(figure)
        assert set().union(*map(_tags, texts)) <= {"br", "extra"}
        assert any("&lt;span" in t for t in texts)
    assert plotly_text("<a href='x'>&</a>") == "&lt;a href='x'&gt;&amp;&lt;/a&gt;"


def _lab(color: str) -> np.ndarray:
    """CIELAB (D65) of a '#rrggbb' colour."""
    rgb = np.array([int(color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (
        np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
        @ linear
        / np.array([0.95047, 1.0, 1.08883])
    )
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_25_sources_get_25_distinct_colours_and_the_reference_keeps_its_own() -> None:
    simulators = [f"sim_{i:02d}" for i in range(24)]
    colors = source_colors(["real", *simulators], reference="real")
    assert colors["real"] == REFERENCE_COLOR
    assert len(set(colors.values())) == 25
    # Stable: simulators in order, whatever comes after them; the first eight as before.
    assert [colors[s] for s in simulators] == list(SIMULATOR_COLORS[:24])
    fewer = source_colors(["real", *simulators[:3]], reference="real")
    assert all(fewer[s] == colors[s] for s in fewer)
    assert SIMULATOR_COLORS[:3] == ("#d62728", "#2ca02c", "#ff7f0e")
    # Room for 25 simulators; every colour clearly apart (CIELAB delta E) from every other,
    # from the reference, the noise grey and the white background.
    palette = SIMULATOR_COLORS
    assert len(set(palette)) == len(palette) >= 25
    labs = [_lab(c) for c in palette]
    closest = min(np.linalg.norm(a - b) for i, a in enumerate(labs) for b in labs[i + 1 :])
    assert closest >= 25
    for anchor in (REFERENCE_COLOR, NOISE_COLOR, "#ffffff"):
        assert min(np.linalg.norm(lab - _lab(anchor)) for lab in labs) >= 25, anchor


def test_a_filtered_map_keeps_each_sources_run_colour() -> None:
    points = _points()
    run_colors = source_colors(["real", "sim_a", "sim_b"], reference="real")
    only_b = points[points["source"].isin(["real", "sim_b"])]
    figure = map_scatter(only_b, color_by="source", reference="real", colors=run_colors)
    legend = {t.name.split()[0]: t.marker.color for t in figure.data if t.showlegend is not False}
    assert legend == {"real": run_colors["real"], "sim_b": run_colors["sim_b"]}


def _planted_families() -> pd.DataFrame:
    """JS between real and two families of simulators listed interleaved: small within a
    family (0.02-0.05), large between them (0.3-0.4), real in between (0.15-0.2)."""
    rng = np.random.default_rng(7)
    names = ["real", "a_1", "b_1", "a_2", "b_2", "a_3", "b_3", "a_4", "b_4"]
    family = [name[0] for name in names]
    size = len(names)
    values = np.zeros((size, size))
    for i in range(size):
        for j in range(i + 1, size):
            if "r" in (family[i], family[j]):
                value = rng.uniform(0.15, 0.2)
            elif family[i] == family[j]:
                value = rng.uniform(0.02, 0.05)
            else:
                value = rng.uniform(0.3, 0.4)
            values[i, j] = values[j, i] = value
    return pd.DataFrame(values, index=names, columns=names)


def test_pairwise_order_puts_each_planted_family_together() -> None:
    matrix = _planted_families()
    clustered = cluster_pairwise(matrix)
    order = clustered.matrix.index.tolist()
    assert sorted(order) == sorted(matrix.index)
    for family in ("a", "b"):
        positions = [i for i, name in enumerate(order) if name.startswith(family + "_")]
        assert positions == list(range(positions[0], positions[0] + 4)), order
    # Values only reordered, never changed.
    pd.testing.assert_frame_equal(clustered.matrix, matrix.loc[order, order])
    # The top merge joins the two families (real with one of them): average JS above 0.15.
    assert clustered.linkage[-1, 2] > 0.15 and clustered.linkage[:3, 2].max() < 0.06

    figure = pairwise_figure(matrix)
    (heatmap,) = [t for t in figure.data if t.type == "heatmap"]
    assert list(figure.layout.xaxis2.ticktext) == list(figure.layout.yaxis2.ticktext) == order
    np.testing.assert_array_equal(heatmap.z, matrix.loc[order, order].to_numpy())
    assert list(heatmap.x) == list(heatmap.y) == list(range(len(order)))
    # The dendrogram's leaves (its zero-height ends) sit over the heatmap's columns.
    (tree,) = [t for t in figure.data if t.type == "scatter"]
    leaves = {x for x, y in zip(tree.x, tree.y, strict=True) if y == 0}
    assert leaves == set(range(len(order)))
    assert tree.xaxis == "x" and heatmap.xaxis == "x2"
    assert figure.layout.xaxis.matches == "x2" or figure.layout.xaxis2.matches == "x"


def test_pairwise_of_two_sources_has_no_dendrogram_and_names_are_escaped() -> None:
    names = ["real", "<img src=x>"]
    matrix = pd.DataFrame([[0.0, 0.1], [0.1, 0.0]], index=names, columns=names)
    clustered = cluster_pairwise(matrix)
    assert clustered.linkage is None and clustered.matrix.equals(matrix)
    figure = pairwise_figure(matrix)
    assert [t.type for t in figure.data] == ["heatmap"]
    assert list(figure.layout.xaxis2.ticktext) == ["real", "&lt;img src=x&gt;"]
    assert all("<img" not in cell for row in figure.data[0].text for cell in row)
