"""Step 1 of the pipeline: one text per (conversation, facet), the thing that gets embedded.

Baseline facets embed the user's own words (`user_turns`, `first_request`) or the whole
transcript (`conversation`); they mostly measure topic. Behaviour facets describe *how* the
user behaves, abstracted away from the topic, as short English text written by an `Annotator`:
`requests`, `responses`, `context`, `style`, `dialog_acts`, and `combined` (the five joined in
that order).

`heuristic.HeuristicAnnotator` is the offline default: it measures features of the user turns with
rules and writes them out as words from a fixed vocabulary (buckets such as "short" or
"very long" rather than numbers, because sentence embeddings read words better than digits).
Nothing of the user's text is copied into a behaviour text, so two conversations that behave
alike on different topics get the same description. That also means many conversations share
one exact text; the map stage has to cope with exact duplicates (UMAP cannot spread more
duplicates than `n_neighbors` sensibly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import pandas as pd

from simgap_core.model import Corpus

BASELINE_FACETS = ("user_turns", "first_request", "conversation")
BEHAVIOUR_FACETS = ("requests", "responses", "context", "style", "dialog_acts")
FACETS = BASELINE_FACETS + BEHAVIOUR_FACETS + ("combined",)
DIALOG_ACTS = (
    "INFORM",
    "REQUEST",
    "AFFIRM",
    "NEGATE",
    "SELECT",
    "INFORM_INTENT",
    "AFFIRM_INTENT",
    "NEGATE_INTENT",
    "REQUEST_ALTS",
    "THANK",
    "GOODBYE",
    "GREET",
)

Progress = Callable[[int, int], None]


@runtime_checkable
class Annotator(Protocol):
    """Describes each conversation's user behaviour, one short text per behaviour facet.

    `describe` returns one row per conversation of `corpus`, in the corpus's order, with the
    columns `conversation_id` and every name in `BEHAVIOUR_FACETS` (plain strings, no topic
    words). `progress(done, total)` is called as conversations are finished, if given.
    `name` and `version` identify the annotator in run parameters and cache keys.
    """

    name: str
    version: str

    def describe(self, corpus: Corpus, *, progress: Progress | None = None) -> pd.DataFrame: ...


def represent(
    corpus: Corpus,
    facet: str,
    *,
    annotator: Annotator | None = None,
    descriptions: pd.DataFrame | None = None,
    max_chars: int = 2000,
) -> pd.DataFrame:
    """One text per conversation for `facet`: columns conversation_id, source, facet, text.

    Behaviour facets come from `descriptions` when given (an annotator's earlier `describe`
    output), else from `annotator.describe(corpus)` (default: `HeuristicAnnotator`). Texts are
    cut at `max_chars`; the default embedding model reads only its first 256 tokens anyway
    (roughly 1,000 characters of English), so the cap only bounds memory on huge transcripts.
    """
    if facet not in FACETS:
        raise ValueError(f"unknown facet {facet!r}; choose one of {', '.join(FACETS)}")
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    ids = corpus.conversations["conversation_id"].astype(str).tolist()
    if facet in BASELINE_FACETS:
        by_conversation = corpus.turns_by_conversation()
        texts = [_baseline_text(by_conversation.get(cid, []), facet) for cid in ids]
    else:
        if descriptions is None:
            if annotator is None:
                from simgap_core.represent.heuristic import HeuristicAnnotator

                annotator = HeuristicAnnotator()
            descriptions = annotator.describe(corpus)
        aligned = _aligned_descriptions(descriptions, ids)
        if facet == "combined":
            texts = [" ".join(parts) for parts in zip(*aligned.values(), strict=True)]
        else:
            texts = aligned[facet]
    return pd.DataFrame(
        {
            "conversation_id": ids,
            "source": corpus.conversations["source"].astype(str).tolist(),
            "facet": [facet] * len(ids),
            "text": [text[:max_chars] for text in texts],
        }
    )


def _aligned_descriptions(descriptions: pd.DataFrame, ids: list[str]) -> dict[str, list[str]]:
    missing_columns = [c for c in ("conversation_id", *BEHAVIOUR_FACETS) if c not in descriptions]
    if missing_columns:
        raise ValueError(f"descriptions lack the columns {', '.join(missing_columns)}")
    frame = descriptions.assign(conversation_id=descriptions["conversation_id"].astype(str))
    frame = frame.drop_duplicates("conversation_id", keep="last").set_index("conversation_id")
    absent = [cid for cid in ids if cid not in frame.index]
    if absent:
        raise ValueError(
            f"descriptions lack {len(absent)} of the corpus's conversations, e.g. {absent[0]!r}"
        )
    frame = frame.loc[ids]
    return {f: frame[f].fillna("").astype(str).tolist() for f in BEHAVIOUR_FACETS}


def _baseline_text(turns: list[tuple[str, str]], facet: str) -> str:
    if facet == "conversation":
        return "\n".join(f"{role.capitalize()}: {text}" for role, text in turns)
    user = [text for role, text in turns if role == "user"]
    if facet == "first_request":
        return user[0] if user else ""
    return "\n".join(user)
