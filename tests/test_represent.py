"""Representations: baseline texts, the heuristic annotator's behaviour texts, the facet API."""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import re
from pathlib import Path

import pandas as pd
import pytest

import simgap_core.represent.cues as cues_module
import simgap_core.represent.heuristic as represent_module
from simgap_core.embed import text_hash
from simgap_core.model import Conversation, Corpus
from simgap_core.represent import (
    BASELINE_FACETS,
    BEHAVIOUR_FACETS,
    DIALOG_ACTS,
    FACETS,
    Annotator,
    represent,
)
from simgap_core.represent.heuristic import HeuristicAnnotator, describe_turns

U, A = "user", "assistant"


def corpus_of(*conversations: list[tuple[str, str]], source: str = "real") -> Corpus:
    return Corpus.from_conversations(
        Conversation(original_id=str(i), source=source, turns=turns)
        for i, turns in enumerate(conversations)
    )


def acts_of_turn(dialog_acts: str, turn: int) -> set[str]:
    """The labels of user turn `turn` in a dialog-act text (a "Turns 2-3" run covers 2 and 3)."""
    for first, last, labels in re.findall(r"Turns? (\d+)(?:-(\d+))?: ([A-Z_, ]+)\.", dialog_acts):
        if int(first) <= turn <= int(last or first):
            return set(labels.split(", "))
    raise AssertionError(f"turn {turn} not in {dialog_acts!r}")


# Words a behaviour text may contain: only what the annotator's own source can write.
_SOURCE_WORDS = {
    w.lower()
    for module in (represent_module, cues_module)
    for w in re.findall(r"[A-Za-z]+", inspect.getsource(module))
}


def leaked_words(texts: dict[str, str]) -> set[str]:
    words = {w.lower() for text in texts.values() for w in re.findall(r"[A-Za-z]+", text)}
    return words - _SOURCE_WORDS


TRACEBACK = """My script crashes when I run it:
Traceback (most recent call last):
  File "main.py", line 12, in <module>
    total = compute(rows)
  File "main.py", line 7, in compute
    return sum(r["price"] for r in rows)
KeyError: 'price'
What is wrong?"""


def test_facet_names_follow_the_design() -> None:
    assert FACETS == BASELINE_FACETS + BEHAVIOUR_FACETS + ("combined",)
    assert BEHAVIOUR_FACETS == ("requests", "responses", "context", "style", "dialog_acts")
    assert set(DIALOG_ACTS) == {
        "INFORM", "REQUEST", "AFFIRM", "NEGATE", "SELECT", "INFORM_INTENT", "AFFIRM_INTENT",
        "NEGATE_INTENT", "REQUEST_ALTS", "THANK", "GOODBYE", "GREET",
    }  # fmt: skip


def test_heuristic_annotator_satisfies_the_protocol() -> None:
    annotator = HeuristicAnnotator()
    assert isinstance(annotator, Annotator)
    assert annotator.name == "heuristic" and annotator.version


def test_baseline_facets_come_straight_from_the_turns() -> None:
    corpus = corpus_of(
        [(U, "first question"), (A, "an answer"), (U, "second question"), (A, "another")],
        [(A, "assistant speaks first"), (U, "only user turn")],
    )
    texts = {f: represent(corpus, f)["text"].tolist() for f in BASELINE_FACETS}
    assert texts["user_turns"] == ["first question\nsecond question", "only user turn"]
    assert texts["first_request"] == ["first question", "only user turn"]
    assert texts["conversation"][0] == (
        "User: first question\nAssistant: an answer\nUser: second question\nAssistant: another"
    )
    assert texts["conversation"][1] == "Assistant: assistant speaks first\nUser: only user turn"


def test_represent_returns_one_row_per_conversation_in_corpus_order() -> None:
    corpus = Corpus.concat(
        [corpus_of([(U, "hello there")]), corpus_of([(U, "bonjour")], source="sim")]
    )
    frame = represent(corpus, "requests")
    assert frame.columns.tolist() == ["conversation_id", "source", "facet", "text"]
    assert frame["conversation_id"].tolist() == ["real:0", "sim:0"]
    assert frame["source"].tolist() == ["real", "sim"]
    assert set(frame["facet"]) == {"requests"}


