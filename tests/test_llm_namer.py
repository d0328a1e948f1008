"""The LLM cluster namer against a real OpenAI-compatible HTTP server on 127.0.0.1: contrastive
prompts, the answer cache, fallbacks to the offline names, unique names, and the CLI path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_openai_server import (
    SAME_NAME,
    FakeOpenAIServer,
    RecordedRequest,
    clear_llm_env,
    name_for,
)
from typer.testing import CliRunner

import simgap_core.map.layout  # noqa: F401  (fixes NUMBA_CACHE_DIR before a test moves the cache)
from simgap_core.behaviour import llm_names
from simgap_core.behaviour.features import FEATURE_NAMES
from simgap_core.behaviour.llm_names import (
    NEIGHBOUR_HEADING,
    TARGET_HEADING,
    LLMNamer,
    NamingFallback,
    nearest_clusters,
    parse_name,
)
from simgap_core.cli import app
from simgap_core.represent.llm import AnnotatorConfigError, LLMEndpointError
from simgap_core.run import Run

# Four clusters on a line in the clustering space (x = 0, 1, 3, 10) plus noise; each cluster's
# texts carry its token, so the fake server names cluster 0 "alpha behaviour as ...".
TOKENS = {0: "alpha", 1: "beta", 2: "gamma", 3: "delta", -1: "noise"}
SIZES = {0: 12, 1: 10, 2: 8, 3: 6, -1: 4}
POSITIONS = {0: 0.0, 1: 1.0, 2: 3.0, 3: 10.0, -1: 5.0}
OFFLINE = {
    -1: "unclustered",
    0: "gratitude, long messages",
    1: "gratitude, short messages",
    2: "pasted error logs, questions back",
    3: "typos, frustrated complaints",
}


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


def make_run(markers: dict[int, str] | None = None) -> dict[str, pd.DataFrame]:
    """Offline names, features, clusters, representations and coordinates of the four
    clusters; `markers[cluster]` is appended to every text of that cluster."""
    markers = markers or {}
    ids, labels, texts = [], [], []
    for cluster, size in SIZES.items():
        for index in range(size):
            ids.append(f"real:{TOKENS[cluster]}-{index}")
            labels.append(cluster)
            texts.append(f"id={TOKENS[cluster]} text {index} {markers.get(cluster, '')}")
    clusters = pd.DataFrame({"conversation_id": ids, "source": "real", "cluster": labels})
    rng = np.random.default_rng(0)
    features = pd.DataFrame({name: rng.normal(size=len(ids)) for name in FEATURE_NAMES})
    features.insert(0, "conversation_id", ids)
    x = np.array([POSITIONS[c] for c in labels]) + rng.normal(0, 0.01, len(ids))
    coordinates = pd.DataFrame({"c0": x, "c1": rng.normal(0, 0.01, len(ids))}, index=ids)
    offline = pd.DataFrame(
        {
            "cluster": list(OFFLINE),
            "name": list(OFFLINE.values()),
            "description": [f"offline description of {TOKENS[c]}." for c in OFFLINE],
        }
    )
    representations = pd.DataFrame({"conversation_id": ids, "text": texts})
    return {
        "offline_names": offline,
        "features": features,
        "clusters": clusters,
        "representations": representations,
        "coordinates": coordinates,
    }


def make_namer(server: FakeOpenAIServer, cache_dir: Path, **options) -> LLMNamer:
    defaults = {"cache_dir": cache_dir, "backoff": 0.001, "max_backoff": 2.0, "timeout": 5.0}
    return LLMNamer(server.url, "fake-model", **{**defaults, **options})


def names_of(frame: pd.DataFrame) -> dict[int, str]:
    return dict(zip(frame["cluster"].astype(int), frame["name"], strict=True))


def request_for(server: FakeOpenAIServer, token: str) -> RecordedRequest:
    found = [r for r in server.chat_requests() if r.token == token and not r.is_reask]
    assert len(found) == 1, f"{len(found)} first requests for {token}"
    return found[0]


def neighbour_names(request: RecordedRequest) -> list[str]:
    """The offline names in the request's neighbour sections, in prompt order."""
    sections = request.prompt.split(f"\n\n{NEIGHBOUR_HEADING} ")[1:]
    return [s.split("Automatic name: ", 1)[1].split("\n", 1)[0] for s in sections]


