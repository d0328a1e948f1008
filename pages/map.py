"""Map: the shared UMAP map of user behaviour; density per source, real-minus-simulated gaps,
and box/lasso selection of conversations."""

from __future__ import annotations

import zlib

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from simgap_core.present import links
from simgap_core.present.figures.density import density_figure, difference_figure
from simgap_core.present.figures.map import highlight_trace
from simgap_core.present.selection import (
    cluster_name,
    difference_grid,
    expand_ids,
    filter_points,
    gap_regions,
    grid_edges,
    matching,
    selected_ids,
    share_grid,
    stack_points,
)

VIEWS = ("Points", "Density per source", "Difference (real − simulator)")
LISTED_COLUMNS = ["conversation_id", "source", "cluster", "misalignment", "first_request"]

st.title("🗺️ Map")
run = ui.open_run()
points = run.points()
reference = run.reference
# Deep links: a selection in the URL is the stored selection; a cluster filters the map to it.
ui.sync_selection(run, set(points["conversation_id"]))

view_column, option_column = st.columns([2, 3])
view = view_column.radio("View", VIEWS, horizontal=True, key="map_view")
with st.expander("Filters", expanded=False):
    # The sources of the sidebar's choice; the filter starts anew when that choice changes.
    offered = run.shown_sources
    offered_key = zlib.crc32("\n".join(offered).encode())
    chosen_sources = st.multiselect(
        "Sources",
        offered,
        default=offered,
        key=f"map_sources:{offered_key}",
        help="The reference and the simulators chosen in the sidebar (Simulators shown).",
    )
    all_clusters = sorted(points["cluster"].unique().tolist())
    names = run.cluster_names()
    ui.choose_many(links.CLUSTER, "map_clusters", all_clusters)
    chosen_clusters = st.multiselect(
        "Clusters (empty: all)",
        all_clusters,
        format_func=lambda c: cluster_name(c, names),
        key="map_clusters",
    )
    ui.publish(links.CLUSTER, str(chosen_clusters[0]) if len(chosen_clusters) == 1 else None)
shown = filter_points(points, sources=chosen_sources, clusters=chosen_clusters or None)
n_clusters = int((points["cluster"].unique() >= 0).sum())
noise_share = float((points["cluster"] < 0).mean())
if n_clusters == 0:
    st.info(ui.NO_CLUSTER_MESSAGE)

if shown.empty:
    st.warning("No conversation matches these filters.")
    st.stop()

