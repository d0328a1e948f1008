"""The stakeholder report: one self-contained HTML file of a run, read offline in five minutes.

This module renders; it decides nothing about what to say. The findings (`findings`: what each
simulator misses or invents, with excerpts; `verdicts`: the run-wide sentences) and the figures
(`figures`) are shared with the dashboard; here they are read off the run directory once
(`_ReportRun`), turned into the template's context and rendered by Jinja
(`templates/report.html.j2`).

Everything the file needs is inside it: plotly's JavaScript (inlined once, compressed and
unpacked by the browser: `plotly_js_payload`), the CSS, the figures as JSON. It names no
external script, style sheet or font (system font stack), so opening it makes no network
request. Every string that comes from the data (transcripts, terms, source
names, file paths) goes through Jinja's autoescaping; plotly's own serializer writes `<`, `>`
and `/` inside the figure JSON as `\\u003c`, `\\u003e` and `\\u002f`, so no hover text can close
the `<script>` that holds it. Transcript excerpts are the first user turn, capped in length.

Numbers are shown as stored in the run directory (`metrics.json`, `clusters_summary.csv`,
`feature_gaps.csv`), written by `formatting` (or worded by `behaviour.gap_sentence`), never
recomputed.

The report leads with findings: per simulator, its largest behaviour-feature gaps in words, and
its most missed and most invented named behaviour with short excerpts from both sides.

With many simulators (the paper compares 24) the report stays readable and small: the tables
(leaderboard, summary, mixture weights, provenance) list every simulator, while the parts made
per simulator (findings, feature-gap and cluster-gap figures, difference maps, behaviour cards)
cover `findings.detailed_simulators`: the closest few and every one the summary names; the
report says which, and that the rest are in the dashboard and `simgap export`.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
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
from simgap_core.present.figures.clusters import cluster_gap_figure
from simgap_core.present.figures.common import source_colors
from simgap_core.present.figures.density import difference_figure
from simgap_core.present.figures.map import map_scatter
from simgap_core.present.figures.simulators import (
    feature_gap_figure,
    leaderboard_figure,
    leaderboard_table,
    mixture_figure,
    pairwise_figure,
)
from simgap_core.present.findings import (
    DETAILED_SIMULATORS,
    EXCERPT_CHARS,
    EXCERPTS,
    ClusterCard,
    attach_excerpts,
    cluster_cards,
    cluster_label,
    detailed_simulators,
    headlines,
    simulator_findings,
)
from simgap_core.present.formatting import (
    format_js,
    format_p,
    format_points,
    format_score,
    format_share,
    format_statistic,
)
from simgap_core.present.leaderboard import (
    RELIABILITY_HELP,
    header,
    leaderboard_cells,
    pairwise_matrix,
)
from simgap_core.present.selection import (
    NOISE,
    cluster_gaps,
    cluster_name,
    conversation_overview,
    difference_grid,
    feature_gap_table,
    gap_regions,
    grid_edges,
    source_order,
    stack_points,
    summary_names,
)
from simgap_core.present.verdicts import NO_INTERVAL, mixture_recipe, verdicts
from simgap_core.run import Run, package_versions
from simgap_core.run.directory import write_atomic
from simgap_core.run.documents import RunRecord
from simgap_core.schema import METRICS, Metrics, read_metrics

# The report's map sample: the two maps cost about 280 bytes per point together (position, size,
# colour, hover text naming the conversation, its source and its cluster, written once per
# cluster on the cluster map), so 10,000 points keep them near 2.8 MB and the whole file, with
# plotly.js (1.9 MB compressed) and 25 sources' tables and figures, well under 10 MB.
MAX_MAP_POINTS = 10_000
TOP_CLUSTERS = 12
# The report's maps fill the page's width (one above the other), its difference maps half of it
# (two side by side): their labels are placed for these widths.
MAP_WIDTH_PX = 1100
DIFFERENCE_WIDTH_PX = 540
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


@dataclass(frozen=True)
class _ReportRun:
    """What the report reads off a run directory, read once and shared by every section."""

    run: Run
    params: RunRecord
    metrics: Metrics
    summary: pd.DataFrame
    points: pd.DataFrame  # every conversation (`export.assignments`), never the map's sample
    corpus: Corpus
    feature_gaps: pd.DataFrame | None  # None: a run made before behaviour features existed
    detailed: list[str]  # the simulators the per-simulator sections cover
    colors: dict[str, str]  # {source: colour}, in the map's order, for every figure
    seed: int

    @property
    def reference(self) -> str:
        return self.metrics.reference

    @property
    def capped(self) -> bool:
        """Whether the per-simulator sections leave some simulators out."""
        return len(self.detailed) < len(self.metrics.simulator_names)

    @property
    def clustered(self) -> bool:
        """Whether HDBSCAN found any cluster (all noise: no per-cluster shares to draw)."""
        return bool((self.summary["cluster"] != NOISE).any())


def _read_run(run_dir: str | Path, *, detailed_limit: int) -> _ReportRun:
    """The run's artifacts the report needs (RunDirectoryError when one is missing)."""
    run = open_run(run_dir, artifacts=REPORT_ARTIFACTS)
    metrics = read_metrics(run.path)
    points = assignments(run)
    return _ReportRun(
        run=run,
        params=run.params,
        metrics=metrics,
        summary=run.clusters_summary(),
        points=points,
        corpus=run.corpus(),
        feature_gaps=run.feature_gaps() if (run.path / "feature_gaps.csv").is_file() else None,
        detailed=detailed_simulators(metrics, limit=detailed_limit),
        # The map's own order, so every colour in the report matches the map's.
        colors=source_colors(
            source_order(points["source"], metrics.reference), reference=metrics.reference
        ),
        seed=run.params.params.seed,
    )


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


