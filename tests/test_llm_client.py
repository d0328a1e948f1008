"""The shared LLM client (`simgap_core.llm`) on its own, against a real OpenAI-compatible HTTP
server on 127.0.0.1: the answer cache, prompt versions, JSON repair and refusal, the
concurrency limit, several servers and the shared constructor checks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai_server import FakeOpenAIServer, clear_llm_env

from simgap_core.llm.answers import extract_json_object, not_text, object_with_keys, repair_json
from simgap_core.llm.base import ChatModelBase, Question, Unanswered
from simgap_core.llm.cache import content_digest
from simgap_core.llm.chat import LLMConfigError, LLMEndpointError


class Echo(ChatModelBase[str]):
    """The smallest LLM part: it keeps the "requests" text of the fake server's answer."""

    user = "the echo part"
    cache_folder = "echo"
    content = "text"
    version = "1"

    @property
    def prompt_version(self) -> str:
        return self.version

    def parse_answer(self, text: str) -> str:
        value = object_with_keys(text, ("requests",))["requests"]
        if not isinstance(value, str):
            raise not_text("requests", value)
        return value

    def reask_prompt(self, error: ValueError) -> str:
        return f"Unusable: {error}. Again, as JSON."

    def answer_fields(self, answer: str) -> dict[str, Any]:
        return {"requests": answer}

    def answer_from_fields(self, entry: dict[str, Any]) -> str | None:
        value = entry.get("requests")
        return value if isinstance(value, str) else None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_llm_env(monkeypatch)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def make_echo(base_url: str | list[str], cache_dir: Path, **options: Any) -> Echo:
    defaults = {"cache_dir": cache_dir, "backoff": 0.001, "max_backoff": 2.0, "timeout": 5.0}
    return Echo(base_url, "fake-model", **{**defaults, **options})


def questions(part: Echo, *texts: str) -> dict[str, Question]:
    """One question per text ("id=<token> [#marker]"), by cache key."""
    cache = part.answer_cache()
    asked = {}
    for text in texts:
        digest = content_digest(text)
        asked[cache.key(digest)] = Question(digest, [{"role": "user", "content": text}])
    return asked


def ask(part: Echo, *texts: str) -> dict[str, str | Unanswered]:
    """Every text's outcome, by token, from the cache or the model."""
    asked = questions(part, *texts)
    found, pending = part.lookup(asked)
    outcomes: dict[str, str | Unanswered] = dict(found)
    part.ask_all(pending, outcomes.__setitem__)
    token_of = {key: q.messages[0]["content"].split()[0][3:] for key, q in asked.items()}
    return {token_of[key]: outcome for key, outcome in outcomes.items()}


def test_a_cache_hit_asks_nothing(server, tmp_path):
    first = make_echo(server.url, tmp_path)
    assert ask(first, "id=a", "id=b") == {"a": "requests of a", "b": "requests of b"}
    assert first.requests_made == 2

    again = make_echo(server.url, tmp_path)
    found, pending = again.lookup(questions(again, "id=a", "id=b"))
    again.ask_all(pending, lambda key, outcome: pytest.fail("nothing should be asked"))

    assert sorted(found.values()) == ["requests of a", "requests of b"]
    assert pending == {}
    assert again.requests_made == 0
    assert len(server.chat_requests()) == 2


def test_a_new_prompt_version_or_model_misses_and_keeps_the_old_answers(server, tmp_path):
    ask(make_echo(server.url, tmp_path), "id=a")
    bumped = make_echo(server.url, tmp_path)
    bumped.version = "2"
    other_model = Echo(server.url, "other-model", cache_dir=tmp_path)

    for part in (bumped, other_model):
        assert ask(part, "id=a") == {"a": "requests of a"}
        assert part.requests_made == 1

    assert len(server.chat_requests()) == 3
    entries = [json.loads(path.read_text()) for path in tmp_path.glob("*/*.json")]
    assert sorted((e["model"], e["prompt_version"]) for e in entries) == [
        ("fake-model", "1"),
        ("fake-model", "2"),
        ("other-model", "1"),
    ]