def test_texts_are_capped_at_max_chars() -> None:
    corpus = corpus_of([(U, "word " * 1000)])
    assert len(represent(corpus, "user_turns", max_chars=50)["text"].iloc[0]) == 50
    with pytest.raises(ValueError, match="max_chars"):
        represent(corpus, "user_turns", max_chars=0)


def test_unknown_facet_names_every_facet() -> None:
    with pytest.raises(ValueError) as error:
        represent(corpus_of([(U, "hi")]), "tone")
    for facet in FACETS:
        assert facet in str(error.value)


def test_combined_joins_the_five_behaviour_texts_in_order() -> None:
    corpus = corpus_of([(U, "Write a haiku about rain."), (A, "Rain taps..."), (U, "shorter")])
    description = HeuristicAnnotator().describe(corpus).iloc[0]
    combined = represent(corpus, "combined")["text"].iloc[0]
    assert combined == " ".join(description[f] for f in BEHAVIOUR_FACETS)


def test_precomputed_descriptions_are_used_and_checked() -> None:
    corpus = corpus_of([(U, "a")], [(U, "b")])
    descriptions = pd.DataFrame(
        {
            "conversation_id": ["real:1", "real:0"],
            **{f: [f"{f} B", f"{f} A"] for f in BEHAVIOUR_FACETS},
        }
    )
    assert represent(corpus, "style", descriptions=descriptions)["text"].tolist() == [
        "style A",
        "style B",
    ]
    with pytest.raises(ValueError, match="lack 1 of the corpus's conversations"):
        represent(corpus, "style", descriptions=descriptions.iloc[:1])
    with pytest.raises(ValueError, match="dialog_acts"):
        represent(corpus, "style", descriptions=descriptions.drop(columns="dialog_acts"))


def test_describe_is_deterministic_and_reports_progress() -> None:
    corpus = corpus_of(
        *[[(U, TRACEBACK), (A, "The key is missing."), (U, "no, that's wrong")]] * 3,
        [(U, "merci beaucoup")],
    )
    calls: list[tuple[int, int]] = []
    first = HeuristicAnnotator().describe(
        corpus, progress=lambda done, total: calls.append((done, total))
    )
    second = HeuristicAnnotator().describe(corpus)
    pd.testing.assert_frame_equal(first, second)
    assert first.columns.tolist() == ["conversation_id", *BEHAVIOUR_FACETS]
    assert calls[-1] == (4, 4)


def test_pasted_traceback_is_described_as_pasted_log() -> None:
    texts = describe_turns([(U, TRACEBACK), (A, "The dictionary has no such key.")])
    assert "pastes an error message or log output" in texts["requests"]
    assert "Includes pasted technical text" in texts["style"]
    assert "pasted code or log is the main context" in texts["context"]
    assert "INFORM" in acts_of_turn(texts["dialog_acts"], 1)


def test_pasted_code_without_an_error_is_code_not_log() -> None:
    code = (
        "Can you make this faster?\n```python\nimport math\n\n"
        "def area(r):\n    return math.pi * r * r\n```"
    )
    texts = describe_turns([(U, code)])
    assert "pastes a block of code" in texts["requests"]
    assert "error message" not in texts["requests"]


def test_pushback_after_an_answer_is_a_correction_and_negate() -> None:
    texts = describe_turns(
        [
            (U, "Give me a recipe for banana bread."),
            (A, "Here is a recipe for banana muffins."),
            (U, "No, that's wrong. I asked for bread, not muffins."),
        ]
    )
    assert "corrects the assistant" in texts["responses"]
    assert "misunderstood or got it wrong" in texts["responses"]
    assert {"NEGATE", "INFORM"} <= acts_of_turn(texts["dialog_acts"], 2)
    assert "NEGATE" not in acts_of_turn(texts["dialog_acts"], 1)


def test_a_first_message_starting_with_no_is_not_a_correction() -> None:
    texts = describe_turns([(U, "No idea how to start a vegetable garden, any tips?")])
    assert "NEGATE" not in texts["dialog_acts"]
    assert "corrects" not in texts["responses"]


def test_thanks_only_final_turn_is_thank_and_goodbye() -> None:
    texts = describe_turns(
        [
            (U, "How many grams are in an ounce?"),
            (A, "About 28.35 grams."),
            (U, "Thanks, that's all. Bye!"),
        ]
    )
    assert acts_of_turn(texts["dialog_acts"], 2) == {"THANK", "GOODBYE"}
    assert "closes the conversation with a thank-you and goodbye only" in texts["responses"]
    assert "followed only by thanks" in texts["requests"]


