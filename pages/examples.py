"""Examples: real and simulated transcripts side by side, ranked by misalignment."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from simgap_core.present import links
from simgap_core.present.selection import cluster_gaps, cluster_name, rank_examples

TOP = 50
ALL_SIMULATORS = "all simulators"
SCOPES = ("A cluster", "The map selection")

st.title("🔍 Examples")
run = ui.open_run()
points = run.points()
# The reference and the simulators shown (sidebar): ranks count only these.
points = points[points["source"].isin(run.shown_sources)]
reference = run.reference
if "misalignment" not in points:
    st.error(
        "This run has no misalignment.parquet, so examples cannot be ranked: run "
        f"{ui.code_span(f'simgap analyze --out {run.path}')} with the measure stage."
    )
    st.stop()

# A link's cluster, else its selection, chooses the scope (as the Map and Clusters buttons do).
linked_cluster = ui.incoming(links.CLUSTER)
linked_selection = ui.sync_selection(run, set(points["conversation_id"]))
selection = ui.stored_selection(run)
wanted_cluster = st.session_state.pop(ui.EXAMPLES_CLUSTER_KEY, None)
if st.session_state.pop(ui.EXAMPLES_SELECTION_KEY, False) or (
    linked_selection and not linked_cluster
):
    st.session_state["examples_scope"] = SCOPES[1]
elif wanted_cluster is not None or linked_cluster:
    st.session_state["examples_scope"] = SCOPES[0]
left, middle, right = st.columns(3)
scope = left.radio(
    "Examples from",
    SCOPES,
    key="examples_scope",
    captions=("", f"{len(selection):,} conversations selected on the Map page"),
)
choices = [*run.shown, ALL_SIMULATORS]
ui.choose(links.SIMULATOR, "examples_simulator", choices, run.most_gapped_simulator())
simulator_choice = middle.selectbox(
    "Against",
    choices,
    key="examples_simulator",
    help="Preselected: the simulator with the most missed and hallucinated clusters.",
)
simulator = None if simulator_choice == ALL_SIMULATORS else simulator_choice
ui.publish(links.SIMULATOR, simulator)

cluster = None
ids = None
if scope == SCOPES[0]:
    summary = run.clusters_summary()
    gap_simulator = simulator or run.shown[0]
    gaps = cluster_gaps(summary, simulator=gap_simulator, reference=reference).set_index("cluster")
    options = gaps.index.tolist()
    if wanted_cluster in options:
        st.session_state["examples_cluster_choice"] = wanted_cluster
    ui.choose(links.CLUSTER, "examples_cluster_choice", options, options[0])
    cluster = right.selectbox(
        f"Cluster (largest gap vs {ui.md(gap_simulator)} first)",
        options,
        format_func=lambda c: (
            f"{gaps.at[c, 'name']} · {gaps.at[c, 'category']} · {gaps.at[c, 'diff']:+.1%}"
        ),
        key="examples_cluster_choice",
    )
    ui.publish(links.CLUSTER, str(cluster))
    if gaps.at[cluster, "description"] if "description" in gaps else "":
        st.caption(ui.md(gaps.at[cluster, "description"]))
    if "terms_representation" in gaps:
        st.caption(f"Behaviour terms: {ui.code_span(gaps.at[cluster, 'terms_representation'])}")
elif not selection:
    ui.publish(links.CLUSTER, None)
    st.info("No selection yet: draw a box or lasso on the Map page, then come back.")
    st.stop()
else:
    ui.publish(links.CLUSTER, None)
    ids = selection

examples = rank_examples(points, reference=reference, simulator=simulator, cluster=cluster, ids=ids)
settings = run.metrics().settings
neighbours = settings.neighbours or 15
space = settings.neighbour_space or "behaviour embeddings"
against = simulator or "the simulators (mean)"
st.caption(
    f"Misalignment looks at each conversation's {neighbours} nearest neighbours ({space}): a "
    f"{ui.md(reference)} conversation scores high when its neighbourhood holds fewer "
    f"{ui.md(against)} "
    "conversations than expected (behaviour the simulator misses); a simulated one when its "
    "neighbourhood holds more simulated conversations than expected (behaviour real users do "
    "not show). 0 = as mixed as the whole data."
)

overview = run.overview()
names = run.cluster_names()


def ranked_table(rows: pd.DataFrame, key: str) -> None:
    table = rows.head(TOP).merge(
        overview[["first_request"]], left_on="conversation_id", right_index=True
    )
    # The number stays available: "11 · terse one-line requests".
    table["cluster"] = table["cluster"].map(lambda c: cluster_name(c, names))
    columns = ["rank", "conversation_id", "cluster", examples.score_column, "first_request"]
    if simulator is None:
        columns.insert(2, "source")
    st.dataframe(
        table[columns],
        hide_index=True,
        column_config={
            examples.score_column: st.column_config.NumberColumn("misalignment", format="%.3f"),
            "first_request": "first request (start)",
        },
        height=220,
        key=key,
    )


def read_one(rows: pd.DataFrame, label: str, key: str) -> None:
    if rows.empty:
        st.info(f"No {ui.md(label)} conversation here.")
        return
    chosen = st.selectbox(
        f"Read a {ui.md(label)} conversation",
        rows.index[:TOP].tolist(),
        format_func=lambda i: (
            f"#{rows.at[i, 'rank']} · {rows.at[i, 'conversation_id']} · "
            f"misalignment {rows.at[i, examples.score_column]:+.3f}"
        ),
        key=key,
    )
    ui.show_transcript(run.transcript(rows.at[chosen, "conversation_id"]))


real_column, simulated_column = st.columns(2)
with real_column:
    st.subheader(f"{ui.md(reference)} ({len(examples.real):,})")
    st.caption(f"Most under-represented in {ui.md(against)} first.")
    if not examples.real.empty:
        ranked_table(examples.real, "examples_real_table")
    read_one(examples.real, reference, "examples_real_read")
with simulated_column:
    st.subheader(f"{ui.md(simulator or 'simulated')} ({len(examples.simulated):,})")
    st.caption(f"Most over-represented against {ui.md(reference)} first.")
    if not examples.simulated.empty:
        ranked_table(examples.simulated, "examples_simulated_table")
    read_one(examples.simulated, "simulated", "examples_simulated_read")