def test_the_cache_format_is_the_one_existing_caches_were_written_in(server, tmp_path):
    """Key and file layout are pinned: the annotator's and namer's old caches stay valid."""
    ask(make_echo(server.url, tmp_path), "id=a")
    digest = content_digest("id=a")
    parts = {"model": "fake-model", "prompt_version": "1", "text": digest}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    entry = json.loads((tmp_path / key[:2] / f"{key}.json").read_text())

    assert entry == {
        "model": "fake-model",
        "prompt_version": "1",
        "text_digest": digest,
        "requests": "requests of a",
    }
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{key}.json"]


def test_a_corrupt_or_mislabelled_entry_is_asked_again_and_overwritten(server, tmp_path):
    part = make_echo(server.url, tmp_path)
    key_a, key_b, key_c = questions(part, "id=a", "id=b", "id=c")
    stale = {"model": "fake-model", "prompt_version": "1", "requests": "stale"}
    written = {
        key_a: '{"model": "fake-mo',  # cut short
        key_b: json.dumps({**stale, "model": "another-model"}),
        key_c: json.dumps({**stale, "prompt_version": "0"}),
    }
    for key, content in written.items():
        path = part.answer_cache().store.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)

    outcomes = ask(part, "id=a", "id=b", "id=c")

    assert outcomes == {token: f"requests of {token}" for token in "abc"}
    assert part.requests_made == 3
    assert part.answer_cache().read(key_b)["requests"] == "requests of b"


def test_a_broken_json_answer_is_repaired_without_asking_again(server, tmp_path):
    part = make_echo(server.url, tmp_path)
    assert ask(part, "id=a #broken", "id=b #fenced") == {
        "a": "requests of a",
        "b": "requests of b",
    }
    assert part.requests_made == 2


def test_an_unusable_answer_is_refused_with_its_reason_and_never_cached(server, tmp_path):
    part = make_echo(server.url, tmp_path)

    outcomes = ask(part, "id=bad #garbage", "id=late #fix-on-reask", "id=long #too-long")

    assert outcomes["late"] == "requests of late"  # right when re-asked
    assert outcomes["bad"] == Unanswered(
        "the model's answer was unusable after one re-ask: the answer holds no JSON object"
    )
    assert outcomes["long"].reason.startswith("the server answered HTTP 400: This model's")
    reask = next(r for r in server.chat_requests() if r.is_reask and r.token == "bad")
    assert reask.body["messages"][-1]["content"] == (
        "Unusable: the answer holds no JSON object. Again, as JSON."
    )
    assert part.requests_made == 5  # bad twice, late twice, long once (a 400 is not retried)
    assert len(list(tmp_path.glob("*/*.json"))) == 1  # only "late"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("{'a': 'x', 'b': True, 'c': None,", {"a": "x", "b": True, "c": None}),
        ('Sure:\n```json\n{"a": [1, 2,],}\n```\nAnything else?', {"a": [1, 2]}),
        ('<think>{"not": "this"}</think>{"a": "it\'s \\"quoted\\""}', {"a": 'it\'s "quoted"'}),
        ('{"a": "cut in the midd', {"a": "cut in the midd"}),
        ('{"a": 1} and {"b": 2}', {"a": 1}),  # the first object; the prose after it goes
    ],
)
def test_malformed_json_is_repaired(answer, expected):
    assert extract_json_object(answer) == expected


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("no braces at all", "the answer holds no JSON object"),
        ("[1, 2]", "the answer holds no JSON object"),
        ('{"a": "b" "c"}', "the answer is not valid JSON even after repair (Expecting ','"),
    ],
)
def test_json_that_cannot_be_repaired_is_refused_with_a_clear_reason(answer, reason):
    with pytest.raises(ValueError) as raised:
        extract_json_object(answer)
    assert str(raised.value).startswith(reason)


