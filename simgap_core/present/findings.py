"""What to say about a run's simulators and behaviour clusters, apart from how it is drawn.

The report's summary, findings and behaviour cards, and any dashboard page that wants to say
the same things, read them here: which clusters each simulator misses or invents most
(`notable_findings`, `cluster_cards`), its largest behaviour-feature gaps in words and its most
missed and invented named behaviour (`simulator_findings`), one headline row per simulator
(`headlines`), which simulators a page with many of them details (`detailed_simulators`), and
the excerpts quoted as evidence (`quote_examples`). The run-wide verdict sentences are in
`verdicts`; numbers are written by `formatting` and drawn by `figures`.

Everything here is plain data (dataclasses of numbers and plain text), computed from what the
run directory stores (`clusters_summary.csv`, `feature_gaps.csv`, `metrics.json`, the map's
misalignment scores): nothing is recomputed, nothing is escaped (that is the renderer's job),
and nothing imports plotly, Jinja or Streamlit, so every finding is unit-tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from simgap_core.model import Corpus
from simgap_core.present.leaderboard import reliability_text
from simgap_core.present.selection import (
    NOISE,
    cluster_gaps,
    cluster_name,
    rank_examples,
    summary_names,
    top_feature_gaps,
)
from simgap_core.present.verdicts import mixture_recipe, verdicts
from simgap_core.schema import Metrics
from simgap_core.vocabulary import GAP_CATEGORIES

EXCERPTS = 3
EXCERPT_CHARS = 300
LABEL_TERMS = 4
FINDING_GAPS = 3  # feature gaps per simulator in the findings
FINDING_EXCERPTS = 2  # real and simulated excerpts per named behaviour in the findings
FINDING_EXCERPT_CHARS = 160
# Per-simulator sections cover all simulators up to this many, else the closest this many plus
# those the summary names.
DETAILED_SIMULATORS = 6
# The categories a simulator can be faulted for (`captured` is no finding).

Key = TypeVar("Key", bound=Hashable)


def excerpt(text: str | None, *, limit: int = EXCERPT_CHARS) -> str:
    """`text` on one line, cut at a word boundary to at most `limit` characters (with an ellipsis).

    Returns plain text: escaping is the renderer's job.
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


def quote_examples(
    wanted: Mapping[Key, tuple[str, int]],
    *,
    points: pd.DataFrame,
    corpus: Corpus,
    reference: str,
    top: int,
    limit: int,
) -> dict[Key, tuple[list[Excerpt], list[Excerpt]]]:
    """Per key of `wanted` ({key: (simulator, cluster)}): the `top` most misaligned real and
    simulated conversations of that cluster, each as an excerpt of its first user turn of at most
    `limit` characters.

    Real rows rank by how much the simulator under-fills their neighbourhood, the simulator's
    rows by how much real users under-fill theirs (`selection.rank_examples`). The transcripts
    are read once for every key.
    """
    ranked = {
        key: rank_examples(
            points, reference=reference, simulator=simulator, cluster=cluster, top=top
        )
        for key, (simulator, cluster) in wanted.items()
    }
    texts = first_user_turns(
        corpus,
        [
            cid
            for examples in ranked.values()
            for table in (examples.real, examples.simulated)
            for cid in table["conversation_id"]
        ],
    )

    def quoted(table: pd.DataFrame, column: str) -> list[Excerpt]:
        return [
            Excerpt(
                conversation_id=str(row["conversation_id"]),
                text=excerpt(texts[row["conversation_id"]], limit=limit),
                misalignment=float(row[column]),
            )
            for _, row in table.iterrows()
        ]

    return {
        key: (
            quoted(examples.real, examples.score_column),
            quoted(examples.simulated, examples.score_column),
        )
        for key, examples in ranked.items()
    }


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


