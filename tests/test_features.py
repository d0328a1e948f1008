"""Behaviour features on hand-written conversations: every feature, its value by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from lexicalrichness import LexicalRichness

from simgap_core.behaviour.features import (
    BY_NAME,
    FEATURE_NAMES,
    FEATURES,
    LANGUAGES,
    _hdd,
    compute_features,
    feature_table_markdown,
)
from simgap_core.model import Conversation, Corpus

A = "assistant"
ANSWER = (A, "Here is an answer with some details about it.")


def features_of(*turns: tuple[str, str]) -> dict[str, float]:
    corpus = Corpus.from_conversations([Conversation("c1", "real", list(turns))])
    row = compute_features(corpus).iloc[0]
    return row.to_dict()


def test_registry_is_complete_and_documented():
    assert len(FEATURES) >= 15
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    for f in FEATURES:
        assert f.unit in ("count", "words", "share", "rate") and f.kind in ("binary", "continuous")
        assert f.definition and f.label
        assert (f.kind == "binary") == (f.unit == "rate")
        if f.kind == "binary":
            assert f.phrase, f.name
    # The README's definition names every language lingua is asked to tell apart.
    for language in LANGUAGES:
        if language != "ENGLISH":
            assert language.title() in BY_NAME["non_english"].definition
    table = feature_table_markdown()
    assert table.count("\n") == len(FEATURES) + 2
    assert "| `front_loading` | front-loading | share | continuous |" in table


def test_output_columns_and_rows():
    corpus = Corpus.from_conversations(
        [
            Conversation("a", "real", [("user", "hi there, fix my code")]),
            Conversation("b", "sim", [("user", "hello"), ANSWER]),
        ]
    )
    frame = compute_features(corpus)
    assert list(frame.columns) == ["conversation_id", "source", "language", *FEATURE_NAMES]
    assert frame["conversation_id"].tolist() == ["real:a", "sim:b"]
    assert frame["source"].tolist() == ["real", "sim"]


def test_length_features_by_hand():
    f = features_of(
        ("user", "one two three four five six"),  # 6 words
        ANSWER,
        ("user", "seven eight"),  # 2 words
        ANSWER,
        ("user", "nine ten eleven twelve"),  # 4 words
    )
    assert f["user_turns"] == 3
    assert f["first_request_words"] == 6
    assert f["words_per_turn"] == pytest.approx(4.0)
    assert f["words_per_turn_cv"] == pytest.approx(np.std([6, 2, 4]) / 4.0)
    assert f["front_loading"] == pytest.approx(6 / 12)


def test_single_turn_has_no_variation_and_full_front_loading():
    f = features_of(("user", "write a poem about cats"))
    assert math.isnan(f["words_per_turn_cv"])
    assert f["front_loading"] == 1.0
    assert f["user_turns"] == 1


def test_first_request_skips_a_bare_greeting():
    f = features_of(("user", "hello"), ANSWER, ("user", "write a short poem about cats please"))
    assert f["first_request_words"] == 7
    assert f["greeting"] == 1.0


def test_constraints_and_examples():
    f = features_of(
        ("user", 'Write a summary in at most 200 words, in JSON. For example: {"a": 1}.')
    )
    assert f["constraints"] >= 3  # "at most", "200 words", "json"
    assert f["examples"] == 1.0
    bare = features_of(("user", "tell me about cats"))
    assert bare["constraints"] == 0 and bare["examples"] == 0.0


def test_pasted_log_and_code():
    log = features_of(
        (
            "user",
            "Why does this fail?\nTraceback (most recent call last):\n"
            '  File "app.py", line 3, in <module>\nZeroDivisionError: division by zero',
        )
    )
    assert log["pastes_log"] == 1.0 and log["pastes_code"] == 0.0
    code = features_of(("user", "Can you review this?\n```\ndef add(a, b):\n    return a + b\n```"))
    assert code["pastes_code"] == 1.0 and code["pastes_log"] == 0.0
    plain = features_of(("user", "how do I sort a list"))
    assert plain["pastes_code"] == 0.0 and plain["pastes_log"] == 0.0


def test_personal_background_counts_sentences_about_the_user():
    f = features_of(
        (
            "user",
            "I am a nurse working night shifts. My husband works days. We have two kids. "
            "Can you help me plan meals?",
        )
    )
    assert f["personal_background"] == 3
    assert features_of(("user", "plan meals for a week"))["personal_background"] == 0


def test_questions_back_refinements_corrections():
    f = features_of(
        ("user", "Write a poem about the sea."),
        ANSWER,
        ("user", "What do you mean by that?"),
        ANSWER,
        ("user", "make it shorter"),
        ANSWER,
        ("user", "No, that's wrong, I meant the Baltic sea."),
        ANSWER,
    )
    assert f["questions_back"] == 1
    assert f["refinements"] == 1
    assert f["corrections"] == 1


def test_frustration_markers():
    f = features_of(
        ("user", "Fix the bug."),
        ANSWER,
        ("user", "This is useless!! How many times do I have to say it??"),
    )
    # "!!", "useless", "how many times", "??"
    assert f["frustration"] == 4
    assert features_of(("user", "Fix the bug."), ANSWER, ("user", "ok"))["frustration"] == 0


def test_topic_switch():
    f = features_of(
        ("user", "Explain how photosynthesis works in plants."),
        ANSWER,
        ("user", "Unrelated question: recommend a budget laptop for programming students?"),
    )
    assert f["topic_switches"] == 1
    stay = features_of(
        ("user", "Explain how photosynthesis works in plants."),
        ANSWER,
        ("user", "Can you make it shorter?"),
    )
    assert stay["topic_switches"] == 0


def test_gratitude_greeting_politeness():
    f = features_of(
        ("user", "Hello! Could you please help me write a cover letter?"),
        ANSWER,
        ("user", "Thank you so much, that's perfect."),
    )
    assert f["greeting"] == 1.0
    assert f["gratitude"] == 1.0
    assert f["politeness"] == 2  # "could you", "please"
    rude = features_of(("user", "write a cover letter"))
    assert rude["greeting"] == 0.0 and rude["gratitude"] == 0.0 and rude["politeness"] == 0


def test_lowercase_starts_share_of_sentences():
    f = features_of(("user", "i need help. My code is broken. can you look?"))
    assert f["lowercase_starts"] == pytest.approx(2 / 3)


def test_misspelling_rate_counts_unknown_lowercase_words():
    f = features_of(("user", "plese explian the recipe for bread"))
    # 6 lower-case words of 3+ letters; "plese" and "explian" are not English words.
    assert f["misspelling_rate"] == pytest.approx(2 / 6)
    clean = features_of(("user", "please explain the recipe for bread"))
    assert clean["misspelling_rate"] == 0.0


def test_lexical_diversity_matches_lexicalrichness_and_guards_short_texts():
    text = (
        "the cat sat on the mat and the dog sat on the rug while the bird sang a song about "
        "the sun the moon and the stars above the quiet town where people slept and dreamed "
        "of summer days by the sea with friends and family"
    )
    f = features_of(("user", text))
    reference = LexicalRichness(text)
    assert reference.words >= 42
    assert f["mattr"] == pytest.approx(reference.mattr(window_size=25), abs=1e-12)
    assert f["hdd"] == pytest.approx(reference.hdd(draws=42), abs=1e-12)
    short = features_of(("user", "just a few words here"))
    assert math.isnan(short["mattr"]) and math.isnan(short["hdd"])


def test_vectorised_hdd_equals_the_library_on_varied_texts():
    rng = np.random.default_rng(3)
    vocabulary = [f"w{i}" for i in range(60)]
    for size in (42, 60, 150):
        tokens = [vocabulary[i] for i in rng.zipf(1.5, size) % 60]
        assert _hdd(tokens) == pytest.approx(
            LexicalRichness(tokens, tokenizer=None).hdd(42), abs=1e-12
        )


def test_language_detection():
    french = features_of(
        ("user", "Bonjour, pouvez-vous m'aider à écrire une lettre pour récupérer ma caution ?")
    )
    assert french["language"] == "fr" and french["non_english"] == 1.0
    assert math.isnan(french["misspelling_rate"])  # the English word list does not apply
    english = features_of(("user", "Can you help me write a letter to get my deposit back?"))
    assert english["language"] == "en" and english["non_english"] == 0.0


@pytest.mark.parametrize(
    ("last", "ending"),
    [
        ("Thanks, bye!", "ends_thanks"),
        ("What about the second step?", "ends_question"),
        ("Now do the same for chapter two.", "ends_abrupt"),
    ],
)
def test_endings_are_exclusive(last, ending):
    f = features_of(("user", "Summarise chapter one of my notes."), ANSWER, ("user", last))
    endings = {name: f[name] for name in ("ends_thanks", "ends_question", "ends_abrupt")}
    assert endings == {name: float(name == ending) for name in endings}


def test_conversation_without_user_turns_is_all_missing():
    f = features_of(("assistant", "Hello, how can I help?"))
    assert all(math.isnan(f[name]) for name in FEATURE_NAMES)


def test_parallel_measure_matches_serial_in_order(monkeypatch):
    """Above the size threshold conversations are measured on worker processes: same rows,
    same order, same numbers as one process."""
    from simgap_core.behaviour import features

    turns = [
        [("user", "word " * (i + 1) + "thanks!"), ANSWER, ("user", "why? " * i or "ok")]
        for i in range(7)
    ]
    turns.append([])  # no user turn: every feature missing
    languages = ["en"] * 7 + [""]
    serial = features._measure_all(turns, languages, workers=1)
    monkeypatch.setattr(features, "_PARALLEL_MIN_ROWS", 2)
    parallel = features._measure_all(turns, languages, workers=2)
    assert len(parallel) == len(serial) == 8
    assert [row["user_turns"] for row in parallel][:7] == [2.0] * 7
    for got, expected in zip(parallel, serial, strict=True):
        assert got.keys() == expected.keys()
        for name in FEATURE_NAMES:
            assert got[name] == expected[name] or (
                math.isnan(got[name]) and math.isnan(expected[name])
            ), name
