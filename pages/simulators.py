"""Simulators: the leaderboard with intervals and verdicts first, then one simulator in detail
(what its users do differently, the behaviour clusters it misses or invents), pairwise
divergence with its families, the mixture. Everything per simulator follows the sidebar's
"Simulators shown"."""

from __future__ import annotations

import math

import streamlit as st

import ui
from simgap_core.present import links
from simgap_core.present.figures.clusters import cluster_gap_figure
from simgap_core.present.figures.simulators import (
    feature_gap_figure,
    leaderboard_figure,
    leaderboard_table,
    mixture_figure,
    pairwise_figure,
)
from simgap_core.present.formatting import format_js
from simgap_core.present.leaderboard import RELIABILITY_HELP, header, pairwise_matrix
from simgap_core.present.selection import SHOWN_CATEGORIES, cluster_gaps, feature_gap_table
from simgap_core.present.verdicts import interval_text, mixture_recipe, verdicts
from simgap_core.schema import METRICS

# Clusters in the detail's chart (largest gaps); the Clusters page has them all.
DETAIL_CLUSTERS = 12
# More tied pairs than this are listed in an expander rather than one line each.
MAX_TIE_SENTENCES = 3

st.title("🏁 Simulators")
run = ui.open_run()
metrics = run.metrics()
reference = run.reference
settings = metrics.settings
shown = [name for name in metrics.simulator_names if name in run.shown]
hidden = len(metrics.simulator_names) - len(shown)
said = verdicts(metrics, among=shown)

st.subheader("Leaderboard")
st.markdown(ui.md(said.ranking))
if len(said.ties) <= MAX_TIE_SENTENCES:
    for sentence in said.ties:
        st.markdown(ui.md(sentence))
else:
    with st.expander(
        f"{len(said.ties)} pairs of the simulators shown are statistically tied (the table's "
        "tied with column names them)"
    ):
        for sentence in said.ties:
            st.markdown(f"- {ui.md(sentence)}")
if len(said.reliability) <= 3:
    for line in said.reliability:
        st.warning(ui.md(line))
else:
    # Many unreliable comparisons: one box listing them, not a wall of boxes.
    st.warning(
        f"{len(said.reliability)} comparisons are unreliable:\n"
        + "\n".join(f"- {ui.md(line)}" for line in said.reliability)
    )
if hidden:
    st.caption(
        f"{len(shown)} of {len(metrics.simulator_names)} simulators shown, closest first "
        f"(chosen in the sidebar). Ranks count all {len(metrics.simulator_names)}; the Report "
        "page's leaderboard.csv lists every one."
    )

board = leaderboard_table(metrics)
board = board[board["simulator"].isin(shown)]
level = f"{settings.ci_level:.0%}"
first, *rest = METRICS
# THE number of each pair: the corrected JS with its interval. Every other number of the
# leaderboard is in the details below, each labelled.
st.dataframe(
    board,
    hide_index=True,
    column_order=["rank", "simulator", "js", "js_low", "js_high", "reliability", "tied_with"],
    column_config={
        "rank": st.column_config.TextColumn("#", help="=1: statistically tied for that place"),
        "js": st.column_config.NumberColumn(header(first), format="%.4f", help=first.help),
        "js_low": st.column_config.NumberColumn(f"{first.label} {level} low", format="%.4f"),
        "js_high": st.column_config.NumberColumn(f"{first.label} {level} high", format="%.4f"),
        "reliability": st.column_config.TextColumn("reliability", help=RELIABILITY_HELP),
        "tied_with": st.column_config.TextColumn(
            "tied with", help="Simulators whose difference in JS has an interval containing 0."
        ),
    },
    key="simulators_table",
)
for sentence in said.no_gap.values():
    st.markdown(f"- {ui.md(sentence)}")
if said.robustness:
    st.markdown(ui.md(" ".join(filter(None, (said.robustness, said.map_agreement)))))
for line in said.skipped:
    st.caption(ui.md(line))
