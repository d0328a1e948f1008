"""Names for behaviour clusters written by a chat model, contrastively, with offline fallback.

Why: the offline names (`simgap_core.behaviour.names`) say which features set a cluster apart,
in the features' fixed phrases; a model can read the cluster's conversations and say it in
the reader's words. Asked about one cluster alone, a model names what it sees, which is mostly
what every cluster shares ("users asking for help"); so each prompt is *contrastive*: the
cluster to name and its nearest neighbouring clusters, each with its offline name,
description and a few sampled representation texts, and the question what sets the first
apart from the others.

Nearest by what: by the clusters' centroids in the clustering coordinates (the 5-d space
HDBSCAN separated them in, `coordinates`) when given, since the clusters nearest there are the
ones a reader is most likely to confuse it with; else by their distinctive feature profiles
(`feature_profiles`, the standardized differences the offline names come from).

The prompts are data (`llm_names_prompts.toml` beside this module) and versioned
(`PROMPT_VERSION`). Endpoint, requests, re-ask and cache are the shared LLM client's
(`simgap_core.llm`, as for the LLM annotator): every valid answer is cached on disk as soon as
it arrives, keyed by (model, prompt version, hash of the messages sent), so a rerun costs no
requests and a changed prompt asks again. The texts sampled for a cluster come from a random
stream seeded by (`seed`, cluster number), so a cluster's prompt does not change when another
cluster does.

An answer is a JSON object {"name", "description"}. Control characters and line breaks are
removed from both; a name over 8 words is cut to 8 (and trailing joining words such as "and"
dropped), one under 3 words is refused. A cluster whose answer is still unusable after one
re-ask, or whose request the server rejects, keeps its offline name and description, and the
reason is recorded (`LLMNamer.fallbacks`). A bad key, URL or model raises `LLMEndpointError`
at once (every request would fail alike); answers received until then stay cached.

Names are unique within a run, by the offline namer's rule: clusters claim their names in
order of size, and a name already taken gets a phrase of the cluster's offline name that the
earlier holder's offline name lacks, in parentheses, or else a number.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any, NamedTuple, Unpack

import numpy as np
import pandas as pd

from simgap_core.behaviour.names import (
    MAX_NAME_WORDS,
    MIN_NAME_WORDS,
    NAME_COLUMNS,
    NOISE,
    NOISE_NAME,
    ClusterNamingError,
    Namer,
    feature_profiles,
)
from simgap_core.llm.answers import not_text, object_with_keys
from simgap_core.llm.base import ChatModelBase, ChatOptions, Question, Unanswered
from simgap_core.llm.cache import content_digest
from simgap_core.llm.prompts import load_prompts
from simgap_core.parts import register

_PROMPTS = load_prompts(
    __package__,
    "llm_names_prompts.toml",
    ("system", "target_heading", "neighbour_heading", "section", "no_samples", "closing")
    + ("closing_alone", "reask"),
)
# Part of every cache key (read when a call starts, so a bumped version misses the cache).
PROMPT_VERSION: str = _PROMPTS["version"]
SYSTEM_PROMPT: str = _PROMPTS["system"]
TARGET_HEADING: str = _PROMPTS["target_heading"]
NEIGHBOUR_HEADING: str = _PROMPTS["neighbour_heading"]

EXAMPLE_CHARS = 300  # of each sampled text: enough for its gist, ~10 of them per prompt
MAX_DESCRIPTION_CHARS = 300
# Words a name cut at 8 words must not end on.
_DANGLING = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the"}
    | {"that", "to", "which", "while", "who", "with"}
)


class NamingFallback(NamedTuple):
    """A cluster that kept its offline name, and why."""

    cluster: int
    reason: str

    def __str__(self) -> str:
        return f"cluster {self.cluster}: {self.reason}"


class _Named(NamedTuple):
    name: str
    description: str


def clean_text(text: str) -> str:
    """`text` on one line: control and format characters (line breaks, zero-width and
    direction marks) become spaces, runs of whitespace one space."""
    kept = "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)
    return " ".join(kept.split())


def _short_name(raw: str) -> str:
    """The name cut to at most MAX_NAME_WORDS words; `ValueError` when under MIN_NAME_WORDS."""
    words = clean_text(raw).strip(" \"'`*.;:").split()
    if len(words) > MAX_NAME_WORDS:
        words = words[:MAX_NAME_WORDS]
        words[-1] = words[-1].rstrip(",;:-")
        while len(words) > MIN_NAME_WORDS and words[-1].lower() in _DANGLING:
            words.pop()
            words[-1] = words[-1].rstrip(",;:-")
    if len(words) < MIN_NAME_WORDS:
        raise ValueError(
            f"the name {' '.join(words)!r} has {len(words)} word(s); give "
            f"{MIN_NAME_WORDS} to {MAX_NAME_WORDS}"
        )
    return " ".join(words)


def parse_name(answer: str) -> tuple[str, str]:
    """(name, description) from a model's answer, cleaned; `ValueError` says what is wrong."""
    found = object_with_keys(answer, ("name", "description"))
    for key in ("name", "description"):
        if not isinstance(found[key], str):
            raise not_text(key, found[key])
    name = _short_name(found["name"])
    description = clean_text(found["description"])
    if not description:
        raise ValueError("the description is empty")
    if len(description) > MAX_DESCRIPTION_CHARS:
        description = description[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " …"
    return name, description


def nearest_clusters(centroids: pd.DataFrame, neighbours: int) -> dict[int, list[int]]:
    """For each cluster (a row of `centroids`), the `neighbours` other clusters whose rows are
    nearest (Euclidean; NaN counts as 0), nearest first, ties by cluster number."""
    numbers = [int(c) for c in centroids.index]
    points = centroids.to_numpy(dtype=np.float64)
    points = np.where(np.isfinite(points), points, 0.0)
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    nearest = {}
    for row, cluster in enumerate(numbers):
        others = [i for i in np.lexsort((numbers, distances[row])) if i != row]
        nearest[cluster] = [numbers[i] for i in others[:neighbours]]
    return nearest


def _unique(name: str, offline_name: str, taken: dict[str, str]) -> str:
    """`name`, or when it is taken (case aside) `name (phrase)` with a phrase of this cluster's
    offline name, those the holder's offline name lacks first, or else `name #N`.

    `taken` maps each name given so far (casefolded) to its cluster's offline name.
    """
    if name.casefold() not in taken:
        return name
    phrases = offline_name.split(", ")
    held = set(taken[name.casefold()].split(", "))
    for phrase in sorted(phrases, key=lambda phrase: phrase in held):
        candidate = f"{name} ({phrase})"
        if len(candidate.split()) <= MAX_NAME_WORDS and candidate.casefold() not in taken:
            return candidate
    number = 2
    while f"{name} #{number}".casefold() in taken:
        number += 1
    return f"{name} #{number}"


@register
class LLMNamer(ChatModelBase[_Named], Namer):
    """Cluster names from a chat model behind an OpenAI-compatible endpoint (see the module
    docstring for the method).

    `base_url`, `model` and `options` (key, cache folder, concurrency, retries, timeout,
    backoff, temperature, JSON mode) are the shared LLM client's, exactly as for the LLM
    annotator: see `simgap_core.llm.base.ChatModelBase`. The cache folder defaults to
    `$SIMGAP_CACHE_DIR/llm-names`. `neighbours`: how many nearest clusters each prompt
    contrasts with; `examples`: texts sampled from the cluster to name (each neighbour gets
    half as many, at least one); `seed` seeds that sampling.

    After `name_clusters`: `fallbacks` lists the clusters that kept their offline name and
    why, `requests_made` counts HTTP requests (retries and re-asks included), `cache_hits`
    the clusters answered from the cache; all three describe the last call only.
    """

    name = "llm"
    user = "the LLM namer"
    cache_folder = "llm-names"
    content = "prompt"
    @classmethod
    def options_from(cls, params: Any) -> dict[str, Any]:
        return {**super().options_from(params), "seed": params.seed}

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        *,
        neighbours: int = 3,
        examples: int = 8,
        seed: int = 0,
        **options: Unpack[ChatOptions],
    ) -> None:
        super().__init__(base_url, model, **options)
        for parameter, value, low in (("neighbours", neighbours, 1), ("examples", examples, 1)):
            if value < low:
                raise ClusterNamingError(f"{parameter} must be at least {low}, got {value}")
        self.neighbours = neighbours
        self.examples = examples
        self.seed = seed
        self.fallbacks: list[NamingFallback] = []

    @property
    def prompt_version(self) -> str:
        return PROMPT_VERSION

    def params(self) -> dict[str, Any]:
        """What changes the names: the model, the prompt and what goes into it, sampling
        (not the servers: see `ChatModelBase.answer_identity`)."""
        own = {"neighbours": self.neighbours, "examples": self.examples, "seed": self.seed}
        return self.answer_identity(**own)

    def facts(self) -> dict[str, Any]:
        return {
            "llm_requests": self.requests_made,
            "llm_cache_hits": self.cache_hits,
            "offline_fallbacks": [fallback._asdict() for fallback in self.fallbacks],
        }

    def name_clusters(
        self,
        offline_names: pd.DataFrame,
        features: pd.DataFrame,
        clusters: pd.DataFrame,
        representations: pd.DataFrame,
        *,
        coordinates: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """`cluster, name, description` for every cluster of `offline_names`, noise included.

        `offline_names`: `name_clusters` output for the same clusters; `features`,
        `clusters`, `representations`: as for `name_clusters`; `coordinates`: optional
        clustering coordinates, indexed by conversation_id, one column per dimension.
        """
        self.fallbacks, self.requests_made, self.cache_hits = [], 0, 0
        offline = offline_names.set_index("cluster")
        sizes = clusters.groupby("cluster").size()
        numbered = [int(c) for c in sizes.index if c != NOISE]
        unknown = sorted(set(numbered) - set(offline.index))
        if unknown:
            raise ClusterNamingError(
                f"clusters {unknown} have no offline name: name the same clusters offline first"
            )
        answers: dict[int, _Named] = {}
        if numbered:
            centroids = self._centroids(features, clusters, coordinates)
            texts = self._texts(clusters, representations)
            prompts = {
                cluster: self._messages(cluster, neighbours, offline, sizes, texts)
                for cluster, neighbours in nearest_clusters(
                    centroids.loc[numbered], self.neighbours
                ).items()
            }
            answers = self._answers(prompts)
        order = sorted(sizes.index, key=lambda c: (c == NOISE, -sizes[c], c))
        taken = {NOISE_NAME: NOISE_NAME}
        rows = []
        for cluster in order:
            if cluster == NOISE:
                rows.append({"cluster": NOISE, **offline.loc[NOISE, ["name", "description"]]})
                continue
            offline_name = str(offline.loc[cluster, "name"])
            named = answers.get(cluster) or _Named(
                offline_name, str(offline.loc[cluster, "description"])
            )
            name = _unique(named.name, offline_name, taken)
            taken[name.casefold()] = offline_name
            rows.append({"cluster": int(cluster), "name": name, "description": named.description})
        frame = pd.DataFrame(rows, columns=list(NAME_COLUMNS))
        return frame.sort_values("cluster", ignore_index=True)

    # --- prompts ----------------------------------------------------------------------------

    @staticmethod
    def _centroids(
        features: pd.DataFrame, clusters: pd.DataFrame, coordinates: pd.DataFrame | None
    ) -> pd.DataFrame:
        """One row per cluster: its mean clustering coordinates, else its feature profile."""
        if coordinates is None:
            return feature_profiles(features, clusters)
        ids = clusters["conversation_id"]
        missing = ~ids.isin(coordinates.index)
        if missing.any():
            raise ClusterNamingError(
                f"{int(missing.sum())} clustered conversations have no coordinates, e.g. "
                f"{ids[missing].iloc[0]!r}: pass the projection the clusters were made from"
            )
        points = coordinates.loc[ids.to_numpy()].reset_index(drop=True)
        return points.groupby(clusters["cluster"].to_numpy()).mean()

    def _texts(self, clusters: pd.DataFrame, representations: pd.DataFrame) -> dict[int, list[str]]:
        """Per cluster, up to `examples` of its representation texts, cleaned and cut,
        sampled from a stream seeded by (seed, cluster), in the clusters table's order."""
        by_id = representations.groupby("conversation_id", sort=False)["text"].agg(" ".join)
        texts = clusters["conversation_id"].map(by_id).fillna("").astype(str)
        sampled = {}
        for cluster, rows in clusters.groupby("cluster").indices.items():
            if cluster == NOISE:
                continue
            rng = np.random.default_rng([self.seed, int(cluster)])
            chosen = np.sort(rng.permutation(len(rows))[: self.examples])
            sampled[int(cluster)] = [_cut(texts.iloc[rows[i]]) for i in chosen]
        return sampled

    def _messages(
        self,
        cluster: int,
        neighbours: list[int],
        offline: pd.DataFrame,
        sizes: pd.Series,
        texts: dict[int, list[str]],
    ) -> list[dict[str, str]]:
        """The chat messages asking for one cluster's name, contrasted with its neighbours."""
        neighbour_examples = max(1, self.examples // 2)
        sections = [
            _section(TARGET_HEADING, cluster, offline, sizes, texts[cluster]),
            *(
                _section(
                    f"{NEIGHBOUR_HEADING} {index}",
                    other,
                    offline,
                    sizes,
                    texts[other][:neighbour_examples],
                )
                for index, other in enumerate(neighbours, start=1)
            ),
        ]
        closing = (
            _PROMPTS["closing"].format(n=len(neighbours))
            if neighbours
            else _PROMPTS["closing_alone"]
        )
        prompt = "\n\n".join([*sections, closing])
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}]

    # --- requests and cache -----------------------------------------------------------------

    def _answers(self, prompts: dict[int, list[dict[str, str]]]) -> dict[int, _Named]:
        """The valid answer per cluster, from the cache or the model; the others are recorded
        in `fallbacks`."""
        cache = self.answer_cache()
        questions: dict[str, Question] = {}
        clusters_by_key: dict[str, list[int]] = {}
        for cluster, messages in prompts.items():
            question = Question(content_digest(messages), messages)
            key = cache.key(question.digest)
            questions[key] = question
            clusters_by_key.setdefault(key, []).append(cluster)
        found, pending = self.lookup(questions)
        answers = {c: named for key, named in found.items() for c in clusters_by_key[key]}
        self.cache_hits = len(answers)

        def arrived(key: str, outcome: _Named | Unanswered) -> None:
            for cluster in clusters_by_key[key]:
                if isinstance(outcome, Unanswered):
                    self.fallbacks.append(NamingFallback(cluster, outcome.reason))
                else:
                    answers[cluster] = outcome

        self.ask_all(pending, arrived)
        self.fallbacks.sort()
        return answers

    # --- reading and caching answers ---------------------------------------------------------

    def parse_answer(self, text: str) -> _Named:
        return _Named(*parse_name(text))

    def reask_prompt(self, error: ValueError) -> str:
        return _PROMPTS["reask"].format(reason=error)

    def answer_fields(self, answer: _Named) -> dict[str, Any]:
        return answer._asdict()

    def answer_from_fields(self, entry: dict[str, Any]) -> _Named | None:
        name, description = entry.get("name"), entry.get("description")
        if not isinstance(name, str) or not isinstance(description, str):
            return None
        return _Named(name, description)


def _cut(text: str) -> str:
    text = clean_text(text)
    if len(text) <= EXAMPLE_CHARS:
        return text
    return text[:EXAMPLE_CHARS].rsplit(" ", 1)[0] + " …"


def _section(
    heading: str, cluster: int, offline: pd.DataFrame, sizes: pd.Series, texts: list[str]
) -> str:
    return _PROMPTS["section"].format(
        heading=heading,
        size=int(sizes[cluster]),
        name=clean_text(str(offline.loc[cluster, "name"])),
        description=clean_text(str(offline.loc[cluster, "description"])),
        samples="\n".join(f"- {text}" for text in texts) or _PROMPTS["no_samples"],
    )
