"""The typed, versioned shape of `metrics.json`, and the registry of leaderboard metrics.

`metrics.json` is the contract between the measurement stage and everything that shows its
numbers (CLI, dashboard, HTML report, table export). Every reader goes through `read_metrics`
(or `Metrics.load`), so a file from another simgap version, or one that lost a field, fails
once, here, with a message naming the file, the field and the version found, instead of as a
`KeyError` deep inside a page.

The metric registry (`METRICS`) holds one `Metric` per leaderboard column: its key, label,
number format, help text, how to read it off a simulator's entry, and whether it is an
estimate with an interval, a test or a descriptive number. The leaderboard of the CLI, the
dashboard, the report and the export are all generated from it, so adding a metric is its
computation (a new field in the simulator's entry of `metrics.json`) plus one `Metric` here
(or `register_metric` from outside the package).

Lists of two floats are intervals [low, high]; every interval sits next to the estimate it
bounds (`js` / `js_ci`). Models accept fields they do not know (a newer measurement may add
some); they reject missing or wrongly typed ones. A section that may not be computed (`mixture`,
`classifier`, ...) is present and null, never absent.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from simgap_core.errors import RunDirectoryError

SCHEMA_VERSION = 2
METRICS_FILE = "metrics.json"
# An estimate may sit this far outside its interval (float round-off), no further.
_INTERVAL_SLACK = 1e-9

Interval = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


def _check_interval(name: str, value: float | None, interval: Interval | None) -> None:
    if interval is None:
        return
    low, high = interval
    if low > high + _INTERVAL_SLACK:
        raise ValueError(f"{name}_ci [{low}, {high}] has its low end above its high end")
    if value is not None and not (low - _INTERVAL_SLACK <= value <= high + _INTERVAL_SLACK):
        raise ValueError(
            f"{name} = {value} lies outside its own interval {name}_ci [{low}, {high}]"
        )


class NullSummary(_Model):
    """The permutation null of the plug-in JS at the pair's own sizes: the no-gap reference."""

    mean: float
    q95: float


class SeedSpread(_Model):
    """JS over the k-means seed variants of this pair (descriptive)."""

    variants: int
    js_sd: float
    js_min: float
    js_max: float


class Matched(_Model):
    """JS with every source subsampled to a common size (`--match-n`), averaged over repeats."""

    n: int
    repeats: int
    js: float
    js_ci: Interval

    @model_validator(mode="after")
    def _interval_holds(self) -> Matched:
        _check_interval("js", self.js, self.js_ci)
        return self


class Detectable(_Model):
    """The pair's minimum detectable gap (measure/power.py): a simulator missing a behaviour of
    `missing_share` of real conversations is flagged with probability `power` (>= 0.8) at the
    Holm threshold `alpha`; None when not even half of real behaviour would be."""

    missing_share: float | None
    power: float | None = None
    alpha: float
    reps: int


class PaperComparison(_Model):
    """Real vs one simulator on the paper's quantization of that pair."""

    k: int
    n_components: int
    explained_variance: float
    js: float
    # Null when a side has fewer than 2 conversations: no bootstrap (the reason in `skipped`).
    js_ci: Interval | None
    js_plugin: float
    js_bias: float | None = None
    kl_forward: float | None = None
    kl_forward_ci: Interval | None = None
    kl_backward: float | None = None
    kl_backward_ci: Interval | None = None
    null_js: NullSummary | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None
    seed_spread: SeedSpread | None = None
    matched: Matched | None = None
    detectable: Detectable | None = None

    @model_validator(mode="after")
    def _intervals_hold(self) -> PaperComparison:
        _check_interval("js", self.js, self.js_ci)
        _check_interval("kl_forward", self.kl_forward, self.kl_forward_ci)
        _check_interval("kl_backward", self.kl_backward, self.kl_backward_ci)
        return self


class MapComparison(_Model):
    """Real vs one simulator on the shared HDBSCAN map's clusters (noise one bin of its own)."""

    n_bins: int
    js: float
    js_ci: Interval | None = None
    js_plugin: float | None = None
    kl_forward: float | None = None
    kl_backward: float | None = None
    p_value: float | None = None
    p_value_adjusted: float | None = None  # Holm across the run's simulators
    null_js: NullSummary | None = None

    @model_validator(mode="after")
    def _interval_holds(self) -> MapComparison:
        _check_interval("js", self.js, self.js_ci)
        return self


class ClassifierResult(_Model):
    """The grouped linear probe real vs simulated."""

    auc: float
    auc_ci: Interval | None = None
    accuracy: float
    p_value: float | None = None
    p_value_adjusted: float | None = None  # Holm across the run's simulators
    n_per_class: int
    folds: int
    groups: str | None = None

    @model_validator(mode="after")
    def _interval_holds(self) -> ClassifierResult:
        _check_interval("auc", self.auc, self.auc_ci)
        return self