def test_french_is_detected_as_french() -> None:
    texts = describe_turns(
        [(U, "Bonjour, pouvez-vous m'expliquer comment je peux faire une tarte aux pommes ?")]
    )
    assert texts["style"].startswith("The user writes in French, not English.")
    assert texts["requests"].startswith(
        "The requests are written in a language other than English."
    )
    assert "GREET" in acts_of_turn(texts["dialog_acts"], 1)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿Cómo puedo preparar una paella para mi familia? Gracias", "Spanish"),
        ("Kannst du mir bitte erklären, wie ich das Fahrrad reparieren kann?", "German"),
        ("Como eu posso melhorar o meu currículo? Obrigado", "Portuguese"),
        ("Come posso imparare la chitarra da solo? Grazie", "Italian"),
        ("Hoe kan ik mijn fiets repareren? Bedankt", "Dutch"),
        ("How can I fix my bike chain?", "English"),
        ("python sort dict by value", "English"),
    ],
)
def test_language_detector(text: str, language: str) -> None:
    style = describe_turns([(U, text)])["style"]
    if language == "English":
        assert "not English" not in style
    else:
        assert f"writes in {language}, not English" in style


def test_topic_switch_is_detected_and_follow_up_is_not() -> None:
    switch = describe_turns(
        [
            (U, "How long should I boil an egg for a soft yolk?"),
            (A, "About six minutes in boiling water gives a soft yolk."),
            (U, "What is the best way to learn German grammar quickly?"),
        ]
    )
    assert "asks about an unrelated new topic" in switch["responses"]
    assert "starts an unrelated new task" in switch["requests"]
    assert "INFORM_INTENT" in acts_of_turn(switch["dialog_acts"], 2)
    follow_up = describe_turns(
        [
            (U, "How long should I boil an egg for a soft yolk?"),
            (A, "About six minutes in boiling water gives a soft yolk."),
            (U, "And how long for a hard boiled egg yolk?"),
        ]
    )
    assert "unrelated" not in follow_up["responses"]


def test_iterative_refinement_and_clarifying_questions() -> None:
    refine = describe_turns(
        [
            (U, "Write a short poem about autumn."),
            (A, "Leaves drift down..."),
            (U, "make it shorter"),
            (A, "Leaves fall."),
            (U, "now add a title"),
            (A, "Autumn. Leaves fall."),
            (U, "more formal please"),
        ]
    )
    assert "refining the same output step by step" in refine["requests"]
    assert "not English" not in refine["style"]
    assert "repeated small edits" in refine["responses"]
    assert "REQUEST_ALTS" in acts_of_turn(refine["dialog_acts"], 3)
    clarify = describe_turns(
        [
            (U, "Explain how compound interest works."),
            (A, "Interest is added to the principal each period and then earns interest."),
            (U, "What do you mean by period?"),
        ]
    )
    assert "asks a question back about the answer" in clarify["responses"]
    assert "follow-up questions about the answer" in clarify["requests"]
    assert acts_of_turn(clarify["dialog_acts"], 2) == {"REQUEST"}


def test_one_line_error_and_compiler_warning_count_as_pasted_logs() -> None:
    docker = (
        "stuck on this\n\ndocker: Error response from daemon: driver failed on endpoint "
        "web_1: Bind for 0.0.0.0:8080 failed: port is already allocated.\n\nany idea?"
    )
    warning = "main.c: In function 'main':\nmain.c:158:31: warning: implicit declaration\nhelp?"
    for text in (docker, warning):
        assert "pastes an error message or log output" in describe_turns([(U, text)])["requests"]
    prose = describe_turns([(U, "My bread failed to rise and I cannot see why. What went wrong?")])
    assert "pastes" not in prose["requests"]


def test_follow_up_kinds_are_told_apart() -> None:
    def reaction(follow_up: str) -> str:
        return describe_turns(
            [
                (U, "Write a short toast for my sister's wedding."),
                (A, "Here is a warm toast about family and new beginnings."),
                (U, follow_up),
            ]
        )["responses"]

    assert "asks for a small change" in reaction("Would you mind adding a joke, please?")
    assert "asks for a small change" in reaction("can you give me a second option?")
    assert "question back" in reaction("Why did you mention beginnings?")
    assert "related request" in reaction("Could you also suggest a first dance song?")
    assert "unrelated new topic" in reaction("Unrelated, but how do I descale a kettle?")
    added = reaction("I forgot to say: a long toast didn't work for us before.")
    assert "corrects" not in added


