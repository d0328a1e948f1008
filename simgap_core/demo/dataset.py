"""The demo dataset: its sources and planted mixtures, generation, files and ground truth."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.spatial.distance import jensenshannon

from simgap_core.demo.pen import Pen
from simgap_core.demo.phrases import load_phrases
from simgap_core.demo.writing import WRITERS, Conversation

ARCHETYPES = (
    "terse",
    "detailed_spec",
    "error_log",
    "correction",
    "frustrated",
    "topic_switch",
    "thanks_leave",
    "clarifying_question",
    "iterative_refinement",
    "non_english",
    "polite_verbose",
    "context_dump",
)
DEMO_SOURCES = ("real", "close_sim", "narrow_sim", "chatty_sim")
SIMULATORS = DEMO_SOURCES[1:]

# Shares in thousandths, in ARCHETYPES order: every mixture sums to exactly 1 and the
# apportionment of counts is integer arithmetic.
_PER_MILLE = {
    "real": (170, 140, 120, 110, 60, 60, 40, 70, 120, 70, 20, 20),
    # Leans toward logs, frustration, switches and non-English and away from terse, specs and
    # corrections: JS about 0.01, and some narrow_sim in a mixture corrects the lean.
    "close_sim": (115, 110, 150, 85, 90, 85, 50, 80, 100, 95, 20, 20),
    # Real's shares with error_log, frustrated, topic_switch and non_english removed, renormalised.
    "narrow_sim": (246, 203, 0, 159, 0, 0, 58, 101, 175, 0, 29, 29),
    "chatty_sim": (20, 80, 50, 45, 20, 30, 190, 75, 70, 20, 220, 180),
}
TRUE_SHARES: dict[str, dict[str, float]] = {
    source: {a: n / 1000 for a, n in zip(ARCHETYPES, per_mille, strict=True)}
    for source, per_mille in _PER_MILLE.items()
}
# The planted gaps: what each simulator under-produces (missed) or over-produces (hallucinated).
MISSED: dict[str, tuple[str, ...]] = {
    "close_sim": (),
    "narrow_sim": ("error_log", "frustrated", "topic_switch", "non_english"),
    "chatty_sim": ("terse",),
}
HALLUCINATED: dict[str, tuple[str, ...]] = {
    "close_sim": (),
    "narrow_sim": (),
    "chatty_sim": ("thanks_leave", "polite_verbose", "context_dump"),
}

_DIGITS = 6  # rounding of every float written, so files are byte-stable
_JSONL_SEPARATORS = (",", ":")


@dataclass(frozen=True)
class DemoData:
    """A generated demo: per source, the records in id order and each one's archetype and topic."""

    seed: int
    per_source: int
    records: dict[str, list[dict]]
    archetypes: dict[str, list[str]]
    topics: dict[str, list[str]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Conversations per archetype, per source."""
        return {
            source: {a: labels.count(a) for a in ARCHETYPES}
            for source, labels in self.archetypes.items()
        }

    def realised_shares(self) -> dict[str, dict[str, float]]:
        """Each archetype's share of its source, as generated."""
        return {
            source: {a: n / self.per_source for a, n in counts.items()}
            for source, counts in self.counts().items()
        }


def generate_demo(*, seed: int = 0, per_source: int = 1500) -> DemoData:
    """Generate `per_source` conversations for each of `DEMO_SOURCES`, deterministically."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if per_source < 1:
        raise ValueError(f"per_source must be >= 1, got {per_source}")
    width = max(4, len(str(per_source)))
    phrases = load_phrases()
    records: dict[str, list[dict]] = {}
    archetypes: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    for position, source in enumerate(DEMO_SOURCES):
        rng = np.random.default_rng([seed, position])
        labels = np.repeat(np.arange(len(ARCHETYPES)), _allocate(_PER_MILLE[source], per_source))
        rng.shuffle(labels)
        records[source], archetypes[source], topics[source] = [], [], []
        for number, label in enumerate(labels, start=1):
            archetype = ARCHETYPES[int(label)]
            topic = phrases.topics[int(rng.integers(len(phrases.topics)))]
            conversation = Conversation(Pen(rng), topic, phrases)
            WRITERS[archetype](conversation)
            messages = [{"role": role, "content": text} for role, text in conversation.turns]
            records[source].append({"id": f"{source}-{number:0{width}d}", "messages": messages})
            archetypes[source].append(archetype)
            topics[source].append(conversation.topic.key)
    return DemoData(seed, per_source, records, archetypes, topics)


def write_demo(out_dir: str | Path, *, seed: int = 0, per_source: int = 1500) -> Path:
    """Write the demo to `out_dir`: one OpenAI-messages JSONL per source and the ground truth.

    Files: `{source}.jsonl` (records `{"id", "messages"}` only), `ground_truth.csv` (source, id,
    conversation_id, archetype, topic) and `truth.json` (see `ground_truth`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = generate_demo(seed=seed, per_source=per_source)
    for source in DEMO_SOURCES:
        lines = [
            json.dumps(r, ensure_ascii=False, separators=_JSONL_SEPARATORS)
            for r in data.records[source]
        ]
        _write_text(out / f"{source}.jsonl", "\n".join(lines) + "\n")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(("source", "id", "conversation_id", "archetype", "topic"))
    for source in DEMO_SOURCES:
        for record, archetype, topic in zip(
            data.records[source], data.archetypes[source], data.topics[source], strict=True
        ):
            writer.writerow((source, record["id"], f"{source}:{record['id']}", archetype, topic))
    _write_text(out / "ground_truth.csv", table.getvalue())
    truth = json.dumps(ground_truth(data), indent=2, sort_keys=True, ensure_ascii=False)
    _write_text(out / "truth.json", truth + "\n")
    return out


def ground_truth(data: DemoData) -> dict:
    """The known answer: planted and realised shares, true JS to real, the best mixture.

    JS is the natural-log Jensen-Shannon divergence (max ln 2) on the realised shares.
    """
    realised = data.realised_shares()
    vectors = {s: np.array([realised[s][a] for a in ARCHETYPES]) for s in DEMO_SOURCES}
    return {
        "seed": data.seed,
        "per_source": data.per_source,
        "archetypes": list(ARCHETYPES),
        "sources": list(DEMO_SOURCES),
        "true_shares": TRUE_SHARES,
        "realised_shares": {s: _rounded(shares) for s, shares in realised.items()},
        "counts": data.counts(),
        "true_js": {s: _round(js_divergence(vectors["real"], vectors[s])) for s in SIMULATORS},
        "missed": {s: list(MISSED[s]) for s in SIMULATORS},
        "hallucinated": {s: list(HALLUCINATED[s]) for s in SIMULATORS},
        "best_mixture": best_mixture(vectors["real"], {s: vectors[s] for s in SIMULATORS}),
    }


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats between two histograms (normalised here)."""
    return float(jensenshannon(p, q, base=np.e) ** 2)


def best_mixture(real: np.ndarray, simulators: dict[str, np.ndarray]) -> dict:
    """Weights on the simplex over `simulators` minimising JS(real, mixture), by SLSQP.

    JS(P, .) is convex and the mixture is linear in the weights, so every local minimum is
    global; several starts (the vertices, the edge midpoints, the centre) guard against SLSQP
    stopping early on the flat parts of the simplex.
    """
    names = list(simulators)
    stacked = np.array([simulators[n] for n in names])
    k = len(names)

    def objective(weights: np.ndarray) -> float:
        return js_divergence(real, np.clip(weights, 0.0, None) @ stacked)

    vertices = list(np.eye(k))
    midpoints = [(vertices[i] + vertices[j]) / 2 for i in range(k) for j in range(i + 1, k)]
    best = None
    for start in [*vertices, *midpoints, np.full(k, 1 / k)]:
        result = minimize(
            objective,
            start,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * k,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            options={"ftol": 1e-12, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    weights = np.clip(best.x, 0.0, None)
    weights /= weights.sum()
    single = {n: js_divergence(real, simulators[n]) for n in names}
    best_single = min(names, key=single.__getitem__)
    js = objective(weights)
    return {
        "simulators": names,
        "weights": {n: _round(w) for n, w in zip(names, weights, strict=True)},
        "js": _round(js),
        "best_single": best_single,
        "best_single_js": _round(single[best_single]),
        "gain": _round(single[best_single] - js),
    }


def _allocate(per_mille: Sequence[int], total: int) -> np.ndarray:
    """Largest-remainder apportionment of `total` by thousandths; ties go to the earlier one."""
    exact = np.asarray(per_mille, dtype=np.int64) * total
    counts = exact // 1000
    remainders = exact % 1000
    order = np.lexsort((np.arange(len(exact)), -remainders))
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def _round(value: float) -> float:
    return round(float(value), _DIGITS)


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    return {key: _round(value) for key, value in shares.items()}


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