class ClusterCounts(_Model):
    captured: int = 0
    missed: int = 0
    hallucinated: int = 0


class SimulatorMetrics(_Model):
    """Everything measured for one simulator against the reference."""

    n: int
    reliable: bool
    reliability_notes: list[str]
    paper: PaperComparison
    map: MapComparison | None
    classifier: ClassifierResult | None
    clusters: ClusterCounts
    tied_with: list[str]


class LeaderboardEntry(_Model):
    simulator: str
    js: float
    js_ci: Interval | None
    tied_with: list[str] = []
    reliable: bool = True


class Tie(_Model):
    """The bootstrap interval of JS(a) - JS(b); `tied` when it contains 0."""

    a: str
    b: str
    diff: float
    diff_ci: Interval
    tied: bool


class FloorSummary(_Model):
    """JS between two random halves of the reference: descriptive, no verdict uses it."""

    js: float
    js_quantiles: dict[str, float] = {}
    n_per_half: int | None = None


class NoiseFloor(_Model):
    descriptive: bool = True
    paper: FloorSummary
    map: FloorSummary | None = None


class Pairwise(_Model):
    sources: list[str]
    js: list[list[float]]
    quantization: str = ""
    k: int | None = None

    @model_validator(mode="after")
    def _square(self) -> Pairwise:
        size = len(self.sources)
        if len(self.js) != size or any(len(row) != size for row in self.js):
            raise ValueError(f"js must be a {size} x {size} matrix (one row per source)")
        return self


class Mixture(_Model):
    """The simulator mixture closest to the reference, with its gain measured held out."""

    weights: dict[str, float]
    js: float
    best_single: str
    best_single_js: float
    in_sample_gain: float
    # Null when a source is too small to halve (the reason in `skipped`); `helps` is then false.
    held_out_gain: float | None
    held_out_gain_ci: Interval | None
    helps: bool
    splits: int
    quantization: str = ""
    duality_gap: float | None = None

    @model_validator(mode="after")
    def _helps_only_above_zero(self) -> Mixture:
        _check_interval("held_out_gain", self.held_out_gain, self.held_out_gain_ci)
        if self.helps and (self.held_out_gain_ci is None or self.held_out_gain_ci[0] <= 0):
            raise ValueError("helps is true although held_out_gain_ci does not lie above 0")
        return self


class RobustnessVariant(_Model):
    name: str
    k: int | None = None
    seed: int | None = None
    js: dict[str, float]


class Robustness(_Model):
    variants: list[RobustnessVariant]
    min_kendall_tau: float | None = None
    # Whether every variant keeps the order of each pair of simulators that are not tied and
    # that a re-quantization could reorder (`measure.verdicts.contested_pairs`): `untied_pairs`
    # of them (0: nothing to check; None: a run from before), of `untied_pairs_all` untied
    # pairs; `checked`: the simulators quantized again.
    ranking_holds: bool
    untied_pairs: int | None = None
    untied_pairs_all: int | None = None
    checked: list[str] | None = None
    map_ranking: list[str] | None = None
    map_agrees: bool | None = None


class Skipped(_Model):
    simulator: str | None = None
    statistic: str
    reason: str


class Thresholds(_Model):
    min_share_diff: float
    min_log_ratio: float
    alpha: float


class Settings(_Model):
    """Every measurement parameter (more than these are kept: `model_extra`)."""

    alpha: float
    ci_level: float
    thresholds: Thresholds
    seed: int | None = None
    k: int | str | None = None
    k_rule: str | None = None
    explained_variance: float | None = None
    bootstrap: int | None = None
    permutations: int | None = None
    neighbours: int | None = None
    neighbour_space: str | None = None