def test_each_cluster_gets_the_models_name_from_a_contrastive_prompt(server, tmp_path):
    run = make_run()
    namer = make_namer(server, tmp_path, neighbours=2)

    names = namer.name_clusters(**run)

    assert names.columns.tolist() == ["cluster", "name", "description"]
    assert names_of(names) == {
        -1: "unclustered",
        **{c: name_for(TOKENS[c])["name"] for c in range(4)},
    }
    described = names.set_index("cluster")["description"]
    assert described[2] == name_for("gamma")["description"]
    assert (namer.requests_made, namer.cache_hits, namer.fallbacks) == (4, 0, [])
    # Contrastive: each prompt holds its cluster first, then its nearest clusters on the map.
    expected_neighbours = {0: [1, 2], 1: [0, 2], 2: [1, 0], 3: [2, 1]}
    for cluster, neighbours in expected_neighbours.items():
        request = request_for(server, TOKENS[cluster])
        assert request.prompt.startswith(TARGET_HEADING)
        assert f"Automatic name: {OFFLINE[cluster]}\n" in request.namer_section
        assert neighbour_names(request) == [OFFLINE[n] for n in neighbours]
        for neighbour in neighbours:
            assert f"id={TOKENS[neighbour]} " in request.prompt
    # The cluster's own texts: `examples` of them; a neighbour's: half as many.
    section = request_for(server, "alpha").namer_section
    assert section.count("\n- id=alpha ") == 8
    assert request_for(server, "alpha").prompt.count("\n- id=beta ") == 4


def test_without_coordinates_the_nearest_clusters_are_those_with_the_closest_profiles(
    server, tmp_path
):
    run = make_run()
    del run["coordinates"]
    features, labels = run["features"], run["clusters"]["cluster"]
    features[FEATURE_NAMES] = 0.0
    # Clusters 0 and 3 both thank; 1 and 2 both paste logs: each pair is its own nearest.
    features.loc[labels.isin([0, 3]), "gratitude"] = 1.0
    features.loc[labels.isin([1, 2]), "pastes_log"] = 1.0

    make_namer(server, tmp_path, neighbours=1).name_clusters(**run)

    nearest = {c: neighbour_names(request_for(server, TOKENS[c])) for c in range(4)}
    assert nearest == {0: [OFFLINE[3]], 3: [OFFLINE[0]], 1: [OFFLINE[2]], 2: [OFFLINE[1]]}


def test_nearest_clusters_ranks_by_distance_and_breaks_ties_by_number():
    centroids = pd.DataFrame({"x": [0.0, 2.0, -2.0, 5.0]}, index=[4, 1, 2, 3])
    assert nearest_clusters(centroids, 2) == {4: [1, 2], 1: [4, 3], 2: [4, 1], 3: [1, 4]}


def test_a_second_call_is_answered_from_the_cache_and_a_new_prompt_version_is_not(
    server, tmp_path, monkeypatch
):
    first = make_namer(server, tmp_path).name_clusters(**make_run())
    assert len(server.chat_requests()) == 4

    again = make_namer(server, tmp_path)
    second = again.name_clusters(**make_run())
    assert (again.requests_made, again.cache_hits) == (0, 4)
    assert len(server.chat_requests()) == 4
    pd.testing.assert_frame_equal(second, first)
    entry = json.loads(next(tmp_path.rglob("*.json")).read_text())
    assert entry["model"] == "fake-model"
    assert entry["prompt_version"] == llm_names.PROMPT_VERSION

    other_model = LLMNamer(server.url, "other-model", cache_dir=tmp_path)
    other_model.name_clusters(**make_run())
    assert (other_model.requests_made, other_model.cache_hits) == (4, 0)

    monkeypatch.setattr(llm_names, "PROMPT_VERSION", "bumped")
    bumped = make_namer(server, tmp_path)
    bumped.name_clusters(**make_run())
    assert (bumped.requests_made, bumped.cache_hits) == (4, 0)
    assert len(list(tmp_path.rglob("*.json"))) == 12


