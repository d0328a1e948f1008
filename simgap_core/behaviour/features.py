"""Behaviour features per conversation, measured from the raw turns whatever facet or annotator.

Why: a finding a product manager can act on is said in behaviours ("simulated users thank the
assistant five times as often"), not in cluster numbers. These features are the vocabulary of
those findings: the feature gaps (`gaps.py`) compare them between real users and each simulator,
and the cluster names (`names.py`) are built from them.

The cues come from the heuristic annotator (`simgap_core.represent.heuristic`): its per-turn
analysis is reused, so a feature and the behaviour text that annotator writes never disagree on
what counts as a correction or a pasted log. The definitions (`FEATURES`) are data, in
`features.json` beside this module; `feature_table_markdown` renders them for the README.

Lexical diversity uses `lexicalrichness` (tokenizer and MATTR; HD-D as lexicalrichness defines it,
see `_hdd`), the language `lingua-language-detector` restricted to `LANGUAGES`, the misspelling
rate `pyspellchecker`'s English word list.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from simgap_core.model import Corpus
from simgap_core.represent.cues import SENTENCE_SPLIT, WORD
from simgap_core.represent.heuristic import UserTurn, analyse_user_turns, opening_turn

BINARY, CONTINUOUS = "binary", "continuous"
UNITS = ("count", "words", "share", "rate")


@dataclass(frozen=True)
class Feature:
    """One behaviour feature: how it is named, measured and, for clusters, described."""

    name: str
    label: str
    unit: str
    """count, words, share (0-1) or rate (a 0/1 flag whose mean is a rate)."""
    kind: str
    """binary (0/1 per conversation) or continuous."""
    definition: str
    high: str | None = None
    """Phrase for a cluster whose members score high on the feature (None: never used)."""
    low: str | None = None
    """Phrase for a cluster whose members score low on the feature."""
    phrase: str | None = None
    """Binary features: what users do, as a plural verb phrase ("thank the assistant")."""


def _load_features() -> tuple[Feature, ...]:
    raw = json.loads(resources.files(__package__).joinpath("features.json").read_text("utf-8"))
    features = tuple(Feature(**entry) for entry in raw["features"])
    for feature in features:
        if feature.kind not in (BINARY, CONTINUOUS) or feature.unit not in UNITS:
            raise ValueError(f"features.json, feature {feature.name!r}: bad kind or unit")
    return features


FEATURES: tuple[Feature, ...] = _load_features()
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

# Common languages of chat logs; a short list keeps lingua fast (its time grows with the
# number of candidate languages) and avoids rare look-alikes (a terse English fragment read
# as Afrikaans). Text in another language is attributed to the closest of these.
LANGUAGES = (
    "ENGLISH",
    "FRENCH",
    "SPANISH",
    "GERMAN",
    "PORTUGUESE",
    "ITALIAN",
    "DUTCH",
    "RUSSIAN",
    "CHINESE",
    "JAPANESE",
    "KOREAN",
    "ARABIC",
)
# The first characters of the user text carry the language; the rest would cost time.
_LANGUAGE_CHARS = 500
# lingua answers "undetermined" when the best two languages are closer than this: keyword
# fragments ("horror marathon list") are then not called Dutch or German.
_LANGUAGE_MIN_DISTANCE = 0.1
# Conversations are measured on this many processes once there are at least
# `_PARALLEL_MIN_ROWS` of them: each one is plain Python (0.7 ms), so the second core halves
# the stage at scale, while below that a worker's start and imports (about 2 s) cost more than
# it saves. The numbers do not depend on it (each conversation is measured alone).
FEATURE_WORKERS = 2
_PARALLEL_MIN_ROWS = 10_000
MATTR_WINDOW = 25
HDD_DRAWS = 42
_SPELL_MIN_LETTERS = 3


@cache
def _language_detector():
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LANGUAGES]
    return (
        LanguageDetectorBuilder.from_languages(*languages)
        .with_minimum_relative_distance(_LANGUAGE_MIN_DISTANCE)
        .build()
    )


@cache
def _spell_checker():
    from spellchecker import SpellChecker

    return SpellChecker(language="en")


def detect_languages(texts: list[str]) -> list[str]:
    """ISO 639-1 code per text (lower case), "" where lingua cannot decide."""
    detected = _language_detector().detect_languages_in_parallel_of(
        [t[:_LANGUAGE_CHARS] for t in texts]
    )
    return ["" if lang is None else lang.iso_code_639_1.name.lower() for lang in detected]


def _hdd(tokens: list[str], draws: int = HDD_DRAWS) -> float:
    """HD-D exactly as `lexicalrichness.LexicalRichness.hdd` computes it, in one scipy call.

    lexicalrichness calls `hypergeom.pmf` once per term (25 s for 1,600 short texts here); the
    same sum over terms of (1 - P(term absent from `draws` tokens)) / draws in one vectorized
    call gives the identical number (tested against the library to 1e-12).
    """
    from scipy.stats import hypergeom

    frequencies = np.fromiter(Counter(tokens).values(), dtype=np.int64)
    return float(((1.0 - hypergeom.pmf(0, len(tokens), frequencies, draws)) / draws).sum())


def _lexical_diversity(text: str) -> tuple[float, float]:
    """(MATTR, HD-D) of a text; NaN when it is shorter than the window or the draws."""
    from lexicalrichness import LexicalRichness

    lex = LexicalRichness(text)
    mattr = lex.mattr(window_size=MATTR_WINDOW) if lex.words >= MATTR_WINDOW else math.nan
    hdd = _hdd(lex.wordlist) if lex.words >= HDD_DRAWS else math.nan
    return mattr, hdd


def _lowercase_start_share(texts: list[str]) -> float:
    starts = []
    for text in texts:
        for sentence in SENTENCE_SPLIT.split(text):
            letter = next((ch for ch in sentence if ch.isalpha()), "")
            if letter:
                starts.append(letter.islower())
    return float(np.mean(starts)) if starts else math.nan


def _misspelling_rate(texts: list[str]) -> float:
    # Capitalised words are mostly names and acronyms a dictionary does not know.
    words = [
        w
        for text in texts
        for w in WORD.findall(text)
        if w.islower() and w.isalpha() and len(w) >= _SPELL_MIN_LETTERS
    ]
    if not words:
        return math.nan
    unknown = _spell_checker().unknown(words)
    return sum(w in unknown for w in words) / len(words)


def _ending(last: UserTurn) -> str:
    if last.thank or last.goodbye:
        return "thanks"
    if last.question:
        return "question"
    return "abrupt"


def _measure(turns: list[tuple[str, str]], language: str) -> dict[str, float]:
    """Every feature of one conversation; `language` is its detected ISO code."""
    analysed = analyse_user_turns(turns)
    user_texts = [text for role, text in turns if role == "user"]
    if not analysed:
        return dict.fromkeys(FEATURE_NAMES, math.nan)
    words = np.array([t.words for t in analysed], dtype=np.float64)
    total_words = words.sum()
    mean_words = words.mean()
    plain_texts = [
        text for text, turn in zip(user_texts, analysed, strict=True) if not (turn.code or turn.log)
    ]
    mattr, hdd = _lexical_diversity("\n".join(user_texts))
    ending = _ending(analysed[-1])
    english = language in ("en", "")
    return {
        "user_turns": float(len(analysed)),
        "first_request_words": float(opening_turn(analysed).words),
        "words_per_turn": float(mean_words),
        "words_per_turn_cv": (
            float(words.std() / mean_words) if len(words) >= 2 and mean_words > 0 else math.nan
        ),
        "front_loading": float(words[0] / total_words) if total_words > 0 else math.nan,
        "constraints": float(sum(t.constraints for t in analysed)),
        "examples": float(any(t.example for t in analysed)),
        "pastes_code": float(any(t.code for t in analysed)),
        "pastes_log": float(any(t.log for t in analysed)),
        "personal_background": float(sum(t.background for t in analysed)),
        "questions_back": float(sum(t.reaction == "asks" for t in analysed)),
        "refinements": float(sum(t.reaction == "refines" for t in analysed)),
        "corrections": float(sum(t.negate for t in analysed)),
        "frustration": float(sum(t.frustration for t in analysed)),
        "topic_switches": float(sum(t.switch for t in analysed)),
        "gratitude": float(any(t.thank for t in analysed)),
        "greeting": float(any(t.greet for t in analysed)),
        "politeness": float(sum(t.polite for t in analysed)),
        "lowercase_starts": _lowercase_start_share(plain_texts),
        "misspelling_rate": _misspelling_rate(plain_texts) if english else math.nan,
        "mattr": mattr,
        "hdd": hdd,
        "non_english": float(not english),
        "ends_thanks": float(ending == "thanks"),
        "ends_question": float(ending == "question"),
        "ends_abrupt": float(ending == "abrupt"),
    }


def compute_features(corpus: Corpus) -> pd.DataFrame:
    """One row per conversation: conversation_id, source, language, then one column per feature.

    `language` is the ISO 639-1 code lingua finds ("" when undetermined); it is a descriptive
    column, not a feature (`non_english` is). A conversation without user turns has every
    feature missing (NaN). Columns follow `FEATURE_NAMES`.
    """
    ids = corpus.conversations["conversation_id"].astype(str).tolist()
    sources = corpus.conversations["source"].astype(str).tolist()
    by_conversation = corpus.turns_by_conversation()
    turns = [by_conversation.get(cid, []) for cid in ids]
    user_text = ["\n".join(text for role, text in t if role == "user") for t in turns]
    languages = detect_languages(user_text) if ids else []
    rows = _measure_all(turns, languages)
    values = pd.DataFrame(rows, columns=list(FEATURE_NAMES), dtype=np.float64)
    head = pd.DataFrame({"conversation_id": ids, "source": sources, "language": languages})
    return pd.concat([head, values], axis=1)


def _measure_chunk(turns: list[list[tuple[str, str]]], languages: list[str]) -> list[dict]:
    return [_measure(t, lang) for t, lang in zip(turns, languages, strict=True)]


def _measure_all(
    turns: list[list[tuple[str, str]]], languages: list[str], *, workers: int = FEATURE_WORKERS
) -> list[dict[str, float]]:
    """`_measure` of every conversation, in order; on `workers` processes for large inputs."""
    if workers < 2 or len(turns) < _PARALLEL_MIN_ROWS:
        return _measure_chunk(turns, languages)
    from joblib import Parallel, delayed

    bounds = np.linspace(0, len(turns), workers + 1).astype(int)
    chunks = Parallel(n_jobs=workers)(
        delayed(_measure_chunk)(turns[start:stop], languages[start:stop])
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    )
    return [row for chunk in chunks for row in chunk]


def feature_table_markdown() -> str:
    """The feature definitions as a Markdown table (the README's feature table)."""
    lines = ["| feature | label | unit | kind | definition |", "| --- | --- | --- | --- | --- |"]
    for f in FEATURES:
        lines.append(f"| `{f.name}` | {f.label} | {f.unit} | {f.kind} | {f.definition} |")
    return "\n".join(lines) + "\n"