def _largest_findings(
    summary: pd.DataFrame, *, simulator: str, reference: str
) -> dict[str, Finding | None]:
    """{category: the simulator's largest finding of it, or None} for missed and hallucinated."""
    return {
        category: next(
            iter(
                notable_findings(
                    summary, simulator=simulator, reference=reference, category=category
                )
            ),
            None,
        )
        for category in GAP_CATEGORIES
    }


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
        for category in GAP_CATEGORIES:
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
    """Fill each card with its most misaligned real and simulated conversations' first turns,
    the simulated ones from the card's primary simulator (`quote_examples`)."""
    quoted = quote_examples(
        {card.cluster: (card.primary.simulator, card.cluster) for card in cards},
        points=points,
        corpus=corpus,
        reference=reference,
        top=excerpts,
        limit=excerpt_chars,
    )
    for card in cards:
        card.real_excerpts, card.simulated_excerpts = quoted[card.cluster]


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


def feature_gap_sentences(
    feature_gaps: pd.DataFrame | None, *, simulator: str, top: int = FINDING_GAPS
) -> list[str]:
    """`simulator`'s `top` largest significant feature gaps in words (`gap_sentence` each);
    [] for a run made before behaviour features existed (`feature_gaps` None) or without any."""
    if feature_gaps is None or not len(feature_gaps):
        return []
    # Imported here: `behaviour` loads scipy.stats (over a second), which nothing else here needs.
    from simgap_core.behaviour import gap_sentence

    rows = top_feature_gaps(feature_gaps, simulator=simulator, top=top)
    return [gap_sentence(row) for _, row in rows.iterrows()]


def _descriptions(summary: pd.DataFrame) -> dict[int, str]:
    """{cluster: its description} ({} for a run made before cluster names existed)."""
    if "description" not in summary:
        return {}
    return dict(
        zip(summary["cluster"].astype(int), summary["description"].astype(str), strict=True)
    )


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
    chosen = {
        (simulator, category): finding
        for simulator in simulators
        for category, finding in _largest_findings(
            summary, simulator=simulator, reference=reference
        ).items()
        if finding is not None
    }
    quoted = quote_examples(
        {key: (finding.simulator, finding.cluster) for key, finding in chosen.items()},
        points=points,
        corpus=corpus,
        reference=reference,
        top=excerpts,
        limit=excerpt_chars,
    )
    names, descriptions = summary_names(summary), _descriptions(summary)

    def named(simulator: str, category: str) -> NamedBehaviour | None:
        finding = chosen.get((simulator, category))
        if finding is None:
            return None
        real, simulated = quoted[(simulator, category)]
        return NamedBehaviour(
            finding=finding,
            name=cluster_name(finding.cluster, names),
            description=descriptions.get(finding.cluster, ""),
            real_excerpts=real,
            simulated_excerpts=simulated,
        )

    return [
        SimulatorFindings(
            simulator=simulator,
            gap_sentences=feature_gap_sentences(feature_gaps, simulator=simulator, top=top_gaps),
            missed=named(simulator, "missed"),
            invented=named(simulator, "hallucinated"),
        )
        for simulator in simulators
    ]


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
        found = _largest_findings(summary, simulator=name, reference=metrics.reference)
        result.append(
            Headline(
                simulator=name,
                js=entry.paper.js,
                js_lo=entry.paper.js_ci[0] if entry.paper.js_ci else None,
                js_hi=entry.paper.js_ci[1] if entry.paper.js_ci else None,
                js_plugin=entry.paper.js_plugin,
                reliability=reliability_text(metrics, name),
                verdict=said.no_gap[name],
                missed=found["missed"],
                hallucinated=found["hallucinated"],
            )
        )
    return result


def detailed_simulators(metrics: Metrics, *, limit: int = DETAILED_SIMULATORS) -> list[str]:
    """The simulators the per-simulator sections cover, in leaderboard order.

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


def most_gapped(metrics: Metrics, simulators: Sequence[str]) -> str:
    """Of `simulators`, the one with the most missed + hallucinated clusters: the most to look
    at (the first of them on a tie, so the closest when they are in leaderboard order)."""

    def gaps(name: str) -> int:
        entry = metrics.simulators.get(name)
        return 0 if entry is None else entry.clusters.missed + entry.clusters.hallucinated

    return max(simulators, key=gaps)