st.caption(
    f"JS ranks the simulators: the Jensen-Shannon divergence to {ui.md(reference)} (natural log, "
    "at most ln 2 ≈ 0.693) on the paper quantization of each (real, simulator) pair, at one "
    "common k for every simulator, corrected for its small-sample bias and clipped to "
    f"[0, ln 2], with its {level} bootstrap interval. A simulator is as close to real users as "
    "they are to each other only when no test tells them apart (Holm-adjusted, alpha "
    f"{settings.alpha:g}) and the run is large enough to notice a gap."
)
with st.expander("details: every leaderboard number, plug-in JS and no-gap band (descriptive)"):
    st.plotly_chart(leaderboard_figure(board), key="simulators_leaderboard_chart")
    # Columns from the metric registry: an estimate shows its interval next to it.
    order = ["rank", "simulator", first.key, first.key + "_low", first.key + "_high"]
    config = {"rank": st.column_config.TextColumn("#")}
    for metric in METRICS:
        printf = "%d" if metric.format == "d" else f"%{metric.format}"
        config[metric.key] = st.column_config.NumberColumn(
            header(metric), format=printf, help=metric.help
        )
        if metric.kind == "estimate":
            for side in ("low", "high"):
                config[f"{metric.key}_{side}"] = st.column_config.NumberColumn(
                    f"{metric.label} {level} {side}", format=printf
                )
        if metric is not first:
            order += [metric.key] + (
                [metric.key + "_low", metric.key + "_high"] if metric.kind == "estimate" else []
            )
    st.dataframe(
        board,
        hide_index=True,
        column_order=order,
        column_config=config,
        key="simulators_table_details",
    )
    st.caption(
        "The plug-in JS (open circle) is the paper's number: descriptive, biased upwards, more "
        "so for small simulators; the grey band is what it reaches with no gap at all (the "
        "permutation null at the same sizes). Neither is on the scale of the corrected JS. "
        + ui.md(said.floor)
    )

st.subheader("One simulator in detail")
default = run.most_gapped_simulator()
ui.choose(
    links.SIMULATOR, "simulators_feature_sim", shown, default if default in shown else shown[0]
)
simulator = st.selectbox(
    "Simulator",
    shown,
    key="simulators_feature_sim",
    help="The simulators shown (sidebar), closest first; preselected: the one with the most "
    "missed and hallucinated clusters.",
)
ui.publish(links.SIMULATOR, simulator)

st.markdown(f"#### What {ui.md(simulator)} users do differently")
gaps = run.feature_gaps()
if gaps is None:
    st.info(
        "This run has no behaviour features (feature_gaps.csv): rerun `simgap analyze` on it to "
        "add them."
    )
elif gaps.empty:
    st.info("No simulator to compare with the reference on behaviour features.")
else:
    table = feature_gap_table(gaps, simulator=simulator)
    significant = table[table["significant"]]
    if significant.empty:
        st.markdown(f"No behaviour feature of {ui.md(simulator)} differs significantly.")
    for sentence in significant["finding"].head(5):
        st.markdown(f"- {ui.md(sentence)}")
    st.plotly_chart(feature_gap_figure(table, simulator=simulator), key="simulators_feature_forest")
    st.dataframe(
        table,
        hide_index=True,
        column_order=[
            "label",
            "real",
            "sim",
            "effect_shown",
            "q_value",
            "significant",
            "finding",
        ],
        column_config={
            "label": "feature",
            "real": st.column_config.NumberColumn(reference, format="%.3g"),
            "sim": st.column_config.NumberColumn(simulator, format="%.3g"),
            "effect_shown": st.column_config.TextColumn(
                "effect [95% interval]",
                help="Rates: simulator rate / reference rate, as the sentence states it (0× when "
                "the simulator never does it, ∞× when the reference never does). Counts, lengths "
                "and shares: standardized mean difference (simulator minus reference, in pooled "
                "sd).",
            ),
            "q_value": st.column_config.NumberColumn("q (BH)", format="%.3g"),
            "finding": "in words",
        },
        key="simulators_feature_table",
    )
    st.caption(
        "Each feature is defined in the README (Behaviour features). Intervals are percentile "
        "bootstrap intervals, q-values Benjamini-Hochberg over every feature and simulator; "
        "significant (q ≤ 0.05) rows first, then by effect size."
    )

