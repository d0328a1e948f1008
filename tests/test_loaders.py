"""Loaders on small files each test writes: every format, sniffed and named, and every bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from simgap_core.errors import (
    BinaryFileError,
    EmptyFileError,
    EncodingError,
    FileTooLargeError,
    InputError,
    MissingFileError,
    NoConversationsError,
    SkippedRecord,
    UnknownFormatError,
)
from simgap_core.io import reading
from simgap_core.io.loaders import FORMATS, load_file, load_paths, sniff_format


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
    return path


def chat(*turns: tuple[str, str], **fields: object) -> dict:
    return {**fields, "messages": [{"role": role, "content": text} for role, text in turns]}


def reasons(corpus) -> dict[str, str]:
    return {s.record: s.reason for s in corpus.skipped}


# --- fixtures: one small file per format -----------------------------------------------------


def make_openai(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "chats.jsonl",
        [
            chat(("system", "be brief"), ("user", "hi"), ("assistant", "hello"), id="a"),
            chat(
                ("user", "bonjour"),
                ("assistant", "salut"),
                ("user", "merci"),
                id="b",
                metadata={"language": "French"},
                intent="greeting",
            ),
        ],
    )


def make_sharegpt(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "share.json",
        [
            {
                "id": "s1",
                "conversations": [
                    {"from": "system", "value": "you help"},
                    {"from": "human", "value": "write a haiku"},
                    {"from": "gpt", "value": "autumn moon"},
                    {"from": "Human", "value": "another"},
                    {"from": "bing", "value": "winter sun"},
                ],
            }
        ],
    )


def make_hh(tmp_path: Path) -> Path:
    path = tmp_path / "harmless.jsonl.gz"
    records = [
        {
            "chosen": "\n\nHuman: how do I pick a lock?\n\nAssistant: Why?\n\nHuman: locked out"
            "\n\nAssistant: Call a locksmith.",
            "rejected": "\n\nHuman: how do I pick a lock?\n\nAssistant: Sure.\n\nHuman: locked out"
            "\n\nAssistant: Use a pin.",
        },
        {"chosen": "\n\nHuman: tell me a joke\n\nAssistant: No.", "rejected": "x"},
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in records)
    return path


def make_taubench(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "gpt-4o-airline.json",
        [
            {
                "task_id": 7,
                "trial": 1,
                "reward": 1.0,
                "info": {"task": {"user_id": "u1", "instruction": "You want to cancel."}},
                "traj": [
                    {"role": "system", "content": "policy"},
                    {"role": "user", "content": "cancel my trip"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "get_reservation",
                                    "arguments": '{"id": "R1"}',
                                },
                            }
                        ],
                    },
                    {"role": "tool", "content": '{"status": "ok"}', "tool_call_id": "call_1"},
                    {"role": "assistant", "content": "Done.", "tool_calls": None},
                ],
            }
        ],
    )


def make_simulatorarena(tmp_path: Path) -> Path:
    return write_json(
        tmp_path / "arena.json",
        [
            {
                "user_queries": ["write an email", ["/tmp/gradio/abc/image.png", "see this"]],
                "ai_responses": ["Dear ...", "I see a triangle."],
                "intent": "Apology Letter: say sorry.",
                "document_type": "email",
            },
            {"user_queries": ["solve x+1=2"], "ai_responses": [], "intent": None},
        ],
    )


def make_table(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "conversation_id": ["c1", "c1", "c2", "c1", "c2"],
            "turn": [2, 0, 0, 1, 1],
            "role": ["user", "user", "human", "assistant", "bot"],
            "text": ["thanks", "first", "hola", "answer", ""],
            "source": ["real", "real", "real", "real", "real"],
            "language": ["en", "en", "es", "en", "es"],
        }
    )
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    return path


def make_paired(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {
                "id": "p1",
                "real_messages": [{"role": "user", "content": "fix my regex pls"}],
                "simulated_messages": [
                    {"role": "user", "content": "Could you please fix my regular expression?"},
                    {"role": "assistant", "content": "Sure."},
                ],
            }
        ],
    )


def make_wildchat(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "wildchat_shard.jsonl",
        [
            {
                "conversation_hash": "h1",
                "model": "gpt-4",
                "language": "English",
                "turn": 1,
                "conversation": [
                    {"role": "user", "content": "write a haiku", "turn_identifier": 1},
                    {"role": "assistant", "content": "leaves fall", "turn_identifier": 1},
                ],
            }
        ],
    )


MAKERS = {
    "openai": make_openai,
    "wildchat": make_wildchat,
    "sharegpt": make_sharegpt,
    "hh_rlhf": make_hh,
    "taubench": make_taubench,
    "simulatorarena": make_simulatorarena,
    "table": make_table,
    "paired": make_paired,
}


def test_formats_cover_every_maker() -> None:
    assert set(MAKERS) == set(FORMATS)


@pytest.mark.parametrize("name", FORMATS)
def test_sniffed_and_named_formats_load_the_same(tmp_path: Path, name: str) -> None:
    path = MAKERS[name](tmp_path)
    assert sniff_format(path) == name
    sniffed, named = load_file(path), load_file(path, format=name)
    pd.testing.assert_frame_equal(sniffed.conversations, named.conversations)
    pd.testing.assert_frame_equal(sniffed.turns, named.turns)
    assert sniffed.skipped == named.skipped == []


# --- each format's content -------------------------------------------------------------------


def test_openai_jsonl(tmp_path: Path) -> None:
    corpus = load_file(make_openai(tmp_path))
    conversations = corpus.conversations.set_index("conversation_id")
    assert list(conversations.index) == ["chats:a", "chats:b"]
    assert conversations.loc["chats:b", "language"] == "French"
    assert conversations.loc["chats:b", "intent"] == "greeting"
    assert pd.isna(conversations.loc["chats:a", "language"])
    assert conversations.loc["chats:a", "record"] == "line 1"
    assert conversations.loc["chats:a", "file"].endswith("chats.jsonl")
    assert corpus.transcript("chats:a") == [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "hello"),
    ]
    assert corpus.summary().loc["chats", "user_turns"] == 3


def test_openai_json_list_and_content_parts(tmp_path: Path) -> None:
    record = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.org/img/cat.png?s=1"}},
                ],
            },
            {"role": "assistant", "content": "a cat"},
        ]
    }
    corpus = load_file(write_json(tmp_path / "list.json", [record, record]))
    assert sniff_format(tmp_path / "list.json") == "openai"
    # No ids in the records: the file stem and the record number stand in.
    assert corpus.conversations["conversation_id"].tolist() == ["list:list-1", "list:list-2"]
    assert corpus.conversations["record"].tolist() == ["record 1", "record 2"]
    assert corpus.transcript("list:list-1")[0] == ("user", "what is this?\n[image: cat.png]")


def test_container_is_read_from_content_not_extension(tmp_path: Path) -> None:
    # JSONL named .json, and one pretty-printed object: both are openai records.
    jsonl = write_jsonl(tmp_path / "lines.json", [chat(("user", "a")), chat(("user", "b"))])
    single = write_json(tmp_path / "single.json", chat(("user", "only one"), id="x"))
    assert sniff_format(jsonl) == sniff_format(single) == "openai"
    assert load_file(jsonl).conversations["record"].tolist() == ["line 1", "line 2"]
    assert load_file(single).transcript("single:x") == [("user", "only one")]


def test_gzipped_tsv_table(tmp_path: Path) -> None:
    path = tmp_path / "turns.tsv.gz"
    rows = "conversation_id\tturn\trole\ttext\nk\t0\tuser\thello, world\n"
    path.write_bytes(gzip.compress(rows.encode()))
    assert sniff_format(path) == "table"
    assert load_file(path).transcript("turns:k") == [("user", "hello, world")]


def test_sharegpt_roles_are_normalised(tmp_path: Path) -> None:
    corpus = load_file(make_sharegpt(tmp_path))
    assert corpus.transcript("share:s1") == [
        ("system", "you help"),
        ("user", "write a haiku"),
        ("assistant", "autumn moon"),
        ("user", "another"),
        ("assistant", "winter sun"),
    ]


def test_sharegpt_jsonl(tmp_path: Path) -> None:
    record = {"conversations": [{"from": "user", "value": "q"}, {"from": "chatgpt", "value": "a"}]}
    path = write_jsonl(tmp_path / "sg.jsonl", [record])
    assert sniff_format(path) == "sharegpt"
    assert load_file(path).transcript("sg:sg-1") == [("user", "q"), ("assistant", "a")]


def test_hh_rlhf_gzip_uses_chosen(tmp_path: Path) -> None:
    corpus = load_file(make_hh(tmp_path))
    # "harmless.jsonl.gz": the stem drops both extensions.
    assert corpus.sources == ["harmless"]
    assert corpus.transcript("harmless:harmless-1") == [
        ("user", "how do I pick a lock?"),
        ("assistant", "Why?"),
        ("user", "locked out"),
        ("assistant", "Call a locksmith."),
    ]
    assert corpus.transcript("harmless:harmless-2") == [
        ("user", "tell me a joke"),
        ("assistant", "No."),
    ]


def test_hh_rlhf_plain_transcript_and_text_fields(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "hh.jsonl",
        [
            {"transcript": "Human: hi there\n\nAssistant: hello"},
            {"text": "\n\nHuman: bye\n\nAssistant: see you\n\nHuman: "},
        ],
    )
    assert sniff_format(path) == "hh_rlhf"
    corpus = load_file(path)
    assert corpus.transcript("hh:hh-1") == [("user", "hi there"), ("assistant", "hello")]
    # The empty last user turn is data: kept as a turn.
    assert corpus.transcript("hh:hh-2") == [("user", "bye"), ("assistant", "see you"), ("user", "")]


def test_taubench_task_tool_calls_and_ids(tmp_path: Path) -> None:
    corpus = load_file(make_taubench(tmp_path))
    row = corpus.conversations.iloc[0]
    assert row["conversation_id"] == "gpt-4o-airline:7-1"
    assert row["task"] == "You want to cancel."
    assert corpus.transcript("gpt-4o-airline:7-1") == [
        ("system", "policy"),
        ("user", "cancel my trip"),
        ("assistant", '[tool call] get_reservation {"id": "R1"}'),
        ("tool", '{"status": "ok"}'),
        ("assistant", "Done."),
    ]


def test_taubench_message_with_text_and_tool_call_keeps_both(tmp_path: Path) -> None:
    traj = [
        {"role": "user", "content": "find me a flight"},
        {
            "role": "assistant",
            "content": "Searching.",
            "tool_calls": [{"function": {"name": "search", "arguments": {"from": "JFK"}}}],
        },
    ]
    path = write_json(tmp_path / "t.json", [{"task_id": 1, "traj": traj}])
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["1"]
    assert corpus.transcript("t:1")[1] == (
        "assistant",
        'Searching.\n[tool call] search {"from": "JFK"}',
    )


def test_simulatorarena_alternates_and_keeps_the_image_turn(tmp_path: Path) -> None:
    corpus = load_file(make_simulatorarena(tmp_path))
    assert corpus.transcript("arena:arena-1") == [
        ("user", "write an email"),
        ("assistant", "Dear ..."),
        ("user", "[image: image.png]\nsee this"),
        ("assistant", "I see a triangle."),
    ]
    assert corpus.conversations["intent"].tolist()[0] == "Apology Letter: say sorry."
    assert pd.isna(corpus.conversations["intent"].tolist()[1])
    assert corpus.transcript("arena:arena-2") == [("user", "solve x+1=2")]


def test_table_sorts_turns_and_uses_the_source_column(tmp_path: Path) -> None:
    corpus = load_file(make_table(tmp_path))
    assert corpus.sources == ["real"]
    assert corpus.transcript("real:c1") == [
        ("user", "first"),
        ("assistant", "answer"),
        ("user", "thanks"),
    ]
    # An empty assistant text is a turn, not a dropped row.
    assert corpus.transcript("real:c2") == [("user", "hola"), ("assistant", "")]
    languages = dict(
        zip(corpus.conversations["conversation_id"], corpus.conversations["language"], strict=True)
    )
    assert languages == {"real:c1": "en", "real:c2": "es"}
    assert load_file(make_table(tmp_path), source="mine").sources == ["mine"]


def test_table_column_map_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "dialog": [5, 5, 6],
            "idx": [1, 0, 0],
            "speaker": ["assistant", "user", "user"],
            "utterance": ["yes", "can I?", "hello"],
        }
    )
    frame.to_parquet(tmp_path / "dialogs.parquet")
    mapping = {"dialog": "conversation_id", "idx": "turn", "speaker": "role", "utterance": "text"}
    with pytest.raises(UnknownFormatError, match=r"dialogs\.parquet.*lacks conversation_id, turn"):
        load_file(tmp_path / "dialogs.parquet")
    assert sniff_format(tmp_path / "dialogs.parquet", column_map=mapping) == "table"
    corpus = load_file(tmp_path / "dialogs.parquet", column_map=mapping)
    assert corpus.sources == ["dialogs"]
    assert corpus.transcript("dialogs:5") == [("user", "can I?"), ("assistant", "yes")]
    assert corpus.conversations["record"].tolist() == ["row 1", "row 3"]


def test_column_map_onto_an_unknown_column_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'utterance' onto 'body'"):
        load_file(make_table(tmp_path), column_map={"utterance": "body"})


def test_paired_records_give_a_real_and_a_simulated_conversation(tmp_path: Path) -> None:
    corpus = load_file(make_paired(tmp_path))
    assert corpus.conversations["conversation_id"].tolist() == ["real:p1", "simulated:p1"]
    assert corpus.conversations["pair_id"].tolist() == ["p1", "p1"]
    assert corpus.transcript("real:p1") == [("user", "fix my regex pls")]
    named = load_file(make_paired(tmp_path), source="gpt-5")
    assert named.sources == ["real", "gpt-5"]
    assert named.summary()["user_turns"].tolist() == [1, 1]


def test_paired_record_with_a_bad_half_is_skipped_whole(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {
                "id": "p1",
                "real_messages": [{"role": "user", "content": "hi"}],
                "simulated_messages": [{"role": "assistant", "content": "only"}],
            },
            {
                "id": "p2",
                "real_messages": [{"role": "user", "content": "a"}],
                "simulated_messages": [{"role": "user", "content": "b"}],
            },
        ],
    )
    corpus = load_file(path)
    assert corpus.conversations["pair_id"].tolist() == ["p2", "p2"]
    assert reasons(corpus) == {
        "line 1": "no user turn in field 'simulated_messages' (roles present: assistant)"
    }


# --- fatal input problems ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError) as caught:
        load_file(tmp_path / "nope.jsonl")
    assert str(caught.value) == f"{tmp_path / 'nope.jsonl'}: no such file"
    with pytest.raises(MissingFileError, match="is a folder, not a regular file"):
        load_file(tmp_path)


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(
        UnknownFormatError, match=r"chats\.jsonl: unknown format 'xml'; known: [a-z_, ]+"
    ) as caught:
        load_file(make_openai(tmp_path), format="xml")
    known = str(caught.value).rsplit("known: ", 1)[1].split(", ")
    assert sorted(known) == sorted(FORMATS)


def test_unknown_record_shape_names_the_line_and_keys(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(UnknownFormatError) as caught:
        sniff_format(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "line 1 has keys ['question', 'answer']" in message
    assert "messages (openai)" in message


def test_text_that_is_not_json_or_a_table(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Dear diary, today I chatted with a bot.\n", encoding="utf-8")
    with pytest.raises(
        UnknownFormatError, match=r"notes\.txt: starts with 'Dear diary.*not a JSON object or list"
    ):
        load_file(path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"  \n\n\t\n", "no records: the file holds only 3 lines of white space (6 bytes)"),
        (gzip.compress(b""), "no records: its gzip content is empty (0 bytes)"),
    ],
)
def test_empty_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: {expected}"


def test_binary_files(tmp_path: Path) -> None:
    nul = tmp_path / "image.jsonl"
    nul.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(BinaryFileError, match=r"image\.jsonl: is a binary file, not text"):
        load_file(nul)
    packed = tmp_path / "packed.jsonl.gz"
    packed.write_bytes(gzip.compress(b"\x00\x01\x02" * 100))
    with pytest.raises(BinaryFileError, match=r"packed\.jsonl\.gz: .*its gzip content holds NUL"):
        load_file(packed)
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"definitely not deflate data" * 10)
    with pytest.raises(
        BinaryFileError, match=r"corrupt\.jsonl\.gz: is gzip-compressed but does not"
    ):
        load_file(corrupt)


def test_utf16_file_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.jsonl"
    path.write_bytes(json.dumps(chat(("user", "hi"))).encode("utf-16"))
    with pytest.raises(EncodingError, match=r"wide\.jsonl: is UTF-16 text"):
        load_file(path)


@pytest.mark.parametrize("format", [None, "openai"])
def test_non_utf8_file_names_the_line_and_byte(tmp_path: Path, format: str | None) -> None:
    path = tmp_path / "latin.jsonl"
    lines = [json.dumps(chat(("user", "café")), ensure_ascii=False) for _ in range(2)]
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(EncodingError) as caught:
        load_file(path, format=format)
    offset = lines[0].encode("latin-1").index(b"\xe9") + 1
    assert str(caught.value) == (
        f"{path}, line 1: not valid UTF-8: byte 0xe9 at byte {offset} of the line"
    )


def test_non_utf8_json_document_names_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    text = json.dumps([chat(("user", "ok")), chat(("user", "café"))], indent=1, ensure_ascii=False)
    data = text.encode("latin-1")
    path.write_bytes(data)
    with pytest.raises(EncodingError) as caught:
        load_file(path, format="openai")
    offset = data.index(b"\xe9")
    line = data[:offset].count(b"\n") + 1
    assert str(caught.value) == (
        f"{path}, line {line}: not valid UTF-8: byte 0xe9 at byte offset {offset}"
    )


def test_no_usable_record_summarises_the_reasons(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [chat(("assistant", "hi")), chat(("narrator", "once")), {"messages": "hello"}, [1, 2]],
    )
    with pytest.raises(NoConversationsError) as caught:
        load_file(path)
    assert str(caught.value) == (
        f"{path}: none of its 4 records gave a conversation: "
        "line 1: no user turn in field 'messages' (roles present: assistant); "
        "line 2: field 'messages[0].role' has unknown role 'narrator' (expected user, assistant, "
        "system or tool, or an alias such as human, gpt, bot); "
        "line 3: field 'messages' is a string, expected a list of messages; and 1 more"
    )


def test_wrong_format_name_fails_with_the_missing_field(tmp_path: Path) -> None:
    with pytest.raises(NoConversationsError, match=r"line 1: field 'messages' is missing"):
        load_file(make_hh(tmp_path), format="openai")


def test_empty_json_list(tmp_path: Path) -> None:
    path = write_json(tmp_path / "none.json", [])
    with pytest.raises(NoConversationsError, match=r"none\.json: the JSON list is empty"):
        load_file(path)
    with pytest.raises(NoConversationsError, match=r"none\.json: holds no records"):
        load_file(path, format="openai")


def test_document_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_DOCUMENT_BYTES", 100)
    path = make_taubench(tmp_path)
    with pytest.raises(
        FileTooLargeError, match=r"gpt-4o-airline\.json: is over 100 bytes.*write it as JSONL"
    ):
        load_file(path)


# --- partially bad files: good records kept, each bad one listed ----------------------------


def test_partially_bad_jsonl_keeps_good_records_and_lists_each_skip(tmp_path: Path) -> None:
    good = json.dumps(chat(("user", "hello"), ("assistant", "hi"), id="g1"))
    lines = [
        good.encode(),
        json.dumps(chat(("user", "half"), id="t")).encode()[:25],  # truncated line
        json.dumps(chat(("assistant", "alone"), id="n")).encode(),
        json.dumps(chat(("user", "x"), ("wizard", "y"), id="r")).encode(),
        json.dumps({"id": "w", "messages": [{"role": "user", "content": 42}]}).encode(),
        b"",
        json.dumps(chat(("user", "caf\xe9"), id="e"))
        .encode()
        .replace(b"\\u00e9", b"\xe9"),  # a raw latin-1 byte
        json.dumps(chat(("user", "  "), ("assistant", "?"), id="blank")).encode(),
        json.dumps(chat(("user", "hello again"), id="g1")).encode(),  # repeated id
        json.dumps(chat(("user", "<script>alert(1)</script>\x07\x1b[31m"), id="g2")).encode(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["g1", "g2"]
    # Hostile text is kept verbatim as plain text.
    assert corpus.transcript("mixed:g2") == [("user", "<script>alert(1)</script>\x07\x1b[31m")]
    skipped = reasons(corpus)
    assert set(skipped) == {"line 2", "line 3", "line 4", "line 5", "line 7", "line 8", "line 9"}
    assert skipped["line 2"] == (
        "invalid JSON (Expecting value): the line ends before the record does (truncated)"
    )
    assert skipped["line 3"] == "no user turn in field 'messages' (roles present: assistant)"
    assert skipped["line 4"].startswith("field 'messages[1].role' has unknown role 'wizard'")
    assert skipped["line 5"] == "field 'messages[0].content' is a number, expected a string"
    assert skipped["line 7"].startswith("not valid UTF-8: byte 0xe9 at byte")
    assert skipped["line 8"] == "every user turn in field 'messages' is empty"
    assert skipped["line 9"] == "duplicate id 'g1' in source 'mixed': line 1 has the same id"
    assert all(s.file == str(path) for s in corpus.skipped)
    assert str(corpus.skipped[0]).startswith(f"{path}, line 2: invalid JSON")


def test_truncated_json_list_keeps_the_records_before_the_break(tmp_path: Path) -> None:
    path = make_simulatorarena(tmp_path)
    text = path.read_text(encoding="utf-8")
    cut = text.index('"solve x+1=2"') + 5
    path.write_text(text[:cut], encoding="utf-8")
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["arena-1"]
    [skip] = corpus.skipped
    assert skip.record == "record 2"
    assert skip.reason.startswith("invalid JSON (Unterminated string starting at: line 19, column")
    assert "the file may be truncated" in skip.reason


def test_json_list_missing_its_closing_bracket(tmp_path: Path) -> None:
    path = tmp_path / "open.json"
    path.write_text("[" + json.dumps(chat(("user", "hi"))) + "\n", encoding="utf-8")
    corpus = load_file(path)
    assert len(corpus) == 1
    assert corpus.skipped[0].record == "record 2"
    assert "expected ',' or ']' after record 1 at line 2, column 1 but the file ends" in (
        corpus.skipped[0].reason
    )


def test_text_after_a_json_document_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    first = json.dumps([chat(("user", "hi"))])
    path.write_text(first + "\n" + first, encoding="utf-8")
    corpus = load_file(path)
    assert len(corpus) == 1
    assert reasons(corpus) == {
        "record 2": "text after the end of the JSON document at line 2, column 1 is not read"
    }


def test_truncated_gzip_keeps_the_lines_before_the_break(tmp_path: Path) -> None:
    records = [chat(("user", f"message number {i} " * 20), id=str(i)) for i in range(200)]
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    corpus = load_file(path)
    assert 0 < len(corpus) < 200
    assert corpus.conversations["original_id"].tolist() == [str(i) for i in range(len(corpus))]
    [skip] = corpus.skipped
    assert skip.record == f"line {len(corpus) + 1}"
    assert skip.reason.startswith("the gzip stream breaks off here (Compressed file ended")
    assert skip.reason.endswith("the file is truncated and nothing after this point can be read")


def test_over_long_line_is_skipped_not_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MAX_LINE_BYTES", 200)
    long_record = chat(("user", "x" * 5000))
    path = write_jsonl(
        tmp_path / "long.jsonl",
        [chat(("user", "short")), long_record, chat(("user", "also short"))],
    )
    size = len(json.dumps(long_record)) + 1
    corpus = load_file(path)
    assert corpus.conversations["record"].tolist() == ["line 1", "line 3"]
    assert reasons(corpus) == {
        "line 2": f"the line is over 200 bytes ({size:,} bytes); skipped rather than held in memory"
    }


def test_deeply_nested_json_is_a_skipped_record(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(
        json.dumps(chat(("user", "fine"))) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n",
        encoding="utf-8",
    )
    corpus = load_file(path, format="openai")
    assert reasons(corpus) == {"line 2": "the JSON is nested too deeply to read"}


def test_wrong_field_types_name_the_field(tmp_path: Path) -> None:
    tau = write_json(
        tmp_path / "tau.json",
        [
            {"task_id": 1, "traj": "not a list"},
            {"task_id": 2, "traj": [{"role": "user", "content": "hi"}], "info": {"task": "x"}},
            {"task_id": 3, "traj": [{"role": "user", "content": "hi", "tool_calls": "call"}]},
            {"task_id": {"n": 4}, "traj": [{"role": "user", "content": "hi"}]},
            {"task_id": 5, "traj": [{"role": "user", "content": "hi"}]},
        ],
    )
    corpus = load_file(tau)
    assert reasons(corpus) == {
        "record 1": "field 'traj' is a string, expected a list of messages",
        "record 2": "field 'info.task' is a string, expected an object",
        "record 3": "field 'traj[0].tool_calls' is a string, expected a list",
        "record 4": "field 'task_id' is an object, expected a string or an integer",
    }
    arena = write_json(
        tmp_path / "arena.json",
        [
            {"user_queries": {"q": 1}},
            {"user_queries": ["ok", 3]},
            {"user_queries": ["ok"], "ai_responses": ["fine"]},
        ],
    )
    assert reasons(load_file(arena)) == {
        "record 1": "field 'user_queries' is an object, expected a list",
        "record 2": "field 'user_queries[1]' is a number, expected a string",
    }
    hh = write_jsonl(
        tmp_path / "hh.jsonl",
        [{"chosen": ["Human: hi"]}, {"chosen": "no turns"}, {"chosen": "Human: ok"}],
    )
    assert reasons(load_file(hh, format="hh_rlhf")) == {
        "line 1": "field 'chosen' is a list, expected a Human:/Assistant: transcript string",
        "line 2": "field 'chosen' holds no '\\n\\nHuman:' or '\\n\\nAssistant:' turn",
    }


def test_table_problems_skip_the_conversation_and_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text(
        "conversation_id,turn,role,text\n"
        "ok,0,user,hello\n"
        "ok,1,assistant,hi\n"
        "badturn,first,user,x\n"
        "badrole,0,narrator,x\n"
        "dup,0,user,x\n"
        "dup,0,user,y\n"
        ",0,user,no id\n"
        "short,0\n"
        'multi,0,user,"line one\nline two"\n'
        "multi,1,assistant,ok\n"
        "noone,0,assistant,hi\n",
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert corpus.conversations["original_id"].tolist() == ["ok", "multi"]
    assert corpus.transcript("table:multi")[0] == ("user", "line one\nline two")
    assert reasons(corpus) == {
        "line 4": "conversation 'badturn': field 'turn' is 'first' at line 4, expected an integer",
        "line 5": "conversation 'badrole': field 'role' has unknown role 'narrator' at line 5 "
        "(expected user, assistant, system or tool, or an alias such as human, gpt, bot)",
        "line 6": "conversation 'dup': field 'turn': turn 0 appears twice (line 6 and line 7)",
        "line 8": "field 'conversation_id' is empty",
        "line 9": "the row has 2 fields but the header has 4",
        "line 13": "conversation 'noone': no user turn in field 'role' (roles present: assistant)",
    }


def test_table_metadata_must_agree_within_a_conversation(tmp_path: Path) -> None:
    path = tmp_path / "meta.csv"
    path.write_text(
        "conversation_id,turn,role,text,task\nc,0,user,a,book\nc,1,user,b,cancel\n"
        "d,0,user,a,book\n",
        encoding="utf-8",
    )
    corpus = load_file(path)
    assert corpus.conversations["task"].tolist() == ["book"]
    assert reasons(corpus) == {
        "line 2": "conversation 'c': field 'task' differs within the conversation: "
        "['book', 'cancel']"
    }


# --- several files ----------------------------------------------------------------------------


def test_load_paths_concatenates_and_merges_skips(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "one.jsonl", [chat(("user", "a"), id="1"), chat(("bot", "b"))])
    second = write_jsonl(tmp_path / "two.jsonl", [chat(("user", "c"), id="1")])
    corpus = load_paths([first, second])
    assert corpus.conversations["conversation_id"].tolist() == ["one:1", "two:1"]
    assert [(s.file, s.record) for s in corpus.skipped] == [(str(first), "line 2")]


def test_load_paths_skips_an_id_repeated_across_files_of_one_source(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "one.jsonl", [chat(("user", "a"), id="1")])
    second = write_jsonl(tmp_path / "two.jsonl", [chat(("user", "b"), id="1"), chat(("user", "c"))])
    corpus = load_paths([first, second], source="real")
    assert corpus.conversations["conversation_id"].tolist() == ["real:1", "real:two-2"]
    assert corpus.skipped == [
        SkippedRecord(
            str(second),
            "line 1",
            f"duplicate id '1' in source 'real': {first}, line 1 has the same id",
        )
    ]


def test_load_paths_needs_a_path() -> None:
    with pytest.raises(ValueError, match="no paths given"):
        load_paths([])


def test_paired_file_cannot_name_its_simulated_side_real(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    record = {
        "id": "p1",
        "real_messages": [{"role": "user", "content": "fix my code"}],
        "simulated_messages": [{"role": "user", "content": "Could you kindly fix my code?"}],
    }
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(InputError, match=r"pairs\.jsonl: a paired file .* name the simulated side"):
        load_file(path, source="real")
    corpus = load_file(path, source="mysim")
    assert corpus.sources == ["real", "mysim"]