def plotly_js_payload() -> str:
    """plotly.js gzip-compressed and base64-encoded: 1.9 MB instead of 4.8 MB inlined, so a
    report of a small run weighs 2 MB, not 5. The template unpacks it in the browser. Fixed
    gzip header time, so the same run gives the same report."""
    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")


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
            width_px=MAP_WIDTH_PX,
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
            grid,
            reference=reference,
            simulator=simulator,
            height=520,
            regions=regions,
            width_px=DIFFERENCE_WIDTH_PX,
        )
        result.append((simulator, figure_html(figure, f"fig-difference-{index}")))
    return result


def clusters_lede(*, clusters: int, noise: bool, top: int, reference: str) -> str:
    """What the per-cluster figures show, counted right: "the 12 of the 40 clusters and the
    noise where ..." only when there are more than `top` to choose from; otherwise all of them
    ("both clusters and the noise", "the only cluster"), in that order."""
    also = " and the noise" if noise else ""
    if clusters + noise > top:
        return (
            f"For each simulator, the {top} of the {clusters} clusters{also} where its share "
            f"differs most from the {reference} share."
        )
    every = {1: "the only cluster", 2: "both clusters"}.get(clusters, f"all {clusters} clusters")
    return (
        f"For each simulator, {every}{also}, ordered by how much its share differs from the "
        f"{reference} share."
    )


def _feature_gap_context(
    gaps: pd.DataFrame | None, *, simulators: Sequence[str]
) -> list[dict[str, Any]]:
    """Per simulator: its feature-gap rows (significant first, each with its sentence) and
    their forest plot; [] for a run without feature_gaps.csv."""
    if gaps is None or gaps.empty:
        return []
    # Imported here: `behaviour` loads scipy.stats, which a run without features never needs.
    from simgap_core.behaviour.gaps import effect_text

    result = []
    for index, simulator in enumerate(simulators):
        table = feature_gap_table(gaps, simulator=simulator)
        if table.empty:
            continue
        result.append(
            {
                "simulator": simulator,
                "rows": [
                    {**row, "effect_text": effect_text(row)} for row in table.to_dict("records")
                ],
                "significant": int(table["significant"].sum()),
                "figure": figure_html(
                    feature_gap_figure(table, simulator=simulator), f"fig-features-{index}"
                ),
            }
        )
    return result