def test_unusable_answers_fall_back_to_the_offline_name_with_the_reason(server, tmp_path):
    run = make_run({0: "#garbage", 1: "#too-long", 2: "#fix-on-reask", 3: "#broken"})
    namer = make_namer(server, tmp_path)

    names = namer.name_clusters(**run).set_index("cluster")

    assert names.loc[0, "name"] == OFFLINE[0]
    assert names.loc[0, "description"] == "offline description of alpha."
    assert names.loc[1, "name"] == OFFLINE[1]
    assert names.loc[2, "name"] == name_for("gamma")["name"]  # right when re-asked
    assert names.loc[3, "name"] == name_for("delta")["name"]  # repaired JSON
    assert [f.cluster for f in namer.fallbacks] == [0, 1]
    assert namer.fallbacks[0].reason.startswith(
        "the model's answer was unusable after one re-ask: the answer holds no JSON object"
    )
    assert "HTTP 400" in namer.fallbacks[1].reason
    assert str(namer.fallbacks[1]).startswith("cluster 1: ")
    assert isinstance(namer.fallbacks[0], NamingFallback)
    # Only valid answers are cached: a rerun asks again for the two fallbacks alone.
    before = len(server.chat_requests())
    rerun = make_namer(server, tmp_path)
    rerun.name_clusters(**run)
    assert rerun.cache_hits == 2
    assert {r.token for r in server.chat_requests()[before:]} == {"alpha", "beta"}


def test_answers_are_cached_as_they_arrive_so_a_rerun_after_an_outage_resumes(server, tmp_path):
    server.fail_after = 2
    with pytest.raises(LLMEndpointError, match=r"HTTP 500.*rerun to resume"):
        make_namer(server, tmp_path, concurrency=2, max_retries=0).name_clusters(**make_run())
    assert len(list(tmp_path.rglob("*.json"))) == 2

    server.fail_after = None
    resumed = make_namer(server, tmp_path)
    names = names_of(resumed.name_clusters(**make_run()))
    assert (resumed.cache_hits, resumed.requests_made) == (2, 2)
    assert names[3] == name_for("delta")["name"]


def test_a_single_cluster_is_named_without_neighbours(server, tmp_path):
    run = make_run()
    run["clusters"]["cluster"] = run["clusters"]["cluster"].clip(upper=0)  # 1-3 join cluster 0
    run["offline_names"] = run["offline_names"][run["offline_names"]["cluster"] <= 0]

    names = names_of(make_namer(server, tmp_path).name_clusters(**run))

    assert names == {-1: "unclustered", 0: name_for("alpha")["name"]}
    (request,) = server.chat_requests()
    assert NEIGHBOUR_HEADING not in request.prompt
    assert "It is the only cluster." in request.prompt


def test_a_bad_key_stops_the_namer_with_the_endpoints_error(server, tmp_path):
    server.status = 401
    with pytest.raises(LLMEndpointError, match=r"HTTP 401.*SIMGAP_LLM_API_KEY"):
        make_namer(server, tmp_path).name_clusters(**make_run())


def test_the_namer_needs_an_endpoint_and_a_model(monkeypatch):
    with pytest.raises(AnnotatorConfigError, match=r"LLM namer needs an endpoint"):
        LLMNamer(model="m")
    with pytest.raises(AnnotatorConfigError, match=r"LLM namer needs a model.*SIMGAP_LLM_MODEL"):
        LLMNamer("http://127.0.0.1:9/v1")
    monkeypatch.setenv("SIMGAP_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SIMGAP_LLM_MODEL", "env-model")
    assert LLMNamer().identity()["model"] == "env-model"


def test_duplicate_names_from_the_model_are_made_unique_by_the_offline_names(server, tmp_path):
    run = make_run({0: "#same-name", 1: "#same-name", 2: "#same-name"})

    names = names_of(make_namer(server, tmp_path).name_clusters(**run))

    # Largest first keeps the name; the next gets the phrase of its offline name that the
    # holder's offline name lacks ("short messages", not the shared "gratitude").
    assert names[0] == SAME_NAME
    assert names[1] == f"{SAME_NAME} (short messages)"
    assert names[2] == f"{SAME_NAME} (pasted error logs)"
    assert len(set(names.values())) == len(names)


def test_a_clash_with_no_phrase_short_enough_is_numbered():
    taken = {"users who paste long logs": "pasted error logs, questions back"}
    assert llm_names._unique("Users Who Paste Long Logs", "gratitude", taken) == (
        "Users Who Paste Long Logs (gratitude)"
    )
    eight = "users who paste long logs and then complain"
    taken[eight] = "gratitude"
    assert llm_names._unique(eight, "pasted error logs", taken) == f"{eight} #2"


def test_a_name_over_eight_words_is_cut_and_a_dangling_word_dropped(server, tmp_path):
    names = names_of(make_namer(server, tmp_path).name_clusters(**make_run({3: "#long-name"})))
    # "delta users who paste logs and then complain about the answer": 11 words.
    assert names[3] == "delta users who paste logs and then complain"


