"""Report: export the run's results as files to hand on."""

from __future__ import annotations

import streamlit as st

import ui
from simgap_core.present.export import leaderboard_csv
from simgap_core.present.leaderboard import pairwise_matrix
from simgap_core.present.verdicts import js_with_interval, mixture_sentence
from simgap_core.untrusted import csv_text

st.title("📤 Report")
run = ui.open_run()
metrics = run.metrics()
stem = run.path.name

closest = metrics.simulator_names[0]
tied = metrics.simulators[closest].tied_with
st.markdown(
    f"Closest simulator to {ui.code_span(run.reference)}: {ui.code_span(closest)} "
    f"({js_with_interval(metrics, closest)})"
    + (f", statistically tied with {', '.join(ui.code_span(t) for t in tied)}" if tied else "")
    + ". "
    + ui.md(mixture_sentence(metrics))
)
st.caption(
    "Every file below is read from (or built from) the run directory, so the CLI, the dashboard "
    "and the report show the same numbers."
)

st.subheader("Stakeholder report")
st.caption(
    "One self-contained HTML file: summary in plain words, leaderboard with intervals, maps, "
    "per-cluster shares, pairwise divergences, the mixture, cluster cards with excerpts, and "
    "provenance. It opens offline (no network request) and escapes all transcript text."
)
st.download_button(
    "⬇️ Download the HTML report",
    data=run.report_html(),
    file_name=f"{stem}_report.html",
    mime="text/html",
    key="report_html",
    type="primary",
)

st.subheader("Tables")
downloads = [
    (
        "metrics.json",
        "Every metric: leaderboard, intervals, noise floors, pairwise, mixture, settings.",
        run.file_bytes("metrics.json"),
        "application/json",
    ),
    (
        "clusters_summary.csv",
        "Per cluster: each source's share, differences with intervals, q-values, categories, "
        "top terms.",
        run.file_bytes("clusters_summary.csv"),
        "text/csv",
    ),
    (
        "leaderboard.csv",
        "Per simulator: every leaderboard metric with its interval, reliability, ties (the same "
        "file as `simgap export` writes).",
        leaderboard_csv(metrics),
        "text/csv",
    ),
    (
        "pairwise_js.csv",
        "Plug-in JS (descriptive) between every pair of sources: the Simulators page's "
        "families heatmap.",
        csv_text(pairwise_matrix(metrics), index=True).encode("utf-8"),
        "text/csv",
    ),
    (
        "params.json",
        "Parameters, package versions, seeds and input hashes: what reproduces this run.",
        run.file_bytes("params.json"),
        "application/json",
    ),
]
for filename, description, data, mime in downloads:
    left, right = st.columns([1, 3])
    left.download_button(
        filename,
        data=data,
        file_name=f"{stem}_{filename}",
        mime=mime,
        key=f"report_{filename}",
        width="stretch",
    )
    right.caption(description)
