"""The verdict sentences of a run, each driven only by a tested statistic of `metrics.json`.

Part of the findings layer (what to say, apart from how it is drawn): this module says what the
run-wide statistics mean, `findings` what each simulator misses or invents. The report, the
Simulators page and the CLI caption say the same things, in the same words, built here:

- the ranking follows the bias-corrected `js` with its interval; simulators whose difference
  interval contains 0 (`tied_with`) are said to be *statistically tied* instead of one crowned;
- one verdict per simulator from all the evidence: "as close to real users as they are to
  each other" only when neither the permutation test, nor the probe, nor the map rejects
  (each Holm-adjusted, at `settings.alpha`), the pair is reliable, and the run could detect a
  simulator missing a behaviour of at most `REQUIRED_DETECTABLE_SHARE` of real conversations;
  otherwise it says which evidence disagrees or that the data are too small. The split-half
  noise floor is a descriptive number that no sentence rests on;
- "mixing helps" only when `mixture.helps` (the held-out gain's interval lies above 0);
- the robustness line says whether the ranking holds in every quantization variant, which
  variant changes it otherwise, and whether the map clusters rank the simulators the same way;
- unreliable comparisons and skipped statistics are listed with their reasons.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from simgap_core.present.formatting import format_js, format_whole_share
from simgap_core.schema import Interval, Metrics, Mixture, Robustness

# A sentence about a tied group names each one's JS and interval up to this many simulators.
MAX_NAMED_INTERVALS = 4
# Mixture weights below half a percent are solver dust, not part of the recipe.
RECIPE_MIN_WEIGHT = 0.005
NO_INTERVAL = "no interval: too few conversations to resample"


def interval_text(interval: Interval | None, level: float) -> str:
    """'95% interval 0.0040 – 0.0210', or why there is none."""
    if interval is None:
        return NO_INTERVAL
    return f"{level:.0%} interval {format_js(interval[0])} – {format_js(interval[1])}"


def names_text(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass(frozen=True)
class Verdicts:
    """Every verdict sentence of a run (plain text; the report escapes it)."""

    ranking: str
    ties: list[str] = field(default_factory=list)
    no_gap: dict[str, str] = field(default_factory=dict)
    mixture: str = ""
    robustness: str | None = None
    map_agreement: str | None = None
    reliability: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    floor: str = ""

    def lines(self) -> list[str]:
        """All sentences in reading order (what the CLI prints under its table)."""
        return [
            self.ranking,
            *self.ties,
            *self.no_gap.values(),
            self.mixture,
            *(line for line in (self.robustness, self.map_agreement) if line),
            *self.reliability,
            *self.skipped,
            self.floor,
        ]


def js_with_interval(metrics: Metrics, simulator: str) -> str:
    """'JS 0.0120 (95% interval 0.0040 – 0.0210)': the corrected JS that ranks, as stored."""
    paper = metrics.simulators[simulator].paper
    return f"JS {format_js(paper.js)} ({interval_text(paper.js_ci, metrics.settings.ci_level)})"


def ranking_sentence(metrics: Metrics) -> str:
    """Who is closest, or who is tied for closest, on the bias-corrected JS."""
    reference, names = metrics.reference, metrics.simulator_names
    closest = names[0]
    if len(names) == 1:
        return (
            f"{closest} is the only simulator: {js_with_interval(metrics, closest)}, "
            "bias-corrected."
        )
    group = [closest] + [n for n in names[1:] if n in metrics.simulators[closest].tied_with]
    if len(group) <= MAX_NAMED_INTERVALS:
        detail = "; ".join(f"{name}: {js_with_interval(metrics, name)}" for name in group)
    else:
        # A sentence, not a table: the leaderboard gives each one's interval.
        values = [metrics.simulators[name].paper.js for name in group]
        detail = (
            f"JS {format_js(min(values))} to {format_js(max(values))}, bias-corrected; the "
            "leaderboard gives each with its interval"
        )
    if len(group) == len(names):
        return (
            f"All {len(names)} simulators are statistically tied: none is closer to {reference} "
            f"users than the others beyond noise ({detail})."
        )
    if len(group) > 1:
        return (
            f"{names_text(group)} are statistically tied for closest to {reference} users "
            f"({detail}); the others are farther."
        )
    return (
        f"{closest} is the closest of the {len(names)} simulators to {reference} users: "
        f"{js_with_interval(metrics, closest)}, bias-corrected, and no other simulator is "
        "tied with it."
    )


def tie_sentences(metrics: Metrics, among: Collection[str] | None = None) -> list[str]:
    """One 'A and B are statistically tied' per pair whose difference interval contains 0;
    with `among`, only pairs of two simulators in it (what a page shows)."""
    level = metrics.settings.ci_level
    return [
        f"{tie.a} and {tie.b} are statistically tied: the difference in JS "
        f"{format_js(tie.diff)} ({interval_text(tie.diff_ci, level)}) includes 0."
        for tie in metrics.ties
        if tie.tied and (among is None or (tie.a in among and tie.b in among))
    ]


# "As close as real users" needs a run that would notice a simulator missing a behaviour of at
# most this share of real conversations (measure/power.py); a smaller run says it is too small.
REQUIRED_DETECTABLE_SHARE = 0.2


@dataclass(frozen=True)
class _Evidence:
    name: str
    rejects: bool
    text: str


def _evidence(metrics: Metrics, simulator: str) -> list[_Evidence]:
    """The tests that can tell the simulator from real users, each at the run's alpha and
    Holm-adjusted across simulators: the permutation test, the probe, the map."""
    entry, alpha = metrics.simulators[simulator], metrics.settings.alpha
    paper, found = entry.paper, []
    if paper.p_value_adjusted is not None:
        found.append(
            _Evidence(
                "the permutation test",
                paper.p_value_adjusted <= alpha,
                f"permutation test p = {paper.p_value_adjusted:.3g}",
            )
        )
    probe = entry.classifier
    probe_p = None if probe is None else _adjusted(probe.p_value_adjusted, probe.p_value)
    if probe is not None and probe_p is not None:
        interval = f" [{probe.auc_ci[0]:.2f}, {probe.auc_ci[1]:.2f}]" if probe.auc_ci else ""
        found.append(
            _Evidence(
                "the probe",
                probe_p <= alpha,
                f"probe AUC {probe.auc:.2f}{interval}, p = {probe_p:.3g}",
            )
        )
    map_ = entry.map
    map_p = None if map_ is None else _adjusted(map_.p_value_adjusted, map_.p_value)
    if map_ is not None and map_p is not None:
        found.append(_Evidence("the map", map_p <= alpha, f"map clusters p = {map_p:.3g}"))
    return found


def _adjusted(adjusted: float | None, raw: float | None) -> float | None:
    """The Holm-adjusted p-value; a run made before the adjustment gives the raw one."""
    return adjusted if adjusted is not None else raw


def no_gap_sentence(metrics: Metrics, simulator: str) -> str:
    """One verdict per simulator from all the evidence (p-values Holm-adjusted, alpha as set):

    - "differs beyond noise" when the permutation test rejects (what else agrees is named);
    - "as close to real users as they are to each other" only when no test rejects, the pair
      is reliable, and the run would detect a simulator missing a behaviour of at most
      `REQUIRED_DETECTABLE_SHARE` of real conversations (the size is stated);
    - otherwise which evidence disagrees, or that the data are too small, in words.
    """
    entry, reference = metrics.simulators[simulator], metrics.reference
    evidence = _evidence(metrics, simulator)
    test = next((e for e in evidence if e.name == "the permutation test"), None)
    if test is None:
        reason = metrics.skip_reason(simulator, "permutation test") or "not computed"
        return f"{simulator}: no verdict: the permutation test was skipped ({reason})."
    others = [e for e in evidence if e is not test]
    said = "; ".join(e.text for e in evidence) + ", Holm-adjusted across simulators"
    if test.rejects:
        agreeing = [e.name for e in others if e.rejects]
        also = (
            f", and {names_text(agreeing)} {'agree' if len(agreeing) > 1 else 'agrees'}"
            if agreeing
            else ""
        )
        return (
            f"{simulator} differs from {reference} users beyond noise: the permutation test "
            f"rejects{also} ({said})."
        )
    disagreeing = [e.name for e in others if e.rejects]
    if disagreeing:
        return (
            f"No verdict that {simulator} is as close as {reference} users: the permutation test "
            f"finds no difference, but {names_text(disagreeing)} "
            f"{'tell' if len(disagreeing) > 1 else 'tells'} them apart ({said})."
        )
    if not entry.reliable:
        notes = "; ".join(entry.reliability_notes) or "flagged by the measurement"
        return (
            f"Too little data to call {simulator} as close as {reference} users: {notes}. "
            f"No test finds a difference ({said})."
        )
    detectable = entry.paper.detectable
    share = None if detectable is None else detectable.missing_share
    if share is None or share > REQUIRED_DETECTABLE_SHARE:
        reach = (
            f"a simulator missing a behaviour of {format_whole_share(share)} of {reference} "
            "conversations"
            if share is not None
            else f"not even a simulator missing half of {reference} behaviour"
        )
        return (
            f"No test finds a difference for {simulator}, but the data are too small to call it "
            f"close: this run would only detect {reach} at least 80% of the time ({said})."
        )
    return (
        f"{simulator} is as close to {reference} users as they are to each other at these sample "
        f"sizes: {names_text([e.name for e in evidence])} find no difference ({said}); this "
        f"run would detect a simulator missing a behaviour of {format_whole_share(share)} of "
        f"{reference} conversations {detectable.power:.0%} of the time."
    )


def mixture_recipe(mixture: Mixture) -> list[tuple[str, float]]:
    """The mixture's (simulator, weight) pairs of at least `RECIPE_MIN_WEIGHT`, largest first."""
    ranked = sorted(mixture.weights.items(), key=lambda item: -item[1])
    return [(name, weight) for name, weight in ranked if weight >= RECIPE_MIN_WEIGHT]


