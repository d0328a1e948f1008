"""Selection logic of the dashboard: ids from plotly events, filters, members, ranking, grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simgap_core.model import Conversation, Corpus
from simgap_core.present.selection import (
    cluster_gaps,
    cluster_members,
    cluster_name,
    conversation_overview,
    difference_grid,
    filter_points,
    grid_edges,
    map_points,
    rank_examples,
    selected_ids,
    share_grid,
    shown_simulators,
    source_order,
)


def _points() -> pd.DataFrame:
    """Eight conversations on a 2x2 layout: real and sim_a in clusters 0/1, noise at the edge."""
    frame = pd.DataFrame(
        {
            "conversation_id": [f"real:r{i}" for i in range(4)] + [f"sim_a:s{i}" for i in range(4)],
            "source": ["real"] * 4 + ["sim_a"] * 4,
            "x": [0.0, 0.2, 5.0, 5.2, 0.1, 5.1, 5.3, 9.0],
            "y": [0.0, 0.2, 5.0, 5.2, 0.1, 5.1, 5.3, 9.0],
            "cluster": [0, 0, 1, 1, 0, 1, 1, -1],
        }
    )
    frame["misalignment"] = [0.4, 0.1, -0.2, 0.3, -0.1, 0.5, 0.2, 0.9]
    frame["misalignment_sim_a"] = frame["misalignment"]
    return frame


def _event(points: pd.DataFrame, ids: list[str]) -> dict:
    """A selection event as st.plotly_chart returns it: one trace per source, trace-local
    point indices (which collide across traces), the conversation id in customdata."""
    local_index = points.groupby("source").cumcount()
    chosen = points.assign(local_index=local_index).set_index("conversation_id").loc[ids]
    sources = list(dict.fromkeys(points["source"]))
    selected = [
        {
            "curve_number": sources.index(row["source"]),
            "point_number": int(row["local_index"]),
            "point_index": int(row["local_index"]),
            "x": float(row["x"]),
            "y": float(row["y"]),
            "customdata": cid,
        }
        for cid, row in chosen.iterrows()
    ]
    return {
        "selection": {
            "points": selected,
            "point_indices": sorted({p["point_index"] for p in selected}),
            "box": [{"xref": "x", "yref": "y", "x": [4.9, 5.4], "y": [4.9, 5.4]}],
            "lasso": [],
        }
    }


def test_box_event_over_known_points_yields_exactly_their_ids() -> None:
    points = _points()
    inside = points[points["x"].between(4.9, 5.4) & points["y"].between(4.9, 5.4)]
    ids = inside["conversation_id"].tolist()
    assert ids == ["real:r2", "real:r3", "sim_a:s1", "sim_a:s2"]
    event = _event(points, ids)
    assert selected_ids(event) == ids
    # The trace-local indices collide (real:r2 and sim_a:s2 are both point 2 of their trace):
    # indices alone would name fewer, and wrong, rows.
    assert event["selection"]["point_indices"] == [1, 2, 3]


def test_selected_ids_reads_list_customdata_dedupes_and_ignores_points_without_ids() -> None:
    event = {
        "selection": {
            "points": [
                {"customdata": ["real:r1", 0]},
                {"customdata": "sim_a:s2"},
                {"customdata": ["real:r1", 0]},
                {"x": 1.0, "y": 2.0},
            ]
        }
    }
    assert selected_ids(event) == ["real:r1", "sim_a:s2"]
    assert selected_ids(event["selection"]) == ["real:r1", "sim_a:s2"]
    assert selected_ids(None) == []
    assert selected_ids({"selection": {"points": [], "box": [], "lasso": []}}) == []


def test_map_points_joins_on_ids_and_rejects_missing_clusters() -> None:
    projection = pd.DataFrame(
        {"conversation_id": ["a", "b"], "source": ["real", "sim"], "x": [1.0, 2.0], "y": [3.0, 4.0]}
    )
    clusters = pd.DataFrame(
        {"conversation_id": ["b", "a"], "source": ["sim", "real"], "cluster": [7, -1]}
    )
    scores = pd.DataFrame(
        {"conversation_id": ["a", "b"], "source": ["real", "sim"], "misalignment": [0.5, -0.5]}
    )
    points = map_points(projection, clusters, scores)
    assert points["cluster"].tolist() == [-1, 7]
    assert points["misalignment"].tolist() == [0.5, -0.5]
    assert points["source"].tolist() == ["real", "sim"]
    with pytest.raises(ValueError, match="no cluster for b"):
        map_points(projection, clusters.iloc[[1]])


def test_filter_points_by_source_and_cluster() -> None:
    points = _points()
    assert len(filter_points(points)) == 8
    only_sim = filter_points(points, sources=["sim_a"])
    assert set(only_sim["source"]) == {"sim_a"} and len(only_sim) == 4
    cluster_one_real = filter_points(points, sources=["real"], clusters=[1])
    assert cluster_one_real["conversation_id"].tolist() == ["real:r2", "real:r3"]
    assert filter_points(points, clusters=[-1])["conversation_id"].tolist() == ["sim_a:s3"]


def test_cluster_members_lists_the_reference_first() -> None:
    points = _points().iloc[::-1]
    members = cluster_members(points, 1, reference="real")
    assert members["conversation_id"].tolist() == ["real:r2", "real:r3", "sim_a:s1", "sim_a:s2"]
    assert cluster_name(-1) == "noise" and cluster_name(4) == "cluster 4"
    assert source_order(["b", "real", "a", "b"], "real") == ["real", "b", "a"]


def test_rank_examples_in_a_cluster_and_in_a_selection() -> None:
    points = _points()
    examples = rank_examples(points, reference="real", simulator="sim_a", cluster=1)
    assert examples.real["conversation_id"].tolist() == ["real:r3", "real:r2"]
    assert examples.simulated["conversation_id"].tolist() == ["sim_a:s1", "sim_a:s2"]
    assert examples.real["rank"].tolist() == [1, 2]
    assert examples.score_column == "misalignment_sim_a"

    chosen = ["real:r0", "real:r1", "sim_a:s3", "sim_a:s0"]
    examples = rank_examples(points, reference="real", simulator=None, ids=chosen, top=1)
    assert examples.real["conversation_id"].tolist() == ["real:r0"]
    assert examples.simulated["conversation_id"].tolist() == ["sim_a:s3"]
    assert examples.score_column == "misalignment"


def test_rank_examples_drops_rows_without_a_score_and_needs_the_column() -> None:
    points = _points()
    points.loc[points["conversation_id"] == "real:r3", "misalignment_sim_a"] = np.nan
    examples = rank_examples(points, reference="real", simulator="sim_a", cluster=1)
    assert examples.real["conversation_id"].tolist() == ["real:r2"]
    with pytest.raises(KeyError, match="misalignment_sim_b"):
        rank_examples(points, reference="real", simulator="sim_b")


def test_share_and_difference_grids() -> None:
    points = _points()
    x_edges, y_edges = grid_edges(points, bins=2)
    assert x_edges[0] < points["x"].min() and x_edges[-1] > points["x"].max()
    real = share_grid(points, source="real", x_edges=x_edges, y_edges=y_edges)
    sim = share_grid(points, source="sim_a", x_edges=x_edges, y_edges=y_edges)
    assert real.values.sum() == pytest.approx(1.0) and sim.values.sum() == pytest.approx(1.0)
    # values[row=y bin, col=x bin], bins split at 4.5: real has 2 points low-left and 2
    # upper-right; sim_a 1 low-left and 3 upper-right.
    np.testing.assert_allclose(real.values, [[0.5, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(sim.values, [[0.25, 0.0], [0.0, 0.75]])
    diff = difference_grid(
        points, reference="real", simulator="sim_a", x_edges=x_edges, y_edges=y_edges
    )
    np.testing.assert_allclose(diff.values, real.values - sim.values)
    np.testing.assert_allclose(real.x_centers, (x_edges[:-1] + x_edges[1:]) / 2)
    # Filtered points keep shares of the whole source when the totals are given.
    low_left = points[points["x"] < 1]
    partial = difference_grid(
        low_left,
        reference="real",
        simulator="sim_a",
        x_edges=x_edges,
        y_edges=y_edges,
        totals={"real": 4, "sim_a": 4},
    )
    np.testing.assert_allclose(partial.values, [[0.25, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="no points"):
        share_grid(points, source="absent", x_edges=x_edges, y_edges=y_edges)


def test_cluster_gaps_sorts_by_absolute_difference_and_keeps_intervals() -> None:
    summary = pd.DataFrame(
        {
            "cluster": [-1, 0, 1],
            "n": [10, 20, 30],
            "share_real": [0.1, 0.5, 0.4],
            "share_sim": [0.1, 0.2, 0.7],
            "diff_sim": [0.0, 0.3, -0.3 - 1e-9],
            "diff_low_sim": [-0.01, 0.2, -0.4],
            "diff_high_sim": [0.01, 0.4, -0.2],
            "log_ratio_sim": [0.0, 0.9, -0.56],
            "p_value_sim": [1.0, 0.001, 0.001],
            "q_value_sim": [1.0, 0.002, 0.002],
            "category_sim": ["captured", "missed", "hallucinated"],
            "terms_representation": ["a", "b", None],
        }
    )
    gaps = cluster_gaps(summary, simulator="sim", reference="real")
    assert gaps["cluster"].tolist() == [1, 0, -1]
    assert gaps["name"].tolist() == ["cluster 1", "cluster 0", "noise"]
    assert gaps["diff_low"].tolist() == [-0.4, 0.2, -0.01]
    assert gaps["reference_share"].tolist() == [0.4, 0.5, 0.1]
    assert gaps["terms_representation"].tolist() == ["", "b", "a"]
    with pytest.raises(KeyError, match="share_other"):
        cluster_gaps(summary, simulator="other", reference="real")


def test_conversation_overview_counts_turns_and_cuts_the_first_request() -> None:
    corpus = Corpus.from_conversations(
        [
            Conversation(
                "1",
                "real",
                [
                    ("system", "be nice"),
                    ("user", "hello\n  there " + "x" * 300),
                    ("assistant", "hi"),
                ],
            ),
            Conversation("2", "real", [("assistant", "only the assistant")]),
        ]
    )
    overview = conversation_overview(corpus, snippet_chars=20)
    assert overview.loc["real:1", "turns"] == 3
    assert overview.loc["real:1", "user_turns"] == 1
    assert overview.loc["real:1", "first_request"] == "hello there xxxxxxxx"
    assert overview.loc["real:2", "user_turns"] == 0
    assert overview.loc["real:2", "first_request"] == ""


def test_shown_simulators_default_to_all_or_the_closest_eight_and_keep_the_ranking() -> None:
    few = ["close", "narrow", "chatty"]
    assert shown_simulators(few) == few
    ranked = [f"sim_{i:02d}" for i in range(24)]
    assert shown_simulators(ranked) == ranked[:8]
    assert shown_simulators(ranked, limit=3) == ranked[:3]
    # A choice comes back closest first, whatever order it was picked in.
    picked = shown_simulators(ranked, ["sim_20", "sim_03", "sim_11"])
    assert picked == ["sim_03", "sim_11", "sim_20"]
    # Names of another run are dropped; nothing left (or nothing chosen) is the default.
    assert shown_simulators(ranked, ["sim_05", "gone"]) == ["sim_05"]
    assert shown_simulators(ranked, ["gone"]) == ranked[:8]
    assert shown_simulators(ranked, []) == ranked[:8]
    assert shown_simulators([], None) == []
    with pytest.raises(ValueError, match="at least 1"):
        shown_simulators(ranked, limit=0)