if view == VIEWS[0]:
    color_by = option_column.radio(
        "Colour by", ("source", "cluster"), horizontal=True, key="map_color"
    )
    contours = option_column.toggle("Density contours", value=False, key="map_contours")
    query = st.text_input(
        "Search what users wrote",
        key="map_search",
        placeholder="a word or phrase, e.g. refund",
        help="Case-insensitive, as typed (not a pattern), over every user turn. Conversations "
        "that contain it are ringed in gold, drawn over the map.",
    )
    st.caption(
        f"Showing {len(shown):,} of {len(points):,} conversations"
        f"{'' if len(shown) == len(points) else ' (filtered)'}; every one is drawn (WebGL, "
        "nothing subsampled; conversations at one spot as one point sized by their count, "
        f"ringed when it holds several sources). {n_clusters} clusters, named beside their "
        f"centre; {noise_share:.1%} of all conversations are HDBSCAN noise. Hover a point for "
        "the start of its first user turn; click a cluster in the legend to hide it. Drag to "
        "box-select, or pick the lasso in the toolbar; double-click clears."
    )
    figure = run.map_figure(
        color_by=color_by, sources=chosen_sources, clusters=chosen_clusters, contours=contours
    )
    if query.strip():
        turns = run.corpus().turns
        users = turns[turns["role"] == "user"]
        found = set(users.loc[matching(users["text"], query), "conversation_id"])
        matched = shown[shown["conversation_id"].isin(found)]
        words = run.overview()["first_request"].rename("text").reset_index()
        # A copy: the cached map figure is shared by every rerun and must not change.
        figure = go.Figure(figure)
        figure.add_trace(
            highlight_trace(
                stack_points(matched, words),
                found,
                label=f"matches “{query.strip()}”",
                names=names,
            )
        )
        st.caption(
            f"{len(matched):,} shown conversations contain “{ui.md(query.strip())}”"
            + ("" if len(matched) == len(found) else f" ({len(found):,} in the whole run)")
            + "."
        )
    event = st.plotly_chart(
        figure,
        key="map_chart",
        on_select="rerun",
        selection_mode=("box", "lasso"),
        config={"displaylogo": False, "scrollZoom": True},
        theme="streamlit",
    )
    # A point carries its group's first member's id: expand it to every conversation it holds.
    ids = expand_ids(selected_ids(event), run.stack_members(chosen_sources, chosen_clusters))
    if ids:
        ui.store_selection(run, ids)
    stored = ui.stored_selection(run)

    st.subheader(f"{len(ids):,} selected conversations" if ids else "Selection")
    if not ids and stored:
        st.caption(
            f"No selection on the map right now; the last one ({len(stored):,} conversations) is "
            "kept for the Examples page."
        )
        if st.button("Forget the last selection", key="map_forget"):
            ui.clear_selection()
            st.rerun()
    elif not ids:
        st.caption("Draw a box or a lasso on the map to list the conversations inside it.")
    if ids:
        selected = points[points["conversation_id"].isin(ids)]
        counts = selected["source"].value_counts().reindex(offered, fill_value=0)
        totals = points["source"].value_counts().reindex(offered, fill_value=0)
        st.dataframe(
            pd.DataFrame(
                {
                    "source": offered,
                    "selected": counts.to_numpy(),
                    "% of the source": (100 * counts / totals.clip(lower=1)).to_numpy(),
                }
            ),
            hide_index=True,
            column_config={"% of the source": st.column_config.NumberColumn(format="%.1f")},
        )
        listing = selected.merge(
            run.overview()[["first_request"]], left_on="conversation_id", right_index=True
        )
        st.dataframe(
            listing[[c for c in LISTED_COLUMNS if c in listing]],
            hide_index=True,
            column_config={
                "misalignment": st.column_config.NumberColumn(format="%.3f"),
                "first_request": "first request (start)",
            },
            key="map_listing",
        )
        if st.button("Read them side by side on the Examples page", key="map_to_examples"):
            st.session_state[ui.EXAMPLES_SELECTION_KEY] = True
            st.switch_page("pages/examples.py")
else:
    bins = option_column.slider("Grid cells per side", 10, 120, 30, step=10, key="map_bins")
    x_edges, y_edges = grid_edges(points, bins=bins)
    # Shares of each source's whole run, also when filters hide part of it.
    totals = points["source"].value_counts().to_dict()
    if view == VIEWS[1]:
        grids = {
            source: share_grid(
                shown, source=source, x_edges=x_edges, y_edges=y_edges, total=totals[source]
            )
            for source in offered
            if source in set(shown["source"])
        }
        st.caption(
            "Each panel: the share of that source's conversations in each map cell (shares, "
            "never raw counts, so sources of different sizes compare). Same colour scale "
            "everywhere."
        )
        st.plotly_chart(density_figure(grids), key="map_density", theme="streamlit")
    else:
        present = [s for s in run.shown if s in set(shown["source"])]
        if reference not in set(shown["source"]) or not present:
            st.warning(
                f"The difference view needs {ui.md(reference)} and a simulator in the filters."
            )
            st.stop()
        default = run.most_gapped_simulator() if (run.path / "metrics.json").is_file() else None
        simulator = option_column.selectbox(
            "Simulator",
            present,
            index=present.index(default) if default in present else 0,
            key="map_simulator",
        )
        grid = difference_grid(
            shown,
            reference=reference,
            simulator=simulator,
            x_edges=x_edges,
            y_edges=y_edges,
            totals=totals,
        )
        st.caption(
            f"Per map cell: the share of {ui.md(reference)} conversations minus the share of "
            f"{ui.md(simulator)}'s. Half the absolute sum over cells is the total variation "
            f"distance on this grid: {abs(grid.values).sum() / 2:.3f}."
        )
        regions = (
            gap_regions(shown, run.clusters_summary(), simulator=simulator, reference=reference)
            if (run.path / "clusters_summary.csv").is_file() and n_clusters
            else None
        )
        if regions is not None and len(regions):
            st.caption(
                "Named: the simulator's largest missed (real users there, the simulator rarely) "
                "and invented (the other way) behaviour clusters, where they lie."
            )
        st.plotly_chart(
            difference_figure(grid, reference=reference, simulator=simulator, regions=regions),
            key="map_difference",
            theme="streamlit",
        )