def mixture_sentence(metrics: Metrics) -> str:
    """'Mixing helps' only when the held-out gain's interval lies above 0."""
    mixture, level = metrics.mixture, metrics.settings.ci_level
    if mixture is None:
        reason = metrics.skip_reason(None, "mixture")
        if reason:
            return f"Mixture skipped: {reason}."
        return "One simulator only: there is no mixture to weigh."
    if mixture.held_out_gain is None:
        reason = metrics.skip_reason(None, "mixture held out") or metrics.skip_reason(
            mixture.best_single, "mixture held out"
        )
        return (
            "The mixture's gain could not be judged on held-out conversations"
            + (f" ({reason})" if reason else "")
            + ": no claim that mixing helps."
        )
    gain = (
        f"held-out gain {format_js(mixture.held_out_gain)} in JS "
        f"({interval_text(mixture.held_out_gain_ci, level)}, {mixture.splits} splits)"
    )
    if mixture.helps:
        recipe = " + ".join(f"{weight:.0%} {name}" for name, weight in mixture_recipe(mixture))
        return (
            f"Mixing helps: {recipe} beats {mixture.best_single} alone on held-out "
            f"conversations ({gain})."
        )
    return (
        "No mixture beats the best single simulator beyond noise: "
        f"{gain}; the in-sample gain of {format_js(mixture.in_sample_gain)} is descriptive "
        "(fitting and judging on the same histograms always finds one)."
    )


