"""Clusters: each behaviour cluster's share among real users vs a simulator, sorted by gap."""

from __future__ import annotations

import math

import streamlit as st

import ui
from simgap_core.present import links
from simgap_core.present.figures.clusters import cluster_gap_figure
from simgap_core.present.selection import SHOWN_CATEGORIES, cluster_gaps, cluster_members

DEFAULT_CHARTED = 25
PERCENT_COLUMNS = ["reference_share", "simulator_share", "diff", "diff_low", "diff_high"]

st.title("🧩 Clusters")
run = ui.open_run()
metrics = run.metrics()
summary = run.clusters_summary()
reference = run.reference

simulators = list(run.shown)
ui.choose(links.SIMULATOR, "clusters_simulator", simulators, run.most_gapped_simulator())
simulator = st.selectbox(
    "Simulator",
    simulators,
    key="clusters_simulator",
    help="The simulators shown (sidebar), closest to real first; preselected: the one with the "
    "most missed and hallucinated clusters.",
)
ui.publish(links.SIMULATOR, simulator)
try:
    gaps = cluster_gaps(summary, simulator=simulator, reference=reference)
except KeyError as error:
    st.error(f"clusters_summary.csv of this run does not cover {ui.md(simulator)}: {ui.md(error)}")
    st.stop()

if not (gaps["cluster"] >= 0).any():
    st.info(ui.NO_CLUSTER_MESSAGE)
thresholds = metrics.settings.thresholds
counts = metrics.simulators[simulator].clusters
columns = st.columns(3)
for column, category in zip(columns, SHOWN_CATEGORIES, strict=True):
    column.metric(f"{category} clusters", getattr(counts, category))
st.caption(
    f"**missed**: {ui.md(reference)} share exceeds {ui.md(simulator)}'s by at least "
    f"{thresholds.min_share_diff:.1%} of the source and by a factor of at least "
    f"{math.exp(thresholds.min_log_ratio):.1f}, with Benjamini-Hochberg q ≤ "
    f"{thresholds.alpha:g} (permutation test); **hallucinated**: the same the other way; "
    "**captured**: everything else. Shares are of each source's own total. Noise (HDBSCAN label "
    "-1) is a bin of its own. Intervals: bootstrap 95%."
)

left, right = st.columns([2, 1])
shown_categories = left.pills(
    "Show",
    SHOWN_CATEGORIES,
    default=list(SHOWN_CATEGORIES),
    selection_mode="multi",
    key="clusters_show",
)
shown = gaps[gaps["category"].isin(shown_categories or [])]
if shown.empty:
    st.info("No cluster in the chosen categories.")
else:
    charted = (
        right.slider(
            "Clusters in the chart (largest gaps)",
            1,
            len(shown),
            min(len(shown), DEFAULT_CHARTED),
            # A new slider when the range changes: a kept value could exceed the new maximum.
            key=f"clusters_charted:{len(shown)}",
        )
        if len(shown) > 1
        else 1
    )
    st.plotly_chart(
        cluster_gap_figure(
            shown.head(charted), reference=reference, simulator=simulator, colors=run.colors
        ),
        key="clusters_chart",
    )
    st.caption(
        f"The table lists all {len(shown)} clusters of the chosen categories; shares and "
        "differences in % of each source's conversations."
    )
    # Percent points with fixed decimals read better than the grid's adaptive percent format.
    table = shown.drop(columns=["cluster"]).assign(**{c: shown[c] * 100 for c in PERCENT_COLUMNS})
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "name": "cluster",
            "reference_share": st.column_config.NumberColumn(f"% {reference}", format="%.2f"),
            "simulator_share": st.column_config.NumberColumn(f"% {simulator}", format="%.2f"),
            "diff": st.column_config.NumberColumn("difference (pts)", format="%+.2f"),
            "diff_low": st.column_config.NumberColumn("interval low", format="%+.2f"),
            "diff_high": st.column_config.NumberColumn("interval high", format="%+.2f"),
            "log_ratio": st.column_config.NumberColumn("log ratio", format="%+.2f"),
            "q_value": st.column_config.NumberColumn("q (BH)", format="%.4f"),
            "terms_representation": "top terms (behaviour description)",
            "terms_user": "top terms (user turns)",
        },
        key="clusters_table",
    )

st.subheader("Conversations of a cluster")
options = shown["cluster"].tolist() if not shown.empty else gaps["cluster"].tolist()
by_cluster = gaps.set_index("cluster")
ui.choose(links.CLUSTER, "clusters_chosen", options, options[0])
cluster = st.selectbox(
    "Cluster (largest gap first)",
    options,
    format_func=lambda c: (
        f"{by_cluster.at[c, 'name']} · {by_cluster.at[c, 'category']} · "
        f"{by_cluster.at[c, 'diff']:+.1%} ({by_cluster.at[c, 'n']:,} conversations)"
    ),
    key="clusters_chosen",
)
ui.publish(links.CLUSTER, str(cluster))
row = by_cluster.loc[cluster]
if row.get("description"):
    st.markdown(f"**{ui.md(row['name'])}**: {ui.md(row['description'])}")
if "terms_representation" in row:
    st.caption(f"Behaviour terms: {ui.code_span(row['terms_representation'])}")
if "terms_user" in row:
    st.caption(f"User words: {ui.code_span(row['terms_user'])}")
points = run.points()
members = cluster_members(
    points[points["source"].isin(run.shown_sources)], cluster, reference=reference
)
per_source = members["source"].value_counts().reindex(run.shown_sources, fill_value=0)
hidden = len(run.simulators) - len(run.shown)
st.caption(
    "In this cluster: "
    + ", ".join(f"{ui.md(source)} {count:,}" for source, count in per_source.items())
    + (f" (and {hidden} simulators not shown)" if hidden else "")
)
listing = members.merge(
    run.overview()[["first_request"]], left_on="conversation_id", right_index=True
)
listed_columns = ["conversation_id", "source", "first_request"]
if f"misalignment_{simulator}" in listing:
    listed_columns.insert(2, f"misalignment_{simulator}")
st.dataframe(
    listing[listed_columns],
    hide_index=True,
    column_config={
        f"misalignment_{simulator}": st.column_config.NumberColumn(
            f"misalignment vs {simulator}", format="%.3f"
        ),
        "first_request": "first request (start)",
    },
    key="clusters_members",
)
left, right = st.columns([1, 3])
with left:
    conversation_id = st.selectbox("Read", members["conversation_id"].tolist(), key="clusters_read")
    if st.button("Ranked examples of this cluster", key="clusters_to_examples"):
        st.session_state[ui.EXAMPLES_CLUSTER_KEY] = int(cluster)
        st.switch_page("pages/examples.py")
with right:
    if conversation_id:
        ui.show_transcript(run.transcript(conversation_id))
