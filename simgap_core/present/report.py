"""The stakeholder report: one self-contained HTML file of a run, read offline in five minutes.

Everything the file needs is inside it: plotly's JavaScript (inlined once), the CSS, the figures
as JSON. It names no external script, style sheet or font (system font stack), so opening it
makes no network request. Every string that comes from the data (transcripts, terms, source
names, file paths) goes through Jinja's autoescaping; plotly's own serializer writes `<`, `>`
and `/` inside the figure JSON as `\\u003c`, `\\u003e` and `\\u002f`, so no hover text can close
the `<script>` that holds it. Transcript excerpts are the first user turn, capped in length.

Numbers are shown as stored in the run directory (`metrics.json`, `clusters_summary.csv`,
`feature_gaps.csv`), formatted by the `format_*` functions below (or worded by
`behaviour.gap_sentence`), never recomputed.

The report leads with findings: per simulator, its largest behaviour-feature gaps in words, and
its most missed and most invented named behaviour with short excerpts from both sides.

With many simulators (the paper compares 24) the report stays readable and small: the tables
(leaderboard, summary, mixture weights, provenance) list every simulator, while the parts made
per simulator (findings, feature-gap and cluster-gap figures, difference maps, behaviour cards)
cover `detailed_simulators`: the closest few and every one the summary names; the report says
which, and that the rest are in the dashboard and `simgap export`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from simgap_core import __version__
from simgap_core.model import Corpus
from simgap_core.present.export import assignments, open_run
from simgap_core.present.figures import (
    cluster_gap_figure,
    difference_figure,
    feature_gap_figure,
    leaderboard_figure,
    leaderboard_table,
    map_scatter,
    mixture_figure,
    pairwise_figure,
    source_colors,
)
from simgap_core.present.leaderboard import (
    RELIABILITY_HELP,
    header,
    leaderboard_cells,
    pairwise_matrix,
    reliability_text,
)
from simgap_core.present.selection import (
    NOISE,
    cluster_gaps,
    cluster_name,
    difference_grid,
    feature_gap_table,
    gap_regions,
    grid_edges,
    rank_examples,
    source_order,
    stack_points,
    summary_names,
    top_feature_gaps,
)
from simgap_core.present.verdicts import NO_INTERVAL, mixture_recipe, verdicts
from simgap_core.represent import BASELINE_FACETS
from simgap_core.run import Run, package_versions
from simgap_core.run.directory import write_atomic
from simgap_core.schema import METRICS, Metrics, read_metrics

# The report's map sample: each map costs about 175 bytes per point (position, size, colour code,
# hover text naming the conversation, its source and its cluster), so 10,000 points keep the
# two maps near 3.5 MB and the whole file, with plotly.js (4.6 MB) and 25 sources' tables and
# figures, under 10 MB.
MAX_MAP_POINTS = 10_000
TOP_CLUSTERS = 12
EXCERPTS = 3
EXCERPT_CHARS = 300
LABEL_TERMS = 4
FINDING_GAPS = 3  # feature gaps per simulator in the findings
FINDING_EXCERPTS = 2  # real and simulated excerpts per named behaviour in the findings
FINDING_EXCERPT_CHARS = 160
# Per-simulator sections cover all simulators up to this many, else the closest this many plus
# those the summary names.
DETAILED_SIMULATORS = 6
REPORT_ARTIFACTS = (
    "params.json",
    "corpus",
    "skipped.json",
    "representations.parquet",
    "projection.parquet",
    "clusters.parquet",
    "metrics.json",
    "clusters_summary.csv",
    "misalignment.parquet",
)
FONT_STACK = (
    "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
)
REPORT_PACKAGES = ("plotly", "jinja2")


SKIPPED = "skipped"


def _skipped(value: Any) -> bool:
    """A statistic `measure` left out for a source too small for it (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_js(value: float | None) -> str:
    """A divergence (JS or KL, nats)."""
    return SKIPPED if _skipped(value) else f"{value:.4f}"


def format_share(value: float) -> str:
    """A share of a source's conversations, or a mixture weight."""
    return SKIPPED if _skipped(value) else f"{value:.1%}"


def format_points(value: float) -> str:
    """A difference of two shares, in percentage points, signed."""
    return SKIPPED if _skipped(value) else f"{100 * value:+.1f} pts"


def format_p(value: float) -> str:
    """A p- or q-value."""
    if _skipped(value):
        return SKIPPED
    return f"{value:.4f}" if value >= 1e-4 else "< 0.0001"


def format_statistic(value: float, name: str) -> str:
    """A p- or q-value with its name: "p = 0.0110", "q < 0.0001"."""
    shown = format_p(value)
    if shown == SKIPPED:
        return f"{name}: {SKIPPED}"
    return f"{name} {shown}" if shown.startswith("<") else f"{name} = {shown}"


def format_score(value: float) -> str:
    """A classifier AUC."""
    return SKIPPED if _skipped(value) else f"{value:.3f}"


def excerpt(text: str | None, *, limit: int = EXCERPT_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters (with an ellipsis).

    Returns plain text: escaping is the template's job.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    flat = re.sub(r"\s+", " ", text or "").strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def first_user_turns(corpus: Corpus, conversation_ids: Sequence[str]) -> dict[str, str]:
    """The first user turn of each conversation in `conversation_ids` ("" when it has none)."""
    turns = corpus.turns
    wanted = turns[
        turns["conversation_id"].isin(list(conversation_ids)) & (turns["role"] == "user")
    ]
    first = (
        wanted.sort_values(["conversation_id", "turn"], kind="stable")
        .groupby("conversation_id", sort=False)["text"]
        .first()
    )
    return {cid: str(first.get(cid, "") or "") for cid in conversation_ids}


def subsample_points(points: pd.DataFrame, *, max_points: int, seed: int) -> pd.DataFrame:
    """At most `max_points` rows, each source keeping its share of the rows (seeded).

    Returns `points` itself when it is small enough; otherwise the kept rows in their order.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if len(points) <= max_points:
        return points
    rng = np.random.default_rng(seed)
    fraction = max_points / len(points)
    keep = []
    for _, rows in points.groupby("source", sort=False):
        size = int(np.floor(fraction * len(rows)))
        keep.append(rng.choice(rows.index.to_numpy(), size=size, replace=False))
    return points.loc[np.sort(np.concatenate(keep))]


def cluster_label(summary_row: Mapping[str, Any], *, terms: int = LABEL_TERMS) -> str:
    """A cluster's top behaviour terms (or its users' top words), e.g. "polite, formal, thanks"."""
    for column in ("terms_representation", "terms_user"):
        value = summary_row.get(column)
        if isinstance(value, str) and value.strip():
            return ", ".join(t.strip() for t in value.split(",")[:terms] if t.strip())
    return ""


@dataclass(frozen=True)
class Finding:
    """One simulator's gap on one cluster: diff = reference share - simulator share."""

    cluster: int
    simulator: str
    category: str
    diff: float
    diff_low: float
    diff_high: float
    reference_share: float
    simulator_share: float
    q_value: float


@dataclass(frozen=True)
class Excerpt:
    """The start of one conversation's first user turn, with its misalignment score."""

    conversation_id: str
    text: str
    misalignment: float


@dataclass
class ClusterCard:
    """A notable cluster: who misses or invents it, its terms, and examples from both sides."""

    cluster: int
    label: str
    terms_representation: str
    terms_user: str
    shares: dict[str, float]
    findings: list[Finding]
    real_excerpts: list[Excerpt] = field(default_factory=list)
    simulated_excerpts: list[Excerpt] = field(default_factory=list)
    behaviour_name: str = ""

    @property
    def name(self) -> str:
        """ "11 · terse one-line requests" (or "cluster 11" in a run without names)."""
        return cluster_name(self.cluster, {self.cluster: self.behaviour_name})

    @property
    def primary(self) -> Finding:
        """The finding with the largest gap: its simulator supplies the simulated excerpts."""
        return max(self.findings, key=lambda f: abs(f.diff))


def notable_findings(
    summary: pd.DataFrame, *, simulator: str, reference: str, category: str, top: int = 1
) -> list[Finding]:
    """The `top` clusters of `category` for `simulator`, largest |diff| first (noise excluded)."""
    gaps = cluster_gaps(summary, simulator=simulator, reference=reference)
    rows = gaps[(gaps["category"] == category) & (gaps["cluster"] != NOISE)].head(top)
    return [
        Finding(
            cluster=int(row.cluster),
            simulator=simulator,
            category=category,
            diff=float(row.diff),
            diff_low=float(row.diff_low),
            diff_high=float(row.diff_high),
            reference_share=float(row.reference_share),
            simulator_share=float(row.simulator_share),
            q_value=float(row.q_value),
        )
        for row in rows.itertuples()
    ]


def cluster_cards(
    summary: pd.DataFrame,
    *,
    simulators: Sequence[str],
    reference: str,
    per_category: int = 1,
) -> list[ClusterCard]:
    """One card per cluster that is among a simulator's `per_category` largest missed or
    hallucinated clusters; a cluster notable for several simulators gets one card. Largest gap
    first. Excerpts are left empty (see `attach_excerpts`)."""
    by_cluster: dict[int, list[Finding]] = {}
    for simulator in simulators:
        for category in ("missed", "hallucinated"):
            for finding in notable_findings(
                summary,
                simulator=simulator,
                reference=reference,
                category=category,
                top=per_category,
            ):
                by_cluster.setdefault(finding.cluster, []).append(finding)
    rows = summary.set_index("cluster")
    share_columns = [c for c in summary.columns if c.startswith("share_")]
    cards = []
    for cluster, findings in by_cluster.items():
        row = rows.loc[cluster]
        cards.append(
            ClusterCard(
                cluster=cluster,
                label=cluster_label(row),
                terms_representation=_terms(row.get("terms_representation")),
                terms_user=_terms(row.get("terms_user")),
                shares={c.removeprefix("share_"): float(row[c]) for c in share_columns},
                findings=sorted(findings, key=lambda f: -abs(f.diff)),
                behaviour_name=str(row.get("name", "") or ""),
            )
        )
    return sorted(cards, key=lambda card: (-abs(card.primary.diff), card.cluster))


def _terms(value: Any) -> str:
    return value if isinstance(value, str) else ""


def attach_excerpts(
    cards: Sequence[ClusterCard],
    *,
    points: pd.DataFrame,
    corpus: Corpus,
    reference: str,
    excerpts: int = EXCERPTS,
    excerpt_chars: int = EXCERPT_CHARS,
) -> None:
    """Fill each card with its most misaligned real and simulated conversations' first turns.

    Real rows rank by how much the card's primary simulator under-fills their neighbourhood,
    that simulator's rows by how much real users under-fill theirs (`selection.rank_examples`).
    """
    ranked = {}
    for card in cards:
        ranked[card.cluster] = rank_examples(
            points,
            reference=reference,
            simulator=card.primary.simulator,
            cluster=card.cluster,
            top=excerpts,
        )
    wanted = [
        cid
        for examples in ranked.values()
        for table in (examples.real, examples.simulated)
        for cid in table["conversation_id"]
    ]
    texts = first_user_turns(corpus, wanted)
    for card in cards:
        examples = ranked[card.cluster]
        card.real_excerpts, card.simulated_excerpts = (
            [
                Excerpt(
                    conversation_id=str(row["conversation_id"]),
                    text=excerpt(texts[row["conversation_id"]], limit=excerpt_chars),
                    misalignment=float(row[examples.score_column]),
                )
                for _, row in table.iterrows()
            ]
            for table in (examples.real, examples.simulated)
        )


@dataclass(frozen=True)
class NamedBehaviour:
    """A simulator's most missed (or invented) named cluster, with excerpts from both sides."""

    finding: Finding
    name: str  # "11 · terse one-line requests"
    description: str
    real_excerpts: list[Excerpt]
    simulated_excerpts: list[Excerpt]


@dataclass(frozen=True)
class SimulatorFindings:
    """What the report says first about one simulator."""

    simulator: str
    gap_sentences: list[str]  # its largest significant feature gaps, `gap_sentence` each
    missed: NamedBehaviour | None
    invented: NamedBehaviour | None


def simulator_findings(
    *,
    simulators: Sequence[str],
    reference: str,
    summary: pd.DataFrame,
    feature_gaps: pd.DataFrame | None,
    points: pd.DataFrame,
    corpus: Corpus,
    top_gaps: int = FINDING_GAPS,
    excerpts: int = FINDING_EXCERPTS,
    excerpt_chars: int = FINDING_EXCERPT_CHARS,
) -> list[SimulatorFindings]:
    """Per simulator: its `top_gaps` largest significant feature gaps in words, and its most
    missed and most invented named behaviour, each with `excerpts` real and simulated first
    turns (the most misaligned, as in the behaviour cards). `feature_gaps` None: a run made
    before behaviour features existed (no sentences)."""
    names = summary_names(summary)
    descriptions = (
        dict(zip(summary["cluster"].astype(int), summary["description"].astype(str), strict=True))
        if "description" in summary
        else {}
    )
    chosen: dict[tuple[str, str], Finding] = {}
    for simulator in simulators:
        for category in ("missed", "hallucinated"):
            found = notable_findings(
                summary, simulator=simulator, reference=reference, category=category
            )
            if found:
                chosen[(simulator, category)] = found[0]
    ranked = {
        key: rank_examples(
            points,
            reference=reference,
            simulator=finding.simulator,
            cluster=finding.cluster,
            top=excerpts,
        )
        for key, finding in chosen.items()
    }
    wanted = [
        cid
        for examples in ranked.values()
        for table in (examples.real, examples.simulated)
        for cid in table["conversation_id"]
    ]
    texts = first_user_turns(corpus, wanted)

    def quoted(table: pd.DataFrame, column: str) -> list[Excerpt]:
        return [
            Excerpt(
                conversation_id=str(row["conversation_id"]),
                text=excerpt(texts[row["conversation_id"]], limit=excerpt_chars),
                misalignment=float(row[column]),
            )
            for _, row in table.iterrows()
        ]

    def named(simulator: str, category: str) -> NamedBehaviour | None:
        finding = chosen.get((simulator, category))
        if finding is None:
            return None
        examples = ranked[(simulator, category)]
        return NamedBehaviour(
            finding=finding,
            name=cluster_name(finding.cluster, names),
            description=descriptions.get(finding.cluster, ""),
            real_excerpts=quoted(examples.real, examples.score_column),
            simulated_excerpts=quoted(examples.simulated, examples.score_column),
        )

    from simgap_core.behaviour import gap_sentence

    result = []
    for simulator in simulators:
        sentences = []
        if feature_gaps is not None and len(feature_gaps):
            top = top_feature_gaps(feature_gaps, simulator=simulator, top=top_gaps)
            sentences = [gap_sentence(row) for _, row in top.iterrows()]
        result.append(
            SimulatorFindings(
                simulator=simulator,
                gap_sentences=sentences,
                missed=named(simulator, "missed"),
                invented=named(simulator, "hallucinated"),
            )
        )
    return result


@dataclass(frozen=True)
class Headline:
    """One simulator's row of the summary: its ranked JS, what the test says, what it misses."""

    simulator: str
    js: float
    js_lo: float | None
    js_hi: float | None
    js_plugin: float
    reliability: str
    verdict: str
    missed: Finding | None
    hallucinated: Finding | None


def headlines(metrics: Metrics, summary: pd.DataFrame) -> list[Headline]:
    """One `Headline` per simulator, in leaderboard order (closest first).

    `verdict` is the simulator's no-gap sentence (`verdicts.no_gap_sentence`): driven by the
    Holm-adjusted permutation test, never by the split-half floor.
    """
    said = verdicts(metrics)
    result = []
    for name, entry in metrics.ranked():
        found = {
            category: notable_findings(
                summary, simulator=name, reference=metrics.reference, category=category
            )
            for category in ("missed", "hallucinated")
        }
        result.append(
            Headline(
                simulator=name,
                js=entry.paper.js,
                js_lo=entry.paper.js_ci[0] if entry.paper.js_ci else None,
                js_hi=entry.paper.js_ci[1] if entry.paper.js_ci else None,
                js_plugin=entry.paper.js_plugin,
                reliability=reliability_text(metrics, name),
                verdict=said.no_gap[name],
                missed=(found["missed"] or [None])[0],
                hallucinated=(found["hallucinated"] or [None])[0],
            )
        )
    return result


def detailed_simulators(metrics: Metrics, *, limit: int = DETAILED_SIMULATORS) -> list[str]:
    """The simulators the report's per-simulator sections cover, in leaderboard order.

    Every simulator when there are at most `limit`; otherwise the `limit` closest plus every
    simulator the summary names: those tied for closest (when at most `limit` are: a larger
    tied group is said as a range, and its closest members stand for it), the mixture's best
    single simulator and, when mixing helps, the simulators in its recipe.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    ranked = metrics.simulator_names
    if len(ranked) <= limit:
        return list(ranked)
    tied = set(metrics.simulators[ranked[0]].tied_with)
    named = tied if len(tied) < limit else set()
    if metrics.mixture is not None:
        named.add(metrics.mixture.best_single)
        if metrics.mixture.helps:
            named.update(name for name, _ in mixture_recipe(metrics.mixture))
    return [name for i, name in enumerate(ranked) if i < limit or name in named]


def _detail_context(metrics: Metrics, detailed: Sequence[str], limit: int) -> dict[str, Any]:
    """What the template says about which simulators the per-simulator sections cover."""
    ranked = metrics.simulator_names
    closest = [name for name in ranked[:limit] if name in detailed]
    named = [name for name in detailed if name not in closest]
    tied = [t for t in metrics.ties if t.tied]
    return {
        "capped": len(detailed) < len(ranked),
        "simulators": list(detailed),
        "closest": closest,
        "named": named,
        "others": [name for name in ranked if name not in detailed],
        "ties_left_out": sum(not (t.a in detailed and t.b in detailed) for t in tied),
    }


def _leaderboard_context(metrics: Metrics) -> dict[str, Any]:
    """The leaderboard table as the report prints it: registry labels, help and cell texts."""
    cells = leaderboard_cells(metrics)
    return {
        "columns": [
            (column, next((m.help for m in METRICS if header(m) == column), RELIABILITY_HELP))
            for column in cells.columns
            if column not in ("#", "simulator")
        ],
        "rows": cells.to_dict("records"),
        "metrics": [(m.label, m.kind, m.help) for m in METRICS],
    }


def _style(figure: go.Figure) -> go.Figure:
    """The report's look on a figure from `figures`: white template, the page's fonts."""
    figure.update_layout(
        template="plotly_white", font={"family": FONT_STACK, "size": 12, "color": "#1f2933"}
    )
    return figure


def figure_html(figure: go.Figure, div_id: str) -> Markup:
    """A figure as a `<div>` plus the `<script>` that draws it (plotly.js itself not included).

    The div id is fixed so the same run gives the same report.
    """
    html = _style(figure).to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        default_width="100%",
        config={"displaylogo": False, "responsive": True},
    )
    # Safe to mark: plotly writes <, > and / inside its JSON as \u escapes.
    return Markup(html)


def _map_figures(
    points: pd.DataFrame,
    *,
    reference: str,
    names: Mapping[int, str] | None = None,
    colors: Mapping[str, str] | None = None,
    contour_sources: Sequence[str] | None = None,
) -> dict[str, Markup]:
    figures = {}
    for color_by in ("source", "cluster"):
        figure = map_scatter(
            points,
            color_by=color_by,
            reference=reference,
            height=560,
            names=names,
            contours=color_by == "source",
            colors=colors,
            contour_sources=contour_sources,
        )
        # A report's map is read, not selected: zoom is the useful drag, and the ids that a
        # dashboard selection reads from customdata would only double the hover text's bytes.
        figure.update_layout(dragmode="zoom")
        for trace in figure.data:
            if trace.customdata is not None:
                trace.customdata = None
            # plotly.js leaves a trace without points out of the legend; one empty point keeps
            # a legend-only entry (a source's colour) listed.
            if trace.x is not None and len(trace.x) == 0:
                trace.update(x=[None], y=[None])
        figures[color_by] = figure_html(figure, f"fig-map-{color_by}")
    return figures


def _difference_figures(
    points: pd.DataFrame, summary: pd.DataFrame, *, simulators: Sequence[str], reference: str
) -> list[tuple[str, Markup]]:
    """Per simulator: the real-minus-simulator map with its missed and invented clusters named
    where they lie. Shares are of each source's whole run (`points` holds every conversation)."""
    x_edges, y_edges = grid_edges(points, bins=30)
    result = []
    for index, simulator in enumerate(simulators):
        grid = difference_grid(
            points, reference=reference, simulator=simulator, x_edges=x_edges, y_edges=y_edges
        )
        regions = gap_regions(points, summary, simulator=simulator, reference=reference)
        figure = difference_figure(
            grid, reference=reference, simulator=simulator, height=520, regions=regions
        )
        result.append((simulator, figure_html(figure, f"fig-difference-{index}")))
    return result


def _feature_gap_context(
    gaps: pd.DataFrame | None, *, simulators: Sequence[str]
) -> list[dict[str, Any]]:
    """Per simulator: its feature-gap rows (significant first, each with its sentence) and
    their forest plot; [] for a run without feature_gaps.csv."""
    if gaps is None or gaps.empty:
        return []
    result = []
    for index, simulator in enumerate(simulators):
        table = feature_gap_table(gaps, simulator=simulator)
        if table.empty:
            continue
        result.append(
            {
                "simulator": simulator,
                "rows": table.to_dict("records"),
                "significant": int(table["significant"].sum()),
                "figure": figure_html(
                    feature_gap_figure(table, simulator=simulator), f"fig-features-{index}"
                ),
            }
        )
    return result


def _gap_figure(
    summary: pd.DataFrame, *, simulator: str, reference: str, top: int, colors: Mapping[str, str]
) -> go.Figure:
    gaps = cluster_gaps(summary, simulator=simulator, reference=reference).head(top)
    return cluster_gap_figure(
        gaps,
        reference=reference,
        simulator=simulator,
        colors={name: colors[name] for name in (reference, simulator)},
    )


def _flatten(document: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, "—" if value is None else str(value)))
    return rows