def test_names_and_descriptions_are_one_line_without_control_characters():
    answer = json.dumps(
        {
            "Name": '"Pasted\nlogs,\u200b\x1b angry\tcomplaints."',
            "description": "Users paste logs.\r\nThen they \u202eshout.",
        }
    )
    assert parse_name(answer) == (
        "Pasted logs, angry complaints",
        "Users paste logs. Then they shout.",
    )
    with pytest.raises(ValueError, match="has 2 word"):
        parse_name('{"name": "log pasters", "description": "They paste."}')
    with pytest.raises(ValueError, match="lacks the key"):
        parse_name('{"name": "users who paste logs"}')
    with pytest.raises(ValueError, match="not text"):
        parse_name('{"name": ["users", "who", "paste"], "description": "x"}')


# --- the pipeline -------------------------------------------------------------------------

# Three behaviours; every conversation of a behaviour is identical but for its id, so the fake
# server's embeddings put each behaviour on one point and the clustering finds exactly them.
BEHAVIOURS = {
    "alpha": ["id=alpha please fix this bug in my code", "thanks, it works now"],
    "beta": ["id=beta write me a short poem about the sea!!", "make it rhyme", "longer"],
    "gamma": ["id=gamma what is the capital of france?"],
}


def write_behaviours(folder: Path, per_behaviour: int = 10) -> list[str]:
    """One real and one simulated file; the CLI options that read them."""
    options = []
    for source in ("real", "sim"):
        lines = []
        for token, turns in BEHAVIOURS.items():
            for index in range(per_behaviour):
                messages = []
                for text in turns:
                    messages += [
                        {"role": "user", "content": text},
                        {"role": "assistant", "content": "Sure."},
                    ]
                lines.append(json.dumps({"id": f"{token}-{index}", "messages": messages}))
        path = folder / f"{source}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        options += ["--real", str(path)] if source == "real" else ["--sim", f"sim={path}"]
    return options


def test_cli_namer_llm_writes_the_models_names_into_cluster_names(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    common = [
        "analyze",
        *write_behaviours(tmp_path),
        "--out",
        str(out),
        "--facet",
        "user_turns",
        "--embedder",
        "openai",
        "--embed-base-url",
        server.url,
        "--embed-model",
        "fake-embed",
        "--min-cluster-size",
        "5",
        "--no-measure",
        "--llm-base-url",
        server.url,
        "--llm-model",
        "fake-model",
    ]
    offline = CliRunner().invoke(app, common)
    assert offline.exit_code == 0, offline.output
    offline_names = Run(out).cluster_names()
    assert len(server.chat_requests()) == 0

    result = CliRunner().invoke(app, [*common, "--namer", "llm"])
    assert result.exit_code == 0, result.output
    assert "recomputed: behaviour)" in result.output  # only the names
    run = Run(out)
    names = run.cluster_names().set_index("cluster")
    clustered = names.drop(index=-1, errors="ignore")
    assert len(clustered) == 3
    assert sorted(clustered["name"]) == sorted(name_for(t)["name"] for t in BEHAVIOURS)
    for cluster, row in clustered.iterrows():
        token = row["name"].split()[0]
        assert offline_names.set_index("cluster").loc[cluster, "name"] in (
            request_for(server, token).namer_section
        )
    summary = json.loads((run.path / "stages.json").read_text())["stages"]["behaviour"]
    assert summary["parts"]["namer"]["model"] == "fake-model"
    assert summary["parts"]["namer"]["prompt_version"] == llm_names.PROMPT_VERSION
    assert run.facts("behaviour")["offline_fallbacks"] == []

    # A new prompt version is a new stage identity: the names are asked for again.
    monkeypatch.setattr(llm_names, "PROMPT_VERSION", "bumped")
    bumped = CliRunner().invoke(app, [*common, "--namer", "llm"])
    assert "recomputed: behaviour)" in bumped.output
    assert len(server.chat_requests()) == 6


def test_cli_namer_llm_without_a_model_fails_before_any_work(tmp_path):
    out = str(tmp_path / "run")
    result = CliRunner().invoke(
        app, ["analyze", *write_behaviours(tmp_path, 2), "--out", out, "--namer", "llm"]
    )
    assert result.exit_code == 2
    assert "the LLM namer needs an endpoint" in result.output
    assert not (tmp_path / "run" / "corpus").exists()


def test_an_unknown_namer_is_refused(tmp_path):
    out = str(tmp_path / "run")
    result = CliRunner().invoke(
        app, ["analyze", *write_behaviours(tmp_path, 2), "--out", out, "--namer", "gpt"]
    )
    assert result.exit_code == 2
    assert "--namer 'gpt' is not registered; choose one of llm, offline" in result.output
