"""Format-level regressions (issue 11: 1, 3, 8, 12, 13) and the WildChat / LMSYS shape (issue 13).

Every fixture is written by the test, so every count is exact.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simgap_core.errors import UnknownFormatError
from simgap_core.io import registry
from simgap_core.io.loaders import load_file, sniff_format
from simgap_core.model import Conversation, Corpus, conversation_key


def reasons(corpus: Corpus) -> dict[str, str]:
    return {s.record: s.reason for s in corpus.skipped}


# --- 1: strict CSV -----------------------------------------------------------------------------


def test_a_stray_quote_skips_its_row_and_keeps_every_other(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(
        "conversation_id,turn,role,text\n"
        "c1,0,user,hello there\n"
        'c2,0,user,"oops I never close this quote\n'
        "c3,0,user,third one\n"
        'c4,0,user,"a quoted, fine one"\n',
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert sorted(corpus.conversations["original_id"]) == ["c1", "c3", "c4"]
    assert corpus.transcript("long:c3") == [("user", "third one")]
    assert corpus.transcript("long:c4") == [("user", "a quoted, fine one")]
    [skipped] = corpus.skipped
    assert (skipped.file, skipped.record) == (str(path), "line 3")
    assert "quot" in skipped.reason and "next line" in skipped.reason


def test_a_stray_quote_with_no_later_quote_loses_only_its_row(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    rows = [f"c{i},0,user,message {i}" for i in range(6)]
    rows[2] = 'c2,0,user,"never closed'
    path.write_text("conversation_id,turn,role,text\n" + "\n".join(rows) + "\n")
    corpus = load_file(path)
    assert len(corpus) == 5 and list(reasons(corpus)) == ["line 4"]


def test_a_stray_quote_that_closes_with_the_right_field_count_does_not_merge_rows(
    tmp_path: Path,
) -> None:
    # The quote opened in c2's text closes at the end of c3's line: csv alone reads one valid
    # 4-field row "oops stray\nc3,0,user,third" and c3 would vanish inside c2's turn.
    path = tmp_path / "long.csv"
    path.write_text(
        "conversation_id,turn,role,text\n"
        "c1,0,user,hello\n"
        'c2,0,user,"oops stray\n'
        'c3,0,user,third"\n'
        "c4,0,user,fourth\n",
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert sorted(corpus.conversations["original_id"]) == ["c1", "c3", "c4"]
    [skipped] = corpus.skipped
    assert skipped.record == "line 3"
    assert "line 4 inside it reads as a row of its own" in skipped.reason


def test_quoted_multi_line_text_is_still_one_turn(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text('conversation_id,turn,role,text\nc1,0,user,"line one\nline two"\n')
    corpus = load_file(path)
    assert corpus.transcript("long:c1") == [("user", "line one\nline two")]
    assert corpus.skipped == []


# --- 3: lone surrogates ------------------------------------------------------------------------


def test_a_lone_surrogate_is_replaced_and_counted_as_a_repair(tmp_path: Path) -> None:
    path = tmp_path / "chats.jsonl"
    lines = [
        '{"id": "a", "messages": [{"role": "user", "content": "smile \\ud83d please"}]}',
        '{"id": "b", "messages": [{"role": "user", "content": "pair \\ud83d\\ude00 ok"}]}',
        '{"id": "c", "messages": [{"role": "user", "content": "\\udc00\\ud800 two"}]}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = load_file(path)
    assert len(corpus) == 3 and corpus.skipped == []
    assert corpus.transcript("chats:a") == [("user", "smile \ufffd please")]
    assert corpus.transcript("chats:b") == [("user", "pair \U0001f600 ok")]  # a valid pair
    assert corpus.transcript("chats:c") == [("user", "\ufffd\ufffd two")]
    assert [(r.file, r.record) for r in corpus.repairs] == [
        (str(path), "line 1"),
        (str(path), "line 3"),
    ]
    assert corpus.repairs[1].change.startswith("2 lone surrogate escapes")
    corpus.save(tmp_path / "saved")  # Arrow accepts the repaired text
    assert Corpus.read(tmp_path / "saved").transcript("chats:a")[0][1] == "smile \ufffd please"


def test_a_lone_surrogate_in_a_json_list_and_in_a_key(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(
        '[{"id": "x\\ud800", "messages": [{"role": "user", "content": "hi"}]}]', encoding="utf-8"
    )
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["x\ufffd"]
    assert [r.record for r in corpus.repairs] == ["record 1"]


# --- 8: ids unique by construction, duplicates within a file ------------------------------------


def test_ids_cannot_collide_through_a_colon_in_the_source() -> None:
    first = Conversation("b:1", "a", [("user", "x")])
    second = Conversation("1", "a:b", [("user", "y")])
    assert first.conversation_id != second.conversation_id
    corpus = Corpus.concat(
        [Corpus.from_conversations([first]), Corpus.from_conversations([second])]
    )
    assert len(corpus) == 2
    assert conversation_key("real", "7") == "real:7"  # plain names keep their old ids
    assert conversation_key("50%:x", "1") == "50%25%3Ax:1"


def test_a_repeated_id_within_a_file_is_skipped_naming_the_first(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    record = {"id": "same", "messages": [{"role": "user", "content": "hi"}]}
    path.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n")
    corpus = load_file(path)
    assert len(corpus) == 1
    assert reasons(corpus) == {
        "line 2": "duplicate id 'same' in source 'dup': line 1 has the same id"
    }


def test_concat_of_a_duplicate_names_both_files() -> None:
    one = Conversation("7", "s", [("user", "x")], file="a.jsonl", record="line 1")
    two = Conversation("7", "s", [("user", "x")], file="b.jsonl", record="line 4")
    from simgap_core.model import DuplicateConversationError

    with pytest.raises(DuplicateConversationError, match=r"a\.jsonl, line 1 and b\.jsonl, line 4"):
        Corpus.concat([Corpus.from_conversations([one]), Corpus.from_conversations([two])])


# --- 12: concatenated pretty-printed JSON ------------------------------------------------------


def test_jq_style_concatenated_objects_all_load(tmp_path: Path) -> None:
    path = tmp_path / "jq.json"
    records = [
        {"id": f"r{i}", "messages": [{"role": "user", "content": f"question {i}"}]}
        for i in range(10)
    ]
    path.write_text("".join(json.dumps(r, indent=2) + "\n" for r in records), encoding="utf-8")
    assert sniff_format(path) == "openai"
    corpus = load_file(path)
    assert len(corpus) == 10 and corpus.skipped == []
    assert corpus.conversations["record"].tolist() == [f"record {i}" for i in range(1, 11)]


def test_concatenated_objects_broken_in_the_middle_keep_the_ones_before(tmp_path: Path) -> None:
    path = tmp_path / "jq.json"
    good = json.dumps({"id": "a", "messages": [{"role": "user", "content": "q"}]}, indent=2)
    path.write_text(good + "\n" + good.replace('"a"', '"b"') + '\n{\n  "id": "c",\n  "mess')
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["a", "b"]
    assert list(reasons(corpus)) == ["record 3"]
    assert "nothing after this point can be read" in reasons(corpus)["record 3"]


# --- 13: Parquet text column types -------------------------------------------------------------


def _table(text: pa.Array) -> pa.Table:
    count = len(text)
    return pa.table(
        {
            "conversation_id": [f"c{i}" for i in range(count)],
            "turn": [0] * count,
            "role": ["user"] * count,
            "text": text,
        }
    )


def test_binary_parquet_text_is_decoded_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "spark.parquet"
    pq.write_table(
        _table(pa.array(["héllo".encode(), b"\xff\xfe bad", b"fine"], pa.binary())), path
    )
    corpus = load_file(path)
    assert corpus.transcript("spark:c0") == [("user", "héllo")]
    assert corpus.transcript("spark:c2") == [("user", "fine")]
    assert "b'" not in "".join(corpus.turns["text"])
    [skipped] = corpus.skipped
    assert skipped.record == "row 2"
    assert "field 'text' at row 2 is binary data that is not UTF-8" in skipped.reason


@pytest.mark.parametrize(
    "array",
    [
        pa.array([["a", "b"], ["c"]], pa.list_(pa.string())),
        pa.array([{"x": "a"}, {"x": "b"}], pa.struct([("x", pa.string())])),
    ],
)
def test_nested_parquet_text_is_a_clear_file_error(tmp_path: Path, array: pa.Array) -> None:
    path = tmp_path / "nested.parquet"
    pq.write_table(_table(array), path)
    with pytest.raises(UnknownFormatError, match=r"nested\.parquet, field 'text': column 'text'"):
        load_file(path)


# --- WildChat / LMSYS-Chat-1M ------------------------------------------------------------------


def wildchat_records(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "conversation_hash": f"h{i}",
            "model": "gpt-4-0314" if i % 2 else "gpt-3.5-turbo",
            "timestamp": f"2023-04-0{1 + i % 9}T10:00:00",
            "turn": 2,
            "language": "English" if i % 3 else "French",
            "toxic": False,
            "openai_moderation": [{"flagged": False}],
            "conversation": [
                {"role": "user", "content": f"first question {i}", "turn_identifier": i},
                {"role": "assistant", "content": "an answer", "turn_identifier": i},
                {"role": "user", "content": "and a follow-up", "turn_identifier": i},
            ],
        }
        for i in range(start, start + count)
    ]


def lmsys_records(count: int) -> list[dict]:
    return [
        {
            "conversation_id": f"lm{i}",
            "model": "vicuna-13b",
            "turn": 1,
            "language": "English",
            "redacted": False,
            "conversation": [
                {"role": "user", "content": f"hello {i}"},
                {"role": "assistant", "content": "hi"},
            ],
        }
        for i in range(count)
    ]


def write_wildchat_parquet(path: Path, records: list[dict]) -> Path:
    rows = [dict(r, timestamp=dt.datetime.fromisoformat(r["timestamp"])) for r in records]
    table = pa.Table.from_pylist(rows)
    assert pa.types.is_list(table.schema.field("conversation").type)
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize("container", ["json", "jsonl", "jsonl.gz", "parquet"])
def test_wildchat_shape_in_every_container(tmp_path: Path, container: str) -> None:
    records = wildchat_records(12)
    path = tmp_path / f"wildchat.{container}"
    if container == "json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif container == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif container == "jsonl.gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
    else:
        write_wildchat_parquet(path, records)
    assert sniff_format(path) == "wildchat"
    corpus = load_file(path)
    assert len(corpus) == 12 and corpus.skipped == []
    assert int((corpus.turns["role"] == "user").sum()) == 24
    assert corpus.conversations["original_id"].tolist() == [f"h{i}" for i in range(12)]
    assert corpus.conversations["language"].value_counts().to_dict() == {"English": 8, "French": 4}
    metadata = json.loads(corpus.conversations["metadata"].iloc[1])
    assert metadata == {
        "language": "English",
        "model": "gpt-4-0314",
        "timestamp": "2023-04-02T10:00:00",
        "toxic": False,
        "turn": 2,
    }  # nested moderation scores are left out


def test_lmsys_shape_keeps_its_conversation_id(tmp_path: Path) -> None:
    path = tmp_path / "lmsys.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lmsys_records(5)))
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == [f"lm{i}" for i in range(5)]
    assert json.loads(corpus.conversations["metadata"].iloc[0])["model"] == "vicuna-13b"


def test_a_bad_wildchat_record_names_its_row_and_field(tmp_path: Path) -> None:
    records = wildchat_records(3)
    records[1]["conversation"][0]["role"] = "narrator"
    path = tmp_path / "shard.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    corpus = load_file(path)
    assert len(corpus) == 2
    assert reasons(corpus) == {
        "line 2": "field 'conversation[0].role' has unknown role 'narrator' (expected user, "
        "assistant, system or tool, or an alias such as human, gpt, bot)"
    }


def test_registry_lists_every_format_once_and_sniffs_in_priority_order() -> None:
    names = registry.names()
    assert len(names) == len(set(names))
    assert {"openai", "wildchat", "sharegpt", "table", "paired"} <= set(names)
    # A record with both shapes is the more specific one.
    both = {"real_messages": [], "simulated_messages": [], "messages": []}
    assert registry.record_format_of(both) == "paired"
    assert registry.record_format_of({"conversation": [], "messages": []}) == "wildchat"
    assert registry.record_format_of({"conversation": "not a list"}) is None


def test_a_format_registered_through_the_public_api_is_sniffed_and_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simgap_core.io.records import RecordContext, message_turns, require_user, required
    from simgap_core.io.registry import RecordFormat, register

    def parse(record: dict, context: RecordContext, number: int) -> list[Conversation]:
        turns = message_turns(required(record, "dialog"), "dialog", text_keys=("utterance",))
        require_user(turns, "dialog")
        return [context.conversation(record, number, turns)]

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register(RecordFormat("toy", "dialog (toy)", lambda r: "dialog" in r, parse, priority=5))
    path = tmp_path / "toy.jsonl"
    path.write_text(
        json.dumps({"id": 1, "dialog": [{"role": "user", "utterance": "hi"}]})
        + "\n"
        + json.dumps({"id": 2, "dialog": [{"role": "bot", "utterance": "alone"}]})
        + "\n"
    )
    assert sniff_format(path) == "toy"
    corpus = load_file(path)
    assert corpus.transcript("toy:1") == [("user", "hi")]
    assert reasons(corpus) == {
        "line 2": "no user turn in field 'dialog' (roles present: assistant)"
    }
    with pytest.raises(UnknownFormatError, match=r"expected .*dialog \(toy\)"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"what": 1}\n')
        load_file(bad)