def test_declining_an_offer_or_leaving_is_not_a_correction() -> None:
    leaving = describe_turns(
        [
            (U, "Can you change my seat to an aisle seat?"),
            (A, "Done. Is there anything else I can help with?"),
            (U, "No, that's all for now. Thanks for your help!"),
        ]
    )
    assert "corrects" not in leaving["responses"]
    assert {"THANK", "GOODBYE"} <= acts_of_turn(leaving["dialog_acts"], 2)
    declining = describe_turns(
        [
            (U, "I need to cancel my booking."),
            (A, "I can transfer you to an agent. Would you like that?"),
            (U, "No, I don't want to be transferred. I don't have the booking code right now."),
        ]
    )
    assert "corrects" not in declining["responses"]
    assert "complains" not in declining["responses"]
    assert "NEGATE_INTENT" in acts_of_turn(declining["dialog_acts"], 2)


def test_language_is_judged_on_all_user_text() -> None:
    texts = describe_turns(
        [
            (U, "Ich suche eine Zusammenfassung der Französischen Revolution"),
            (A, "Gern! Hier ist mein Vorschlag."),
            (U, "Warum?"),
            (A, "Weil es einfacher ist."),
            (U, "ok"),
        ]
    )
    assert "writes in German, not English" in texts["style"]


def test_request_specification_levels() -> None:
    terse = describe_turns([(U, "python sort dict by value")])
    assert "very short and an unspecified keyword fragment" in terse["requests"]
    assert "Casual register: lowercase" in terse["style"]
    detailed = describe_turns(
        [
            (
                U,
                "Write a product description for a hiking backpack.\n"
                "- It must be under 120 words\n- Use a friendly tone\n"
                "- Include exactly 3 bullet points\n- Don't mention the price\n"
                "For example: 'Built for the trail.'",
            )
        ]
    )
    assert "highly specified" in detailed["requests"]
    assert "Requirements are spelled out upfront" in detailed["context"]
    assert "Uses list formatting" in detailed["style"]
    assert "Tone: direct, bare commands without please" in detailed["style"]
    assert "INFORM" in acts_of_turn(detailed["dialog_acts"], 1)


def test_tone_politeness_frustration_and_background() -> None:
    polite = describe_turns(
        [
            (
                U,
                "Hello! I hope you are doing well. Would you kindly help me write a note to my "
                "neighbour? Thank you so much in advance!",
            )
        ]
    )
    assert "Tone: very polite and formal" in polite["style"]
    assert acts_of_turn(polite["dialog_acts"], 1) >= {"GREET", "THANK"}
    angry = describe_turns(
        [
            (U, "How do I reset my router?"),
            (A, "Unplug it for ten seconds."),
            (U, "I ALREADY DID THAT!! This is USELESS"),
        ]
    )
    assert "Tone: angry and impatient" in angry["style"]
    assert "words in capitals" in angry["style"]
    assert "complains" in angry["responses"]
    assert "NEGATE" in acts_of_turn(angry["dialog_acts"], 2)
    background = describe_turns(
        [
            (
                U,
                "I'm a nurse working night shifts. I have two kids. My husband travels a lot. "
                "We live in a small flat. Can you suggest some quick dinners?",
            )
        ]
    )
    assert "volunteers a lot of personal background" in background["context"]


def test_greeting_alone_does_not_count_as_the_request() -> None:
    texts = describe_turns(
        [(U, "hi"), (A, "Hello! How can I help?"), (U, "Write a limerick about a cat.")]
    )
    assert "opens with a greeting alone" in texts["requests"]
    assert "unrelated" not in texts["responses"]
    assert acts_of_turn(texts["dialog_acts"], 1) == {"GREET"}
    assert "INFORM_INTENT" in acts_of_turn(texts["dialog_acts"], 2)


