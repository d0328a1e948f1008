"""Credentials in a base URL (`user:password@`, `?api_key=...`) reach the server and nothing
else: not params.json, the run directory, a cache file or key, a repr, an error line."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, Step
from typer.testing import CliRunner

from simgap_core.embed import CachedEmbedder, OpenAIEmbedder
from simgap_core.embed.openai import EmbeddingServerError
from simgap_core.errors import SimgapError
from simgap_core.http import OpenAIClient, redact_urls
from simgap_core.model import Conversation, Corpus
from simgap_core.parts import PartError
from simgap_core.represent.llm import AnnotatorConfigError, LLMAnnotator, LLMEndpointError

PASSWORD, KEY = "pw-S3CRET", "key-S3CRET"
SECRETS = (PASSWORD, KEY)
CLOSED = "127.0.0.1:9"  # the discard port: nothing listens there on a test machine


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIMGAP_EMBED_API_KEY", "SIMGAP_LLM_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(embedding_dim=16) as fake:
        yield fake


def secret_url(host_url: str) -> str:
    """`host_url` (http://HOST:PORT/v1) with a password and an API key in its query."""
    return host_url.replace("http://", f"http://alice:{PASSWORD}@") + f"?api_key={KEY}&v=7"


def assert_hidden(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("http://user:secret@host/v1", "http://***@host/v1"),
        (
            "https://h/v1?api_key=A&api-version=2024-01&key=B",
            "https://h/v1?api_key=***&api-version=2024-01&key=***",
        ),
        (
            "http://h/v1?token=A&access_token=B&sig=C&x=1",
            "http://h/v1?token=***&access_token=***&sig=***&x=1",
        ),
        (
            "http://h/v1?X-Amz-Signature=A&X-Amz-Credential=B",
            "http://h/v1?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("http://h/cb#access_token=A&state=s", "http://h/cb#access_token=***&state=s"),
        ("http://u:pa/ss@h:80/v1", "http://***@h:80/v1"),  # an unencoded "/" in the password
        (
            "ConnectError for url 'http://u:p@h/v1?client_secret=Z': refused; see https://docs/x",
            "ConnectError for url 'http://***@h/v1?client_secret=***': refused; see https://docs/x",
        ),
        (
            "['http://a:b@h1/v1', 'http://h2/v1?Password=c']",
            "['http://***@h1/v1', 'http://h2/v1?Password=***']",
        ),
        ("plain text, key=value, user@example.com", "plain text, key=value, user@example.com"),
        ("file:///data/runs/x@y.jsonl", "file:///data/runs/x@y.jsonl"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ],
)
def test_redact_urls_masks_credentials_and_keeps_the_rest(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


def test_the_real_credentials_still_reach_the_server(server) -> None:
    embedder = OpenAIEmbedder("fake-embed", base_urls=secret_url(server.url), batch_size=8)
    assert embedder.encode(["one text", "two texts"]).shape == (2, 16)
    (request,) = server.embedding_requests()
    assert request.path == "/v1/embeddings"  # the API path goes before the query
    assert request.query == f"api_key={KEY}&v=7"
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"


def corpus() -> Corpus:
    turns = [("user", "hello, id=c1 please help"), ("assistant", "Sure."), ("user", "thanks")]
    return Corpus.from_conversations([Conversation(original_id="c1", source="real", turns=turns)])


def annotate(url: str, tmp_path: Path) -> None:
    annotator = LLMAnnotator(url, "fake-chat", cache_dir=tmp_path, max_retries=0, backoff=0)
    annotator.describe(corpus())


def embed(url: str, tmp_path: Path) -> None:
    OpenAIEmbedder("fake-embed", base_urls=url, max_retries=0, backoff=0).encode(["a text"])


@pytest.mark.parametrize("call", [annotate, embed])
@pytest.mark.parametrize("failure", ["401", "refused", "echo"])
def test_errors_name_the_server_without_its_credentials(server, tmp_path, call, failure) -> None:
    url = secret_url(server.url)
    if failure == "401":
        server.status = 401
    elif failure == "refused":
        url = secret_url(f"http://{CLOSED}/v1")
    else:  # a server whose error message quotes the URL it was called with
        server.script(Step(status=403, body={"error": {"message": f"denied for {url}"}}))
    with pytest.raises((LLMEndpointError, EmbeddingServerError)) as caught:
        call(url, tmp_path)
    message = str(caught.value)
    assert_hidden(message)
    assert "http://***@" in message and "api_key=***" in message


@pytest.mark.parametrize(
    "url",
    [f"ftp://alice:{PASSWORD}@host/v1", f"http://alice:{PASSWORD}@host:port/v1?api_key={KEY}"],
)
def test_a_malformed_base_url_is_refused_without_showing_its_secret(url: str) -> None:
    for make, error in (
        (lambda: OpenAIEmbedder("m", base_urls=url), PartError),
        (lambda: LLMAnnotator(url, "m"), AnnotatorConfigError),
        (lambda: OpenAIClient(url), SimgapError),
    ):
        with pytest.raises(error) as caught:
            make()
        assert_hidden(str(caught.value))
        assert "***@host" in str(caught.value)


def test_reprs_hide_credentials(server) -> None:
    from simgap_core.behaviour.llm_names import LLMNamer

    url = secret_url(server.url)
    for part in (
        OpenAIEmbedder("m", base_urls=[url]),
        LLMAnnotator(url, "m"),
        LLMNamer(url, "m"),
        OpenAIClient(url),
    ):
        assert_hidden(repr(part))
        assert "***@127.0.0.1" in repr(part)


def test_a_new_password_neither_splits_the_cache_nor_reaches_a_cache_file(server, tmp_path):
    CachedEmbedder(
        OpenAIEmbedder("fake-embed", base_urls=secret_url(server.url)), cache_dir=tmp_path
    ).encode(["a", "b"])
    renewed = server.url.replace("http://", "http://alice:other-password@") + "?api_key=new"
    cached = CachedEmbedder(OpenAIEmbedder("fake-embed", base_urls=renewed), cache_dir=tmp_path)
    cached.encode(["a", "b"])
    assert (cached.cache_hits, cached.embedded_count) == (2, 0)
    annotate(secret_url(server.url), tmp_path / "llm")
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) >= 2  # the vector store and one cached answer
    for path in files:
        assert_hidden(path.read_bytes().decode("utf-8", "replace") + str(path))


def test_a_run_directory_holds_no_credential(server, tmp_path, monkeypatch) -> None:
    from test_run import SMALL, write_sources

    from simgap_core.run import AnalysisParams, analyze

    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    url = secret_url(server.url)
    params = AnalysisParams(
        **SMALL,
        measure=False,
        facet="user_turns",
        namer="llm",
        llm_base_url=url,
        llm_model="fake-chat",
        embedder="openai",
        embed_model="fake-embed",
        part_options={"embedder": {"base_urls": [url]}},
    )
    run = analyze(write_sources(tmp_path, per_source=20), tmp_path / "run", params)
    assert server.chat_requests() and server.embedding_requests()  # both went through
    recorded = run.params.params.model_dump()
    shown = redact_urls(url)
    assert (
        recorded["llm_base_url"] == shown == "http://***@" + url.split("@")[1].replace(KEY, "***")
    )
    assert recorded["part_options"]["embedder"]["base_urls"] == [shown]
    for path in run.path.rglob("*"):
        if path.is_file():
            assert_hidden(path.read_bytes().decode("utf-8", "replace"))


def test_the_cli_error_line_hides_credentials(tmp_path, monkeypatch) -> None:
    from test_run import write_sources

    from simgap_core.cli import app

    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    real, sim = write_sources(tmp_path, per_source=30)
    result = CliRunner().invoke(
        app,
        [
            "analyze", "--real", str(real.path), "--sim", f"sim={sim.path}",
            "--facet", "user_turns", "--embedder", "openai", "--embed-model", "m",
            "--embed-base-url", secret_url(f"http://{CLOSED}/v1"),
            "--part-option", "embedder.max_retries=0", "--out", str(tmp_path / "run"),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert_hidden(result.output + result.stderr)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: embeddings for model 'm': http://***@127.0.0.1:9/v1/embeddings")
    assert "api_key=***" in error


def test_the_cli_boundary_masks_urls_in_any_error(capsys) -> None:
    from simgap_core.cli import _error_line

    _error_line(f"ReadError: http://alice:{PASSWORD}@h/v1?key={KEY}\nfailed")
    line = capsys.readouterr().err
    assert_hidden(line)
    assert line.strip() == "error: ReadError: http://***@h/v1?key=*** failed"
