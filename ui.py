"""Streamlit building blocks shared by the pages: the chosen run, cached artifacts, transcripts.

Transcript text is always shown as plain text (`st.text`), never as Markdown or HTML: it is
user content and may hold `<script>` or image links. Every other piece of untrusted text that
goes into Markdown (simulator and source names, file names, conversation ids, cluster terms,
error messages quoting data; widget labels are Markdown too) goes through `md` or `code_span`.

Which simulators the pages show is one choice for the whole dashboard: the sidebar's
"Simulators shown" (`pick_simulators`, drawn by `open_run` on every page), kept in
`st.session_state` across pages; by default every simulator up to 8, else the 8 closest
(`selection.shown_simulators`). Every page's per-simulator tables, charts and selectors follow
it (`RunView.shown`).

Run artifacts are cached per (run path, mtime of params.json): `analyze` writes params.json
last, so a rerun into the same directory invalidates every cached artifact of that run. Large
read-only tables use `st.cache_resource` (shared, never copied: pages must not mutate them);
small ones `st.cache_data`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from simgap_core.errors import SimgapError
from simgap_core.model import Corpus
from simgap_core.present import links
from simgap_core.present.figures.common import source_colors
from simgap_core.present.figures.map import map_scatter
from simgap_core.present.findings import most_gapped
from simgap_core.present.selection import (
    DEFAULT_SHOWN,
    conversation_overview,
    filter_points,
    map_points,
    shown_simulators,
    source_order,
    stack_members,
    stack_points,
)
from simgap_core.run import Run
from simgap_core.run.directory import is_run_directory
from simgap_core.run.documents import RunRecord
from simgap_core.schema import Metrics, read_metrics

ROOT = Path(__file__).resolve().parent
DEMO_RUN = ROOT / "data" / "demo_run"
RUN_KEY = "run_path"
# The run the dashboard opens on when neither the session nor the URL names one: set by
# `simgap dashboard RUN_DIR`; the demo run otherwise.
RUN_ENV = "SIMGAP_RUN"
# {query key: the values this session last wrote to the URL}: a URL value that differs came
# from outside (a link just opened, a reload, an edit by hand) and is applied once.
LINKED_KEY = "linked_query"
APP_KEY = "entered_through_app"
SELECTION_KEY = "map_selection"
# Set by the Map and Clusters pages before switching to Examples: what to show there.
EXAMPLES_CLUSTER_KEY = "examples_cluster"
EXAMPLES_SELECTION_KEY = "examples_selection"
# The simulators shown on every page: {"run": path, "simulators": [...]}, and its sidebar widget.
SHOWN_KEY = "shown_simulators"
PICKER_KEY = "shown_simulators_picker"
ROLE_AVATARS = {"user": "🧑", "assistant": "🤖", "system": "⚙️", "tool": "🛠️"}
# What reading a run directory can raise besides our own errors: missing or unreadable files,
# malformed JSON/Parquet (ValueError, incl. pyarrow's ArrowInvalid), missing columns.
READ_ERRORS = (SimgapError, OSError, ValueError, KeyError)

T = TypeVar("T")
NO_CLUSTER_MESSAGE = (
    "HDBSCAN found no cluster: every conversation is noise. The map and the simulator-level "
    "numbers still hold; a smaller `--min-cluster-size` or more conversations usually gives "
    "clusters."
)


def show_transcript(turns: Sequence[tuple[str, str]], *, max_chars: int = 4000) -> None:
    """Render (role, text) turns as a chat; long turns are cut with a note."""
    if not turns:
        st.info("This conversation has no turns.")
        return
    for role, text in turns:
        with st.chat_message(
            role if role in ("user", "assistant") else "ai", avatar=ROLE_AVATARS.get(role, "💬")
        ):
            if role not in ("user", "assistant"):
                st.caption(role)
            shown = text if len(text) <= max_chars else text[:max_chars]
            st.text(shown if shown.strip() else "(empty turn)")
            if len(text) > max_chars:
                st.caption(f"… {len(text) - max_chars:,} more characters not shown")


def runs_dir() -> Path:
    """Where the dashboard writes and looks for runs: $SIMGAP_RUNS_DIR, else ./runs."""
    configured = os.environ.get("SIMGAP_RUNS_DIR")
    return Path(configured) if configured else ROOT / "runs"


def default_run() -> Path:
    """The run a new session opens on: $SIMGAP_RUN (`simgap dashboard RUN_DIR`), else the demo."""
    configured = os.environ.get(RUN_ENV)
    return Path(configured) if configured else DEMO_RUN


def available_runs() -> list[Path]:
    """The demo run, the default run (`default_run`), then every run directory (one with a
    simgap manifest) under `runs_dir()`."""
    found = [DEMO_RUN, default_run()]
    directory = runs_dir()
    if directory.is_dir():
        found += sorted(p for p in directory.iterdir() if is_run_directory(p))
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def part_choices(kind: str, default: str) -> list[str]:
    """The registered parts of `kind`, `default` first (the dashboard's choices)."""
    from simgap_core import parts

    names = parts.available(kind)
    return [default, *(name for name in names if name != default)]


def run_label(path: Path) -> str:
    return "demo run (data/demo_run)" if Path(path) == DEMO_RUN else Path(path).name


def current_run_path() -> Path:
    return Path(st.session_state.get(RUN_KEY, str(default_run())))


def set_current_run(path: Path) -> None:
    st.session_state[RUN_KEY] = str(path)


def _stamp(path: Path) -> int:
    return (path / "params.json").stat().st_mtime_ns


@st.cache_data(show_spinner=False, max_entries=16)
def _load_params(path: str, stamp: int) -> RunRecord:
    return Run(path).params


@st.cache_data(show_spinner=False, max_entries=16)
def _load_metrics(path: str, stamp: int) -> Metrics:
    return read_metrics(path)


@st.cache_data(show_spinner=False, max_entries=16)
def _load_clusters_summary(path: str, stamp: int) -> pd.DataFrame:
    return Run(path).clusters_summary()


@st.cache_data(show_spinner="Building the HTML report…", max_entries=4)
def _build_report(path: str, stamp: int) -> bytes:
    from simgap_core.present.report import build_report

    return build_report(path).encode("utf-8")


@st.cache_data(show_spinner=False, max_entries=16)
def _load_feature_gaps(path: str, stamp: int) -> pd.DataFrame | None:
    run = Run(path)
    return run.feature_gaps() if (run.path / "feature_gaps.csv").is_file() else None


@st.cache_data(show_spinner=False, max_entries=16)
def _load_cluster_names(path: str, stamp: int) -> dict[int, str]:
    return Run(path).cluster_names_by_number()


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_stacks(
    path: str, stamp: int, sources: tuple[str, ...], clusters: tuple[int, ...]
) -> pd.DataFrame:
    # Grouped after filtering, so a group counts only the conversations shown; hover texts show
    # the start of each conversation's first user turn (the user's words).
    points = filter_points(_load_points(path, stamp), sources=sources, clusters=clusters or None)
    words = _load_overview(path, stamp)["first_request"].rename("text").reset_index()
    return stack_points(points, words)


@st.cache_data(show_spinner=False, max_entries=16)
def _load_skipped(path: str, stamp: int) -> list[dict[str, str]]:
    return Run(path).skipped()


@st.cache_resource(show_spinner="Loading the map…", max_entries=4)
def _load_points(path: str, stamp: int) -> pd.DataFrame:
    run = Run(path)
    # A run analyzed without the measure stage still has a map, just no misalignment scores.
    scores = run.misalignment() if (run.path / "misalignment.parquet").is_file() else None
    return map_points(run.projection(), run.clusters(), scores)


@st.cache_resource(show_spinner=False, max_entries=8)
def _map_figure(
    path: str,
    stamp: int,
    color_by: str,
    sources: tuple[str, ...],
    clusters: tuple[int, ...],
    stacked: bool = True,
    contours: bool = False,
) -> go.Figure:
    # Building the figure is most of a map rerun at 20k points (~80 ms); st.plotly_chart copies
    # the figure before serialising it, so the cached one is never changed.
    points = (
        _load_stacks(path, stamp, sources, clusters)
        if stacked
        else filter_points(_load_points(path, stamp), sources=sources, clusters=clusters or None)
    )
    view = RunView(Path(path), stamp, _load_params(path, stamp))
    return map_scatter(
        points,
        color_by=color_by,
        reference=view.reference,
        names=_load_cluster_names(path, stamp),
        contours=contours,
        colors=view.colors,
    )


@st.cache_resource(show_spinner="Loading transcripts…", max_entries=4)
def _load_corpus(path: str, stamp: int) -> Corpus:
    return Run(path).corpus()


@st.cache_data(show_spinner=False, max_entries=16)
def _load_source_summary(path: str, stamp: int) -> pd.DataFrame:
    return _load_corpus(path, stamp).summary().reset_index()


@st.cache_resource(show_spinner="Indexing transcripts…", max_entries=4)
def _load_overview(path: str, stamp: int) -> pd.DataFrame:
    return conversation_overview(_load_corpus(path, stamp))


@st.cache_resource(show_spinner=False, max_entries=4)
def _load_turns_by_conversation(path: str, stamp: int) -> dict[str, list[tuple[str, str]]]:
    # One pass over the turns table, so opening a transcript is a dict lookup at any run size.
    return _load_corpus(path, stamp).turns_by_conversation()


@dataclass(frozen=True)
class RunView:
    """The chosen run as the pages see it: cached artifacts, read errors shown in the page."""

    path: Path
    stamp: int
    params: RunRecord
    # The simulators the pages show, closest first (the sidebar's choice, see `pick_simulators`).
    shown: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return run_label(self.path)

    @property
    def reference(self) -> str:
        return self.params.params.reference

    @property
    def sources(self) -> list[str]:
        return source_order(self.params.sources, self.reference)

    @property
    def simulators(self) -> list[str]:
        return [s for s in self.sources if s != self.reference]

    @property
    def colors(self) -> dict[str, str]:
        """{source: colour} of the whole run: a source keeps its colour in every figure, also
        when others are filtered out or not shown."""
        return source_colors(self.sources, reference=self.reference)

    @property
    def shown_sources(self) -> list[str]:
        """The reference and the simulators shown (closest first)."""
        return [self.reference, *self.shown]

    def _read(self, what: str, loader: Callable[[str, int], T]) -> T:
        try:
            return loader(str(self.path), self.stamp)
        except READ_ERRORS as error:
            st.error(f"Could not read {what} of run {md(self.name)} ({md(self.path)}): {md(error)}")
            st.stop()

    def metrics(self) -> Metrics:
        """The run's metrics.json through the schema (an error and stop if unreadable or old)."""
        return self._read("metrics.json", _load_metrics)

    def clusters_summary(self) -> pd.DataFrame:
        return self._read("clusters_summary.csv", _load_clusters_summary)

    def skipped(self) -> list[dict[str, str]]:
        return self._read("skipped.json", _load_skipped)

    def points(self) -> pd.DataFrame:
        return self._read("the map (projection.parquet, clusters.parquet)", _load_points)

    def map_figure(
        self,
        *,
        color_by: str,
        sources: Sequence[str],
        clusters: Sequence[int],
        stacked: bool = True,
        contours: bool = False,
    ) -> go.Figure:
        """The map scatter of the conversations in `sources` and `clusters` (empty: all);
        `stacked`: identical representations drawn once (see `selection.stack_points`)."""
        return self._read(
            "the map",
            lambda path, stamp: _map_figure(
                path,
                stamp,
                color_by,
                tuple(sources),
                tuple(int(c) for c in clusters),
                stacked,
                contours,
            ),
        )

    def stack_members(
        self, sources: Sequence[str], clusters: Sequence[int]
    ) -> dict[str, tuple[str, ...]]:
        """{id a point of the map of `sources` and `clusters` (empty: all) carries: the
        conversations it stands for}."""
        return self._read(
            "the map",
            lambda path, stamp: stack_members(
                _load_stacks(path, stamp, tuple(sources), tuple(int(c) for c in clusters))
            ),
        )

    def feature_gaps(self) -> pd.DataFrame | None:
        """feature_gaps.csv, or None for a run made before behaviour features existed."""
        return self._read("feature_gaps.csv", _load_feature_gaps)

    def cluster_names(self) -> dict[int, str]:
        """{cluster: name} ({} for a run made before cluster names existed)."""
        return self._read("cluster_names.csv", _load_cluster_names)

    def corpus(self) -> Corpus:
        return self._read("the transcripts (corpus/)", _load_corpus)

    def source_summary(self) -> pd.DataFrame:
        """Per source: conversations, user turns, mean words per user turn."""
        return self._read("the transcripts (corpus/)", _load_source_summary)

    def overview(self) -> pd.DataFrame:
        return self._read("the transcripts (corpus/)", _load_overview)

    def report_html(self) -> bytes:
        """The self-contained HTML report of the run (built once per run version)."""
        return self._read("the run (for the HTML report)", _build_report)

    def file_bytes(self, name: str) -> bytes:
        """A run directory file as stored (for downloads)."""
        return self._read(name, lambda path, stamp: Run(path).require(name).read_bytes())

    def transcript(self, conversation_id: str) -> list[tuple[str, str]]:
        return self._read("the transcripts (corpus/)", _load_turns_by_conversation).get(
            conversation_id, []
        )

    def simulators_closest_first(self) -> list[str]:
        """Simulators closest first when metrics.json can be read, else in source order.

        Never stops the page: a run without (readable) metrics still has a map to show.
        """
        try:
            ranked = _load_metrics(str(self.path), self.stamp).simulator_names
        except READ_ERRORS:
            return self.simulators
        known = [s for s in ranked if s in self.simulators]
        return known + [s for s in self.simulators if s not in known]

    def most_gapped_simulator(self) -> str:
        """The shown simulator with the most missed + hallucinated clusters: the most to look
        at (the closest on a tie)."""
        return most_gapped(self.metrics(), self.shown or self.simulators_closest_first())


# The characters that start Markdown syntax, backslash-escaped (CommonMark): no image, link,
# HTML tag, emphasis, code, LaTeX ($), table or Streamlit colour directive (`:red[...]`) can start
# in escaped text. `.`, `-`, `/` and `:` stay as they are (paths and names stay readable); a
# leading list or heading marker is escaped apart.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]()#+!|<>~$&])")
_BLOCK_START = re.compile(r"^(\d+)([.)])|^([-=])")


def md(value: object) -> str:
    """`value` as literal text inside Streamlit Markdown (and widget labels, which are Markdown).

    White space collapses to single spaces: a line break could start a Markdown block.
    """
    text = _MARKDOWN_SYNTAX.sub(r"\\\1", " ".join(str(value).split()))
    return _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", text)


def code_span(value: object) -> str:
    """`value` as a Markdown code span: names from a run directory are never interpreted."""
    return "`" + " ".join(str(value).split()).replace("`", "'") + "`"


def open_run() -> RunView:
    """The run chosen on the Data page (the demo run by default), or an error and stop.

    Writes the caption every page starts with: run, size and the representation it used.
    """
    if APP_KEY not in st.session_state:
        # Streamlit runs the first script of a server process in its legacy pages/ mode (it sees
        # a pages/ folder and app.py has not called st.navigation yet): a deep link such as /map
        # then runs this page without app.py. Switch that mode off, as st.navigation does, and
        # rerun: app.py runs and opens the requested page.
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
        st.rerun()
    path = current_run_path()
    if not is_run_directory(path):
        st.error(
            f"{md(path)} is not a simgap run directory (it has no valid manifest.json). Choose "
            f"another run on the Data page, or create it with "
            f"{code_span(f'simgap analyze --out {path}')}."
        )
        st.stop()
    try:
        stamp = _stamp(path)
        view = RunView(path, stamp, _load_params(str(path), stamp))
    except READ_ERRORS as error:
        st.error(f"Could not read params.json of {md(path)}: {md(error)}")
        st.stop()
    total = sum(view.params.sources.values())
    st.caption(
        f"Run {code_span(view.name)} · {total:,} conversations in {len(view.sources)} sources "
        f"· representation: {code_span(Run(path).representation().text())}"
    )
    return replace(view, shown=pick_simulators(view))


def _keep_choice(run: str) -> None:
    st.session_state[SHOWN_KEY] = {"run": run, "simulators": list(st.session_state[PICKER_KEY])}


def _set_choice(run: str, simulators: list[str]) -> None:
    st.session_state[SHOWN_KEY] = {"run": run, "simulators": simulators}


def pick_simulators(view: RunView) -> tuple[str, ...]:
    """The sidebar's "Simulators shown" for `view`'s run; returns the choice, closest first.

    The choice lives in `SHOWN_KEY` (a plain session key, so it survives page switches, which
    drop a widget's own state) and is written back into the widget on every page. An empty
    choice, or one made on another run, falls back to the default (`shown_simulators`).
    """
    ranked = view.simulators_closest_first()
    stored = st.session_state.get(SHOWN_KEY) or {}
    chosen = stored.get("simulators") if stored.get("run") == str(view.path) else None
    shown = shown_simulators(ranked, chosen)
    st.session_state[SHOWN_KEY] = {"run": str(view.path), "simulators": shown}
    st.session_state[PICKER_KEY] = shown
    if not ranked:
        return ()
    st.sidebar.multiselect(
        "Simulators shown",
        ranked,
        key=PICKER_KEY,
        on_change=_keep_choice,
        args=(str(view.path),),
        help="Which simulators every page shows, closest first (by the leaderboard's JS). By "
        f"default all of them up to {DEFAULT_SHOWN}, otherwise the {DEFAULT_SHOWN} closest; "
        "emptied, the default comes back.",
    )
    if len(ranked) > DEFAULT_SHOWN:
        st.sidebar.caption(f"{len(shown)} of {len(ranked)} simulators shown, closest first.")
        left, right = st.sidebar.columns(2)
        left.button(
            "All",
            key="shown_simulators_all",
            on_click=_set_choice,
            args=(str(view.path), list(ranked)),
            width="stretch",
        )
        right.button(
            f"Closest {DEFAULT_SHOWN}",
            key="shown_simulators_closest",
            on_click=_set_choice,
            args=(str(view.path), list(ranked[:DEFAULT_SHOWN])),
            width="stretch",
        )
    return tuple(shown)


def stored_selection(run: RunView) -> list[str]:
    """The ids last selected on the map of this run (empty when none or for another run)."""
    stored = st.session_state.get(SELECTION_KEY) or {}
    return list(stored.get("ids", [])) if stored.get("run") == str(run.path) else []


def store_selection(run: RunView, ids: Sequence[str]) -> None:
    st.session_state[SELECTION_KEY] = {"run": str(run.path), "ids": list(ids)}


def clear_selection() -> None:
    st.session_state.pop(SELECTION_KEY, None)


def default_reference(sources: Sequence[str]) -> str | None:
    """The reference an upload form preselects: a source named "real", else the first whose
    name contains "real" (any case), else the first; None without sources."""
    for source in sources:
        if source == "real":
            return source
    return next((s for s in sources if "real" in s.lower()), sources[0] if sources else None)


# Deep links: the run, the page (its URL path), the simulator, the cluster and the map selection
# live in the URL (`simgap_core.present.links` reads and writes them). A value in the URL that
# this session did not write is applied once; afterwards the widgets rule and are written back.


def _from_outside(key: str, values: list[str]) -> bool:
    written = st.session_state.setdefault(LINKED_KEY, {})
    return bool(values) and values != written.get(key)


def incoming(key: str) -> bool:
    """Whether the URL's `key` was set from outside (a link just opened) and not yet applied."""
    return _from_outside(key, st.query_params.get_all(key))


def publish(key: str, value: str | Sequence[str] | None) -> None:
    """Write `value` (None: remove) into the URL's query `key`."""
    written = st.session_state.setdefault(LINKED_KEY, {})
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    if st.query_params.get_all(key) != values:
        if values:
            st.query_params[key] = values if len(values) > 1 else values[0]
        else:
            del st.query_params[key]
    written[key] = values


def sync_run() -> None:
    """app.py, on every script run: a run named by the URL becomes the current run (a bad one
    gets a message, the current run stays); the current run is written back into the URL, so a
    reload or a copied link opens it. The demo run, when it is the default, is left out."""
    values = st.query_params.get_all(links.RUN)
    if _from_outside(links.RUN, values):
        parsed = links.parse_link({links.RUN: values}, base=ROOT)
        if parsed.link.run is not None:
            set_current_run(parsed.link.run)
        for problem in parsed.problems:
            st.error(
                f"The link's run cannot be opened: {md(problem)}. Showing "
                f"{md(run_label(current_run_path()))} instead."
            )
    current = current_run_path()
    publish(links.RUN, None if current == DEMO_RUN == default_run() else str(current))


def _linked(key: str, options: Sequence[T]) -> T | None:
    """The URL's `key` (simulator or cluster) when a link just set it to one of `options`; a
    value not among them gets a warning naming it."""
    values = st.query_params.get_all(key)
    if not _from_outside(key, values):
        return None
    parsed = links.parse_link({key: values}, base=ROOT)
    wanted = getattr(parsed.link, links.FIELDS[key])
    if wanted is not None and wanted in options:
        return wanted
    reason = parsed.problems[0] if parsed.problems else f"{key} {values[0]} is not in this view"
    st.warning(f"The link's {key} is not shown: {md(links.shown_value(reason, 160))}.")
    return None


def choose(key: str, widget_key: str, options: Sequence[T], default: T) -> None:
    """Before the selectbox `widget_key` over `options`: its value from the URL's `key`
    (simulator or cluster) when a link just set it, else the value kept, else `default`."""
    wanted = _linked(key, options)
    if wanted is not None:
        st.session_state[widget_key] = wanted
    if st.session_state.get(widget_key) not in options:
        st.session_state[widget_key] = default


def choose_many(key: str, widget_key: str, options: Sequence[T]) -> None:
    """Before the multiselect `widget_key`: [the URL's `key`] when a link just set it to one of
    `options` (the Map's cluster filter)."""
    wanted = _linked(key, options)
    if wanted is not None:
        st.session_state[widget_key] = [wanted]


def sync_selection(run: RunView, known: Collection[str]) -> bool:
    """A map selection in the URL (conversation ids) becomes the run's stored selection (ids not
    in `known` are left out, with a message); the stored one is written back when it fits in a
    link (`links.linkable`). True when a link's selection was just applied."""
    values = st.query_params.get_all(links.SELECTION)
    applied = False
    if _from_outside(links.SELECTION, values):
        parsed = links.parse_link({links.SELECTION: values}, base=ROOT)
        ids = [cid for cid in parsed.link.selection if cid in known]
        for problem in parsed.problems:
            st.warning(md(problem))
        if len(ids) < len(parsed.link.selection):
            st.warning(
                f"{len(parsed.link.selection) - len(ids):,} conversation ids of the link are not "
                "in this run; they were left out of the selection."
            )
        if ids:
            store_selection(run, ids)
            applied = True
    stored = stored_selection(run)
    publish(links.SELECTION, stored if stored and links.linkable(stored) else None)
    return applied


def show_link(page_path: str, page_paths: Collection[str]) -> None:
    """The sidebar's "link to this view": this page with the URL's run, simulator, cluster and
    selection, as copyable text."""
    query = {key: st.query_params.get_all(key) for key in links.KEYS}
    base = links.app_base(st.context.url or "", page_paths)
    st.sidebar.caption("🔗 Link to this view")
    st.sidebar.code(links.view_url(base, page_path, query), language=None, wrap_lines=True)
