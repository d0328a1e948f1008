"""The stakeholder report: one self-contained HTML file of a run, read offline in five minutes.

Everything the file needs is inside it: plotly's JavaScript (inlined once), the CSS, the figures
as JSON. It names no external script, style sheet or font (system font stack), so opening it
makes no network request. Every string that comes from the data (transcripts, terms, source
names, file paths) goes through Jinja's autoescaping; plotly's own serializer writes `<`, `>`
and `/` inside the figure JSON as `\\u003c`, `\\u003e` and `\\u002f`, so no hover text can close
the `<script>` that holds it. Transcript excerpts are the first user turn, capped in length.

Numbers are shown as stored in the run directory (`metrics.json`, `clusters_summary.csv`),
formatted by the `format_*` functions below, never recomputed.
"""

from __future__ import annotations

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
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from simgap_core import __version__
from simgap_core.model import Corpus
from simgap_core.present.export import assignments, open_run
from simgap_core.present.figures import (
    cluster_gap_figure,
    leaderboard_figure,
    leaderboard_table,
    map_scatter,
    mixture_figure,
    pairwise_figure,
    source_colors,
)
from simgap_core.present.leaderboard import pairwise_matrix
from simgap_core.present.selection import (
    NOISE,
    cluster_gaps,
    cluster_name,
    rank_examples,
    source_order,
)
from simgap_core.represent import BASELINE_FACETS
from simgap_core.run import Run, package_versions