class Metrics(_Model):
    """The whole `metrics.json` of a run (schema version 2)."""

    schema_version: Literal[2]
    reference: str
    sources: list[str]
    n: dict[str, int]
    representation: dict[str, Any] = {}
    settings: Settings
    simulators: dict[str, SimulatorMetrics]
    leaderboard: list[LeaderboardEntry]
    ties: list[Tie]
    noise_floor: NoiseFloor
    pairwise: Pairwise
    # Present in every file, null when not computed (one simulator; the reason in `skipped`).
    mixture: Mixture | None
    robustness: Robustness | None
    skipped: list[Skipped]

    @model_validator(mode="after")
    def _consistent(self) -> Metrics:
        if not self.sources or self.sources[0] != self.reference:
            raise ValueError(f"sources must start with the reference {self.reference!r}")
        expected = set(self.sources[1:])
        if set(self.simulators) != expected:
            raise ValueError(
                f"simulators {sorted(self.simulators)} differ from the sources {sorted(expected)}"
            )
        if sorted(e.simulator for e in self.leaderboard) != sorted(expected):
            raise ValueError("leaderboard must list every simulator once")
        values = [e.js for e in self.leaderboard]
        if any(b < a - _INTERVAL_SLACK for a, b in itertools.pairwise(values)):
            raise ValueError("leaderboard must list the simulators closest first (by js)")
        for name, entry in self.simulators.items():
            unknown = set(entry.tied_with) - expected
            if unknown:
                raise ValueError(f"simulators.{name}.tied_with names unknown {sorted(unknown)}")
        return self

    @classmethod
    def load(cls, path: str | Path) -> Metrics:
        """`read_metrics(path)`."""
        return read_metrics(path)

    @property
    def simulator_names(self) -> list[str]:
        """Simulators closest first (leaderboard order)."""
        return [entry.simulator for entry in self.leaderboard]

    def ranked(self) -> Iterator[tuple[str, SimulatorMetrics]]:
        """(name, entry) per simulator, closest first."""
        for name in self.simulator_names:
            yield name, self.simulators[name]

    def skip_reason(self, simulator: str | None, statistic: str) -> str | None:
        """Why `statistic` was not computed for `simulator` (None: it was, or nobody said)."""
        for entry in self.skipped:
            if entry.statistic == statistic and entry.simulator in (simulator, None):
                return entry.reason
        return None


def _version_error(path: Path, found: object) -> RunDirectoryError:
    run_dir = path.parent
    if isinstance(found, int) and found > SCHEMA_VERSION:
        return RunDirectoryError(
            f"{path} was made by a newer simgap (metrics schema version {found}; this simgap "
            f"reads version {SCHEMA_VERSION}): upgrade simgap, or rerun "
            f"`simgap analyze --out {run_dir}`"
        )
    return RunDirectoryError(
        f"{path} was made by an older simgap (metrics schema version {found}); rerun "
        f"`simgap analyze --out {run_dir}`"
    )


def parse_metrics(document: object, *, source: str | Path = METRICS_FILE) -> Metrics:
    """A `Metrics` from an already parsed JSON document; `source` names it in messages."""
    path = Path(source)
    if not isinstance(document, dict):
        raise RunDirectoryError(
            f"{path} is not a metrics document (a JSON object); rerun "
            f"`simgap analyze --out {path.parent}`"
        )
    version = document.get("schema_version", 1)
    if version != SCHEMA_VERSION:
        raise _version_error(path, version)
    try:
        return Metrics.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"field '{'.'.join(str(part) for part in issue['loc']) or '(top level)'}': "
            f"{issue['msg']}"
            for issue in error.errors()[:5]
        )
        more = error.error_count() - 5
        raise RunDirectoryError(
            f"{path} (metrics schema version {SCHEMA_VERSION}) is wrongly shaped: {problems}"
            + (f" (and {more} more)" if more > 0 else "")
            + f"; rerun `simgap analyze --out {path.parent}`"
        ) from None


