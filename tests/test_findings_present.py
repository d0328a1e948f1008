"""Findings on screen: cluster names, grouped map points, gap regions, feature-gap tables/plots.

Pure functions of `present.selection` and `present.figures` on hand-made tables, no browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simgap_core.behaviour import gap_sentence
from simgap_core.present.figures.common import REFERENCE_COLOR
from simgap_core.present.figures.density import difference_figure
from simgap_core.present.figures.map import map_scatter
from simgap_core.present.figures.simulators import feature_gap_figure
from simgap_core.present.selection import (
    cluster_gaps,
    cluster_name,
    expand_ids,
    feature_gap_table,
    gap_regions,
    selected_ids,
    stack_members,
    stack_points,
    top_feature_gaps,
)


def test_cluster_names_keep_the_number() -> None:
    names = {11: "terse one-line requests", 3: ""}
    assert cluster_name(11, names) == "11 · terse one-line requests"
    assert cluster_name(3, names) == "cluster 3"  # an empty name falls back to the number
    assert cluster_name(4, names) == "cluster 4"
    assert cluster_name(-1, names) == "noise"
    assert cluster_name(7) == "cluster 7"


@pytest.fixture
def points() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": ["a", "b", "c", "d", "e", "f"],
            "source": ["real", "real", "sim", "real", "sim", "sim"],
            "x": [0.0, 1.0, 5.0, 2.0, 5.2, 9.0],
            "y": [0.0, 1.0, 5.0, 2.0, 5.4, 9.0],
            "cluster": [0, 0, 1, 1, 1, -1],
        }
    )


@pytest.fixture
def texts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "conversation_id": ["a", "b", "c", "d", "e", "f"],
            "text": ["words of a", "words of b", "words of c", "words of d", "e", "f"],
        }
    )


@pytest.fixture
def piled(points) -> pd.DataFrame:
    """`points` with a, c and d on one spot (two sources), b and e on another (two sources)."""
    return points.assign(x=[0.0, 5.0, 0.0, 0.0, 5.0, 9.0], y=[0.0, 5.0, 0.0, 0.0, 5.0, 9.0])


def test_conversations_at_one_spot_are_drawn_once_and_map_back_to_all(piled, texts) -> None:
    stacked = stack_points(piled, texts)
    # One row per distinct position, whatever the sources; the first member carries the id.
    assert stacked["conversation_id"].tolist() == ["a", "b", "f"]
    assert stacked["count"].tolist() == [3, 2, 1]
    assert stacked["members"].tolist() == [("a", "c", "d"), ("b", "e"), ("f",)]
    assert stacked["count"].sum() == len(piled)
    # Its count per source, the largest first (ties: the source seen first); coloured by the
    # largest; the cluster the members' most common (ties: the smallest number).
    assert stacked["sources"].tolist() == [
        (("real", 2), ("sim", 1)),
        (("real", 1), ("sim", 1)),
        (("sim", 1),),
    ]
    assert stacked["source"].tolist() == ["real", "real", "sim"]
    assert stacked["cluster"].tolist() == [1, 0, -1]
    assert stacked["text"].tolist() == ["words of a", "words of b", "f"]

    members = stack_members(stacked)
    event = {"selection": {"points": [{"customdata": "b"}, {"customdata": ["a"]}]}}
    assert expand_ids(selected_ids(event), members) == ["b", "e", "a", "c", "d"]
    # An id that is not a stack (an unstacked map) stands for itself; repeats are dropped.
    assert expand_ids(["zz", "f", "f"], members) == ["zz", "f"]
    assert stack_points(piled.iloc[:0], texts).empty


def test_a_stack_needs_every_text(points, texts) -> None:
    with pytest.raises(ValueError, match="no text for f"):
        stack_points(points, texts[texts["conversation_id"] != "f"])


def test_the_stacked_map_sizes_groups_and_hovers_the_count_per_source(piled, texts) -> None:
    stacked = stack_points(piled, texts)
    figure = map_scatter(stacked, color_by="source", reference="real")
    trace = figure.data[0]
    order = list(trace.customdata)
    assert sorted(order) == ["a", "b", "f"]
    sizes = dict(zip(order, np.atleast_1d(trace.marker.size), strict=True))
    assert sizes["a"] == pytest.approx(5 * np.sqrt(3))
    assert sizes["f"] == pytest.approx(5)
    shown = dict(zip(order, trace.text, strict=True))
    # The user's words, who the point stands for, its cluster.
    assert shown["a"] == "words of a<br>3 conversations: real 2, sim 1<br>cluster 1"
    assert shown["b"] == "words of b<br>2 conversations: real 1, sim 1<br>cluster 0"
    assert shown["f"] == "f<br>sim · f<br>noise"  # one conversation: its source and id
    # Coloured by cluster, a trace holds one cluster: its name is written once, not per point.
    by_cluster = map_scatter(stacked, color_by="cluster", reference="real", names={1: "<b>x</b>"})
    first = by_cluster.data[0]
    assert first.meta == "1 · &lt;b&gt;x&lt;/b&gt;" and "%{meta}" in first.hovertemplate
    assert list(first.text) == ["words of a<br>3 conversations: real 2, sim 1"]
    # A group of several sources is ringed; a group of one source, or one point, is not.
    rings = dict(zip(order, trace.marker.line.width, strict=True))
    assert rings["a"] > 0 and rings["b"] > 0 and rings["f"] == 0
    # The legend counts conversations of each source, not groups.
    assert [t.name for t in figure.data[1:]] == ["real (3)", "sim (3)"]


def test_a_hover_shows_the_start_of_the_users_words_escaped() -> None:
    words = "<b>hi</b> & " + "please help me " * 20
    stacked = pd.DataFrame(
        {
            "conversation_id": ["<i>x</i>", "solo"],
            "source": ["<s>real</s>", "real"],
            "x": [0.0, 1.0],
            "y": [0.0, 1.0],
            "cluster": [0, -1],
            "count": [2, 1],
            "members": [("<i>x</i>", "m1"), ("solo",)],
            "sources": [(("<s>real</s>", 1), ("real", 1)), (("real", 1),)],
            "text": [words, "  short\n\ttext  "],
        }
    )
    trace = map_scatter(stacked, color_by="source", reference="real").data[0]
    shown = dict(zip(trace.customdata, trace.text, strict=True))
    first = shown["<i>x</i>"]
    excerpt = first.split("<br>2 conversations")[0]
    assert excerpt.startswith("&lt;b&gt;hi&lt;/b&gt; &amp; please help me")
    plain = excerpt.replace("<br>", " ").replace("&lt;", "<").replace("&gt;", ">")
    assert plain.replace("&amp;", "&").endswith("…")
    assert len(plain.replace("&amp;", "&")) == 160 + 1  # 160 characters and the ellipsis
    assert all(len(line) <= 60 + 12 for line in excerpt.split("<br>"))  # lines, not one band
    assert "2 conversations: &lt;s&gt;real&lt;/s&gt; 1, real 1" in first
    assert shown["solo"] == "short text<br>real · solo<br>noise"


def test_the_map_names_its_clusters_beside_their_centroids(points) -> None:
    names = {0: "<b>terse</b> requests", 1: "chatty thanks"}
    for color_by in ("source", "cluster"):
        figure = map_scatter(points, color_by=color_by, reference="real", names=names)
        labels = {a.text: (a.x, a.y) for a in figure.layout.annotations}
        assert labels["0 · &lt;b&gt;terse&lt;/b&gt;<br>requests"] == pytest.approx((0.5, 0.5))
        assert labels["1 · chatty thanks"] == pytest.approx((5.0, 5.0))
        texts = [t for trace in figure.data if trace.text is not None for t in trace.text]
        hover = " ".join([*texts, *(trace.meta or "" for trace in figure.data)])
        assert "1 · chatty thanks" in hover and "<b>terse" not in hover


def test_contours_are_drawn_per_source_and_never_selected(points) -> None:
    figure = map_scatter(points, color_by="source", reference="real", contours=True)
    contours = [t for t in figure.data if t.type == "histogram2dcontour"]
    assert [t.name for t in contours] == ["real density", "sim density"]
    assert all(t.customdata is None for t in contours)
    assert contours[0].line.color == REFERENCE_COLOR


def _summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cluster": [-1, 0, 1],
            "n": [1, 2, 3],
            "share_real": [0.0, 0.7, 0.3],
            "share_sim": [0.3, 0.0, 0.7],
            "diff_sim": [-0.3, 0.7, -0.4],
            "diff_low_sim": [-0.4, 0.6, -0.5],
            "diff_high_sim": [-0.2, 0.8, -0.3],
            "log_ratio_sim": [0.0, 2.0, -1.0],
            "q_value_sim": [0.01, 0.01, 0.01],
            "category_sim": ["hallucinated", "missed", "hallucinated"],
            "name": ["unclustered", "terse requests", "chatty thanks"],
        }
    )


def test_gap_regions_place_named_missed_and_invented_clusters(points) -> None:
    regions = gap_regions(points, _summary(), simulator="sim", reference="real")
    assert regions["label"].tolist() == ["0 · terse requests", "1 · chatty thanks"]
    assert regions["category"].tolist() == ["missed", "hallucinated"]
    assert regions[["x", "y"]].to_numpy().tolist() == [[0.5, 0.5], [5.0, 5.0]]
    assert cluster_gaps(_summary(), simulator="sim", reference="real")["name"].iloc[0] == (
        "0 · terse requests"
    )
    from simgap_core.present.selection import Grid

    grid = Grid(np.array([0.0, 5.0, 10.0]), np.array([0.0, 5.0, 10.0]), np.zeros((2, 2)))
    figure = difference_figure(grid, reference="real", simulator="sim", regions=regions)
    texts = [a.text for a in figure.layout.annotations]
    assert texts == ["<b>missed</b>: 0 · terse requests", "<b>invented</b>: 1 · chatty thanks"]


def _gaps() -> pd.DataFrame:
    rows = [
        # feature, simulator, label, unit, kind, real, sim, effect, lo, hi, p, q
        ("gratitude", "sim", "Thanks", "rate", "rate_ratio", 0.1, 0.4, 3.8, 2.5, 5.5, 1e-4, 1e-3),
        ("greeting", "sim", "Greets", "rate", "rate_ratio", 0.2, 0.22, 1.1, 0.8, 1.5, 0.6, 0.7),
        ("user_turns", "sim", "User turns", "turns", "smd", 3.0, 2.0, -0.9, -1.2, -0.6, 1e-4, 1e-3),
        (
            "pastes_code",
            "sim",
            "Pastes code",
            "rate",
            "rate_ratio",
            0.3,
            0.1,
            0.35,
            0.2,
            0.6,
            1e-3,
            0.01,
        ),
        ("gratitude", "other", "Thanks", "rate", "rate_ratio", 0.1, 0.1, 1.0, 0.7, 1.4, 1.0, 1.0),
    ]
    columns = ["feature", "simulator", "label", "unit", "effect_kind", "real", "sim", "effect",
               "ci_low", "ci_high", "p_value", "q_value"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(n_real=100, n_sim=100)


def test_feature_gap_table_puts_significant_rows_first_with_sentences() -> None:
    table = feature_gap_table(_gaps(), simulator="sim")
    assert table["significant"].tolist() == [True, True, True, False]
    assert table["feature"].iloc[-1] == "greeting"
    assert set(table["feature"].iloc[:3]) == {"gratitude", "user_turns", "pastes_code"}
    for _, row in table.iterrows():
        assert row["finding"] == gap_sentence(row)
    # The table's effect cell states the ratio the sentence states (sim / real shown shares).
    shown = dict(zip(table["feature"], table["effect_shown"], strict=True))
    assert shown["gratitude"] == "4× [2.5, 5.5]"
    assert shown["pastes_code"] == "0.333× [0.2, 0.6]"
    assert shown["user_turns"] == "-0.90 sd [-1.20, -0.60]"
    top = top_feature_gaps(_gaps(), simulator="sim", top=2)
    assert len(top) == 2 and "greeting" not in set(top["feature"])
    assert top_feature_gaps(_gaps(), simulator="other").empty


def test_the_forest_plot_shows_the_stored_intervals() -> None:
    table = feature_gap_table(_gaps(), simulator="sim")
    figure = feature_gap_figure(table, simulator="sim")
    rates, means = figure.data
    stored = table[table["effect_kind"] == "rate_ratio"]
    assert list(rates.x) == stored["effect"].tolist()
    assert list(rates.x + rates.error_x.array) == pytest.approx(stored["ci_high"].tolist())
    assert list(rates.x - rates.error_x.arrayminus) == pytest.approx(stored["ci_low"].tolist())
    assert list(means.x) == [-0.9]
    assert figure.layout.xaxis.type == "log"


def test_the_readme_holds_the_current_feature_definitions() -> None:
    from pathlib import Path

    from simgap_core.behaviour import feature_table_markdown

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Behaviour features") :]
    assert feature_table_markdown() in section, "paste feature_table_markdown() into the README"
