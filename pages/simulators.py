"""Simulators: the leaderboard with intervals and noise floor, pairwise divergence, the mixture."""

from __future__ import annotations

import streamlit as st

import ui
from simgap_core.present import figures
from simgap_core.present.leaderboard import pairwise_matrix

st.title("🏁 Simulators")
run = ui.open_run()
metrics = run.metrics()
reference = run.reference
settings = metrics.get("settings", {})

st.subheader("Leaderboard")
board = figures.leaderboard_table(metrics)
st.plotly_chart(figures.leaderboard_figure(board), key="simulators_leaderboard_chart")
st.dataframe(
    board,
    hide_index=True,
    column_order=[
        "simulator",
        "js",
        "js_lo",
        "js_hi",
        "js_corrected",
        "noise_floor",
        "no_gap_js",
        "kl_forward",
        "kl_backward",
        "map_js",
        "classifier_auc",
        "classifier_accuracy",
        "p_value",
        "missed_clusters",
        "hallucinated_clusters",
    ],
    column_config={
        "js": st.column_config.NumberColumn("JS", format="%.4f"),
        "js_lo": st.column_config.NumberColumn("JS 95% low", format="%.4f"),
        "js_hi": st.column_config.NumberColumn("JS 95% high", format="%.4f"),
        "js_corrected": st.column_config.NumberColumn("JS minus bias", format="%.4f"),
        "noise_floor": st.column_config.NumberColumn("noise floor", format="%.4f"),
        "no_gap_js": st.column_config.NumberColumn(
            "no-gap JS",
            format="%.4f",
            help="Mean plug-in JS under the permutation null: what the JS would be, at these "
            "sample sizes, if the simulator were the same population as real users.",
        ),
        "kl_forward": st.column_config.NumberColumn(
            "KL(real‖sim)", format="%.4f", help="Forward KL: real behaviour the simulator misses."
        ),
        "kl_backward": st.column_config.NumberColumn(
            "KL(sim‖real)", format="%.4f", help="Backward KL: simulated behaviour real users lack."
        ),
        "map_js": st.column_config.NumberColumn("JS on the map clusters", format="%.4f"),
        "classifier_auc": st.column_config.NumberColumn("classifier AUC", format="%.3f"),
        "classifier_accuracy": st.column_config.NumberColumn("classifier accuracy", format="%.3f"),
        "p_value": st.column_config.NumberColumn("p (permutation)", format="%.4f"),
        "missed_clusters": st.column_config.NumberColumn("missed clusters", format="%d"),
        "hallucinated_clusters": st.column_config.NumberColumn(
            "hallucinated clusters", format="%d"
        ),
    },
    key="simulators_table",
)
st.caption(
    f"JS: Jensen-Shannon divergence to {ui.md(reference)} (natural log, at most ln 2 ≈ 0.693) on "
    "each simulator's own paper quantization (pooled PCA to "
    f"{settings.get('explained_variance', 0.9):.0%} variance, k-means with k = "
    f"{settings.get('k', 'n_real / 10')}); KL smoothed by 1/k. The 95% interval ("
    f"{settings.get('ci_method', 'bootstrap')}, {settings.get('bootstrap', '?')} resamples) "
    "corrects the plug-in JS for its small-sample bias, so it can sit below the "
    "plug-in value. Noise floor: the same JS between random halves of the real conversations "
    f"({settings.get('floor_repeats', '?')} repeats, band = 5–95%): a simulator near it is as "
    "close as real users are to themselves at half this sample size. No-gap JS: the mean JS of "
    "the permutation null, the value a simulator identical to real users would get at full size. "
    "Classifier: cross-validated "
    "logistic regression real vs simulated (0.5 = indistinguishable)."
)

st.subheader("Pairwise divergence between all sources")
matrix = pairwise_matrix(metrics)
left, right = st.columns([3, 2])
left.plotly_chart(figures.pairwise_figure(matrix), key="simulators_pairwise")
floor = metrics["noise_floor"]["paper"]
right.caption(
    f"JS on one {metrics['pairwise'].get('quantization', 'shared quantization')} "
    f"(k = {metrics['pairwise'].get('k', '?')}). On this quantization the real-vs-real noise "
    f"floor is {floor['js']:.4f} (5–95%: {floor['js_quantiles']['0.05']:.4f} – "
    f"{floor['js_quantiles']['0.95']:.4f}). Two simulators far from each other but both close "
    "to real cover different parts of real behaviour: a mixture may beat each."
)

st.subheader("Best mixture of simulators")
mixture = metrics["mixture"]
left, right = st.columns([3, 2])
left.plotly_chart(
    figures.mixture_figure(mixture, colors=figures.source_colors(run.sources, reference=reference)),
    key="simulators_mixture",
)
with right:
    st.metric("mixture JS", f"{mixture['js']:.4f}")
    st.metric(
        f"best single simulator ({ui.md(mixture['best_single'])})",
        f"{mixture['best_single_js']:.4f}",
    )
    st.metric(
        "gain of the mixture",
        f"{mixture['gain']:.4f}",
        help="Best single JS minus mixture JS: how much closer to real the mixed population is.",
    )
    st.caption(
        "Weights on the simplex that make the weighted mix of simulator histograms closest to "
        f"{ui.md(reference)} in JS, on the pooled quantization. Sampling conversations from the "
        "simulators in these proportions would give the closest population."
    )