def read_metrics(path: str | Path) -> Metrics:
    """The metrics of `path` (a `metrics.json` file, or a run directory holding one).

    Raises RunDirectoryError naming the file when it is missing, not JSON, from another schema
    version (the version found is named) or wrongly shaped (the fields are named).
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise RunDirectoryError(
            f"{path.parent} has no {path.name}: run `simgap analyze --out {path.parent}` first"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirectoryError(f"{path} is not valid JSON ({error})") from None
    return parse_metrics(document, source=path)


MetricKind = Literal["estimate", "test", "descriptive", "count"]


@dataclass(frozen=True)
class Metric:
    """One leaderboard column.

    `read` takes a simulator's entry and returns the number (None: not computed; the reason is
    looked up in `Metrics.skipped` under `statistic`). `interval`, for an estimate, returns its
    interval. `format` is a format spec (".4f"); `kind` says how to read the number: an
    `estimate` with an interval, a `test` (p-value), or a `descriptive` number / `count` that
    no verdict rests on.
    """

    key: str
    label: str
    format: str
    help: str
    read: Callable[[SimulatorMetrics], float | int | None]
    kind: MetricKind = "descriptive"
    interval: Callable[[SimulatorMetrics], Interval | None] | None = None
    statistic: str = "paper"

    def __post_init__(self) -> None:
        if (self.kind == "estimate") != (self.interval is not None):
            raise ValueError(f"metric {self.key!r}: an estimate needs an interval, nothing else")

    def value(self, entry: SimulatorMetrics) -> float | int | None:
        """The number, or None when it was not computed (its section of the entry is null)."""
        try:
            return self.read(entry)
        except AttributeError:
            return None

    def bounds(self, entry: SimulatorMetrics) -> Interval | None:
        if self.interval is None:
            return None
        try:
            return self.interval(entry)
        except AttributeError:
            return None

    def text(self, value: float | int | None) -> str:
        """`value` formatted (no interval); '—' for None."""
        return "—" if value is None else format(value, self.format)


def _pair(value: Any) -> Interval | None:
    return None if value is None else (float(value[0]), float(value[1]))


METRICS: list[Metric] = [
    Metric(
        "js",
        "JS",
        ".4f",
        "Jensen-Shannon divergence to the reference on the paper quantization (nats, at most "
        "ln 2), corrected for its small-sample bias and clipped to [0, ln 2]; ranks the "
        "leaderboard. Interval: bootstrap.",
        lambda s: s.paper.js,
        kind="estimate",
        interval=lambda s: s.paper.js_ci,
    ),
    Metric(
        "js_plugin",
        "plug-in JS",
        ".4f",
        "The paper's plug-in JS (descriptive): biased upwards on finite samples, more so for "
        "small sources; compare it with the no-gap level, never across sample sizes.",
        lambda s: s.paper.js_plugin,
    ),
    Metric(
        "no_gap_js",
        "no-gap JS",
        ".4f",
        "Mean plug-in JS of the permutation null at this pair's sizes (descriptive): what a "
        "simulator identical to the reference would show.",
        lambda s: s.paper.null_js.mean,
    ),
    Metric(
        "p_adjusted",
        "p (Holm)",
        ".3g",
        "Permutation test of the JS, Holm-adjusted across simulators: below alpha, the "
        "simulator differs from the reference beyond noise.",
        lambda s: s.paper.p_value_adjusted,
        kind="test",
    ),
    Metric(
        "kl_forward",
        "KL missed",
        ".4f",
        "KL(real ‖ sim), smoothed by 1/k: real behaviour the simulator misses.",
        lambda s: s.paper.kl_forward,
        kind="estimate",
        interval=lambda s: s.paper.kl_forward_ci,
    ),
    Metric(
        "kl_backward",
        "KL invented",
        ".4f",
        "KL(sim ‖ real), smoothed by 1/k: simulated behaviour real users do not show.",
        lambda s: s.paper.kl_backward,
        kind="estimate",
        interval=lambda s: s.paper.kl_backward_ci,
    ),
    Metric(
        "map_js",
        "map JS",
        ".4f",
        "Bias-corrected JS on the shared map's clusters (noise one bin). Interval: bootstrap.",
        lambda s: s.map.js,
        kind="estimate",
        interval=lambda s: s.map.js_ci,
        statistic="map",
    ),
    Metric(
        "auc",
        "AUC",
        ".3f",
        "Cross-validated linear classifier real vs simulated, folds grouped by identical text "
        "and pair_id: 0.5 = indistinguishable, 1 = fully separable. Interval: bootstrap.",
        lambda s: s.classifier.auc,
        kind="estimate",
        interval=lambda s: s.classifier.auc_ci,
        statistic="classifier",
    ),
    Metric(
        "seed_sd",
        "JS sd over seeds",
        ".4f",
        "Standard deviation of the plug-in JS over the k-means seed variants (descriptive).",
        lambda s: s.paper.seed_spread.js_sd,
        statistic="robustness",
    ),
    Metric(
        "missed",
        "missed clusters",
        "d",
        "Map clusters real users populate and the simulator rarely (see the Clusters view).",
        lambda s: s.clusters.missed,
        kind="count",
    ),
    Metric(
        "hallucinated",
        "invented clusters",
        "d",
        "Map clusters the simulator populates and real users rarely.",
        lambda s: s.clusters.hallucinated,
        kind="count",
    ),
]


def register_metric(metric: Metric, *, after: str | None = None) -> Metric:
    """Add `metric` to the leaderboard of every front end (after the column `after`, or last).

    Raises ValueError when its key is taken or `after` names no metric.
    """
    keys = [m.key for m in METRICS]
    if metric.key in keys:
        raise ValueError(f"a metric with key {metric.key!r} is already registered")
    if after is None:
        METRICS.append(metric)
    elif after in keys:
        METRICS.insert(keys.index(after) + 1, metric)
    else:
        raise ValueError(f"no metric with key {after!r} to place {metric.key!r} after")
    return metric


def unregister_metric(key: str) -> None:
    """Remove the metric with `key` (KeyError when none)."""
    for index, metric in enumerate(METRICS):
        if metric.key == key:
            del METRICS[index]
            return
    raise KeyError(f"no metric with key {key!r}")


def metric(key: str) -> Metric:
    """The registered metric with `key` (KeyError naming the keys there are)."""
    for candidate in METRICS:
        if candidate.key == key:
            return candidate
    raise KeyError(f"no metric {key!r}; registered: {', '.join(m.key for m in METRICS)}")


__all__ = [
    "METRICS",
    "SCHEMA_VERSION",
    "Metric",
    "Metrics",
    "SimulatorMetrics",
    "metric",
    "parse_metrics",
    "read_metrics",
    "register_metric",
    "unregister_metric",
]