def _flatten(document: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += _flatten(value, f"{name}.")
        else:
            rows.append((name, "—" if value is None else str(value)))
    return rows


def _versions(params: RunRecord) -> list[tuple[str, str, str]]:
    """(package, version used by the analysis, version that wrote this report)."""
    analysis = params.versions
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


def _provenance(run: Run, params: RunRecord, metrics: Metrics) -> dict[str, Any]:
    map_params = run.facts("project").get("map", {})
    return {
        "run_dir": str(run.path),
        "created": params.created,
        "updated": params.updated,
        "inputs": [entry.model_dump() for entry in params.inputs],
        "sources": params.sources or metrics.n,
        "skipped": len(run.skipped()),
        "seeds": [
            ("analysis seed (UMAP, k-means, resampling)", params.params.seed),
            ("map seed", map_params.get("seed", "—")),
            (
                "measurement seed",
                metrics.settings.seed if metrics.settings.seed is not None else "—",
            ),
        ],
        "versions": _versions(params),
        "parameters": _flatten(params.params.model_dump()),
        "settings": _flatten(metrics.settings.model_dump()),
        "timings": list(params.stage_timings_s.items()),
    }


def _cards(
    data: _ReportRun, *, per_category: int, excerpts: int, excerpt_chars: int
) -> list[ClusterCard]:
    """The behaviour cards of the detailed simulators, with their excerpts."""
    cards = cluster_cards(
        data.summary, simulators=data.detailed, reference=data.reference, per_category=per_category
    )
    if data.capped:
        # A card's share bars: the reference and the simulators detailed, not all of them.
        kept = (data.reference, *data.detailed)
        for card in cards:
            card.shares = {s: v for s, v in card.shares.items() if s in kept}
    attach_excerpts(
        cards,
        points=data.points,
        corpus=data.corpus,
        reference=data.reference,
        excerpts=excerpts,
        excerpt_chars=excerpt_chars,
    )
    return cards


def _gap_figures(data: _ReportRun, *, top: int) -> list[tuple[str, Markup]]:
    """Per detailed simulator: its `top` largest cluster gaps, shares and difference."""
    result = []
    for index, simulator in enumerate(data.detailed):
        gaps = cluster_gaps(data.summary, simulator=simulator, reference=data.reference)
        figure = cluster_gap_figure(
            gaps.head(top),
            reference=data.reference,
            simulator=simulator,
            colors={name: data.colors[name] for name in (data.reference, simulator)},
        )
        result.append((simulator, figure_html(figure, f"fig-gaps-{index}")))
    return result


def _mixture_figure(data: _ReportRun) -> Markup | None:
    """The mixture weights: with many simulators, the detailed ones' and the recipe's (the
    table lists all)."""
    mixture = data.metrics.mixture
    if mixture is None:
        return None
    names = (
        list(dict.fromkeys([*data.detailed, *(n for n, _ in mixture_recipe(mixture))]))
        if data.capped
        else None
    )
    return figure_html(mixture_figure(mixture, colors=data.colors, names=names), "fig-mixture")


def _figures(data: _ReportRun, stacked: pd.DataFrame, *, top_clusters: int) -> dict[str, Any]:
    """Every figure of the report as HTML, keyed as the template reads them."""
    metrics, reference = data.metrics, data.reference
    return {
        "leaderboard": figure_html(
            leaderboard_figure(leaderboard_table(metrics)), "fig-leaderboard"
        ),
        "map": _map_figures(
            stacked,
            reference=reference,
            names=summary_names(data.summary),
            colors=data.colors,
            contour_sources=[reference, *data.detailed] if data.capped else None,
        ),
        "difference": _difference_figures(
            data.points, data.summary, simulators=data.detailed, reference=reference
        )
        if data.clustered
        else [],
        "gaps": _gap_figures(data, top=top_clusters) if data.clustered else [],
        "pairwise": figure_html(pairwise_figure(pairwise_matrix(metrics)), "fig-pairwise"),
        "mixture": _mixture_figure(data),
    }


def _summary_context(data: _ReportRun, *, detailed_limit: int) -> dict[str, Any]:
    """The title, the summary's verdicts and headline rows, and the leaderboard's numbers."""
    metrics, reference = data.metrics, data.reference
    simulators = metrics.simulator_names
    thresholds = metrics.settings.thresholds
    return {
        "title": f"simgap report: {', '.join(simulators)} vs {reference}"
        if len(simulators) <= detailed_limit
        else f"simgap report: {len(simulators)} simulators vs {reference}",
        "reference": reference,
        "simulators": simulators,
        "n": metrics.n,
        "colors": data.colors,
        "board": _leaderboard_context(metrics),
        "headlines": headlines(metrics, data.summary),
        # Per-simulator sentences (ties, no-gap) of the detailed simulators only.
        "verdicts": verdicts(metrics, among=data.detailed if data.capped else None),
        "detail": _detail_context(metrics, data.detailed, detailed_limit),
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
        "mixture": _mixture_context(metrics),
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
    cover `findings.detailed_simulators` only (the tables still list every simulator). Raises
    RunDirectoryError when an artifact is missing.
    """
    data = _read_run(run_dir, detailed_limit=detailed_limit)
    shown = subsample_points(data.points, max_points=max_map_points, seed=data.seed)
    # Conversations at one spot drawn once, sized by their count (the map's "speckles"), each
    # point's hover text the start of its first user turn.
    words = conversation_overview(data.corpus)["first_request"].rename("text").reset_index()
    stacked = stack_points(shown, words)
    summary = data.summary
    context = {
        **_summary_context(data, detailed_limit=detailed_limit),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": simulator_findings(
            simulators=data.detailed,
            reference=data.reference,
            summary=summary,
            feature_gaps=data.feature_gaps,
            points=data.points,
            corpus=data.corpus,
        ),
        "cards": _cards(
            data,
            per_category=cards_per_category,
            excerpts=excerpts,
            excerpt_chars=excerpt_chars,
        ),
        "feature_gaps": _feature_gap_context(data.feature_gaps, simulators=data.detailed),
        "has_features": data.feature_gaps is not None,
        "n_clusters": int((summary["cluster"] != NOISE).sum()),
        "names": summary_names(summary),
        "cluster_labels": {
            int(row["cluster"]): cluster_label(row) for row in summary.to_dict("records")
        },
        "top_clusters": top_clusters,
        "clusters_lede": clusters_lede(
            clusters=int((summary["cluster"] != NOISE).sum()),
            noise=bool((summary["cluster"] == NOISE).any()),
            top=top_clusters,
            reference=data.reference,
        ),
        "map_shown": len(shown),
        "map_total": len(data.points),
        "map_stacks": len(stacked),
        "seed": data.seed,
        "excerpt_chars": excerpt_chars,
        "representation": asdict(data.run.representation()),
        "provenance": _provenance(data.run, data.params, data.metrics),
        "figures": _figures(data, stacked, top_clusters=top_clusters),
        "version": __version__,
        "plotly_js_gz": plotly_js_payload(),
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