def _versions(params: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(package, version used by the analysis, version that wrote this report)."""
    analysis = params.get("versions", {})
    now = {**package_versions(), **{name: metadata.version(name) for name in REPORT_PACKAGES}}
    return [
        (name, analysis.get(name, "—"), now.get(name, "—"))
        for name in dict.fromkeys([*analysis, *now])
    ]


def _mixture_context(metrics: Metrics) -> dict[str, Any] | None:
    """The mixture section: weights (largest first), its verdict sentence and held-out gain."""
    mixture = metrics.mixture
    if mixture is None:
        return None
    weights = sorted(mixture.weights.items(), key=lambda item: -item[1])
    return {
        **mixture.model_dump(),
        "ranked": weights,
        "recipe": mixture_recipe(mixture),
        "sentence": verdicts(metrics).mixture,
    }


def _provenance(run: Run, params: Mapping[str, Any], metrics: Metrics) -> dict[str, Any]:
    analysis = params.get("params", {})
    extra = analysis.get("extra", {})
    return {
        "run_dir": str(run.path),
        "created": params.get("created", "—"),
        "updated": params.get("updated", "—"),
        "inputs": params.get("inputs", []),
        "sources": params.get("sources", metrics.n),
        "skipped": len(run.skipped()),
        "seeds": [
            ("analysis seed (UMAP, k-means, resampling)", analysis.get("seed", "—")),
            ("map seed", extra.get("map", {}).get("seed", "—")),
            (
                "measurement seed",
                metrics.settings.seed if metrics.settings.seed is not None else "—",
            ),
        ],
        "versions": _versions(params),
        "parameters": _flatten(analysis),
        "settings": _flatten(metrics.settings.model_dump()),
        "timings": list(params.get("stage_timings_s", {}).items()),
    }


def _representation(params: Mapping[str, Any]) -> dict[str, Any]:
    analysis = params.get("params", {})
    facet = analysis.get("facet", "—")
    return {
        "facet": facet,
        "baseline": facet in BASELINE_FACETS,
        "annotator": analysis.get("annotator", "—"),
        "llm_model": analysis.get("llm_model"),
        "embedding_model": analysis.get("embedding_model", "—"),
        "precision": analysis.get("extra", {}).get("embedding_precision")
        or analysis.get("precision", "—"),
    }


def build_report(
    run_dir: str | Path,
    *,
    max_map_points: int = MAX_MAP_POINTS,
    top_clusters: int = TOP_CLUSTERS,
    cards_per_category: int = 1,
    excerpts: int = EXCERPTS,
    excerpt_chars: int = EXCERPT_CHARS,
    detailed_limit: int = DETAILED_SIMULATORS,
) -> str:
    """The report of the run in `run_dir` as one self-contained HTML document.

    The map shows at most `max_map_points` conversations (a sample stratified by source, seeded
    with the run's seed; the report says so); the per-cluster figures the `top_clusters` largest
    gaps per simulator; each simulator's `cards_per_category` largest missed and hallucinated
    clusters get a card with `excerpts` real and simulated first turns of at most
    `excerpt_chars` characters. Past `detailed_limit` simulators the per-simulator sections
    cover `detailed_simulators` only (the tables still list every simulator). Raises
    RunDirectoryError when an artifact is missing.
    """
    run = open_run(run_dir, artifacts=REPORT_ARTIFACTS)
    params, metrics = run.params, read_metrics(run.path)
    summary = run.clusters_summary()
    reference = metrics.reference
    board = leaderboard_table(metrics)
    simulators = metrics.simulator_names
    detailed = detailed_simulators(metrics, limit=detailed_limit)
    detail = _detail_context(metrics, detailed, detailed_limit)
    seed = int(params.get("params", {}).get("seed", 0))

    points = assignments(run)
    # The map's own order, so every colour in the report matches the map's.
    colors = source_colors(source_order(points["source"], reference), reference=reference)
    shown = subsample_points(points, max_points=max_map_points, seed=seed)
    names = summary_names(summary)
    # Identical representations drawn once, sized by their count (the map's "speckles").
    stacked = stack_points(shown, run.representations()[["conversation_id", "text"]])
    gaps = run.feature_gaps() if (run.path / "feature_gaps.csv").is_file() else None
    corpus = run.corpus()
    findings = simulator_findings(
        simulators=detailed,
        reference=reference,
        summary=summary,
        feature_gaps=gaps,
        points=points,
        corpus=corpus,
    )
    cards = cluster_cards(
        summary, simulators=detailed, reference=reference, per_category=cards_per_category
    )
    if detail["capped"]:
        # A card's share bars: the reference and the simulators detailed, not all of them.
        for card in cards:
            card.shares = {s: v for s, v in card.shares.items() if s in (reference, *detailed)}
    attach_excerpts(
        cards,
        points=points,
        corpus=corpus,
        reference=reference,
        excerpts=excerpts,
        excerpt_chars=excerpt_chars,
    )
    mixture = _mixture_context(metrics)
    figures = {
        "leaderboard": figure_html(leaderboard_figure(board), "fig-leaderboard"),
        "map": _map_figures(
            stacked,
            reference=reference,
            names=names,
            colors=colors,
            contour_sources=[reference, *detailed] if detail["capped"] else None,
        ),
        "difference": _difference_figures(points, summary, simulators=detailed, reference=reference)
        if (summary["cluster"] != NOISE).any()
        else [],
        "gaps": [
            (
                sim,
                figure_html(
                    _gap_figure(
                        summary, simulator=sim, reference=reference, top=top_clusters, colors=colors
                    ),
                    f"fig-gaps-{index}",
                ),
            )
            for index, sim in enumerate(detailed)
            # All noise (HDBSCAN found no cluster): no per-cluster shares to draw.
            if (summary["cluster"] != NOISE).any()
        ],
        "pairwise": figure_html(pairwise_figure(pairwise_matrix(metrics)), "fig-pairwise"),
        "mixture": figure_html(
            mixture_figure(
                metrics.mixture,
                colors=colors,
                # The detailed simulators' weights and the recipe's (the table lists all).
                names=list(
                    dict.fromkeys([*detailed, *(n for n, _ in mixture_recipe(metrics.mixture))])
                )
                if detail["capped"]
                else None,
            ),
            "fig-mixture",
        )
        if metrics.mixture
        else None,
    }
    thresholds = metrics.settings.thresholds
    context = {
        "title": f"simgap report: {', '.join(simulators)} vs {reference}"
        if len(simulators) <= detailed_limit
        else f"simgap report: {len(simulators)} simulators vs {reference}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": reference,
        "simulators": simulators,
        "n": metrics.n,
        "colors": colors,
        "board": _leaderboard_context(metrics),
        "headlines": headlines(metrics, summary),
        # Per-simulator sentences (ties, no-gap) of the detailed simulators only.
        "verdicts": verdicts(metrics, among=detailed if detail["capped"] else None),
        "detail": detail,
        "closest_tied": bool(metrics.simulators[simulators[0]].tied_with),
        "ci_level": metrics.settings.ci_level,
        "no_interval": NO_INTERVAL,
        "alpha": metrics.settings.alpha,
        "paper_k": {name: entry.paper.k for name, entry in metrics.ranked()},
        "common_k": len({entry.paper.k for _, entry in metrics.ranked()}) == 1,
        "pairwise_k": metrics.pairwise.k,
        "pooled_floor": metrics.noise_floor.paper.js,
        "thresholds": {
            "min_share_diff": thresholds.min_share_diff,
            "min_ratio": float(np.exp(thresholds.min_log_ratio)),
            "alpha": thresholds.alpha,
        },
        "n_clusters": int((summary["cluster"] != NOISE).sum()),
        "top_clusters": top_clusters,
        "map_shown": len(shown),
        "map_total": len(points),
        "seed": seed,
        "mixture": mixture,
        "findings": findings,
        "feature_gaps": _feature_gap_context(gaps, simulators=detailed),
        "has_features": gaps is not None,
        "names": names,
        "map_stacks": len(stacked),
        "cards": cards,
        "cluster_labels": {
            int(row["cluster"]): cluster_label(row) for row in summary.to_dict("records")
        },
        "excerpt_chars": excerpt_chars,
        "representation": _representation(params),
        "provenance": _provenance(run, params, metrics),
        "figures": figures,
        "version": __version__,
        "plotly_js": Markup(get_plotlyjs()),
    }
    return _environment().get_template("report.html.j2").render(context)


def write_report(run_dir: str | Path, out_path: str | Path, **options: Any) -> Path:
    """Write `build_report(run_dir, **options)` to `out_path` (UTF-8) and return the path."""
    html = build_report(run_dir, **options)
    target = Path(out_path)
    # Atomically: an interrupted write leaves the previous report or none, never half of one.
    write_atomic(target, lambda partial: partial.write_text(html, encoding="utf-8"))
    return target


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("simgap_core.present", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
    )
    environment.filters.update(
        js=format_js,
        share=format_share,
        points=format_points,
        p=format_p,
        score=format_score,
        cluster_name=cluster_name,
        stat=format_statistic,
        ratio=lambda value: f"{value:.1f}×",
        thousands=lambda value: f"{int(value):,}",
        width=lambda fraction: f"{100 * fraction:.1f}%",
    )
    return environment