def test_keys_are_normalised_and_a_missing_one_is_named():
    found = object_with_keys('{"Dialog Acts": 1, "one-key": 2}', ("dialog_acts", "one_key"))
    assert found == {"dialog_acts": 1, "one_key": 2}
    with pytest.raises(ValueError, match=r"lacks the key\(s\) name \(it has Title\)"):
        object_with_keys('{"Title": "x"}', ("name",))
    assert repair_json("[1, 2,]") == "[1, 2]"


def test_the_concurrency_limit_is_used_and_never_exceeded(tmp_path):
    with FakeOpenAIServer(delay=0.15) as fake:
        part = make_echo(fake.url, tmp_path, concurrency=2)
        outcomes = ask(part, *(f"id=t{i}" for i in range(6)))
    assert fake.max_in_flight == 2
    assert outcomes == {f"t{i}": f"requests of t{i}" for i in range(6)}


def test_several_servers_share_the_questions(tmp_path):
    with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        part = make_echo([one.url, two.url], tmp_path, concurrency=1)
        ask(part, *(f"id=t{i}" for i in range(4)))
        assert (len(one.chat_requests()), len(two.chat_requests())) == (2, 2)


def test_a_refused_run_stops_at_once_with_the_hint(server, tmp_path):
    server.status = 401
    part = make_echo(server.url, tmp_path, concurrency=1, api_key_env="MY_KEY")
    with pytest.raises(LLMEndpointError, match=r"HTTP 401: .*check the API key in \$MY_KEY"):
        ask(part, "id=a", "id=b", "id=c")
    assert len(server.chat_requests()) == 1  # no retry; the queued questions never start
    assert part.requests_made == 1


def test_the_key_is_read_from_the_environment_when_sending_and_never_kept(
    server, tmp_path, monkeypatch
):
    part = make_echo(server.url, tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback-key")
    ask(part, "id=a")
    assert server.chat_requests()[0].headers["authorization"] == "Bearer sk-fallback-key"
    assert "sk-fallback-key" not in repr(vars(part)) + repr(part)


def test_the_shared_constructor_checks_endpoint_model_and_options(monkeypatch, tmp_path):
    with pytest.raises(LLMConfigError, match=r"the echo part needs an endpoint"):
        Echo(model="m")
    with pytest.raises(LLMConfigError, match=r"the echo part needs a model name"):
        Echo("http://127.0.0.1:9/v1")
    for option, value, allowed in (
        ("concurrency", 0, "at least 1"),
        ("timeout", 0, "above 0 seconds"),
        ("max_retries", -1, "at least 0"),
    ):
        with pytest.raises(LLMConfigError, match=rf"invalid {option}={value}: must be {allowed}"):
            Echo("http://127.0.0.1:9/v1", "m", **{option: value})
    monkeypatch.setenv("SIMGAP_LLM_BASE_URL", "http://alice:pw@127.0.0.1:9/v1/")
    monkeypatch.setenv("SIMGAP_LLM_MODEL", "env-model")
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path))
    part = Echo()
    assert (part.base_urls, part.model) == (["http://alice:pw@127.0.0.1:9/v1"], "env-model")
    assert part.cache_dir == tmp_path / "echo"
    assert repr(part) == "Echo(base_url='http://***@127.0.0.1:9/v1', model='env-model')"


def test_the_identity_leaves_the_servers_out():
    one = Echo("http://alice:pw@127.0.0.1:9/v1", "m", temperature=0.5)
    two = Echo(["http://127.0.0.1:10/v1", "http://127.0.0.1:11/v1"], "m", temperature=0.5)
    assert one.answer_identity(extra=3) == two.answer_identity(extra=3)
    assert list(one.answer_identity(extra=3).items()) == [
        ("model", "m"),
        ("prompt_version", "1"),
        ("extra", 3),
        ("temperature", 0.5),
        ("json_mode", True),
    ]