MAX_MAP_POINTS = 20_000
TOP_CLUSTERS = 12
EXCERPTS = 3
EXCERPT_CHARS = 300
LABEL_TERMS = 4
REPORT_ARTIFACTS = (
    "params.json",
    "corpus",
    "skipped.json",
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


def format_js(value: float) -> str:
    """A divergence (JS or KL, nats)."""
    return f"{value:.4f}"


def format_share(value: float) -> str:
    """A share of a source's conversations, or a mixture weight."""
    return f"{value:.1%}"


def format_points(value: float) -> str:
    """A difference of two shares, in percentage points, signed."""
    return f"{100 * value:+.1f} pts"


def format_p(value: float) -> str:
    """A p- or q-value."""
    return f"{value:.4f}" if value >= 1e-4 else "< 0.0001"


def format_statistic(value: float, name: str) -> str:
    """A p- or q-value with its name: "p = 0.0110", "q < 0.0001"."""
    shown = format_p(value)
    return f"{name} {shown}" if shown.startswith("<") else f"{name} = {shown}"


def format_score(value: float) -> str:
    """A classifier AUC."""
    return f"{value:.3f}"


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

    @property
    def name(self) -> str:
        return cluster_name(self.cluster)

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
class Headline:
    """The numbers the summary's sentences are made of, for one simulator."""

    simulator: str
    js: float
    js_lo: float
    js_hi: float
    floor: float
    no_gap: float
    p_value: float
    auc: float
    missed: Finding | None
    hallucinated: Finding | None

    @property
    def floor_ratio(self) -> float:
        return self.js / self.floor if self.floor > 0 else float("inf")


def headlines(
    metrics: Mapping[str, Any], summary: pd.DataFrame, board: pd.DataFrame
) -> list[Headline]:
    """One `Headline` per simulator, in leaderboard order (closest first)."""
    reference = metrics["reference"]
    result = []
    for row in board.itertuples():
        found = {
            category: notable_findings(
                summary, simulator=row.simulator, reference=reference, category=category
            )
            for category in ("missed", "hallucinated")
        }
        result.append(
            Headline(
                simulator=row.simulator,
                js=row.js,
                js_lo=row.js_lo,
                js_hi=row.js_hi,
                floor=row.noise_floor,
                no_gap=row.no_gap_js,
                p_value=row.p_value,
                auc=row.classifier_auc,
                missed=(found["missed"] or [None])[0],
                hallucinated=(found["hallucinated"] or [None])[0],
            )
        )
    return result


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


def _map_figures(points: pd.DataFrame, *, reference: str) -> dict[str, Markup]:
    figures = {}
    for color_by in ("source", "cluster"):
        figure = map_scatter(points, color_by=color_by, reference=reference, height=560)
        # A report's map is read, not selected: zoom is the useful drag.
        figure.update_layout(dragmode="zoom")
        # plotly.js leaves a trace without points out of the legend; one empty point keeps a
        # legend-only entry (a source's colour) listed.
        for trace in figure.data:
            if trace.x is not None and len(trace.x) == 0:
                trace.update(x=[None], y=[None])
        figures[color_by] = figure_html(figure, f"fig-map-{color_by}")
    return figures


def _gap_figure(
    summary: pd.DataFrame, *, simulator: str, reference: str, top: int, colors: Mapping[str, str]
) -> go.Figure:
    gaps = cluster_gaps(summary, simulator=simulator, reference=reference).head(top)
    figure = cluster_gap_figure(gaps, reference=reference, simulator=simulator)
    for name in (reference, simulator):
        figure.update_traces(
            marker_color=colors[name], selector={"name": name, "legendgroup": "shares"}
        )
    # The legend sits at the very top, above the subplot titles, however tall the figure is.
    figure.update_layout(legend={"yref": "container", "y": 1, "yanchor": "top"}, margin={"t": 96})
    return figure


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


def _mixture_context(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    mixture = metrics.get("mixture")
    if not mixture or len(mixture.get("weights", {})) < 2:
        return None
    weights = sorted(mixture["weights"].items(), key=lambda item: -item[1])
    return {
        **mixture,
        "ranked": weights,
        # Weights under half a percent are solver dust, not a recipe.
        "recipe": [(name, weight) for name, weight in weights if weight >= 0.005],
    }


def _provenance(run: Run, params: Mapping[str, Any], metrics: Mapping[str, Any]) -> dict[str, Any]:
    analysis = params.get("params", {})
    extra = analysis.get("extra", {})
    return {
        "run_dir": str(run.path),
        "created": params.get("created", "—"),
        "updated": params.get("updated", "—"),
        "inputs": params.get("inputs", []),
        "sources": params.get("sources", metrics.get("n", {})),
        "skipped": len(run.skipped()),
        "seeds": [
            ("analysis seed (UMAP, k-means, resampling)", analysis.get("seed", "—")),
            ("map seed", extra.get("map", {}).get("seed", "—")),
            ("measurement seed", metrics.get("settings", {}).get("seed", "—")),
        ],
        "versions": _versions(params),
        "parameters": _flatten(analysis),
        "settings": _flatten(metrics.get("settings", {})),
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
) -> str:
    """The report of the run in `run_dir` as one self-contained HTML document.

    The map shows at most `max_map_points` conversations (a sample stratified by source, seeded
    with the run's seed; the report says so); the per-cluster figures the `top_clusters` largest
    gaps per simulator; each simulator's `cards_per_category` largest missed and hallucinated
    clusters get a card with `excerpts` real and simulated first turns of at most
    `excerpt_chars` characters. Raises RunDirectoryError when an artifact is missing.
    """
    run = open_run(run_dir, artifacts=REPORT_ARTIFACTS)
    params, metrics = run.params, run.metrics()
    summary = run.clusters_summary()
    reference = metrics["reference"]
    board = leaderboard_table(metrics)
    simulators = board["simulator"].tolist()
    seed = int(params.get("params", {}).get("seed", 0))

    points = assignments(run)
    # The map's own order, so every colour in the report matches the map's.
    colors = source_colors(source_order(points["source"], reference), reference=reference)
    shown = subsample_points(points, max_points=max_map_points, seed=seed)
    cards = cluster_cards(
        summary, simulators=simulators, reference=reference, per_category=cards_per_category
    )
    attach_excerpts(
        cards,
        points=points,
        corpus=run.corpus(),
        reference=reference,
        excerpts=excerpts,
        excerpt_chars=excerpt_chars,
    )
    mixture = _mixture_context(metrics)
    figures = {
        "leaderboard": figure_html(leaderboard_figure(board), "fig-leaderboard"),
        "map": _map_figures(shown, reference=reference),
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
            for index, sim in enumerate(simulators)
        ],
        "pairwise": figure_html(pairwise_figure(pairwise_matrix(metrics)), "fig-pairwise"),
        "mixture": figure_html(mixture_figure(metrics["mixture"]), "fig-mixture")
        if mixture
        else None,
    }
    thresholds = metrics.get("settings", {}).get("thresholds", {})
    context = {
        "title": f"simgap report: {', '.join(simulators)} vs {reference}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": reference,
        "simulators": simulators,
        "n": metrics["n"],
        "colors": colors,
        "board": board.to_dict("records"),
        "headlines": headlines(metrics, summary, board),
        "paper_k": next(iter(metrics["simulators"].values()))["paper"]["k"],
        "pairwise_k": metrics["pairwise"].get("k"),
        "pooled_floor": metrics["noise_floor"]["paper"]["js"],
        "thresholds": {
            "min_share_diff": thresholds.get("min_share_diff", float("nan")),
            "min_ratio": float(np.exp(thresholds.get("min_log_ratio", float("nan")))),
            "alpha": thresholds.get("alpha", float("nan")),
        },
        "n_clusters": int((summary["cluster"] != NOISE).sum()),
        "top_clusters": top_clusters,
        "map_shown": len(shown),
        "map_total": len(points),
        "seed": seed,
        "mixture": mixture,
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
    return _environment().from_string(TEMPLATE).render(context)


def write_report(run_dir: str | Path, out_path: str | Path, **options: Any) -> Path:
    """Write `build_report(run_dir, **options)` to `out_path` (UTF-8) and return the path."""
    html = build_report(run_dir, **options)
    target = Path(out_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(html, encoding="utf-8")
    return target


def _environment() -> Environment:
    environment = Environment(autoescape=True, undefined=StrictUndefined)
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


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="simgap {{ version }}">
<title>{{ title }}</title>
<style>
:root {
  --ink: #1f2933; --muted: #5f6b7a; --line: #e3e7ec; --bg: #f4f6f9; --panel: #ffffff;
  --accent: #1f4e79; --missed: #c2410c; --missed-bg: #fdebe1;
  --invented: #5b4a9e; --invented-bg: #eeebf7; --ok: #2f6f3e; --ok-bg: #e5f3e8;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body { margin: 0; background: var(--bg); color: var(--ink); font-size: 15px; line-height: 1.55;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
.wrap { max-width: 1160px; margin: 0 auto; padding: 0 24px; }
header.top { background: var(--accent); color: #fff; padding: 28px 0 22px; }
header.top h1 { margin: 0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header.top p { margin: 0; color: #d6e2ee; font-size: 14px; }
nav.toc { position: sticky; top: 0; z-index: 10; background: var(--panel);
  border-bottom: 1px solid var(--line); }
nav.toc .wrap { display: flex; flex-wrap: wrap; gap: 4px 20px; padding-top: 9px;
  padding-bottom: 9px; font-size: 13.5px; }
nav.toc a { color: var(--muted); text-decoration: none; }
nav.toc a:hover { color: var(--accent); }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 24px 28px; margin: 20px 0; }
h2 { margin: 0 0 4px; font-size: 20px; font-weight: 650; }
h3 { margin: 0; font-size: 16.5px; font-weight: 650; }
h4 { margin: 14px 0 6px; font-size: 12.5px; font-weight: 650; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.04em; }
p { margin: 0 0 10px; }
.lede { color: var(--muted); margin: 0 0 16px; font-size: 14px; }
.note { color: var(--muted); font-size: 13px; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 18px 0 20px; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
.kpi .k { font-size: 11.5px; color: var(--muted); text-transform: uppercase;
  letter-spacing: 0.05em; }
.kpi .v { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
.kpi .s { font-size: 12.5px; color: var(--muted); }
.verdict { font-size: 15.5px; }
.callout { border-left: 3px solid var(--accent); background: #f1f5fa; padding: 10px 14px;
  font-size: 13.5px; border-radius: 0 6px 6px 0; margin: 14px 0 0; }
.callout.warn { border-color: var(--missed); background: var(--missed-bg); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: right;
  vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; background: #fafbfc; }
th.l, td.l { text-align: left; }
td { font-variant-numeric: tabular-nums; }
table.board th, table.board td { white-space: nowrap; }
table.compact { font-size: 12px; }
table.compact td { padding: 3px 8px; }
table.compact td.key { white-space: nowrap; }
.scroll { overflow-x: auto; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin-right: 6px; vertical-align: baseline; }
.tag { display: inline-block; font-size: 12px; font-weight: 600; padding: 2px 8px;
  border-radius: 999px; margin: 2px 6px 2px 0; white-space: nowrap; }
.tag.missed { background: var(--missed-bg); color: var(--missed); }
.tag.hallucinated { background: var(--invented-bg); color: var(--invented); }
.tag.none { background: var(--ok-bg); color: var(--ok); }
.label { color: var(--muted); font-weight: 500; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 20px; }
.grid3 { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 20px; }
.figure { margin: 8px 0 4px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
.card .head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 12px;
  margin-bottom: 10px; }
.bars { display: grid; grid-template-columns: minmax(90px, max-content) 1fr 52px;
  gap: 5px 10px; align-items: center; align-content: start; font-size: 13px; }
.track { background: #eef1f4; border-radius: 4px; height: 10px; }
.fill { display: block; height: 10px; border-radius: 4px; }
.bars .value { text-align: right; font-variant-numeric: tabular-nums; }
.terms { font-size: 13px; margin: 0 0 4px; }
.terms b { color: var(--muted); font-weight: 600; }
.finding { font-size: 13px; margin: 2px 0; }
blockquote { margin: 6px 0; padding: 8px 12px; background: #f7f8fa; border-left: 3px solid;
  border-radius: 0 6px 6px 0; font-size: 13.5px; overflow-wrap: anywhere; }
blockquote .id { display: block; font-size: 11.5px; color: var(--muted); }
.empty { font-size: 13px; color: var(--muted); font-style: italic; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  overflow-wrap: anywhere; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0;
  font-size: 13.5px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
footer { color: var(--muted); font-size: 12.5px; padding: 8px 0 40px; }
@media (max-width: 860px) {
  .kpis { grid-template-columns: 1fr 1fr; }
  .grid2, .grid3 { grid-template-columns: 1fr; }
}
@media print {
  body { background: #fff; }
  nav.toc { display: none; }
  section, .card { break-inside: avoid; border-color: #ccc; }
}
</style>
<script>{{ plotly_js }}</script>
</head>
<body>
{% set best = headlines[0] %}
{% set worst = headlines[-1] %}
{% macro dot(source) -%}
<span class="dot" style="background: {{ colors[source] }}"></span>
{%- endmacro %}
{% macro behaviour(f) -%}
{% if f %}<b>{{ f.cluster|cluster_name }}</b>
{%- if cluster_labels[f.cluster] %} · {{ cluster_labels[f.cluster] }}{% endif %}<br>
<span class="note">{{ reference }} {{ f.reference_share|share }} vs
{{ f.simulator_share|share }} ({{ f.diff|points }})</span>
{% else %}<span class="tag none">none significant</span>{% endif %}
{%- endmacro %}
<header class="top"><div class="wrap">
<h1>How close are the simulated users to {{ reference }} users?</h1>
<p>{{ simulators|length }} simulator{{ "s" if simulators|length != 1 }} compared with
{{ n[reference]|thousands }} {{ reference }} conversations · representation:
{{ representation.facet }} ({{ representation.annotator }} annotator) · generated
{{ generated }}</p>
</div></header>
<nav class="toc"><div class="wrap">
<a href="#summary">Summary</a><a href="#leaderboard">Leaderboard</a><a href="#map">Map</a>
<a href="#clusters">Clusters</a><a href="#pairwise">Pairwise</a><a href="#mixture">Mixture</a>
<a href="#behaviours">Behaviours</a><a href="#provenance">Provenance</a>
</div></nav>
<main class="wrap">

<section id="summary">
<h2>Summary</h2>
<div class="kpis">
<div class="kpi"><div class="k">Closest simulator</div><div class="v">{{ best.simulator }}</div>
<div class="s">of {{ simulators|length }} compared</div></div>
<div class="kpi"><div class="k">Its gap (JS)</div><div class="v">{{ best.js|js }}</div>
<div class="s">95% interval {{ best.js_lo|js }} – {{ best.js_hi|js }}</div></div>
<div class="kpi"><div class="k">Noise floor</div><div class="v">{{ best.floor|js }}</div>
<div class="s">real vs real · no-gap level {{ best.no_gap|js }}</div></div>
{% if mixture %}
<div class="kpi"><div class="k">Best mixture</div><div class="v">{{ mixture.js|js }}</div>
<div class="s">{{ mixture.gain|js }} below {{ mixture.best_single }} alone</div></div>
{% else %}
<div class="kpi"><div class="k">Classifier AUC</div><div class="v">{{ best.auc|score }}</div>
<div class="s">0.5 = indistinguishable</div></div>
{% endif %}
</div>
<p class="verdict"><strong>{{ best.simulator }}</strong> is the closest
{% if simulators|length > 1 %}of the {{ simulators|length }} simulators
{% else %}simulator{% endif %} to {{ reference }} users: Jensen-Shannon divergence (JS)
<strong>{{ best.js|js }}</strong>, 95% interval {{ best.js_lo|js }} – {{ best.js_hi|js }}
after bias correction.
{% if best.js <= best.floor %}
That is at or below the noise floor of {{ best.floor|js }}, the JS between two random halves of
the {{ reference }} users: at this sample size {{ best.simulator }} is about as close to
{{ reference }} users as they are to each other.
{% else %}
That is {{ best.floor_ratio|ratio }} the noise floor of {{ best.floor|js }}, the JS between two
random halves of the {{ reference }} users.
{% endif %}
With no gap at all, JS would average {{ best.no_gap|js }} at these sample sizes (the no-gap
level); the permutation test
{% if best.p_value <= thresholds.alpha %}detects a difference
{% else %}finds no significant difference{% endif %} ({{ best.p_value|stat("p") }}).
A linear classifier tells its conversations from {{ reference }} ones with AUC
{{ best.auc|score }} (0.5: indistinguishable; 1: fully separable).
{% if headlines|length > 1 %}
The farthest, <strong>{{ worst.simulator }}</strong>, has JS {{ worst.js|js }}
({{ worst.floor_ratio|ratio }} its noise floor).
{% endif %}
</p>
{% if mixture %}
<p>Mixing simulators helps{% if mixture.gain <= 0 %} little{% endif %}:
{% for name, weight in mixture.recipe %}{{ weight|share }} {{ name }}
{{- " + " if not loop.last }}{% endfor %}
reaches JS {{ mixture.js|js }} against {{ mixture.best_single_js|js }} for
{{ mixture.best_single }} alone (gain {{ mixture.gain|js }}, on one quantization of all sources
pooled).</p>
{% endif %}
<h4>What each simulator gets wrong</h4>
<div class="scroll"><table>
<tr><th class="l">Simulator</th><th>JS</th><th>vs noise floor</th>
<th class="l">Most missed: {{ reference }} users do it, the simulator rarely</th>
<th class="l">Most invented: the simulator does it, {{ reference }} users rarely</th></tr>
{% for h in headlines %}
<tr><td class="l">{{ dot(h.simulator) }}{{ h.simulator }}</td><td>{{ h.js|js }}</td>
<td>{{ h.floor_ratio|ratio }}</td>
<td class="l">{{ behaviour(h.missed) }}</td><td class="l">{{ behaviour(h.hallucinated) }}</td></tr>
{% endfor %}
</table></div>
<p class="note">Behaviours are clusters of the shared map (see Clusters), labelled by their most
distinctive description terms. A behaviour counts as missed or invented when the two shares
differ by at least {{ thresholds.min_share_diff|points }} and a factor
{{ "%.1f"|format(thresholds.min_ratio) }}, at a false discovery rate of
{{ thresholds.alpha }}.</p>
<div class="callout{{ ' warn' if representation.baseline }}">
Every number here uses the <strong>{{ representation.facet }}</strong> representation of each
conversation{% if not representation.baseline %} (behaviour descriptions written by the
{{ representation.annotator }} annotator{% if representation.llm_model %},
model {{ representation.llm_model }}{% endif %}){% endif %}, embedded with
{{ representation.embedding_model }} ({{ representation.precision }}).
{% if representation.baseline %}This is raw conversation text: it mixes topic with behaviour
and under-states the gap between real and simulated users; behaviour descriptions reveal it.
{% else %}Descriptions abstract away the topic, so the gap measured is one of behaviour, not of
subject matter.{% endif %}
</div>
</section>

<section id="leaderboard">
<h2>Leaderboard</h2>
<p class="lede">JS between each simulator and {{ reference }} users on the paper's quantization
(the pair pooled, PCA to 90% variance, k-means with k = {{ paper_k }}), in nats: 0 means the
same behaviour distribution, ln 2 ≈ 0.693 nothing in common. Closest first.</p>
<div class="figure">{{ figures.leaderboard }}</div>
<div class="scroll"><table class="board">
<tr><th class="l">#</th><th class="l">Simulator</th><th>JS</th><th>95% interval</th>
<th>Corrected</th><th>No-gap</th><th>Floor</th><th>KL missed</th><th>KL invented</th>
<th>Map JS</th><th>AUC</th><th>Accuracy</th><th>p</th><th>Missed</th><th>Invented</th></tr>
{% for row in board %}
<tr><td class="l">{{ loop.index }}</td>
<td class="l">{{ dot(row.simulator) }}{{ row.simulator }}</td>
<td><strong>{{ row.js|js }}</strong></td><td>{{ row.js_lo|js }} – {{ row.js_hi|js }}</td>
<td>{{ row.js_corrected|js }}</td><td>{{ row.no_gap_js|js }}</td>
<td>{{ row.noise_floor|js }}</td><td>{{ row.kl_forward|js }}</td>
<td>{{ row.kl_backward|js }}</td><td>{{ row.map_js|js }}</td>
<td>{{ row.classifier_auc|score }}</td><td>{{ row.classifier_accuracy|share }}</td>
<td>{{ row.p_value|p }}</td><td>{{ row.missed_clusters }}</td>
<td>{{ row.hallucinated_clusters }}</td></tr>
{% endfor %}
</table></div>
<p class="note" style="margin-top: 12px"><strong>Reading the interval.</strong> JS computed
from two finite samples is biased upwards: two samples of the very same population still show
about the no-gap level, not 0. The bootstrap measures that bias, and the 95% interval is
centred on the bias-corrected JS (<strong>Corrected</strong>: JS minus the bias, clipped at 0),
so it can lie entirely below the plug-in JS of the first column. Read the interval as the
plausible range of the true gap; compare the plug-in JS with the <strong>No-gap</strong> level
and the noise <strong>Floor</strong> (the JS between random halves of the {{ reference }}
users), which carry the same kind of bias. <strong>KL missed</strong> (real to simulated) grows
with behaviour real users show and the simulator lacks; <strong>KL invented</strong> (simulated
to real) with behaviour the simulator produces and real users don't. <strong>Map JS</strong> is
the same comparison on the shared map's clusters; <strong>AUC</strong> and accuracy are those of
a cross-validated linear classifier telling the two apart; <strong>p</strong> is the
permutation test of the JS; <strong>Missed</strong> and <strong>Invented</strong> count
clusters.</p>
</section>

<section id="map">
<h2>Map of user behaviour</h2>
<p class="lede">Each point is one conversation, placed by its representation (UMAP of the
embeddings, seed {{ seed }}): nearby points behave alike. Left, coloured by source; right, by
cluster (grey: noise, in no cluster), with the cluster numbers used throughout this report.
Regions with only one colour on the left are where the sources differ.</p>
{% if map_shown < map_total %}
<p class="callout">The map shows {{ map_shown|thousands }} of {{ map_total|thousands }}
conversations: a random sample stratified by source (seed {{ seed }}), to keep this file
small. Every number in the report uses all conversations.</p>
{% endif %}
<div class="grid2">
<div class="figure">{{ figures.map.source }}</div>
<div class="figure">{{ figures.map.cluster }}</div>
</div>
</section>

<section id="clusters">
<h2>Per-cluster shares</h2>
<p class="lede">For each simulator, the {{ top_clusters }} clusters (of {{ n_clusters }}, plus
noise) where its share differs most from the {{ reference }} share. Shares are of each source's
own total. Right: the difference with its 95% bootstrap interval, coloured by category. The full
table comes with <span class="mono">simgap export</span>.</p>
{% for sim, figure in figures.gaps %}
<h3>{{ dot(sim) }}{{ sim }}</h3>
<div class="figure">{{ figure }}</div>
{% endfor %}
</section>

<section id="pairwise">
<h2>Pairwise divergence</h2>
<p class="lede">JS between every two sources on one quantization of all sources pooled
(k = {{ pairwise_k }}). Simulators close to each other tend to make the same mistakes. The
noise floor on this quantization is {{ pooled_floor|js }}.</p>
<div class="figure" style="max-width: 720px">{{ figures.pairwise }}</div>
</section>

<section id="mixture">
<h2>Mixture of simulators</h2>
{% if mixture %}
<p class="lede">The weights on the simulators whose combined conversations come closest to
{{ reference }} users (same pooled quantization as the pairwise view).</p>
<div class="grid2">
<div class="figure">{{ figures.mixture }}</div>
<div><table>
<tr><th class="l">Simulator</th><th>Weight</th></tr>
{% for name, weight in mixture.ranked %}
<tr><td class="l">{{ dot(name) }}{{ name }}</td><td>{{ weight|share }}</td></tr>
{% endfor %}
<tr><td class="l"><strong>Mixture JS</strong></td>
<td><strong>{{ mixture.js|js }}</strong></td></tr>
<tr><td class="l">Best single ({{ mixture.best_single }})</td>
<td>{{ mixture.best_single_js|js }}</td></tr>
<tr><td class="l">Gain</td><td>{{ mixture.gain|js }}</td></tr>
</table></div>
</div>
{% else %}
<p class="lede">One simulator only: there is no mixture to weigh.</p>
{% endif %}
</section>

<section id="behaviours">
<h2>Behaviours to look at</h2>
<p class="lede">For each simulator, the cluster it misses most and the one it invents most
(noise excluded). Excerpts are the first user turn, at most {{ excerpt_chars }} characters,
most misaligned first: {{ reference }} conversations whose neighbourhood the simulator leaves
emptiest, simulated ones where {{ reference }} users are rarest.</p>
{% for card in cards %}
<div class="card">
<div class="head"><h3>{{ card.name|capitalize }}
{%- if card.label %} <span class="label">· {{ card.label }}</span>{% endif %}</h3>
<div>{% for f in card.findings %}<span class="tag {{ f.category }}">
{{- "missed by" if f.category == "missed" else "invented by" }} {{ f.simulator }}
· {{ f.diff|points }}</span>{% endfor %}</div>
</div>
<div class="grid2">
<div class="bars">
{% set top = card.shares.values()|max %}
{% for source, share in card.shares.items() %}
<span>{{ source }}</span>
<span class="track"><span class="fill" style="width: {{ (share / top if top > 0 else 0)|width }};
background: {{ colors[source] }}"></span></span>
<span class="value">{{ share|share }}</span>
{% endfor %}
</div>
<div>
{% if card.terms_representation %}<p class="terms"><b>Behaviour terms</b>
{{ card.terms_representation }}</p>{% endif %}
{% if card.terms_user %}<p class="terms"><b>User words</b> {{ card.terms_user }}</p>{% endif %}
{% for f in card.findings %}
<p class="finding">{{ f.simulator }}: {{ reference }} {{ f.reference_share|share }} vs
{{ f.simulator_share|share }}, difference {{ f.diff|points }} (95% interval
{{ f.diff_low|points }} to {{ f.diff_high|points }}), {{ f.q_value|stat("q") }}</p>
{% endfor %}
</div>
</div>
<div class="grid2">
<div><h4>{{ reference }} users</h4>
{% for e in card.real_excerpts %}
<blockquote style="border-color: {{ colors[reference] }}">
<span class="id">{{ e.conversation_id }} · misalignment {{ e.misalignment|score }}</span>
{{- e.text }}</blockquote>
{% else %}<p class="empty">No {{ reference }} conversation in this cluster.</p>
{% endfor %}
</div>
<div><h4>{{ card.primary.simulator }}</h4>
{% for e in card.simulated_excerpts %}
<blockquote style="border-color: {{ colors[card.primary.simulator] }}">
<span class="id">{{ e.conversation_id }} · misalignment {{ e.misalignment|score }}</span>
{{- e.text }}</blockquote>
{% else %}<p class="empty">No {{ card.primary.simulator }} conversation in this cluster.</p>
{% endfor %}
</div>
</div>
</div>
{% else %}
<p class="empty">No cluster is significantly missed or invented by any simulator.</p>
{% endfor %}
</section>

<section id="provenance">
<h2>Provenance</h2>
<p class="lede">What was measured, how, and with what: enough to reproduce every number.</p>
<div class="grid2">
<dl class="facts">
<dt>Run directory</dt><dd class="mono">{{ provenance.run_dir }}</dd>
<dt>Analysis created</dt><dd>{{ provenance.created }}</dd>
<dt>Last updated</dt><dd>{{ provenance.updated }}</dd>
<dt>Report generated</dt><dd>{{ generated }}</dd>
<dt>Representation</dt><dd>{{ representation.facet }}</dd>
<dt>Annotator</dt><dd>{{ representation.annotator }}
{%- if representation.llm_model %} ({{ representation.llm_model }}){% endif %}</dd>
<dt>Embedding model</dt><dd>{{ representation.embedding_model }}</dd>
<dt>Embedding precision</dt><dd>{{ representation.precision }}</dd>
{% for name, value in provenance.seeds %}
<dt>{{ name|capitalize }}</dt><dd>{{ value }}</dd>
{% endfor %}
</dl>
<dl class="facts">
{% for source, count in provenance.sources.items() %}
<dt>{{ dot(source) if source in colors }}{{ source }}</dt>
<dd>{{ count|thousands }} conversations</dd>
{% endfor %}
<dt>Skipped records</dt><dd>{{ provenance.skipped }}</dd>
{% for stage, seconds in provenance.timings %}
<dt>Time: {{ stage }}</dt><dd>{{ seconds }} s</dd>
{% endfor %}
</dl>
</div>
<h4>Input files</h4>
<div class="scroll"><table class="compact">
<tr><th class="l">Source</th><th class="l">Format</th><th class="l">File</th>
<th class="l">SHA-256</th></tr>
{% for item in provenance.inputs %}
<tr><td class="l">{{ item.source }}</td><td class="l">{{ item.format or "sniffed" }}</td>
<td class="l mono">{{ item.path }}</td><td class="l mono">{{ item.sha256 or "—" }}</td></tr>
{% endfor %}
</table></div>
<div class="grid3">
<div><h4>Versions</h4><table class="compact">
<tr><th class="l">Package</th><th>Analysis</th><th>Report</th></tr>
{% for name, used, now in provenance.versions %}
<tr><td class="l">{{ name }}</td><td>{{ used }}</td><td>{{ now }}</td></tr>
{% endfor %}
</table></div>
<div><h4>Analysis parameters</h4><table class="compact">
{% for name, value in provenance.parameters %}
<tr><td class="l mono key">{{ name }}</td><td class="l mono">{{ value }}</td></tr>
{% endfor %}
</table></div>
<div><h4>Measurement settings</h4><table class="compact">
{% for name, value in provenance.settings %}
<tr><td class="l mono key">{{ name }}</td><td class="l mono">{{ value }}</td></tr>
{% endfor %}
</table></div>
</div>
</section>
</main>
<footer class="wrap">Made with simgap {{ version }}. Method: "Measuring and Mitigating the
Distributional Gap Between Real and Simulated User Behaviors" (arXiv 2605.07847).</footer>
</body>
</html>
"""