def test_behaviour_texts_do_not_depend_on_the_topic() -> None:
    def conversation(thing: str, place: str) -> list[tuple[str, str]]:
        return [
            (U, f"Can you recommend a good {thing} near {place}?"),
            (A, f"Sure, try the {thing} at the {place} market."),
            (U, f"No, that's not what I asked. I need a cheap {thing}."),
            (A, f"Sorry, a cheaper {thing} is on {place} road."),
            (U, "Thanks, bye!"),
        ]

    first = describe_turns(conversation("zorblaxian bakery", "Quintessaville"))
    second = describe_turns(conversation("flumphet garage", "Brintonshire"))
    assert first == second
    assert not leaked_words(first)
    for word in ("zorblaxian", "bakery", "quintessaville", "cheap", "market"):
        assert word not in " ".join(first.values()).lower()


def test_conversations_without_user_turns_still_get_texts() -> None:
    texts = describe_turns([(A, "Hello, how can I help?"), ("system", "policy")])
    assert set(texts) == set(BEHAVIOUR_FACETS)
    assert all(text == "The conversation has no user turns." for text in texts.values())


def test_system_and_tool_turns_are_ignored() -> None:
    with_tools = describe_turns(
        [
            ("system", "You are an agent."),
            (U, "Cancel my order please."),
            (A, ""),
            ("tool", '{"status": "cancelled"}'),
            (A, "Done, it is cancelled."),
            (U, "thanks, bye"),
        ]
    )
    plain = describe_turns(
        [(U, "Cancel my order please."), (A, "Done, it is cancelled."), (U, "thanks, bye")]
    )
    assert with_tools == plain


def test_many_synthetic_conversations_are_described() -> None:
    # Throughput is measured in bench/, not asserted here; this checks scale and shape only.
    templates = [
        [(U, "fix my {x} loop"), (A, "Use a range."), (U, "no, wrong {x}")],
        [(U, "Hello! Could you kindly explain {x}? Thank you!"), (A, "Sure.")],
        [(U, "Write about {x}."), (A, "Done."), (U, "shorter"), (A, "Ok."), (U, "thanks")],
    ]
    conversations = [
        [(role, text.format(x=f"topic{i}")) for role, text in templates[i % 3]] for i in range(3000)
    ]
    frame = HeuristicAnnotator().describe(corpus_of(*conversations))
    assert len(frame) == 3000
    for facet in BEHAVIOUR_FACETS:
        assert frame[facet].str.len().gt(0).all()
    # Topic words differ in every conversation; the descriptions come in exactly three kinds.
    assert frame[list(BEHAVIOUR_FACETS)].drop_duplicates().shape[0] == 3


def test_text_hash_is_sha256_of_utf8() -> None:
    assert text_hash("héllo") == hashlib.sha256("héllo".encode()).hexdigest()
    assert text_hash("a") != text_hash("b")


def _wildchat(corpora: Path, limit: int) -> list[list[tuple[str, str]]]:
    conversations = []
    with open(corpora / "real" / "wildchat" / "wildchat.jsonl", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            conversations.append(
                [
                    (m["role"], m["content"] if isinstance(m["content"], str) else "")
                    for m in record["messages"]
                ]
            )
            if len(conversations) == limit:
                break
    return conversations


def _taubench(corpora: Path) -> list[list[tuple[str, str]]]:
    records = json.loads((corpora / "simulated" / "taubench" / "gpt-4o-airline.json").read_text())
    return [[(m["role"], m.get("content") or "") for m in r["traj"]] for r in records[:40]]


def _hh_rlhf(corpora: Path, limit: int) -> list[list[tuple[str, str]]]:
    conversations = []
    with gzip.open(corpora / "real" / "hh_rlhf" / "test.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            parts = re.split(r"\n\n(Human|Assistant): ", json.loads(line)["chosen"])[1:]
            conversations.append(
                [
                    ("user" if role == "Human" else "assistant", text)
                    for role, text in zip(parts[::2], parts[1::2], strict=True)
                ]
            )
            if len(conversations) == limit:
                break
    return conversations


def test_real_conversations_get_short_topic_free_texts(shared_corpora: Path) -> None:
    conversations = (
        _wildchat(shared_corpora, 150) + _taubench(shared_corpora) + _hh_rlhf(shared_corpora, 60)
    )
    for turns in conversations:
        texts = describe_turns(turns)
        assert not leaked_words(texts), (turns[0], texts)
        for facet in ("requests", "responses", "context", "style"):
            assert 3 <= len(texts[facet].split()) <= 80, texts[facet]
        assert len(" ".join(texts.values()).split()) <= 200