def _order(js: dict[str, float]) -> list[str]:
    return sorted(js, key=lambda name: (js[name], name))


def robustness_sentence(metrics: Metrics) -> str | None:
    """Whether the order of the simulators that are not tied survives re-quantizing the same
    conversations (other k-means seeds, k/2, 2k), or which variant changes it. Said as what it
    is: a check of the quantization, not a resampling (the intervals and ties are that).
    Nothing with one simulator: there is no ranking to hold."""
    if len(metrics.simulator_names) < 2:
        return None
    robustness: Robustness | None = metrics.robustness
    if robustness is None:
        reason = metrics.skip_reason(None, "robustness")
        return f"Robustness skipped: {reason}." if reason else None
    if robustness.untied_pairs == 0:
        return None  # every simulator is tied: there is no order to check
    seeds = {v.seed for v in robustness.variants if v.name.startswith("seed")}
    if seeds and metrics.settings.seed is not None:
        seeds.add(metrics.settings.seed)
    others = [v.name for v in robustness.variants if not v.name.startswith("seed")]
    over = names_text(
        ([f"{len(seeds)} k-means seeds"] if seeds else []) + ([", ".join(others)] if others else [])
    )
    tau = (
        f" (min Kendall tau {robustness.min_kendall_tau:.2f})"
        if robustness.min_kendall_tau is not None
        else ""
    )
    if robustness.ranking_holds:
        pairs, every = robustness.untied_pairs, robustness.untied_pairs_all
        which = (
            f"The order of the {pairs} pairs of simulators that are not tied"
            if pairs and pairs > 1
            else "The order of the simulators that are not tied"
            if pairs
            else "The ranking"
        )
        if pairs and every and every > pairs:
            which = (
                f"The order of the {pairs} {'pair' if pairs == 1 else 'pairs'} of simulators "
                f"whose order is closest to changing (neighbours in the ranking or less than "
                f"an interval apart; the other {every - pairs} untied "
                f"{'pair is' if every - pairs == 1 else 'pairs are'} farther apart)"
            )
        return (
            f"{which} holds when the same conversations are quantized again with {over}{tau}: "
            "it does not hang on the k-means seed or k (a check of the quantization, not of "
            "sampling)."
        )
    changed = [
        f"{v.name} ({', '.join(_order(v.js))})"
        for v in robustness.variants
        if _order(v.js) != [n for n in metrics.simulator_names if n in v.js]
    ]
    where = f": {'; '.join(changed)} order the simulators differently" if changed else ""
    return f"The ranking does not hold in every variant of {over}{tau}{where}."


