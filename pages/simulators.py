"""Simulators: the leaderboard with intervals and verdicts, pairwise divergence, the mixture."""

from __future__ import annotations

import streamlit as st

import ui
from simgap_core.present import figures
from simgap_core.present.leaderboard import RELIABILITY_HELP, header, pairwise_matrix
from simgap_core.present.selection import feature_gap_table
from simgap_core.present.verdicts import verdicts
from simgap_core.schema import METRICS

st.title("🏁 Simulators")
run = ui.open_run()
metrics = run.metrics()
reference = run.reference
settings = metrics.settings
said = verdicts(metrics)

st.subheader("Leaderboard")
st.markdown(ui.md(said.ranking))
for sentence in said.ties:
    st.markdown(ui.md(sentence))
for line in said.reliability:
    st.warning(ui.md(line))

board = figures.leaderboard_table(metrics)
st.plotly_chart(figures.leaderboard_figure(board), key="simulators_leaderboard_chart")
# Columns from the metric registry: an estimate shows its interval next to it, the reliability
# note sits right after the JS.
first, *rest = METRICS
order = ["rank", "simulator", first.key, first.key + "_low", first.key + "_high", "reliability"]
config = {
    "rank": st.column_config.NumberColumn("#", format="%d"),
    "reliability": st.column_config.TextColumn("reliability", help=RELIABILITY_HELP),
    "tied_with": st.column_config.TextColumn(
        "tied with", help="Simulators whose difference in JS has an interval containing 0."
    ),
}
for metric in METRICS:
    printf = "%d" if metric.format == "d" else f"%{metric.format}"
    config[metric.key] = st.column_config.NumberColumn(
        header(metric), format=printf, help=metric.help
    )
    if metric.kind == "estimate":
        level = f"{settings.ci_level:.0%}"
        for side in ("low", "high"):
            config[f"{metric.key}_{side}"] = st.column_config.NumberColumn(
                f"{metric.label} {level} {side}", format=printf
            )
    if metric is not first:
        order += [metric.key] + (
            [metric.key + "_low", metric.key + "_high"] if metric.kind == "estimate" else []
        )
order.append("tied_with")
st.dataframe(
    board,
    hide_index=True,
    column_order=order,
    column_config=config,
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
    f"[0, ln 2], with its {settings.ci_level:.0%} bootstrap interval. The plug-in JS (open "
    "circle) is the paper's number: descriptive, biased upwards, more so for small simulators; "
    "the grey band is what it reaches with no gap at all (the permutation null at the same "
    "sizes). A simulator is as close to real users as they are to each other only when the "
    f"Holm-adjusted permutation test does not reject at alpha {settings.alpha:g}. "
    + ui.md(said.floor)
)

st.subheader("What simulated users do differently")
gaps = run.feature_gaps()
if gaps is None:
    st.info(
        "This run has no behaviour features (feature_gaps.csv): rerun `simgap analyze` on it to "
        "add them."
    )
elif gaps.empty:
    st.info("No simulator to compare with the reference on behaviour features.")
else:
    default = run.most_gapped_simulator()
    simulator = st.selectbox(
        "Simulator",
        run.simulators,
        index=run.simulators.index(default) if default in run.simulators else 0,
        key="simulators_feature_sim",
    )
    table = feature_gap_table(gaps, simulator=simulator)
    significant = table[table["significant"]]
    if significant.empty:
        st.markdown(f"No behaviour feature of {ui.md(simulator)} differs significantly.")
    for sentence in significant["finding"].head(5):
        st.markdown(f"- {ui.md(sentence)}")
    st.plotly_chart(
        figures.feature_gap_figure(table, simulator=simulator), key="simulators_feature_forest"
    )
    st.dataframe(
        table,
        hide_index=True,
        column_order=[
            "label",
            "real",
            "sim",
            "effect",
            "ci_low",
            "ci_high",
            "q_value",
            "significant",
            "finding",
        ],
        column_config={
            "label": "feature",
            "real": st.column_config.NumberColumn(reference, format="%.3g"),
            "sim": st.column_config.NumberColumn(simulator, format="%.3g"),
            "effect": st.column_config.NumberColumn(
                "effect",
                format="%.2f",
                help="Rates: simulator rate / reference rate. Counts, lengths and shares: "
                "standardized mean difference (simulator minus reference, in pooled sd).",
            ),
            "ci_low": st.column_config.NumberColumn("95% low", format="%.2f"),
            "ci_high": st.column_config.NumberColumn("95% high", format="%.2f"),
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

st.subheader("Pairwise divergence between all sources")
matrix = pairwise_matrix(metrics)
left, right = st.columns([3, 2])
left.plotly_chart(figures.pairwise_figure(matrix), key="simulators_pairwise")
right.caption(
    f"Plug-in JS (descriptive) on one {metrics.pairwise.quantization or 'shared quantization'} "
    f"(k = {metrics.pairwise.k}). Two simulators far from each other but both close to real "
    "cover different parts of real behaviour: a mixture may beat each. " + ui.md(said.floor)
)

st.subheader("Mixture of simulators")
mixture = metrics.mixture
st.markdown(ui.md(said.mixture))
if mixture is not None:
    left, right = st.columns([3, 2])
    left.plotly_chart(
        figures.mixture_figure(
            mixture, colors=figures.source_colors(run.sources, reference=reference)
        ),
        key="simulators_mixture",
    )
    with right:
        low, high = mixture.held_out_gain_ci
        st.metric(
            "held-out gain of the mixture",
            f"{mixture.held_out_gain:.4f}",
            help="Best single JS minus mixture JS, on the half of the conversations the weights "
            f"were not fitted on, over {mixture.splits} splits.",
        )
        st.caption(f"{settings.ci_level:.0%} interval {low:.4f} – {high:.4f}")
        st.metric("in-sample gain (descriptive)", f"{mixture.in_sample_gain:.4f}")
        st.metric("mixture JS (descriptive)", f"{mixture.js:.4f}")
        st.metric(
            f"best single simulator ({ui.md(mixture.best_single)}, descriptive)",
            f"{mixture.best_single_js:.4f}",
        )
