"""The demo generator: deterministic, honest ground truth, planted gaps, varied text."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from simgap_core.demo import (
    ARCHETYPES,
    DEMO_SOURCES,
    HALLUCINATED,
    MISSED,
    SIMULATORS,
    TRUE_SHARES,
    generate_demo,
    write_demo,
)
from simgap_core.demo.phrases import PHRASE_DIR, PhraseFileError, load_phrases, read_phrases
from simgap_core.io.loaders import load_file

SMALL = 200
FILES = {f"{s}.jsonl" for s in DEMO_SOURCES} | {"ground_truth.csv", "truth.json"}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("small"), seed=0, per_source=SMALL)


@pytest.fixture(scope="module")
def full_truth(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def full_demo():
    return generate_demo(seed=0)


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _js(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats, written out independently of scipy."""
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / m[mask])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def _assert_same_json(actual: object, expected: object, where: str = "truth") -> None:
    """Equal structure and values; floats within 1e-6 (the optimiser's last digits may vary
    with the platform's floating-point libraries, everything else must match exactly)."""
    if isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, abs=1e-6), where
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), where
        for key in expected:
            _assert_same_json(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_json(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, where


def test_true_shares_are_exact_mixtures_over_the_archetypes() -> None:
    assert len(ARCHETYPES) == 12
    assert DEMO_SOURCES == ("real", "close_sim", "narrow_sim", "chatty_sim")
    for source in DEMO_SOURCES:
        shares = TRUE_SHARES[source]
        assert tuple(shares) == ARCHETYPES
        assert math.fsum(shares.values()) == pytest.approx(1.0, abs=1e-12)
        assert all(v >= 0 for v in shares.values())


def test_same_seed_writes_byte_identical_files(small_demo: Path, tmp_path: Path) -> None:
    again = write_demo(tmp_path / "again", seed=0, per_source=SMALL)
    assert {p.name for p in small_demo.iterdir()} == FILES
    assert {p.name for p in again.iterdir()} == FILES
    for name in FILES:
        assert (again / name).read_bytes() == (small_demo / name).read_bytes(), name


def test_different_seed_writes_different_conversations(small_demo: Path, tmp_path: Path) -> None:
    other = write_demo(tmp_path / "other", seed=1, per_source=SMALL)
    for source in DEMO_SOURCES:
        first = _read_jsonl(small_demo / f"{source}.jsonl")
        second = _read_jsonl(other / f"{source}.jsonl")
        same = sum(a["messages"] == b["messages"] for a, b in zip(first, second, strict=True))
        assert same < SMALL * 0.05, source
    assert json.loads((other / "truth.json").read_text())["seed"] == 1


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="seed"):
        generate_demo(seed=-1)
    with pytest.raises(ValueError, match="per_source"):
        generate_demo(per_source=0)


def test_ground_truth_equals_the_generated_files(small_demo: Path) -> None:
    truth = json.loads((small_demo / "truth.json").read_text(encoding="utf-8"))
    with (small_demo / "ground_truth.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["source", "id", "conversation_id", "archetype", "topic"]
    for source in DEMO_SOURCES:
        records = _read_jsonl(small_demo / f"{source}.jsonl")
        assert all(set(r) == {"id", "messages"} for r in records)
        source_rows = [row for row in rows if row["source"] == source]
        assert [row["id"] for row in source_rows] == [r["id"] for r in records]
        assert records[0]["id"] == f"{source}-0001"
        assert all(row["conversation_id"] == f"{source}:{row['id']}" for row in source_rows)
        counts = Counter(row["archetype"] for row in source_rows)
        assert truth["counts"][source] == {a: counts.get(a, 0) for a in ARCHETYPES}
        assert sum(truth["counts"][source].values()) == SMALL
        for archetype in ARCHETYPES:
            realised = truth["realised_shares"][source][archetype]
            assert realised == pytest.approx(counts.get(archetype, 0) / SMALL, abs=1e-6)
            # Largest-remainder apportionment: never more than one away from the planted share.
            planted = truth["true_shares"][source][archetype] * SMALL
            assert abs(counts.get(archetype, 0) - planted) < 1
    assert len(rows) == SMALL * len(DEMO_SOURCES)


def test_no_archetype_or_topic_leaks_into_the_records(small_demo: Path) -> None:
    text = (small_demo / "real.jsonl").read_text(encoding="utf-8")
    assert '"archetype"' not in text and '"topic"' not in text
    assert "iterative_refinement" not in text and "clarifying_question" not in text


def test_true_js_ranks_the_simulators_with_clear_margins(full_truth: dict) -> None:
    js = full_truth["true_js"]
    assert set(js) == set(SIMULATORS)
    assert 0.005 < js["close_sim"] < 0.02
    assert js["narrow_sim"] > 8 * js["close_sim"]
    assert js["chatty_sim"] > 8 * js["close_sim"]
    assert abs(js["narrow_sim"] - js["chatty_sim"]) > 0.04
    shares = full_truth["realised_shares"]
    real = np.array([shares["real"][a] for a in ARCHETYPES])
    for name in SIMULATORS:
        sim = np.array([shares[name][a] for a in ARCHETYPES])
        assert js[name] == pytest.approx(_js(real, sim), abs=1e-6)


def test_planted_gaps_are_in_the_realised_shares(full_truth: dict) -> None:
    shares = full_truth["realised_shares"]
    assert full_truth["missed"] == {s: list(MISSED[s]) for s in SIMULATORS}
    assert full_truth["hallucinated"] == {s: list(HALLUCINATED[s]) for s in SIMULATORS}
    assert len(MISSED["narrow_sim"]) >= 3 and len(HALLUCINATED["chatty_sim"]) >= 3
    for archetype in MISSED["narrow_sim"]:
        assert shares["real"][archetype] >= 0.05
        assert shares["narrow_sim"][archetype] == 0.0
    for archetype in HALLUCINATED["chatty_sim"]:
        assert shares["chatty_sim"][archetype] > 4 * shares["real"][archetype]
    for archetype in MISSED["chatty_sim"]:
        assert shares["chatty_sim"][archetype] < shares["real"][archetype] / 4
    for archetype in ARCHETYPES:
        ratio = shares["close_sim"][archetype] / shares["real"][archetype]
        assert 0.6 < ratio < 1.6, archetype


def test_best_mixture_is_on_the_simplex_and_optimal(full_truth: dict) -> None:
    mixture = full_truth["best_mixture"]
    assert mixture["simulators"] == list(SIMULATORS)
    weights = np.array([mixture["weights"][s] for s in SIMULATORS])
    assert weights.sum() == pytest.approx(1.0, abs=1e-6)
    assert (weights >= 0).all()
    assert mixture["best_single"] == min(full_truth["true_js"], key=full_truth["true_js"].get)
    assert mixture["best_single_js"] == full_truth["true_js"][mixture["best_single"]]
    assert mixture["js"] <= mixture["best_single_js"]
    assert mixture["gain"] == pytest.approx(mixture["best_single_js"] - mixture["js"], abs=2e-6)
    # Planted: close_sim errs the opposite way from narrow_sim, so a blend beats both clearly.
    assert mixture["js"] < mixture["best_single_js"] / 2
    shares = full_truth["realised_shares"]
    real = np.array([shares["real"][a] for a in ARCHETYPES])
    stacked = np.array([[shares[s][a] for a in ARCHETYPES] for s in SIMULATORS])
    assert mixture["js"] == pytest.approx(_js(real, weights @ stacked), abs=1e-5)
    step = 0.01
    grid = [
        (a * step, b * step, 1 - (a + b) * step)
        for a, b in itertools.product(range(101), repeat=2)
        if a + b <= 100
    ]
    grid_best = min(_js(real, np.array(w) @ stacked) for w in grid)
    assert mixture["js"] <= grid_best + 1e-6  # written rounded to 6 decimals


def test_first_requests_are_diverse(full_demo) -> None:
    for source in DEMO_SOURCES:
        firsts = [r["messages"][0]["content"] for r in full_demo.records[source]]
        assert len(set(firsts)) / len(firsts) >= 0.9, source
        lengths = [len(f.split()) for f in firsts]
        assert min(lengths) <= 5 and max(lengths) >= 80, source
    topics = Counter(full_demo.topics["real"])
    assert len(topics) >= 25
    # Topic is independent of archetype: every common archetype spans most topics.
    for archetype in ("terse", "detailed_spec", "error_log", "correction"):
        spanned = {
            t
            for t, a in zip(full_demo.topics["real"], full_demo.archetypes["real"], strict=True)
            if a == archetype
        }
        assert len(spanned) >= 20, archetype


_LANGUAGE_WORDS = {
    "fr": "je vous tu pouvez faudrait voudrais merci pourrais une des pour est",
    "es": "necesito quisiera buscando podrías gracias quiero una para los las puedes",
    "de": "ich bitte kannst könnten brauche suche einen eine für hätte gern",
    "pt": "preciso você queria procurando poderia obrigado quero uma um para pode",
    "it": "bisogno vorrei cercando potresti serve puoi una per dei della mi",
}
_ENGLISH_FRAME = re.compile(r"\b(can you|could you|please|i need|the|what|how)\b", re.IGNORECASE)


def _language(text: str) -> str | None:
    """The language whose marker words occur most in `text`, or None when none occurs."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    scores = {
        lang: sum(w in vocab.split() for w in words) for lang, vocab in _LANGUAGE_WORDS.items()
    }
    best = max(scores, key=scores.get)
    return best if scores[best] else None


def test_non_english_requests_use_several_languages(full_demo) -> None:
    seen: Counter = Counter()
    for record, archetype in zip(
        full_demo.records["real"], full_demo.archetypes["real"], strict=True
    ):
        if archetype != "non_english":
            continue
        first = record["messages"][0]["content"]
        assert not _ENGLISH_FRAME.search(first), first
        seen[_language(first)] += 1
    assert seen[None] <= 0.05 * sum(seen.values())
    assert set(seen) - {None} == set(_LANGUAGE_WORDS)
    assert min(seen[lang] for lang in _LANGUAGE_WORDS) >= 10


_LOG = re.compile(r"error|traceback|err!|exception|#n/a|#value|#div|#ref|<div|warn", re.IGNORECASE)
_CORRECTION = re.compile(
    r"\b(no|not|wrong|actually|misunderstood|meant|said|asked|ignored|forgot)\b|n't",
    re.IGNORECASE,
)
_GRATITUDE = re.compile(r"\b(thanks?|thank you|thx|ty|cheers|bye)\b", re.IGNORECASE)
# Frustration: typography (capitals, "!!") or its vocabulary.
_FRUSTRATION = re.compile(
    r"!!|\?!|\?\?|(?-i:\b[A-Z]{4,}\b)|useless|ridiculous|waste|ugh|seriously|again\?|already"
    r"|are you even|why can't|how many times|keep giving|not what i asked|come on|lecture",
    re.IGNORECASE,
)
_POLITE = re.compile(
    r"kindly|would you|could you|may i|appreciate|grateful|so kind|if it isn't|would it be"
    r"|hope|sorry to bother|thank",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"(^|[.!?]\s+|\n)(I|I'm|I've|My|We|my|we|i|i'm|i've)\b")


def _users(record: dict) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == "user"]


_CUES = {
    "terse": lambda u: len(u) <= 2 and len(u[0].split()) <= 12 and u[0] == u[0].lower(),
    "detailed_spec": lambda u: len(u[0].split()) >= 25,
    "error_log": lambda u: bool(_LOG.search(u[0])),
    "correction": lambda u: len(u) >= 2 and bool(_CORRECTION.search(u[1])),
    "frustrated": lambda u: len(u) >= 2 and any(_FRUSTRATION.search(t) for t in u[1:]),
    "topic_switch": lambda u: len(u) >= 2,
    "thanks_leave": lambda u: (
        len(u) >= 2 and bool(_GRATITUDE.search(u[-1])) and len(u[-1].split()) <= 10
    ),
    "clarifying_question": lambda u: len(u) >= 2 and u[1].rstrip().endswith("?"),
    "iterative_refinement": lambda u: len(u) >= 4 and all(len(t.split()) <= 10 for t in u[1:]),
    "non_english": lambda u: not _ENGLISH_FRAME.search(u[0]),
    "polite_verbose": lambda u: (
        len({m.lower() for m in _POLITE.findall(u[0])}) >= 2 and len(u[0].split()) >= 20
    ),
    "context_dump": lambda u: len(_FIRST_PERSON.findall(u[0])) >= 3 and len(u[0].split()) >= 30,
}


def test_each_archetype_shows_its_measurable_cue(full_demo) -> None:
    """Nearly every conversation shows its archetype's cue; typos hide a few, as in real data."""
    shown: Counter = Counter()
    total: Counter = Counter()
    for source in DEMO_SOURCES:
        for record, archetype in zip(
            full_demo.records[source], full_demo.archetypes[source], strict=True
        ):
            total[archetype] += 1
            shown[archetype] += _CUES[archetype](_users(record))
    rates = {a: shown[a] / total[a] for a in ARCHETYPES}
    assert min(rates.values()) >= 0.95, rates


def _content_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{5,}", text.lower()))


def test_topic_switch_later_asks_about_another_topic(full_demo) -> None:
    """A later user turn of a topic switch reads as another topic; on-topic follow-ups don't.

    Topic of a turn: the vote of its words that (almost) only occur in first requests of one
    ground-truth topic, learned from the first requests of all sources.
    """
    seen: dict[str, Counter] = {}
    for source in DEMO_SOURCES:
        for record, archetype, topic in zip(
            full_demo.records[source],
            full_demo.archetypes[source],
            full_demo.topics[source],
            strict=True,
        ):
            if archetype != "non_english":
                for word in _content_words(record["messages"][0]["content"]):
                    seen.setdefault(word, Counter())[topic] += 1
    specific = {
        word: topics.most_common(1)[0][0]
        for word, topics in seen.items()
        if topics.total() >= 5 and topics.most_common(1)[0][1] >= 0.9 * topics.total()
    }

    def elsewhere(record: dict, topic: str) -> bool:
        for turn in _users(record)[1:]:
            votes = Counter(specific[w] for w in _content_words(turn) if w in specific)
            if votes and votes.most_common(1)[0][0] != topic:
                return True
        return False

    rates: dict[str, list[bool]] = {}
    for record, archetype, topic in zip(
        full_demo.records["real"],
        full_demo.archetypes["real"],
        full_demo.topics["real"],
        strict=True,
    ):
        rates.setdefault(archetype, []).append(elsewhere(record, topic))
    assert np.mean(rates["topic_switch"]) >= 0.85
    for archetype in ("thanks_leave", "clarifying_question", "terse"):
        assert np.mean(rates[archetype]) <= 0.05, archetype


def test_hostile_looking_text_is_kept_verbatim(full_demo) -> None:
    pasted = [
        r["messages"][0]["content"]
        for r, a in zip(full_demo.records["real"], full_demo.archetypes["real"], strict=True)
        if a == "error_log"
    ]
    assert any("<script>alert(1)</script>" in p or "onerror=" in p for p in pasted)
    assert any("<b>" in p for p in pasted)


def test_committed_demo_matches_a_fresh_generation(demo_dir: Path, tmp_path: Path) -> None:
    truth = json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 0 and truth["per_source"] == 1500
    fresh = write_demo(tmp_path / "fresh", seed=0)
    assert {p.name for p in demo_dir.iterdir()} == FILES
    for name in FILES - {"truth.json"}:
        assert (fresh / name).read_bytes() == (demo_dir / name).read_bytes(), name
    _assert_same_json(json.loads((fresh / "truth.json").read_text(encoding="utf-8")), truth)
    size = sum(p.stat().st_size for p in demo_dir.iterdir())
    assert size < 5_000_000


def test_committed_demo_loads_without_skips(demo_dir: Path) -> None:
    with (demo_dir / "ground_truth.csv").open(encoding="utf-8", newline="") as handle:
        expected = Counter(row["source"] for row in csv.DictReader(handle))
    for source in DEMO_SOURCES:
        corpus = load_file(demo_dir / f"{source}.jsonl", format="openai", source=source)
        assert corpus.skipped == []
        assert len(corpus.conversations) == expected[source] == 1500
        assert set(corpus.conversations["source"]) == {source}
        assert corpus.conversations["conversation_id"].iloc[0] == f"{source}:{source}-0001"


# --- the phrase files -------------------------------------------------------------------------


@pytest.fixture
def phrase_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped phrase files, to break one at a time."""
    shipped = resources.files("simgap_core.demo") / PHRASE_DIR
    for name in ("user.json", "assistant.json", "languages.json", "topics.json"):
        (tmp_path / name).write_text((shipped / name).read_text(encoding="utf-8"), "utf-8")
    return tmp_path


def _edit(folder: Path, name: str, change) -> None:
    data = json.loads((folder / name).read_text(encoding="utf-8"))
    change(data)
    (folder / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_shipped_phrase_files_are_read_whole(phrase_copy: Path) -> None:
    phrases = load_phrases()
    assert read_phrases(phrase_copy) == phrases
    user = json.loads((phrase_copy / "user.json").read_text(encoding="utf-8"))
    assert phrases.banks["greetings"] == tuple(user["greetings"])
    assert len(phrases.topics) == len({t.key for t in phrases.topics}) >= 12
    assert all(list(t.foreign) == list(phrases.languages) for t in phrases.topics)


def test_a_missing_phrase_file_is_named(phrase_copy: Path) -> None:
    (phrase_copy / "languages.json").unlink()
    with pytest.raises(PhraseFileError, match=r"languages\.json: phrase file is missing"):
        read_phrases(phrase_copy)


def test_malformed_json_names_the_file_and_line(phrase_copy: Path) -> None:
    (phrase_copy / "assistant.json").write_text('{\n  "openers": ["ok",]\n}', encoding="utf-8")
    with pytest.raises(PhraseFileError, match=r"assistant\.json: not valid JSON: .* line 2"):
        read_phrases(phrase_copy)


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        (
            "user.json",
            lambda d: d["greetings"].__setitem__(2, 7),
            r"user\.json, entry greetings\[2\]: expected a string, got int",
        ),
        ("user.json", lambda d: d.__setitem__("thanks", []), r"entry thanks: expected a non-empty"),
        (
            "user.json",
            lambda d: d["purposes"].append("for {dish}"),
            r"entry purposes\[\d+\]: unknown slot \{dish\}",
        ),
        (
            "assistant.json",
            lambda d: d.__setitem__("followups", ["more?"]),
            r"assistant\.json: bank names also used in user\.json: followups",
        ),
        (
            "languages.json",
            lambda d: d["de"].pop("replies"),
            r"languages\.json, entry de: expected exactly the banks",
        ),
        (
            "topics.json",
            lambda d: d[1]["foreign"].pop("pt"),
            r"topics\.json, entry \[1\]\.foreign: expected one subject per language",
        ),
        (
            "topics.json",
            lambda d: d[0]["tasks"].append(["only a request"]),
            r"entry \[0\]\.tasks\[\d+\]: expected \[request, terse fragment\]",
        ),
        (
            "topics.json",
            lambda d: d[2].__setitem__("key", d[0]["key"]),
            r"topics\.json: topic keys used more than once",
        ),
    ],
)
def test_a_malformed_phrase_file_names_the_file_and_entry(
    phrase_copy: Path, file: str, change, message: str
) -> None:
    _edit(phrase_copy, file, change)
    with pytest.raises(PhraseFileError, match=message):
        read_phrases(phrase_copy)