def map_agreement_sentence(metrics: Metrics) -> str | None:
    """Whether the map clusters rank the simulators as the paper quantization does (nothing
    with one simulator: there is no ranking)."""
    robustness = metrics.robustness
    if robustness is None or robustness.map_agrees is None or len(metrics.simulator_names) < 2:
        return None
    if robustness.map_agrees:
        return "The map clusters rank the simulators the same way."
    order = ", ".join(robustness.map_ranking or [])
    return f"The map clusters rank the simulators differently ({order}, closest first)."


def reliability_sentences(metrics: Metrics, among: Collection[str] | None = None) -> list[str]:
    """'NAME: unreliable: notes' per unreliable comparison (with `among`, of those in it)."""
    return [
        f"{name}: unreliable: {'; '.join(entry.reliability_notes) or 'flagged by the measurement'}"
        for name, entry in metrics.ranked()
        if not entry.reliable and (among is None or name in among)
    ]


def skipped_sentences(metrics: Metrics, among: Collection[str] | None = None) -> list[str]:
    """'NAME: statistic skipped: reason' per skipped statistic; with `among`, a simulator's
    only when it is in `among` (run-wide ones always)."""
    return [
        f"{entry.simulator + ': ' if entry.simulator else ''}{entry.statistic} skipped: "
        f"{entry.reason}"
        for entry in metrics.skipped
        if among is None or not entry.simulator or entry.simulator in among
    ]


def floor_sentence(metrics: Metrics) -> str:
    """The split-half floor, labelled descriptive: no verdict rests on it."""
    floor = metrics.noise_floor.paper
    per_half = f", {floor.n_per_half:,} per half" if floor.n_per_half else ""
    return (
        f"Noise floor (descriptive; no verdict uses it): JS {format_js(floor.js)} between two "
        f"random halves of the {metrics.reference} users{per_half}."
    )


def verdicts(metrics: Metrics, among: Collection[str] | None = None) -> Verdicts:
    """Every verdict sentence of the run; with `among` (the simulators a page shows), the
    per-simulator sentences (ties, no-gap, reliability, skipped) only of those. The ranking,
    mixture and robustness sentences are about the whole run either way."""
    return Verdicts(
        ranking=ranking_sentence(metrics),
        ties=tie_sentences(metrics, among),
        no_gap={
            name: no_gap_sentence(metrics, name)
            for name in metrics.simulator_names
            if among is None or name in among
        },
        mixture=mixture_sentence(metrics),
        robustness=robustness_sentence(metrics),
        map_agreement=map_agreement_sentence(metrics),
        reliability=reliability_sentences(metrics, among),
        skipped=skipped_sentences(metrics, among),
        floor=floor_sentence(metrics),
    )
