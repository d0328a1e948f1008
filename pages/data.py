"""Data: choose a run or start a new analysis; what was loaded, per source; skipped records."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import ui
from simgap_core.errors import SimgapError
from simgap_core.io.inputs import parse_lines, save_uploads
from simgap_core.io.loaders import FORMATS
from simgap_core.present import verdicts
from simgap_core.represent import FACETS
from simgap_core.run import AnalysisParams

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
STAGE_LABELS = {
    "load": "Loading transcripts",
    "describe": "Describing user behaviour",
    "represent": "Building representations",
    "embed": "Embedding",
    "project": "Projecting (UMAP)",
    "cluster": "Clustering (HDBSCAN)",
    "measure": "Measuring the gap",
}
FLASH_KEY = "data_flash"
GLANCE_COLUMNS = 5


def _start_analysis(
    name: str,
    uploads: list[Any],
    upload_sources: list[str],
    disk_text: str,
    format_name: str | None,
    params: AnalysisParams,
) -> None:
    from simgap_core.run import analyze

    if not RUN_NAME.fullmatch(name):
        st.error("The run name may hold letters, digits, '.', '_' and '-' (at most 80).")
        return
    try:
        disk = parse_lines(disk_text, format=format_name)
    except SimgapError as error:
        st.error(f"Files on disk: {ui.md(error)}")
        return
    bad = [s for s in upload_sources if not SOURCE_NAME.fullmatch(s)]
    if bad:
        st.error(
            f"Source names may hold letters, digits, '.', '_' and '-': {ui.md(', '.join(bad))}"
        )
        return
    sources = {spec.source for spec in disk} | set(upload_sources)
    if params.reference not in sources or len(sources) < 2:
        st.error(
            "Give files of at least two sources, the reference (real users, picked in the form) "
            f"and a simulator (sources given: {ui.md(', '.join(sorted(sources)) or 'none')})."
        )
        return
    out = ui.runs_dir() / name
    with st.status(f"Analyzing into {ui.md(out)} …", expanded=True) as status:
        bars: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            label = STAGE_LABELS.get(stage, stage)
            if stage not in bars:
                bars[stage] = st.progress(0.0, text=label)
            fraction = min(done / total, 1.0) if total else 0.0
            count = f"{done:,} / {total:,}" if total else "working"
            bars[stage].progress(fraction, text=f"{label}: {count}")

        try:
            inputs = list(disk)
            if uploads:
                # Uploads are kept in the run directory: its params.json records their hashes.
                inputs += save_uploads(
                    out / "inputs",
                    [
                        (upload.name, upload.getvalue(), source)
                        for upload, source in zip(uploads, upload_sources, strict=True)
                    ],
                    format=format_name,
                )
            result = analyze(inputs, out, params, progress=progress)
        except SimgapError as error:
            status.update(label="The analysis stopped", state="error")
            st.error(ui.md(error))
            return
        # The UI boundary: whatever a third-party stage raises becomes a message, not a traceback.
        except Exception as error:  # noqa: BLE001
            status.update(label="The analysis failed", state="error")
            st.error(f"The analysis failed: {type(error).__name__}: {ui.md(error)}")
            return
        status.update(label="Analysis finished", state="complete")
    ui.set_current_run(result.path)
    recomputed = ", ".join(result.params.recomputed) or "nothing (all stages reused)"
    st.session_state[FLASH_KEY] = (
        f"Run {ui.md(result.path.name)} is ready and selected (computed: {recomputed})."
    )
    st.rerun()


def _disk_sources(text: str) -> list[str]:
    """The source names of the SOURCE=PATH lines typed so far (checked only on Start)."""
    names = (line.partition("=")[0].strip() for line in text.splitlines() if "=" in line)
    return [name for name in names if SOURCE_NAME.fullmatch(name)]


def _reference_picker(column: Any, sources: list[str]) -> str | None:
    """The reference source, picked among the sources given (uploads are named after their
    files): preselected "real" or a name like it (`ui.default_reference`), else the first."""
    if not sources:
        column.selectbox(
            "Reference source (real users)",
            ["(give files first)"],
            disabled=True,
            key="new_run_ref_empty",
        )
        return None
    # Keyed by the sources offered: a new file (or a renamed source) offers the default anew.
    return column.selectbox(
        "Reference source (real users)",
        sources,
        index=sources.index(ui.default_reference(sources)),
        key=f"new_run_ref:{'|'.join(sources)}",
        help="The population the simulators are compared with; every other source is a simulator.",
    )


st.title("📂 Data")

if message := st.session_state.pop(FLASH_KEY, None):
    st.success(message)

runs = ui.available_runs()
current = ui.current_run_path()
if current not in runs:
    runs.append(current)
chosen = st.selectbox(
    "Run",
    runs,
    index=runs.index(current),
    format_func=ui.run_label,
    help=f"The demo run and every run directory under {ui.runs_dir()} "
    "(set SIMGAP_RUNS_DIR to look elsewhere).",
    # Keyed by the current run, so a run chosen elsewhere (a finished analysis) is shown here.
    key=f"data_run_choice:{current}",
)
if chosen != current:
    ui.set_current_run(chosen)
    st.rerun()
with st.expander("➕ Start a new analysis", expanded=False):
    st.caption(
        "Upload transcript files, or name files on this machine, each with the source its "
        "conversations belong to (the reference population and one name per simulator). The run "
        f"is written to {ui.md(ui.runs_dir())}/<name>; rerunning into the same name reuses every "
        "stage whose inputs did not change."
    )
    name = st.text_input("Run name", value="my-analysis", key="new_run_name")
    uploads = (
        st.file_uploader("Transcript files", accept_multiple_files=True, key="new_run_uploads")
        or []
    )
    upload_sources = [
        st.text_input(
            f"Source of {ui.md(upload.name)}",
            value=re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.name).name.split(".")[0]),
            key=f"new_run_source_{index}_{upload.name}",
        )
        for index, upload in enumerate(uploads)
    ]
    disk_text = st.text_area(
        "Files on this machine, one per line as SOURCE=PATH (a file, a folder or a glob)",
        placeholder="real=/data/real.jsonl\nmy_sim=/data/my_sim/*.parquet",
        key="new_run_disk",
    )
    given = [*(source.strip() for source in upload_sources), *_disk_sources(disk_text)]
    sources_given = list(dict.fromkeys(source for source in given if source))
    left, middle, right = st.columns(3)
    format_choice = left.selectbox(
        "Format", ["sniff from the file", *FORMATS], key="new_run_format"
    )
    reference = _reference_picker(middle, sources_given)
    facet = right.selectbox(
        "Representation (facet)", FACETS, index=FACETS.index("combined"), key="new_run_facet"
    )
    defaults = AnalysisParams()
    left, middle, right, last = st.columns(4)
    # Every registered part is a choice: a new embedder module is offered here as it is.
    annotator = left.selectbox(
        "Annotator", ui.part_choices("annotator", defaults.annotator), key="new_run_annotator"
    )
    embedder = middle.selectbox(
        "Embedder", ui.part_choices("embedder", defaults.embedder), key="new_run_embedder"
    )
    embedding_model = right.text_input(
        "Embedding model", value=defaults.embedding_model, key="new_run_model"
    )
    seed = last.number_input("Seed", value=42, step=1, key="new_run_seed")
    llm_base_url = llm_model = None
    if annotator == "llm":
        left, right = st.columns(2)
        llm_base_url = left.text_input("LLM endpoint (OpenAI-compatible)", key="new_run_llm_url")
        llm_model = right.text_input("LLM model", key="new_run_llm_model")
    left, right, _ = st.columns(3)
    # Empty: HDBSCAN's sizes are derived from the number of conversations (the CLI's default).
    min_cluster_size = left.number_input(
        "Min cluster size",
        min_value=2,
        value=None,
        step=1,
        placeholder="automatic",
        key="new_run_min_cluster_size",
        help="The fewest conversations a behaviour cluster may hold (HDBSCAN "
        "min_cluster_size). Empty: chosen from the number of conversations. Smaller finds more, "
        "smaller clusters.",
    )
    min_samples = right.number_input(
        "Min samples",
        min_value=1,
        value=None,
        step=1,
        placeholder="automatic",
        key="new_run_min_samples",
        help="HDBSCAN min_samples: larger leaves more conversations as noise. Empty: automatic.",
    )
    if st.button("Start analysis", type="primary", key="new_run_start"):
        _start_analysis(
            name.strip(),
            uploads,
            [s.strip() for s in upload_sources],
            disk_text,
            None if format_choice == "sniff from the file" else format_choice,
            AnalysisParams(
                reference=reference or "",
                facet=facet,
                annotator=annotator,
                embedder=embedder,
                llm_base_url=llm_base_url or None,
                llm_model=llm_model or None,
                embedding_model=embedding_model.strip(),
                seed=int(seed),
                min_cluster_size=None if min_cluster_size is None else int(min_cluster_size),
                min_samples=None if min_samples is None else int(min_samples),
            ),
        )

run = ui.open_run()

has_metrics = (run.path / "metrics.json").is_file()
if has_metrics:
    metrics = run.metrics()
    floor = metrics.noise_floor.paper.js
    st.subheader("At a glance")
    shown = [(name, entry) for name, entry in metrics.ranked() if name in run.shown]
    # At most GLANCE_COLUMNS numbers side by side (narrower ones would cut "JS 0.011"); more
    # wrap onto further rows. One number per simulator: the corrected JS that ranks.
    per_row = max(min(len(shown), GLANCE_COLUMNS), 1)
    columns = [column for _ in range(0, len(shown), per_row) for column in st.columns(per_row)]
    for column, (name, entry) in zip(columns, shown, strict=False):
        interval = verdicts.interval_text(entry.paper.js_ci, metrics.settings.ci_level)
        column.metric(
            ui.md(name),
            f"JS {entry.paper.js:.3f}",
            help=f"Bias-corrected Jensen-Shannon divergence to {ui.md(run.reference)} on the paper "
            f"quantization (k={entry.paper.k}); {interval}."
            + (
                ""
                if entry.reliable
                else " Unreliable: " + ui.md("; ".join(entry.reliability_notes))
            ),
        )
    hidden = len(metrics.simulator_names) - len(shown)
    st.caption(
        "Lower is closer to real users. The Overview says what each number means in words, the "
        "Simulators page has intervals and the mixture; the Map and Clusters pages show where "
        "the gaps are."
        + (
            f" {len(shown)} of {len(metrics.simulator_names)} simulators shown (closest first; "
            "choose others in the sidebar)."
            if hidden
            else ""
        )
    )
    with st.expander("details: descriptive numbers"):
        st.metric(
            f"noise floor, {ui.md(run.reference)} vs {ui.md(run.reference)} (descriptive)",
            f"JS {floor:.3f}",
            help="The plug-in JS between random halves of the reference conversations: "
            "descriptive, no verdict uses it, and it is not on the scale of the corrected JS "
            "above (a plug-in JS is biased upwards).",
        )
else:
    st.info(
        "This run has no metrics.json (analyzed without the measure stage): the Map works, the "
        f"Clusters and Simulators pages need {ui.code_span(f'simgap analyze --out {run.path}')}."
    )

st.subheader("Per source")
st.dataframe(
    run.source_summary(),
    hide_index=True,
    column_config={
        "source": "source",
        "conversations": st.column_config.NumberColumn("conversations", format="%d"),
        "user_turns": st.column_config.NumberColumn("user turns", format="%d"),
        "mean_words_per_user_turn": st.column_config.NumberColumn(
            "mean words / user turn", format="%.1f"
        ),
    },
)

skipped = run.skipped()
if skipped:
    with st.expander(f"⚠️ {len(skipped):,} records skipped while loading, with reasons"):
        st.dataframe(pd.DataFrame(skipped), hide_index=True)
else:
    st.caption("No record was skipped while loading.")

with st.expander("Inputs and parameters"):
    inputs = pd.DataFrame([entry.model_dump() for entry in run.params.inputs])
    if not inputs.empty and "sha256" in inputs:
        inputs["sha256"] = inputs["sha256"].str.slice(0, 12)
        st.dataframe(inputs, hide_index=True)
    analysis = run.params.params.model_dump()
    st.dataframe(
        pd.DataFrame({"parameter": list(analysis), "value": [str(v) for v in analysis.values()]}),
        hide_index=True,
    )
    timings = run.params.stage_timings_s
    if timings:
        st.caption(
            "Stage times (s): " + ", ".join(f"{stage} {sec:,.1f}" for stage, sec in timings.items())
        )

st.subheader("Read a conversation")
left, right = st.columns([1, 3])
with left:
    source = st.selectbox("Source", run.shown_sources, key="data_source")
    conversations = run.corpus().conversations
    ids = conversations.loc[conversations["source"] == source, "conversation_id"]
    conversation_id = st.selectbox("Conversation", ids.tolist(), key="data_conversation")
with right:
    if conversation_id:
        ui.show_transcript(run.transcript(conversation_id))
