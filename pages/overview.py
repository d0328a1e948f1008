"""Overview: the finding first, in words. Per simulator its one number (the bias-corrected JS
with its interval), the combined verdict, what it misses and invents most, and what the run
could detect; every other number one click away, labelled (`present/overview.py`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from simgap_core.present.overview import simulator_cards
from simgap_core.present.verdicts import mixture_sentence, ranking_sentence

st.title("🧭 Overview")
run = ui.open_run()
if not (run.path / "metrics.json").is_file():
    st.info(
        "This run has no metrics.json (analyzed without the measure stage), so there is no "
        f"verdict to give: the Map works; {ui.code_span(f'simgap analyze --out {run.path}')} "
        "adds the rest."
    )
    st.stop()
metrics = run.metrics()
st.markdown(f"**{ui.md(ranking_sentence(metrics))}**")

for card in simulator_cards(metrics, run.clusters_summary(), among=list(run.shown)):
    with st.container(border=True):
        st.markdown(f"#### {ui.md(card.headline)}")
        st.markdown(ui.md(card.verdict))
        st.markdown(f"- {ui.md(card.missed)}\n- {ui.md(card.invented)}\n- {ui.md(card.detectable)}")
        with st.expander(f"details: every number for {ui.md(card.simulator)}"):
            st.dataframe(
                pd.DataFrame(card.details, columns=["number", "value"]),
                hide_index=True,
                key=f"overview_details_{card.simulator}",
            )
            st.caption(
                "Numbers marked descriptive carry no verdict: the plug-in JS is biased upwards "
                "on finite samples (compare it with the no-gap level, never across sizes); the "
                "noise floor is JS between two random halves of the reference users."
            )

st.markdown(ui.md(mixture_sentence(metrics)))
hidden = len(metrics.simulator_names) - len(run.shown)
st.caption(
    f"JS: how far each simulator's users behave from {ui.md(run.reference)} users (Jensen-Shannon "
    "divergence of the behaviour distributions, natural log: 0 = the same behaviour, 0.693 = "
    "nothing in common), corrected for its small-sample bias, with its bootstrap interval. "
    "The Simulators page has the full "
    "leaderboard, the Clusters and Map pages show where the gaps are."
    + (f" {len(run.shown)} of {len(metrics.simulator_names)} simulators shown." if hidden else "")
)
