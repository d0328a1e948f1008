"""Every public corpus in ../shared/corpora loads with the counts its README gives.

Records are also counted here independently of the loaders (lines of JSONL, elements of a JSON
list), so that loaded + skipped = records is checked against the file, not against itself.
User-turn counts are the ones measured when these tests were written.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from simgap_core.errors import UnknownFormatError
from simgap_core.io.loaders import load_file, load_paths, sniff_format

# path: (format, conversations per the README, user turns measured)
CORPORA = {
    "real/wildchat/wildchat.jsonl": ("openai", 588, 2387),
    "real/oasst/oasst.jsonl": ("openai", 50, 226),
    "real/simulatorarena/document_creation_annotations_for_benchmarking.json": (
        "simulatorarena",
        51,
        349,
    ),
    "real/simulatorarena/math_tutoring_annotations_redacted_for_benchmarking.json": (
        "simulatorarena",
        50,
        564,
    ),
    "real/hh_rlhf/test.jsonl.gz": ("hh_rlhf", 2312, 5756),
    "simulated/taubench/gpt-4o-airline.json": ("taubench", 200, 1490),
}

TAU_TRAIT_FILES = 16
TAU_TRAIT_CONVERSATIONS = 670
TAU_TRAIT_USER_TURNS = 6988


def count_records(path: Path) -> int:
    """Records in the file, counted without the loaders."""
    if path.suffix == ".json":
        return len(json.loads(path.read_text(encoding="utf-8")))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def user_turns(corpus) -> int:
    return int((corpus.turns["role"] == "user").sum())


@pytest.mark.parametrize("relative", sorted(CORPORA))
def test_corpus_loads_with_the_readme_counts(shared_corpora: Path, relative: str) -> None:
    path = shared_corpora / relative
    expected_format, conversations, turns = CORPORA[relative]
    assert sniff_format(path) == expected_format
    corpus = load_file(path)
    records = count_records(path)
    assert records == conversations
    assert len(corpus) + len(corpus.skipped) == records
    assert all(s.reason and s.record and s.file == str(path) for s in corpus.skipped)
    assert len(corpus) == conversations  # measured: nothing in these files is skipped
    assert user_turns(corpus) == turns
    assert corpus.conversations["conversation_id"].is_unique
    assert set(corpus.turns["role"].unique()) <= {"user", "assistant", "system", "tool"}


def test_tau_trait_loads_670_conversations_over_16_files(shared_corpora: Path) -> None:
    files = sorted((shared_corpora / "simulated" / "tau_trait").glob("*.json"))
    assert len(files) == TAU_TRAIT_FILES
    assert {sniff_format(path) for path in files} == {"taubench"}
    corpus = load_paths(files)
    assert sum(count_records(path) for path in files) == TAU_TRAIT_CONVERSATIONS
    assert len(corpus) + len(corpus.skipped) == TAU_TRAIT_CONVERSATIONS
    assert len(corpus) == TAU_TRAIT_CONVERSATIONS
    assert user_turns(corpus) == TAU_TRAIT_USER_TURNS
    # One source per file, named by its stem.
    assert sorted(corpus.sources) == sorted(path.stem for path in files)
    assert corpus.conversations["task"].notna().all()


def test_taubench_keeps_instructions_and_writes_out_tool_calls(shared_corpora: Path) -> None:
    corpus = load_file(shared_corpora / "simulated" / "taubench" / "gpt-4o-airline.json")
    assert corpus.conversations["task"].notna().all()
    assert corpus.conversations["original_id"].iloc[0] == "0-0"
    assistant = corpus.turns[corpus.turns["role"] == "assistant"]["text"]
    assert assistant.str.startswith("[tool call] ").sum() > 0
    assert (assistant == "").sum() == 0  # every content-less assistant turn was a tool call


def test_simulatorarena_keeps_intent_and_the_image_turn(shared_corpora: Path) -> None:
    folder = shared_corpora / "real" / "simulatorarena"
    writing = load_file(folder / "document_creation_annotations_for_benchmarking.json")
    assert writing.conversations["intent"].notna().sum() == 51
    math = load_file(folder / "math_tutoring_annotations_redacted_for_benchmarking.json")
    user = math.turns[math.turns["role"] == "user"]["text"]
    assert (user == "[image: image.png]").sum() == 1
    assert (user == "").sum() == 1  # an empty query is data, kept as a turn


def test_wildchat_language_comes_from_metadata(shared_corpora: Path) -> None:
    corpus = load_file(shared_corpora / "real" / "wildchat" / "wildchat.jsonl")
    # 186 records carry full metadata; the 402 salvaged ones have no language.
    assert corpus.conversations["language"].value_counts().to_dict() == {"English": 186}


def test_intent_bank_is_not_a_transcript_file(shared_corpora: Path) -> None:
    path = shared_corpora / "real" / "simulatorarena" / "intent_bank.csv"
    for attempt in (lambda: sniff_format(path), lambda: load_file(path)):
        with pytest.raises(UnknownFormatError) as caught:
            attempt()
        message = str(caught.value)
        assert message.startswith(f"{path}: is a table with columns ")
        assert "['document_type', 'intent', 'bullet_points']" in message
        assert "lacks conversation_id, turn, role, text" in message
