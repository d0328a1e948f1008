"""The LLM annotator, end to end against a real OpenAI-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, Step, clear_llm_env, facets_for

from simgap_core.errors import SimgapError
from simgap_core.model import Conversation, Corpus
from simgap_core.represent import BEHAVIOUR_FACETS, DIALOG_ACTS, Annotator
from simgap_core.represent import llm as llm_annotator
from simgap_core.represent.llm import (
    SYSTEM_PROMPT,
    AnnotationError,
    AnnotationFailure,
    AnnotatorConfigError,
    LLMAnnotator,
    LLMEndpointError,
    parse_facets,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own endpoint, key or proxy must never leak into these tests."""
    clear_llm_env(monkeypatch)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    try:
        yield fake
    finally:
        fake.close()


def make_corpus(*specs: str, source: str = "real") -> Corpus:
    """One three-turn conversation per spec "token" or "token #marker"."""
    conversations = []
    for spec in specs:
        token, _, marker = spec.partition(" ")
        turns = [
            ("user", f"hello, id={token} {marker} please help me plan something"),
            ("assistant", "Sure. What do you have in mind?"),
            ("user", "thanks, that is all"),
        ]
        conversations.append(Conversation(original_id=token, source=source, turns=turns))
    return Corpus.from_conversations(conversations)


def make_annotator(server: FakeOpenAIServer, cache_dir: Path, **params) -> LLMAnnotator:
    defaults = {"cache_dir": cache_dir, "backoff": 0.001, "max_backoff": 2.0, "timeout": 5.0}
    return LLMAnnotator(server.url, "fake-model", **{**defaults, **params})


def expected_row(token: str) -> dict[str, str]:
    facets = facets_for(token)
    facets["dialog_acts"] = " ".join(facets["dialog_acts"])
    return {"conversation_id": f"real:{token}", **facets}


def cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*/*.json"))


def test_facets_are_parsed_from_well_formed_fenced_broken_and_reasked_answers(server, tmp_path):
    corpus = make_corpus("c1", "c2 #fenced", "c3 #broken", "c4 #fix-on-reask")
    annotator = make_annotator(server, tmp_path, concurrency=2)
    assert isinstance(annotator, Annotator)

    frame = annotator.describe(corpus)

    assert list(frame.columns) == ["conversation_id", *BEHAVIOUR_FACETS]
    assert frame.to_dict("records") == [expected_row(t) for t in ("c1", "c2", "c3", "c4")]
    assert annotator.failures == []
    # One request each, plus the re-ask for c4.
    requests = server.chat_requests()
    assert sorted(r.token for r in requests) == ["c1", "c2", "c3", "c4", "c4"]
    assert annotator.requests_made == 5
    assert annotator.cache_hits == 0
    body = requests[0].body
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.0
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert "[USER turn 1]\nhello, id=" in body["messages"][1]["content"]
    assert "[USER turn 2]\nthanks, that is all" in body["messages"][1]["content"]
    reask = next(r for r in requests if r.is_reask).body["messages"]
    assert [m["role"] for m in reask] == ["system", "user", "assistant", "user"]
    assert "no JSON object" in reask[3]["content"]


def test_system_prompt_names_every_facet_and_dialog_act():
    for name in (*BEHAVIOUR_FACETS, *DIALOG_ACTS):
        assert name in SYSTEM_PROMPT


def test_second_run_is_served_from_the_cache(server, tmp_path):
    corpus = make_corpus("a", "b", "c")
    first = make_annotator(server, tmp_path).describe(corpus)
    assert len(server.chat_requests()) == 3

    again = make_annotator(server, tmp_path)
    second = again.describe(corpus)

    assert again.requests_made == 0
    assert again.cache_hits == 3
    assert len(server.chat_requests()) == 3
    assert second.equals(first)
    files = cache_files(tmp_path)
    assert len(files) == 3
    assert all(f.parent.name == f.stem[:2] for f in files)  # sharded by the key's prefix
    entry = json.loads(files[0].read_text())
    assert entry["model"] == "fake-model"
    assert entry["prompt_version"] == llm_annotator.PROMPT_VERSION
    assert set(entry["facets"]) == set(BEHAVIOUR_FACETS)


def test_cache_key_includes_model_and_prompt_version(server, tmp_path, monkeypatch):
    corpus = make_corpus("a", "b")
    make_annotator(server, tmp_path).describe(corpus)

    other_model = LLMAnnotator(server.url, "other-model", cache_dir=tmp_path)
    other_model.describe(corpus)
    assert (other_model.requests_made, other_model.cache_hits) == (2, 0)

    monkeypatch.setattr(llm_annotator, "PROMPT_VERSION", "bumped")
    bumped = make_annotator(server, tmp_path)
    bumped.describe(corpus)
    assert (bumped.requests_made, bumped.cache_hits) == (2, 0)
    assert len(cache_files(tmp_path)) == 6


def test_identical_conversations_are_requested_once(server, tmp_path):
    corpus = Corpus.concat([make_corpus("same"), make_corpus("same", source="sim")])
    annotator = make_annotator(server, tmp_path)

    frame = annotator.describe(corpus)

    assert frame["conversation_id"].tolist() == ["real:same", "sim:same"]
    assert frame.iloc[0, 1:].tolist() == frame.iloc[1, 1:].tolist()
    assert annotator.requests_made == 1


def test_resume_after_the_server_dies_requests_only_the_missing(server, tmp_path):
    tokens = [f"t{i}" for i in range(7)]
    corpus = make_corpus(*tokens)
    server.fail_after = 3
    with pytest.raises(LLMEndpointError, match=r"HTTP 500.*rerun to resume"):
        make_annotator(server, tmp_path, concurrency=2, max_retries=1).describe(corpus)
    answered = {r.token for r in server.chat_requests() if r.status == 200}
    assert len(answered) == 3
    assert len(cache_files(tmp_path)) == 3  # written as each answer arrived

    server.fail_after = None
    server.requests.clear()
    rerun = make_annotator(server, tmp_path, concurrency=2)
    frame = rerun.describe(corpus)

    assert sorted(r.token for r in server.chat_requests()) == sorted(set(tokens) - answered)
    assert (rerun.requests_made, rerun.cache_hits) == (4, 3)
    assert frame.to_dict("records") == [expected_row(t) for t in tokens]


def test_resume_after_an_interrupt(tmp_path):
    tokens = [f"t{i}" for i in range(8)]
    corpus = make_corpus(*tokens)

    def interrupt(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with FakeOpenAIServer(delay=0.05) as fake:
        with pytest.raises(KeyboardInterrupt):
            make_annotator(fake, tmp_path, concurrency=2).describe(corpus, progress=interrupt)
        cached = len(cache_files(tmp_path))
        # Requests in flight at the interrupt finish and are kept; queued ones never start.
        assert 2 <= cached < len(tokens)
        assert len(fake.chat_requests()) == cached

        rerun = make_annotator(fake, tmp_path, concurrency=2)
        frame = rerun.describe(corpus)
    assert rerun.requests_made == len(tokens) - cached
    assert rerun.cache_hits == cached
    assert frame["conversation_id"].tolist() == [f"real:{t}" for t in tokens]


def test_429_is_retried_after_the_retry_after_delay(server, tmp_path):
    server.script(Step(status=429, headers={"Retry-After": "1"}))
    annotator = make_annotator(server, tmp_path, concurrency=1)

    frame = annotator.describe(make_corpus("a"))

    first, second = server.chat_requests()
    assert (first.status, second.status) == (429, 200)
    # Honoured (at least the 1 s asked), not the 1 ms backoff. No upper bound: a loaded CI
    # machine may start the retry late, and waiting longer than asked is allowed.
    assert second.time - first.time >= 0.95
    assert annotator.requests_made == 2
    assert frame.to_dict("records") == [expected_row("a")]


def test_5xx_dropped_connections_and_timeouts_are_retried(server, tmp_path):
    # The client gives up after 2 s; the slow reply takes 6 s. Both generous: on a loaded machine
    # an ordinary reply must still come back within the timeout, or it would be retried too.
    server.script(Step(status=500), Step(status=503), Step(drop=True), Step(sleep=6.0))
    annotator = make_annotator(server, tmp_path, concurrency=1, timeout=2.0)

    frame = annotator.describe(make_corpus("a"))

    # 0 is the dropped connection; the fourth answer came after the client's timeout.
    assert [r.status for r in server.chat_requests()] == [500, 503, 0, 200, 200]
    assert annotator.requests_made == 5
    assert frame.to_dict("records") == [expected_row("a")]


def test_backoff_doubles_between_retries(server, tmp_path):
    server.script(Step(status=500), Step(status=500), Step(status=500))
    make_annotator(server, tmp_path, concurrency=1, backoff=0.08).describe(make_corpus("a"))

    times = [r.time for r in server.chat_requests()]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert len(gaps) == 3
    # Jitter draws the wait from [delay / 2, delay]: each gap is at least half its delay, so a
    # backoff that did not double (the third gap would be below 0.16 s) or did not wait fails.
    # No upper bound: a loaded machine may start a retry late, which waiting longer allows.
    for attempt, gap in enumerate(gaps):
        delay = 0.08 * 2**attempt
        assert gap >= delay / 2, (attempt, gaps)


def test_gives_up_after_max_retries_with_the_servers_message(server, tmp_path):
    server.status = 503
    with pytest.raises(LLMEndpointError, match=r"3 attempt\(s\): HTTP 503: .*overloaded"):
        make_annotator(server, tmp_path, concurrency=1, max_retries=2).describe(
            make_corpus("a", "b")
        )
    assert len(server.chat_requests()) == 3


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "Incorrect API key provided"), (404, "The model `nope` does not exist")],
)
def test_auth_and_not_found_errors_are_not_retried(server, tmp_path, status, message):
    server.status = status
    annotator = make_annotator(server, tmp_path, concurrency=1)
    with pytest.raises(LLMEndpointError) as raised:
        annotator.describe(make_corpus("a", "b", "c"))
    assert raised.value.status == status
    assert f"HTTP {status}: {message}" in str(raised.value)
    assert len(server.chat_requests()) == 1  # no retry, and the queued ones never start
    assert cache_files(tmp_path) == []


def test_401_message_names_the_key_variable(server, tmp_path):
    server.status = 401
    with pytest.raises(LLMEndpointError, match=r"\$SIMGAP_LLM_API_KEY"):
        make_annotator(server, tmp_path).describe(make_corpus("a"))


def test_garbage_and_rejected_records_are_listed_as_failures(server, tmp_path):
    corpus = Corpus.concat(
        [
            make_corpus("bad #garbage", "ok1", "nostyle #missing-style", "long #too-long", "ok2"),
            Corpus.from_conversations(
                [Conversation("silent", "real", [("assistant", "Anyone there?")])]
            ),
        ]
    )
    annotator = make_annotator(server, tmp_path)

    frame = annotator.describe(corpus)

    assert frame["conversation_id"].tolist() == ["real:ok1", "real:ok2"]
    failures = {f.conversation_id: f.reason for f in annotator.failures}
    assert list(failures) == ["real:bad", "real:nostyle", "real:long", "real:silent"]
    assert "unusable after one re-ask" in failures["real:bad"]
    assert "no JSON object" in failures["real:bad"]
    assert "lacks the key(s) style" in failures["real:nostyle"]
    assert "HTTP 400: This model's maximum context length" in failures["real:long"]
    assert "no user turns" in failures["real:silent"]
    assert all(isinstance(f, AnnotationFailure) for f in annotator.failures)
    assert str(annotator.failures[0]).startswith("conversation real:bad: ")
    per_token = [r.token for r in server.chat_requests()]
    assert per_token.count("bad") == 2  # asked, then re-asked once
    assert per_token.count("nostyle") == 2
    assert per_token.count("long") == 1  # a 400 is not retried
    assert len(cache_files(tmp_path)) == 2  # failures are never cached: a rerun asks again


def test_every_record_failing_raises(server, tmp_path):
    annotator = make_annotator(server, tmp_path)
    with pytest.raises(AnnotationError, match=r"any of 2 conversation\(s\).*real:x") as raised:
        annotator.describe(make_corpus("x #garbage", "y #garbage"))
    assert [f.conversation_id for f in raised.value.failures] == ["real:x", "real:y"]
    assert isinstance(raised.value, SimgapError)


def test_empty_corpus_gives_an_empty_frame(server, tmp_path):
    frame = make_annotator(server, tmp_path).describe(Corpus.empty())
    assert list(frame.columns) == ["conversation_id", *BEHAVIOUR_FACETS]
    assert len(frame) == 0
    assert server.chat_requests() == []


def test_concurrency_limit_is_used_and_never_exceeded(tmp_path):
    tokens = [f"t{i}" for i in range(9)]
    # Each reply takes 0.3 s, long enough for the three workers' requests to overlap even when
    # a loaded machine starts them late.
    with FakeOpenAIServer(delay=0.3) as fake:
        frame = make_annotator(fake, tmp_path, concurrency=3).describe(make_corpus(*tokens))
    assert fake.max_in_flight == 3
    # Answers arrive out of order; rows still follow the corpus.
    assert frame.to_dict("records") == [expected_row(t) for t in tokens]


def test_progress_reports_every_conversation(server, tmp_path):
    make_annotator(server, tmp_path).describe(make_corpus("a", "b"))
    calls: list[tuple[int, int]] = []
    make_annotator(server, tmp_path, concurrency=2).describe(
        make_corpus("a", "b", "c", "d", "e"),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(2, 5), (3, 5), (4, 5), (5, 5)]  # the two cache hits come first


@pytest.mark.parametrize("variable", ["SIMGAP_LLM_API_KEY", "OPENAI_API_KEY"])
def test_api_key_is_sent_as_bearer_and_never_written(server, tmp_path, monkeypatch, variable):
    secret = "sk-test-do-not-store-4f2a9c"
    monkeypatch.setenv(variable, secret)
    annotator = make_annotator(server, tmp_path)

    annotator.describe(make_corpus("a", "b"))

    assert {r.headers["authorization"] for r in server.chat_requests()} == {f"Bearer {secret}"}
    files = list(tmp_path.rglob("*"))
    assert len([f for f in files if f.is_file()]) == 2
    assert all(secret.encode() not in f.read_bytes() for f in files if f.is_file())
    assert secret not in repr(annotator)


def test_no_key_sends_no_authorization_header(server, tmp_path):
    make_annotator(server, tmp_path).describe(make_corpus("a"))
    assert "authorization" not in server.chat_requests()[0].headers


def test_missing_endpoint_or_model_is_a_clear_config_error(monkeypatch):
    with pytest.raises(AnnotatorConfigError, match=r"\$SIMGAP_LLM_BASE_URL"):
        LLMAnnotator(model="m")
    with pytest.raises(AnnotatorConfigError, match=r"\$SIMGAP_LLM_MODEL"):
        LLMAnnotator("http://127.0.0.1:9/v1")
    with pytest.raises(AnnotatorConfigError, match="http:// or https://"):
        LLMAnnotator("localhost:8000/v1", "m")
    with pytest.raises(AnnotatorConfigError, match="invalid concurrency=0"):
        LLMAnnotator("http://127.0.0.1:9/v1", "m", concurrency=0)
    assert issubclass(AnnotatorConfigError, SimgapError)


def test_endpoint_model_and_cache_dir_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SIMGAP_LLM_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("SIMGAP_LLM_MODEL", "env-model")
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path))
    annotator = LLMAnnotator()
    assert annotator.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert annotator.model == "env-model"
    assert annotator.cache_dir == tmp_path / "llm"
    assert annotator.version == f"prompts-v{llm_annotator.PROMPT_VERSION}/env-model"


def test_long_turns_are_cut_before_sending(server, tmp_path):
    long_text = "id=long " + "x" * 492
    corpus = Corpus.from_conversations([Conversation("long", "real", [("user", long_text)])])
    make_annotator(server, tmp_path, max_chars_per_turn=100).describe(corpus)
    prompt = server.chat_requests()[0].prompt
    assert long_text[:100] + " [...400 characters cut]" in prompt
    assert "x" * 101 not in prompt
    assert "Long turns were cut" in prompt


GOOD = {facet: f"{facet} text" for facet in BEHAVIOUR_FACETS}


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(GOOD),
        "```json\n" + json.dumps(GOOD, indent=2) + "\n```",
        "<think>the user wants {braces}</think>\n" + json.dumps(GOOD),
        "Answer: " + json.dumps(GOOD) + " Hope this helps {really}.",
        json.dumps(GOOD)[:-1] + ",}",  # trailing comma
        json.dumps(GOOD).replace('"', "'"),  # single quotes
        json.dumps(GOOD)[:-1],  # missing closing brace
        json.dumps(GOOD)[:-2],  # cut inside the last string
        json.dumps(GOOD)[:-1] + ', "sure": True, "extra": None}',  # Python literals
        json.dumps(GOOD).replace("style text", "style\ntext"),  # a raw newline in a string
        json.dumps(GOOD).replace('"dialog_acts"', '"Dialog Acts"'),
    ],
)
def test_parse_facets_repairs_common_breakage(answer):
    facets = parse_facets(answer)
    assert list(facets) == list(BEHAVIOUR_FACETS)
    assert facets["requests"] == "requests text"
    assert facets["dialog_acts"].startswith("dialog_acts tex")


def test_parse_facets_joins_lists_and_mappings():
    answer = {**GOOD, "dialog_acts": ["Turn 1: GREET.", "Turn 2: THANK."], "style": {"a": "b"}}
    facets = parse_facets(json.dumps(answer))
    assert facets["dialog_acts"] == "Turn 1: GREET. Turn 2: THANK."
    assert facets["style"] == "a: b"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I cannot help with that.", "no JSON object"),
        ("[1, 2]", "no JSON object"),
        ('{"requests": "x"}', "lacks the key(s) responses, context, style, dialog_acts"),
        (json.dumps({**GOOD, "style": None}), "'style' holds null"),
        (json.dumps({**GOOD, "context": "  "}), "context are empty"),
        ('{"requests": "a" "b"}', "not valid JSON even after repair"),
    ],
)
def test_parse_facets_says_what_is_wrong(answer, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_facets(answer)