st.markdown(f"#### Behaviours {ui.md(simulator)} misses or invents")
counts = metrics.simulators[simulator].clusters
columns = st.columns(len(SHOWN_CATEGORIES))
for column, category in zip(columns, SHOWN_CATEGORIES, strict=True):
    column.metric(f"{category} clusters", getattr(counts, category))
clusters = cluster_gaps(run.clusters_summary(), simulator=simulator, reference=reference)
if not (clusters["cluster"] >= 0).any():
    st.info(ui.NO_CLUSTER_MESSAGE)
else:
    st.plotly_chart(
        cluster_gap_figure(
            clusters.head(DETAIL_CLUSTERS),
            reference=reference,
            simulator=simulator,
            colors=run.colors,
        ),
        key="simulators_cluster_gaps",
    )
    thresholds = settings.thresholds
    st.caption(
        f"The {min(DETAIL_CLUSTERS, len(clusters))} clusters (of {len(clusters)}, noise "
        "included) where the shares differ most. **missed**: the "
        f"{ui.md(reference)} share exceeds {ui.md(simulator)}'s by at least "
        f"{thresholds.min_share_diff:.1%} and a factor of "
        f"{math.exp(thresholds.min_log_ratio):.1f}, with Benjamini-Hochberg q ≤ "
        f"{thresholds.alpha:g}; **hallucinated**: the other way. The Clusters page lists every "
        "cluster with its conversations."
    )

with st.expander(
    "details: pairwise plug-in JS between all sources, families of simulators (descriptive)"
):
    matrix = pairwise_matrix(metrics)
    every_source = True
    if hidden:
        every_source = st.toggle(
            f"All {len(matrix)} sources (not only those shown)",
            value=False,
            key="simulators_pairwise_all",
        )
    if not every_source:
        keep = [source for source in matrix.index if source in run.shown_sources]
        matrix = matrix.loc[keep, keep]
    pairwise_caption = (
        "Plug-in JS (descriptive) on one "
        f"{metrics.pairwise.quantization or 'shared quantization'} (k = {metrics.pairwise.k}), "
        "ordered by hierarchical clustering (average linkage): sources close to each other sit "
        "together and join low in the tree above, so families of "
        "simulators show. Two simulators far from each other but both close to real cover "
        "different parts of real behaviour: a mixture may beat each. " + ui.md(said.floor)
    )
    if len(matrix) > 8:
        st.plotly_chart(pairwise_figure(matrix), key="simulators_pairwise")
        st.caption(pairwise_caption)
    else:
        left, right = st.columns([3, 2])
        left.plotly_chart(pairwise_figure(matrix), key="simulators_pairwise")
        right.caption(pairwise_caption)

st.subheader("Mixture of simulators")
mixture = metrics.mixture
st.markdown(ui.md(said.mixture))
if mixture is not None:
    # The shown simulators' weights, and every weight of the recipe even if not shown.
    drawn = list(dict.fromkeys([*shown, *(name for name, _ in mixture_recipe(mixture))]))
    left, right = st.columns([3, 2])
    left.plotly_chart(
        mixture_figure(mixture, colors=run.colors, names=drawn),
        key="simulators_mixture",
    )
    with right:
        if mixture.held_out_gain is None or mixture.held_out_gain_ci is None:
            st.metric(
                "held-out gain of the mixture",
                "not judged",
                help="A source is too small to halve: the weights cannot be judged on "
                "conversations they were not fitted on, so no claim that mixing helps is made.",
            )
        else:
            st.metric(
                "held-out gain of the mixture",
                format_js(mixture.held_out_gain),
                help="Best single JS minus mixture JS, on the half of the conversations the "
                f"weights were not fitted on, over {mixture.splits} splits.",
            )
            st.caption(interval_text(mixture.held_out_gain_ci, settings.ci_level))
        with st.expander("details (descriptive)"):
            st.metric("in-sample gain (descriptive)", format_js(mixture.in_sample_gain))
            st.metric("mixture JS (descriptive)", format_js(mixture.js))
            st.metric(
                f"best single simulator ({ui.md(mixture.best_single)}, descriptive)",
                format_js(mixture.best_single_js),
            )
