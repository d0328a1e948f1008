"""The embedded demo dataset: one real population and three simulators with known mixtures.

Twelve user-behaviour archetypes (`ARCHETYPES`): terse one-liners, detailed specifications with
constraints, pasted error logs, corrections of the assistant, frustration, topic switches,
thanks-and-leave, clarifying questions about the answer, iterative refinement, non-English
requests, over-polite verbosity and unprompted personal background. Each conversation is drawn
as an (archetype, topic) pair, the topic independent of the archetype, and written from phrase
banks with slots, typos, casing and length noise. Raw user text therefore clusters by topic
while behaviour clusters by archetype, and the size of each simulator's gap is known exactly:
`truth.json` records the planted archetype shares, the shares actually generated, the true JS
divergence of each simulator to real and the best mixture of simulators.

- `close_sim` is near real (true JS about 0.01);
- `narrow_sim` never produces error logs, frustration, topic switches or non-English requests;
- `chatty_sim` over-produces politeness, background dumps and thanks-and-leave, and is rarely
  terse.

Everything is drawn from numpy Generators seeded by `(seed, source position)`, so a seed always
writes byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.spatial.distance import jensenshannon

ARCHETYPES = (
    "terse",
    "detailed_spec",
    "error_log",
    "correction",
    "frustrated",
    "topic_switch",
    "thanks_leave",
    "clarifying_question",
    "iterative_refinement",
    "non_english",
    "polite_verbose",
    "context_dump",
)
DEMO_SOURCES = ("real", "close_sim", "narrow_sim", "chatty_sim")
SIMULATORS = DEMO_SOURCES[1:]

# Shares in thousandths, in ARCHETYPES order: every mixture sums to exactly 1 and the
# apportionment of counts is integer arithmetic.
_PER_MILLE = {
    "real": (170, 140, 120, 110, 60, 60, 40, 70, 120, 70, 20, 20),
    # Leans toward logs, frustration, switches and non-English and away from terse, specs and
    # corrections: JS about 0.01, and some narrow_sim in a mixture corrects the lean.
    "close_sim": (115, 110, 150, 85, 90, 85, 50, 80, 100, 95, 20, 20),
    # Real's shares with error_log, frustrated, topic_switch and non_english removed, renormalised.
    "narrow_sim": (246, 203, 0, 159, 0, 0, 58, 101, 175, 0, 29, 29),
    "chatty_sim": (20, 80, 50, 45, 20, 30, 190, 75, 70, 20, 220, 180),
}
TRUE_SHARES: dict[str, dict[str, float]] = {
    source: {a: n / 1000 for a, n in zip(ARCHETYPES, per_mille, strict=True)}
    for source, per_mille in _PER_MILLE.items()
}
# The planted gaps: what each simulator under-produces (missed) or over-produces (hallucinated).
MISSED: dict[str, tuple[str, ...]] = {
    "close_sim": (),
    "narrow_sim": ("error_log", "frustrated", "topic_switch", "non_english"),
    "chatty_sim": ("terse",),
}
HALLUCINATED: dict[str, tuple[str, ...]] = {
    "close_sim": (),
    "narrow_sim": (),
    "chatty_sim": ("thanks_leave", "polite_verbose", "context_dump"),
}

_DIGITS = 6  # rounding of every float written, so files are byte-stable
_JSONL_SEPARATORS = (",", ":")


@dataclass(frozen=True)
class DemoData:
    """A generated demo: per source, the records in id order and each one's archetype and topic."""

    seed: int
    per_source: int
    records: dict[str, list[dict]]
    archetypes: dict[str, list[str]]
    topics: dict[str, list[str]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Conversations per archetype, per source."""
        return {
            source: {a: labels.count(a) for a in ARCHETYPES}
            for source, labels in self.archetypes.items()
        }

    def realised_shares(self) -> dict[str, dict[str, float]]:
        """Each archetype's share of its source, as generated."""
        return {
            source: {a: n / self.per_source for a, n in counts.items()}
            for source, counts in self.counts().items()
        }


def generate_demo(*, seed: int = 0, per_source: int = 1500) -> DemoData:
    """Generate `per_source` conversations for each of `DEMO_SOURCES`, deterministically."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if per_source < 1:
        raise ValueError(f"per_source must be >= 1, got {per_source}")
    width = max(4, len(str(per_source)))
    records: dict[str, list[dict]] = {}
    archetypes: dict[str, list[str]] = {}
    topics: dict[str, list[str]] = {}
    for position, source in enumerate(DEMO_SOURCES):
        rng = np.random.default_rng([seed, position])
        labels = np.repeat(np.arange(len(ARCHETYPES)), _allocate(_PER_MILLE[source], per_source))
        rng.shuffle(labels)
        records[source], archetypes[source], topics[source] = [], [], []
        for number, label in enumerate(labels, start=1):
            archetype = ARCHETYPES[int(label)]
            conversation = _Conversation(_Pen(rng), _TOPICS[int(rng.integers(len(_TOPICS)))])
            _WRITERS[archetype](conversation)
            messages = [{"role": role, "content": text} for role, text in conversation.turns]
            records[source].append({"id": f"{source}-{number:0{width}d}", "messages": messages})
            archetypes[source].append(archetype)
            topics[source].append(conversation.topic.key)
    return DemoData(seed, per_source, records, archetypes, topics)


def write_demo(out_dir: str | Path, *, seed: int = 0, per_source: int = 1500) -> Path:
    """Write the demo to `out_dir`: one OpenAI-messages JSONL per source and the ground truth.

    Files: `{source}.jsonl` (records `{"id", "messages"}` only), `ground_truth.csv` (source, id,
    conversation_id, archetype, topic) and `truth.json` (see `ground_truth`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = generate_demo(seed=seed, per_source=per_source)
    for source in DEMO_SOURCES:
        lines = [
            json.dumps(r, ensure_ascii=False, separators=_JSONL_SEPARATORS)
            for r in data.records[source]
        ]
        _write_text(out / f"{source}.jsonl", "\n".join(lines) + "\n")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(("source", "id", "conversation_id", "archetype", "topic"))
    for source in DEMO_SOURCES:
        for record, archetype, topic in zip(
            data.records[source], data.archetypes[source], data.topics[source], strict=True
        ):
            writer.writerow((source, record["id"], f"{source}:{record['id']}", archetype, topic))
    _write_text(out / "ground_truth.csv", table.getvalue())
    truth = json.dumps(ground_truth(data), indent=2, sort_keys=True, ensure_ascii=False)
    _write_text(out / "truth.json", truth + "\n")
    return out


def ground_truth(data: DemoData) -> dict:
    """The known answer: planted and realised shares, true JS to real, the best mixture.

    JS is the natural-log Jensen-Shannon divergence (max ln 2) on the realised shares.
    """
    realised = data.realised_shares()
    vectors = {s: np.array([realised[s][a] for a in ARCHETYPES]) for s in DEMO_SOURCES}
    return {
        "seed": data.seed,
        "per_source": data.per_source,
        "archetypes": list(ARCHETYPES),
        "sources": list(DEMO_SOURCES),
        "true_shares": TRUE_SHARES,
        "realised_shares": {s: _rounded(shares) for s, shares in realised.items()},
        "counts": data.counts(),
        "true_js": {s: _round(js_divergence(vectors["real"], vectors[s])) for s in SIMULATORS},
        "missed": {s: list(MISSED[s]) for s in SIMULATORS},
        "hallucinated": {s: list(HALLUCINATED[s]) for s in SIMULATORS},
        "best_mixture": best_mixture(vectors["real"], {s: vectors[s] for s in SIMULATORS}),
    }


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats between two histograms (normalised here)."""
    return float(jensenshannon(p, q, base=np.e) ** 2)


def best_mixture(real: np.ndarray, simulators: dict[str, np.ndarray]) -> dict:
    """Weights on the simplex over `simulators` minimising JS(real, mixture), by SLSQP.

    JS(P, .) is convex and the mixture is linear in the weights, so every local minimum is
    global; several starts (the vertices, the edge midpoints, the centre) guard against SLSQP
    stopping early on the flat parts of the simplex.
    """
    names = list(simulators)
    stacked = np.array([simulators[n] for n in names])
    k = len(names)

    def objective(weights: np.ndarray) -> float:
        return js_divergence(real, np.clip(weights, 0.0, None) @ stacked)

    vertices = list(np.eye(k))
    midpoints = [(vertices[i] + vertices[j]) / 2 for i in range(k) for j in range(i + 1, k)]
    best = None
    for start in [*vertices, *midpoints, np.full(k, 1 / k)]:
        result = minimize(
            objective,
            start,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * k,
            constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0}],
            options={"ftol": 1e-12, "maxiter": 500},
        )
        if best is None or result.fun < best.fun:
            best = result
    weights = np.clip(best.x, 0.0, None)
    weights /= weights.sum()
    single = {n: js_divergence(real, simulators[n]) for n in names}
    best_single = min(names, key=single.__getitem__)
    js = objective(weights)
    return {
        "simulators": names,
        "weights": {n: _round(w) for n, w in zip(names, weights, strict=True)},
        "js": _round(js),
        "best_single": best_single,
        "best_single_js": _round(single[best_single]),
        "gain": _round(single[best_single] - js),
    }


def _allocate(per_mille: Sequence[int], total: int) -> np.ndarray:
    """Largest-remainder apportionment of `total` by thousandths; ties go to the earlier one."""
    exact = np.asarray(per_mille, dtype=np.int64) * total
    counts = exact // 1000
    remainders = exact % 1000
    order = np.lexsort((np.arange(len(exact)), -remainders))
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def _round(value: float) -> float:
    return round(float(value), _DIGITS)


def _rounded(shares: dict[str, float]) -> dict[str, float]:
    return {key: _round(value) for key, value in shares.items()}


def _write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


# --- writing one conversation -----------------------------------------------------------------

_SLOT = re.compile(r"\{([^{}]*)\}")


class _Pen:
    """Random choices and text noise, all drawn from one numpy Generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def between(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high + 1))

    def sample(self, options: Sequence, k: int) -> list:
        chosen = self.rng.choice(len(options), size=min(k, len(options)), replace=False)
        return [options[int(i)] for i in chosen]

    def fill(self, template: str, slots: dict[str, str]) -> str:
        """Expand `{a|b|c}` (one alternative at random) and `{name}` (from `slots`)."""

        def expand(match: re.Match[str]) -> str:
            body = match.group(1)
            return self.pick(body.split("|")) if "|" in body else slots[body]

        # Slot values may hold alternations of their own: expand until nothing is left.
        while True:
            template, replaced = _SLOT.subn(expand, template)
            if not replaced:
                return template

    def typos(self, text: str, rate: float) -> str:
        """Swap, drop or double one letter in about `rate` of the longer words."""
        words = text.split(" ")
        for index, word in enumerate(words):
            if len(word) < 4 or not word.isalpha() or not self.chance(rate):
                continue
            at = self.between(1, len(word) - 2)
            kind = self.between(0, 2)
            if kind == 0:
                word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            elif kind == 1:
                word = word[:at] + word[at + 1 :]
            else:
                word = word[:at] + word[at] + word[at:]
            words[index] = word
        return " ".join(words)

    def casual(
        self, text: str, *, lower: float = 0.25, sloppy: float = 0.3, bare: float = 0.25
    ) -> str:
        """Everyday noise: sometimes all lowercase, sometimes typos, sometimes no final stop."""
        if self.chance(lower):
            text = text.lower()
        elif text[:1].islower() and self.chance(0.6):
            text = text[:1].upper() + text[1:]
        if self.chance(sloppy):
            text = self.typos(text, self.pick((0.03, 0.06, 0.1)))
        if self.chance(bare):
            text = text.rstrip(".!")
        return text


@dataclass(frozen=True)
class _Topic:
    """One subject area; `{name}` slots in its strings are filled once per conversation."""

    key: str
    label: str
    """The area in a few words, for prose ("home cooking")."""
    app: str
    """Something in this area that can show an error ("my recipe scaling script")."""
    slots: dict[str, tuple[str, ...]]
    tasks: tuple[tuple[str, str], ...]
    """(request as a verb phrase, the same request as a terse search-like fragment)."""
    terms: tuple[str, ...]
    """Words an answer uses that a user may ask about."""
    facts: tuple[str, ...]
    """Sentences of answer content."""
    foreign: tuple[str, ...]
    """A request subject in each of `_LANGUAGES`, in that order."""


class _Conversation:
    """The turns of one conversation being written, and the topic's filled slots."""

    def __init__(self, pen: _Pen, topic: _Topic) -> None:
        self.pen = pen
        self.topic = topic
        self.turns: list[tuple[str, str]] = []
        self.vars = self._variables(topic)

    def _variables(self, topic: _Topic) -> dict[str, str]:
        pen = self.pen
        values = {name: pen.pick(options) for name, options in topic.slots.items()}
        values = {name: pen.fill(value, values) for name, value in values.items()}
        request, terse = pen.pick(topic.tasks)
        others = [t for t in topic.tasks if t[0] != request]
        return {
            **values,
            "task": pen.fill(request, values),
            "terse": pen.fill(terse, values),
            "other_task": pen.fill(pen.pick(others)[0], values),
            "term": pen.pick(topic.terms),
            "label": topic.label,
            "app": pen.fill(topic.app, values),
        }

    def fill(self, template: str) -> str:
        return self.pen.fill(template, self.vars)

    def phrase(self, bank: Sequence[str]) -> str:
        return self.fill(self.pen.pick(bank))

    def user(self, text: str) -> None:
        self.turns.append(("user", text.strip()))

    def assistant(self, text: str) -> None:
        self.turns.append(("assistant", text.strip()))

    def answer(
        self, openers: Sequence[str] | None = None, *, facts: int | None = None, closer: bool = True
    ) -> str:
        """A plausible reply on the topic: an opener, one to three facts, maybe a closer."""
        pen = self.pen
        count = facts if facts is not None else pen.pick((1, 1, 1, 1, 2, 2))
        body = [self.fill(f) for f in pen.sample(self.topic.facts, count)]
        opener = self.phrase(openers or _OPENERS)
        if len(body) > 1 and pen.chance(0.4):
            text = opener + "\n\n" + "\n".join(f"{i}. {f}" for i, f in enumerate(body, 1))
        else:
            text = " ".join([opener, *body])
        if closer and pen.chance(0.15):
            text += "\n\n" + self.phrase(_CLOSERS)
        return text


# --- the archetypes ---------------------------------------------------------------------------
# Each writer appends the turns of one conversation. The behaviour shows in measurable cues
# (length, lists of constraints, pasted logs, correction words after an answer, capitals and
# "!!", a later unrelated request, a thanks-only last turn, questions about the answer, short
# edit requests, another language, politeness formulas, first-person background), with the
# everyday overlaps real users have (a terse user makes typos, a spec may be polite).


def _ask(c: _Conversation, *, greet: float = 0.12, purpose: float = 0.3) -> str:
    """An ordinary first request: a frame around the task, maybe a purpose and a greeting."""
    pen = c.pen
    text = c.phrase(_REQUEST_FRAMES)
    if pen.chance(purpose):
        text += " " + c.phrase(_PURPOSES)
    text = pen.casual(text)
    if pen.chance(greet):
        greeting = pen.pick(_GREETINGS)
        if greeting[-1].isalpha() or greeting.endswith(","):
            text = text[:1].lower() + text[1:]
        text = f"{greeting} {text}"
    return text


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ":")) else text + "."


def _shout(pen: _Pen, text: str) -> str:
    """Frustration typography: capitals (all or a few words) and doubled punctuation."""
    roll = pen.rng.random()
    if roll < 0.35:
        text = text.upper()
    elif roll < 0.7:
        words = text.split(" ")
        for index in pen.sample(range(len(words)), pen.between(1, 3)):
            words[index] = words[index].upper()
        text = " ".join(words)
    if pen.chance(0.65):
        text = text.rstrip(".!?") + pen.pick(("!!", "!!!", "?!", "??", "!!1"))
    return text


def _write_terse(c: _Conversation) -> None:
    pen = c.pen
    words = c.vars["terse"].split()
    if len(words) > 3 and pen.chance(0.25):
        del words[pen.between(1, len(words) - 1)]
    text = c.fill(pen.pick(_TERSE_PREFIXES) + " ".join(words) + pen.pick(_TERSE_SUFFIXES))
    text = pen.typos(text.lower(), pen.pick((0.0, 0.0, 0.05, 0.12)))
    if pen.chance(0.08):
        text += "?"
    c.user(text)
    c.assistant(c.answer(facts=pen.pick((1, 1, 2))))
    if pen.chance(0.4):
        c.user(pen.typos(c.phrase(_TERSE_FOLLOWUPS).lower(), 0.05))
        c.assistant(c.answer(facts=1))


def _write_detailed_spec(c: _Conversation) -> None:
    pen = c.pen
    parts = [c.phrase(_SPEC_OPENERS)]
    if pen.chance(0.4):
        parts.append(_sentence(c.phrase(_PURPOSES)))
    constraints = [c.fill(x) for x in pen.sample(_CONSTRAINTS, pen.between(4, 7))]
    layout = pen.pick(("bullets", "numbers", "prose"))
    if layout == "bullets":
        marker = pen.pick(("-", "*", "•"))
        items = "\n".join(f"{marker} {x}" for x in constraints)
        parts.append(pen.pick(_LIST_HEADERS) + "\n" + items)
    elif layout == "numbers":
        items = "\n".join(f"{i}. {x}" for i, x in enumerate(constraints, 1))
        parts.append(pen.pick(_LIST_HEADERS) + "\n" + items)
    else:
        parts.append(" ".join(_sentence(x) for x in constraints))
    if pen.chance(0.35):
        parts.append(c.phrase(_SPEC_EXAMPLES))
    if pen.chance(0.4):
        parts.append(c.phrase(_SPEC_CLOSERS))
    text = (" " if layout == "prose" and pen.chance(0.6) else "\n\n").join(parts)
    c.user(pen.typos(text, 0.02) if pen.chance(0.25) else text)
    c.assistant(c.answer(facts=pen.between(1, 3)))
    if pen.chance(0.3):
        c.user(pen.casual(c.phrase(_SPEC_ADDITIONS), lower=0.1))
        c.assistant(c.answer(_REVISIONS, facts=pen.between(1, 2)))


def _write_error_log(c: _Conversation) -> None:
    pen = c.pen
    snippet = pen.pick(_SNIPPETS)(pen)
    block = f"```\n{snippet}\n```" if pen.chance(0.5) else snippet
    intro = pen.casual(c.phrase(_ERROR_INTROS), bare=0.5)
    question = pen.casual(c.phrase(_ERROR_QUESTIONS), bare=0.1)
    layout = pen.between(0, 3)
    if layout == 0:
        text = f"{block}\n\n{question}"
    elif layout == 1:
        text = f"{intro}\n{block}"
    else:
        text = f"{intro}\n\n{block}\n\n{question}"
    c.user(text)
    c.assistant(c.answer(_FIXES))
    if pen.chance(0.45):
        if pen.chance(0.5):
            last_line = pen.pick(_SNIPPETS)(pen).splitlines()[-1]
            c.user(pen.casual(c.phrase(_ERROR_STILL), bare=0.0) + "\n" + last_line)
        else:
            c.user(pen.casual(c.phrase(_ERROR_FOLLOWUPS)))
        c.assistant(c.answer(_FIXES, facts=1))


def _write_correction(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    for round_ in range(pen.pick((1, 1, 1, 2, 2, 3))):
        bank = _CORRECTIONS if round_ == 0 else _MORE_CORRECTIONS
        c.user(pen.casual(c.phrase(bank), lower=0.35))
        c.assistant(c.answer(_APOLOGIES, facts=pen.pick((1, 1, 2))))
    if pen.chance(0.35):
        c.user(pen.casual(c.phrase(_ACCEPTANCES)))


def _write_frustrated(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c) if pen.chance(0.6) else _shout(pen, c.phrase(_IMPATIENT_ASKS)))
    c.assistant(c.answer())
    for _ in range(pen.pick((1, 1, 2, 3))):
        c.user(_shout(pen, c.phrase(_FRUSTRATIONS)))
        c.assistant(c.answer(_APOLOGIES, facts=pen.pick((1, 1, 2))))
    if pen.chance(0.3):
        c.user(_shout(pen, c.phrase(_FRUSTRATED_EXITS)))


def _write_topic_switch(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    if pen.chance(0.4):
        c.user(pen.casual(c.phrase(_FOLLOWUPS)))
        c.assistant(c.answer(facts=1))
    other = _Conversation(pen, pen.pick([t for t in _TOPICS if t.key != c.topic.key]))
    switch = _ask(other, greet=0.0)
    if pen.chance(0.65):
        marker = pen.pick(_SWITCH_MARKERS)
        if marker.endswith(","):
            switch = switch[:1].lower() + switch[1:]
        switch = f"{marker} {switch}"
    c.user(switch)
    c.assistant(other.answer())
    if pen.chance(0.3):
        c.user(pen.casual(other.phrase(_FOLLOWUPS)))
        c.assistant(other.answer(facts=1))


def _write_thanks_leave(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    if pen.chance(0.25):
        c.user(pen.casual(c.phrase(_FOLLOWUPS)))
        c.assistant(c.answer(facts=1))
    c.user(pen.casual(c.phrase(_THANKS), lower=0.4, sloppy=0.15, bare=0.2))
    if pen.chance(0.4):
        c.assistant(c.phrase(_WELCOMES))


def _write_clarifying_question(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer(closer=False) + " " + c.phrase(_TERM_SENTENCES))
    for question in pen.sample(_CLARIFY_QUESTIONS, pen.pick((1, 1, 2, 2, 3))):
        c.user(pen.casual(c.fill(question), bare=0.0))
        c.assistant(c.answer(_CLARIFICATIONS, facts=pen.pick((0, 1, 1))))
    if pen.chance(0.25):
        c.user(pen.casual(c.phrase(_UNDERSTOOD)))


def _write_iterative_refinement(c: _Conversation) -> None:
    pen = c.pen
    c.user(_ask(c, purpose=0.2))
    c.assistant(c.answer(facts=pen.pick((1, 2))))
    for change in pen.sample(_REFINEMENTS, pen.pick((3, 3, 4, 4, 5))):
        text = c.fill(change)
        if pen.chance(0.35):
            text = pen.pick(_REFINE_LEADS) + " " + text
        c.user(pen.casual(text, lower=0.5, bare=0.5))
        c.assistant(c.answer(_REVISIONS, facts=1))


def _write_non_english(c: _Conversation) -> None:
    pen = c.pen
    language = pen.pick(_LANGUAGES)
    bank = _FOREIGN[language]
    values = {"subject": c.fill(c.topic.foreign[_LANGUAGES.index(language)])}
    text = pen.fill(pen.pick(bank["requests"]), values)
    if pen.chance(0.3):
        greeting = pen.pick(bank["greetings"])
        if greeting.endswith(","):
            text = text[:1].lower() + text[1:]
        text = f"{greeting} {text}"
    if pen.chance(0.25):
        text = _without_accents(text)
    c.user(pen.casual(text, sloppy=0.2))
    c.assistant(pen.fill(pen.pick(bank["replies"]), values))
    for _ in range(pen.pick((0, 0, 1, 1, 2))):
        c.user(pen.casual(pen.fill(pen.pick(bank["followups"]), values), sloppy=0.2))
        c.assistant(pen.fill(pen.pick(bank["replies"]), values))


def _without_accents(text: str) -> str:
    """How people type on a keyboard without the accents: 'é' -> 'e'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _write_polite_verbose(c: _Conversation) -> None:
    pen = c.pen
    parts = [pen.pick(_POLITE_GREETINGS)]
    if pen.chance(0.8):
        parts.append(pen.pick(_POLITE_WELLBEING))
    parts.append(c.phrase(_POLITE_ASKS))
    if pen.chance(0.5):
        parts.append(c.phrase(_POLITE_EXTRAS))
    if pen.chance(0.4):
        parts.append(_sentence(c.phrase(_PURPOSES)))
    parts.append(pen.pick(_POLITE_CLOSINGS))
    if parts[0].endswith(","):
        parts[1] = parts[1][:1].lower() + parts[1][1:]
    text = " ".join(parts)
    c.user(pen.typos(text, 0.02) if pen.chance(0.15) else text)
    c.assistant(c.answer())
    if pen.chance(0.4):
        c.user(c.phrase(_POLITE_FOLLOWUPS))
        c.assistant(c.answer(_REVISIONS, facts=pen.pick((1, 2))))


def _write_context_dump(c: _Conversation) -> None:
    pen = c.pen
    background = [_sentence(c.fill(s)) for s in pen.sample(_BACKGROUND, pen.between(3, 6))]
    ask = c.phrase(_DUMP_ASKS)
    if pen.chance(0.3):
        text = " ".join(background[: len(background) // 2]) + "\n\n"
        text += " ".join(background[len(background) // 2 :]) + "\n\n" + ask
    else:
        text = " ".join([*background, ask])
    c.user(pen.casual(text, lower=0.15, bare=0.2))
    c.assistant(c.answer())
    if pen.chance(0.35):
        c.user(pen.casual(c.phrase(_DUMP_ADDENDA)))
        c.assistant(c.answer(_REVISIONS, facts=1))


_WRITERS: dict[str, Callable[[_Conversation], None]] = {
    "terse": _write_terse,
    "detailed_spec": _write_detailed_spec,
    "error_log": _write_error_log,
    "correction": _write_correction,
    "frustrated": _write_frustrated,
    "topic_switch": _write_topic_switch,
    "thanks_leave": _write_thanks_leave,
    "clarifying_question": _write_clarifying_question,
    "iterative_refinement": _write_iterative_refinement,
    "non_english": _write_non_english,
    "polite_verbose": _write_polite_verbose,
    "context_dump": _write_context_dump,
}


# --- phrase banks: user turns -------------------------------------------------------------------
# `{a|b}` picks one alternative; `{name}` is a slot of the conversation: task, terse, other_task,
# term, label, app, or one of the topic's own slots.

_GREETINGS = (
    "hi",
    "hey",
    "hello,",
    "Hi!",
    "hey there,",
    "Hello.",
    "yo",
    "good morning,",
    "hi there",
)
_REQUEST_FRAMES = (
    "{task}",
    "{task}.",
    "can you {task}?",
    "Can you {task}?",
    "could you {task}?",
    "please {task}.",
    "I need you to {task}.",
    "any chance you could {task}?",
    "I was hoping you could {task}.",
    "I want you to {task}.",
    "quick question: can you {task}?",
    "I'd like you to {task}.",
    "{task} please",
    "would you {task}?",
    "is it possible for you to {task}?",
    "need help: {task}",
    "Can you please {task}?",
    "{task}, if you can.",
    "pls {task}",
    "hey can you {task}",
    "Could you {task}? I'm stuck.",
)
_PURPOSES = (
    "It's for {a school project|work|my blog|a friend|my team}.",
    "this is for {a presentation on Monday|a class I'm taking|a side project}",
    "I need it by {tomorrow|tonight|Friday|the end of the week}.",
    "Keep it simple if you can.",
    "It's for a beginner.",
    "Short answer is fine.",
    "no rush",
    "Ideally something I can reuse.",
    "{Nothing fancy|Nothing too long}, just the basics.",
)
_TERSE_PREFIXES = ("", "", "", "", "", "how to ", "best ", "quick q ", "help ", "need ")
_TERSE_SUFFIXES = (
    "",
    "",
    "",
    "",
    "",
    " example",
    " pls",
    " fast",
    " easy",
    " simple way",
    " for beginners",
    " step by step",
    " {2|3|5} options",
    " asap",
    " short",
    " vs alternatives",
    " tips",
    " {2024|2025}",
)
_TERSE_FOLLOWUPS = (
    "shorter",
    "example",
    "more",
    "why",
    "other way",
    "simpler",
    "and {term}",
    "{term}?",
    "ok and cheaper",
    "list only",
    "no explanation just answer",
    "more on {term}",
    "another one",
    "again but shorter",
    "ok",
    "source?",
    "doesnt work",
)
_SPEC_OPENERS = (
    "I need you to {task}.",
    "Task: {task}.",
    "Please {task}, following the requirements below.",
    "Request: {task}.",
    "I want you to {task}. Read the constraints carefully.",
    "Your job: {task}.",
    "Here is what I need: {task}.",
    "Goal: {task}. Details below.",
    "Can you {task}? It has to meet these requirements.",
    "I'd like you to {task}, and the format matters.",
)
_LIST_HEADERS = (
    "Requirements:",
    "Constraints:",
    "Rules:",
    "It must follow these:",
    "Specs:",
    "Please make sure:",
    "Format requirements:",
    "Must-haves:",
)
_CONSTRAINTS = (
    "keep it under {100|150|200|300|500} words",
    "use {exactly|at most|at least} {3|4|5|7} {bullet points|sections|steps|examples}",
    "use a {friendly|neutral|professional|casual|academic} tone",
    "don't use jargon",
    "do not {mention prices|use emojis|repeat my question|add a conclusion|include links}",
    "the audience is {beginners|my manager|teenagers|non-native speakers|experts in {label}}",
    "output as {a markdown table|JSON|a numbered list|plain text|CSV}",
    "include {one concrete example|two concrete examples|three concrete examples}",
    "must be in {British|American} English",
    "avoid {passive voice|long sentences|anything controversial|generic advice}",
    "each {paragraph|bullet} must be no longer than {2|3|4} sentences",
    "start with a one-sentence summary",
    "end with a short checklist",
    "state {the assumptions you make|where each number comes from}",
    "only use {metric units|free tools|things I can buy at a normal shop|what I already have}",
    "give the answer first, explanation after",
    "no more than {2|3} headings",
    "mention {term} explicitly",
    "it must work for {a budget of {50|100|500} dollars|someone with no experience"
    "|a team of {3|5|10}}",
    "don't assume I know anything about {label}",
    "use a heading for each section",
    "keep the total under {one page|two pages|a screen}",
    "add a title",
    "it has to be ready to {paste into an email|print|share with my team}",
)
_SPEC_EXAMPLES = (
    "Example of the format I want: '{term}: one line of explanation'.",
    "For example: 1) the step, 2) why, 3) a common mistake.",
    "Something like this:\nTitle\n- point\n- point",
    "e.g. short and direct, like a checklist.",
    'Sample: "{term} - what it is - when to use it"',
)
_SPEC_CLOSERS = (
    "Don't add anything else.",
    "Ask me if something is unclear before you start.",
    "Thanks.",
    "Please follow every point exactly.",
    "If something is impossible, say so instead of guessing.",
    "No intro, no outro.",
)
_SPEC_ADDITIONS = (
    "Also, make it {shorter|more formal|fit on one page}.",
    "Good, but you missed the word limit. It must be under {100|150} words.",
    "One more constraint: don't use {bullet points|the word 'simply'|exclamation marks}.",
    "Close. Now put it in {a table|JSON} format.",
    "Also add a short summary at the top, max {2|3} sentences.",
)
_ERROR_INTROS = (
    "getting this error in my {app}",
    "My {app} keeps crashing with this:",
    "Can someone explain this? It happens when I run my {app}.",
    "{app} fails, log below",
    "error when I run the {app}:",
    "This shows up every time I start the {app}:",
    "I'm stuck on this error from my {app}",
    "help, my {app} broke after an update",
    "Here's the output of the {app}:",
    "what is this??",
)
_ERROR_QUESTIONS = (
    "what's wrong?",
    "what does this mean?",
    "how do I fix it?",
    "any idea what causes this?",
    "why is this happening?",
    "Is this a bug in my code or in the library?",
    "what am I doing wrong",
    "how can I get rid of this error?",
    "can you tell me what is wrong here?",
)
_ERROR_STILL = (
    "that didn't fix it, now I get this:",
    "still failing:",
    "ok now a different error:",
    "nope, same thing:",
    "tried that. now:",
)
_ERROR_FOLLOWUPS = (
    "ok that worked",
    "why did that happen in the first place?",
    "it works now, what was the cause?",
    "do I need to change anything else in the {app}?",
    "fixed, thx",
    "where exactly do I put that?",
)
_CORRECTIONS = (
    "No, that's not what I asked. I meant: {other_task}.",
    "actually I wanted you to {other_task}",
    "that's wrong. I asked you to {task}, not to explain {term}.",
    "no no, I said: {task}",
    "You misunderstood me. I need you to {other_task}.",
    "That is not correct, the part about {term} is wrong.",
    "this isn't what I asked for, I wanted you to {other_task}",
    "wrong, {term} doesn't work like that",
    "no, read my question again: {task}",
    "hmm no, I meant {label} in general, not this specific case",
    "that's not it. I was asking you to {other_task}",
)
_MORE_CORRECTIONS = (
    "still wrong.",
    "no, you did it again. {term} is not the issue",
    "that's still not what I asked",
    "closer, but you forgot that I asked you to {task}",
    "again not right, I said: {task}",
    "no. forget {term}, focus on my question",
    "you ignored my correction",
    "Wrong again, please read what I wrote.",
)
_ACCEPTANCES = (
    "ok, that's better",
    "yes, that's it",
    "finally, that's what I wanted",
    "ok this works",
    "right, that's closer",
)
_IMPATIENT_ASKS = (
    "I need this NOW: {task}",
    "just {task}. quickly",
    "{task}!! no long explanations",
    "Why is it so hard for you to {task}??",
    "ok for the third time today: {task}",
)
_FRUSTRATIONS = (
    "this is useless",
    "again? I already told you: {task}",
    "are you even reading what I write?",
    "no!! that's not it",
    "I ALREADY SAID {term} doesn't apply",
    "seriously, this is the {third|fourth|fifth} time I ask",
    "why can't you just {task}",
    "this is ridiculous, just answer the question",
    "how many times do I have to repeat myself",
    "you keep giving me the same answer",
    "what a waste of time",
    "ugh. stop explaining {term} and {task}",
    "that's NOT what I asked for",
    "come on, it's a simple request",
    "I don't need a lecture, I need an answer",
)
_FRUSTRATED_EXITS = (
    "forget it",
    "whatever, I'll do it myself",
    "FINALLY",
    "never mind, this is pointless",
    "ok whatever, that works I guess",
)
_SWITCH_MARKERS = (
    "unrelated, but",
    "different question:",
    "ok, new topic.",
    "also,",
    "btw,",
    "Something else:",
    "changing subject,",
    "random question:",
    "Another thing.",
    "oh and,",
)
_FOLLOWUPS = (
    "can you add an example?",
    "what about {term}?",
    "and if I {don't have much time|am a complete beginner}?",
    "ok and how long does that take?",
    "is there a simpler way?",
    "can you give me a second option?",
    "does this work for {label} in general?",
    "got it. what's the next step?",
)
_THANKS = (
    "thanks, that's all",
    "great, bye",
    "perfect, thank you!",
    "thank you so much, that's exactly what I needed",
    "ty",
    "thx!",
    "awesome thanks",
    "Thanks! That helps a lot.",
    "cool, thanks. bye",
    "great, that's it for now, thanks",
    "many thanks!",
    "ok thanks",
    "Thank you, have a nice day!",
    "cheers",
    "that's all I needed, thanks",
)
_CLARIFY_QUESTIONS = (
    "what do you mean by {term}?",
    "why?",
    "can you explain the {second|third|last} step?",
    "why does {term} matter here?",
    "I don't understand the part about {term}. can you clarify?",
    "what's the difference between that and what you said first?",
    "are you sure about that?",
    "how does {term} work exactly?",
    "wait, why would I do it that way?",
    "could you explain that in simpler words?",
    "what happens if I skip the {first|second} step?",
    "is {term} really necessary?",
    "which one would you recommend, and why?",
    "what does that mean in practice?",
)
_UNDERSTOOD = ("ok got it", "makes sense now", "ah I see", "ok, clear")
_REFINEMENTS = (
    "make it shorter",
    "now add a title",
    "more formal",
    "use bullet points",
    "remove the last paragraph",
    "make it {funnier|warmer|less stiff}",
    "simplify the {first|second} part",
    "add a sentence about {term}",
    "cut it to {3|4|5} lines",
    "change the tone to {casual|professional|friendly}",
    "put the most important point first",
    "make the ending stronger",
    "replace {term} with something simpler",
    "less repetitive",
    "split it into two parts",
    "add an example at the end",
    "drop the intro",
    "bold the key words",
    "make it sound less robotic",
    "number the steps",
)
_REFINE_LEADS = ("ok", "now", "good.", "hmm,", "nice,", "better.", "almost.", "ok now")
_POLITE_GREETINGS = (
    "Hello!",
    "Hi there!",
    "Good morning!",
    "Dear assistant,",
    "Good evening,",
    "Hello there, and thank you for your time!",
    "Greetings!",
)
_POLITE_WELLBEING = (
    "I hope you are doing well.",
    "I hope this message finds you well.",
    "I hope your day is going wonderfully.",
    "I truly hope I'm not bothering you.",
    "Sorry to bother you with this.",
)
_POLITE_ASKS = (
    "I was wondering if you could kindly {task}.",
    "Would you be so kind as to {task}?",
    "If it isn't too much trouble, could you please {task}?",
    "Would it be possible for you to {task}? I would be very grateful.",
    "May I ask you to {task}, if you have a moment?",
    "I would really appreciate it if you could {task}.",
    "Could you please, at your convenience, {task}?",
)
_POLITE_EXTRAS = (
    "If possible, please keep it simple, as I'm not an expert in {label}.",
    "Please take your time; there's no rush at all.",
    "Of course, only if it's not too much to ask.",
    "Any advice you could share would be wonderful.",
    "I apologise in advance if this is a silly question.",
)
_POLITE_CLOSINGS = (
    "Thank you so much in advance!",
    "Many thanks in advance for your kind help.",
    "Thank you very much for your time and patience!",
    "I really appreciate your help. Have a lovely day!",
    "Thanks a million, you are wonderful!",
    "With many thanks and best regards.",
)
_POLITE_FOLLOWUPS = (
    "Thank you so very much, this is wonderful! Could I trouble you to make it a little "
    "{shorter|simpler|more detailed}? I really appreciate it.",
    "Oh, this is lovely, thank you kindly! Would you mind adding an example, please?",
    "Thank you! If it's not too much to ask, could you also explain {term}? Many thanks again!",
    "That is so helpful, thank you! Would it be possible to add a short summary, please?",
)
_BACKGROUND = (
    "I'm a {nurse|teacher|software developer|student|retired engineer|single dad|bus driver"
    "|small business owner|graphic designer|paramedic} {working night shifts|in my forties"
    "|from a small town|who just moved to a new city|with very little free time}",
    "I have {two kids|three kids|a teenage daughter|a newborn|twins} and {a dog|a cat"
    "|a very busy partner|my mother living with us}",
    "we live in {a small apartment in Lyon|a farmhouse outside Leeds|a flat in Manchester"
    "|Toronto|a suburb of Austin|a tiny studio in Berlin}",
    "I recently {moved|changed jobs|started a new job|went back to school|lost my job|retired}",
    "I've never been very good at {label}",
    "my {partner|boss|doctor|sister|best friend} keeps telling me I should get better at {label}",
    "I only have about {20 minutes|half an hour|an hour} a day for this",
    "I tried to get into {label} last year and gave up after a few weeks",
    "my budget is a bit tight right now",
    "my English is okay but not perfect",
    "I have ADHD so long texts are hard for me",
    "I work from home {two|three|four} days a week",
    "I'm {23|31|38|45|52|60|67} years old",
    "I grew up in {Poland|Brazil|Ohio|Kenya|the countryside|a big family}",
    "my {husband|wife|roommate} and I {are saving up for a house|share one car|just had a baby}",
    "I broke my {wrist|ankle} in {March|the spring} so I'm still a bit slow",
    "I tend to overthink things",
    "I've been using a {app} for a few months",
)
_DUMP_ASKS = (
    "Anyway, my question is: can you {task}?",
    "So, long story short, I need you to {task}.",
    "Given all that, could you {task}?",
    "That's the background. What I need: {task}.",
    "So here's my question: could you {task}?",
    "With all of that in mind, please {task}.",
    "Sorry for the long story. Can you {task}?",
)
_DUMP_ADDENDA = (
    "Oh, I should also mention that I {can't spend much money|don't have a car|work weekends}. "
    "Does that change anything?",
    "Also, my {partner|kid} will be involved, so it has to be simple.",
    "One more thing about me: I'm not very patient with long instructions. Can you shorten it?",
    "I forgot to say: I tried something similar before and it didn't work for me.",
)

# --- phrase banks: assistant turns ----------------------------------------------------------------

_OPENERS = (
    "Sure! Here's what I'd do.",
    "Happy to help with {label}.",
    "Good question.",
    "Of course.",
    "Here are a few pointers.",
    "Happy to help with that.",
    "Let's go step by step.",
    "Short answer:",
    "Here's what I'd suggest.",
    "OK, here's an approach.",
)
_CLOSERS = (
    "Let me know if you'd like any changes.",
    "Want me to go into more detail on any step?",
    "Hope this helps!",
    "I can adapt this if you tell me more about your situation.",
    "Would you like an example?",
)
_FIXES = (
    "This error usually means something was not found or not initialised.",
    "The last line of the log is where it fails; start there.",
    "Looks like a configuration problem rather than a bug in your code.",
    "The trace shows the failing call. Check the value it receives.",
    "This typically happens after an update changes a dependency.",
    "It's a common error, and the fix is usually small.",
)
_APOLOGIES = (
    "Sorry about that, you're right. Here's another try:",
    "Apologies for the confusion. Let me redo it:",
    "You're right, I misread your request. Here's a corrected version:",
    "My mistake. Here is what you asked for:",
    "Thanks for the correction. Revised answer:",
)
_CLARIFICATIONS = (
    "Good question. By {term} I mean the part that decides how the rest behaves.",
    "Sure. In simpler words:",
    "Here's why:",
    "Let me explain that step in more detail.",
    "Yes, I'm fairly sure, and here's the reasoning.",
    "The difference is mostly about {term}.",
)
_REVISIONS = (
    "Here's the updated version:",
    "Done. Revised:",
    "Sure, here it is:",
    "Updated:",
    "Here you go, with that change:",
)
_TERM_SENTENCES = (
    "The key idea here is {term}.",
    "Most of this depends on {term}.",
    "Pay attention to {term}, it's where people usually go wrong.",
    "Note: {term} matters more than it seems.",
    "The second step relies on {term}.",
)
_WELCOMES = (
    "You're welcome! Good luck with the {label}.",
    "Glad I could help. Have a great day!",
    "Anytime!",
    "You're welcome. Come back if you have more questions.",
)

# --- pasted logs and code ---------------------------------------------------------------------
# Made by functions rather than templates: code is full of braces, and its numbers (lines, ports,
# timestamps) should vary. Some of it is hostile-looking HTML, which a dashboard must show as text.

_FILES = ("app", "main", "utils", "views", "models", "handler", "script", "run", "tasks", "cli")
_FUNCS = ("load_data", "parse_row", "handle", "compute_total", "render", "fetch", "update", "run")


def _python_traceback(pen: _Pen) -> str:
    error, message, line = pen.pick(
        (
            ("KeyError", "'{}'".format(pen.pick(("price", "user_id", "name", "date"))), "row[key]"),
            ("TypeError", "unsupported operand type(s) for +: 'int' and 'str'", "total += value"),
            ("AttributeError", "'NoneType' object has no attribute 'get'", "config.get('path')"),
            ("ValueError", "could not convert string to float: ''", "float(cell)"),
            ("IndexError", "list index out of range", "items[i + 1]"),
            ("ModuleNotFoundError", "No module named 'pandas'", "import pandas as pd"),
            ("FileNotFoundError", "[Errno 2] No such file or directory: 'data.csv'", "open(path)"),
            ("ZeroDivisionError", "division by zero", "average = total / count"),
        )
    )
    first, second = pen.sample(_FILES, 2)
    return (
        "Traceback (most recent call last):\n"
        f'  File "{first}.py", line {pen.between(3, 240)}, in <module>\n'
        f"    {pen.pick(_FUNCS)}(args)\n"
        f'  File "{second}.py", line {pen.between(3, 240)}, in {pen.pick(_FUNCS)}\n'
        f"    {line}\n"
        f"{error}: {message}"
    )


def _javascript_error(pen: _Pen) -> str:
    prop = pen.pick(("map", "length", "id", "value", "then", "name"))
    return (
        f"Uncaught TypeError: Cannot read properties of undefined (reading '{prop}')\n"
        f"    at {pen.pick(_FUNCS)} ({pen.pick(_FILES)}.js:{pen.between(5, 400)}:"
        f"{pen.between(2, 60)})\n"
        f"    at HTMLButtonElement.<anonymous> (index.js:{pen.between(5, 90)}:{pen.between(2, 40)})"
    )


def _java_exception(pen: _Pen) -> str:
    cls = pen.pick(("OrderService", "Parser", "UserRepository", "Scheduler", "Report"))
    return (
        'Exception in thread "main" java.lang.NullPointerException: Cannot invoke '
        f'"String.length()" because "{pen.pick(("name", "input", "line", "token"))}" is null\n'
        f"\tat com.example.{cls}.{pen.pick(('load', 'parse', 'build', 'save'))}"
        f"({cls}.java:{pen.between(10, 300)})\n"
        f"\tat com.example.Main.main(Main.java:{pen.between(5, 60)})"
    )


def _npm_error(pen: _Pen) -> str:
    return (
        "npm ERR! code ERESOLVE\n"
        "npm ERR! ERESOLVE unable to resolve dependency tree\n"
        f"npm ERR! Found: react@{pen.between(16, 19)}.{pen.between(0, 3)}.{pen.between(0, 9)}\n"
        f'npm ERR! Could not resolve dependency: peer react@"^{pen.between(15, 17)}.0.0"'
    )


def _server_log(pen: _Pen) -> str:
    service = pen.pick(("api", "worker", "billing", "auth", "scheduler"))
    month, day, hour = pen.between(1, 12), pen.between(1, 28), pen.between(0, 23)
    stamp = f"2024-{month:02d}-{day:02d} {hour:02d}:{pen.between(0, 59):02d}"
    return (
        f"{stamp}:{pen.between(0, 59):02d} INFO  [{service}] starting job\n"
        f"{stamp}:{pen.between(0, 59):02d} WARN  [{service}] retrying in {pen.between(1, 30)}s "
        f"(attempt {pen.between(1, 3)}/3)\n"
        f"{stamp}:{pen.between(0, 59):02d} ERROR [{service}] request failed: "
        f"{pen.pick(('500 Internal Server Error', '502 Bad Gateway', 'timeout after 30000 ms'))}"
    )


def _spreadsheet_error(pen: _Pen) -> str:
    row = pen.between(2, 400)
    formula = pen.pick(
        (
            f"=VLOOKUP(A{row},Sheet2!A:C,3,FALSE)",
            f"=SUM(B2:B{row})/COUNT(C2:C{row})",
            f'=IF(D{row}>0,D{row}*1.2,"")+E{row}',
        )
    )
    return f"formula: {formula}\nresult: {pen.pick(('#N/A', '#VALUE!', '#DIV/0!', '#REF!'))}"


def _sql_error(pen: _Pen) -> str:
    column = pen.pick(("created_at", "user_name", "total_price", "category"))
    table = pen.pick(("orders", "users", "recipes", "expenses", "bookings"))
    query = f"SELECT {column} FROM {table} WHERE id = {pen.between(1, 999)};"
    return f'ERROR:  column "{column}" does not exist\nLINE 1: {query}\n' + " " * 15 + "^"


def _compiler_error(pen: _Pen) -> str:
    name = pen.pick(_FILES)
    line, column = pen.between(3, 200), pen.between(2, 40)
    message = pen.pick(
        (
            "error: expected ';' before '}' token",
            f"error: '{pen.pick(('count', 'buf', 'i', 'result'))}' undeclared (first use in "
            "this function)",
            "warning: implicit declaration of function 'strcpy_s'",
        )
    )
    return f"{name}.c: In function 'main':\n{name}.c:{line}:{column}: {message}"


def _buggy_code(pen: _Pen) -> str:
    func = pen.pick(_FUNCS)
    return (
        f"def {func}(items):\n"
        "    total = 0\n"
        "    for i in range(len(items) + 1):\n"
        "        total += items[i]\n"
        "    return total\n\n"
        f"print({func}([{pen.between(1, 9)}, {pen.between(1, 9)}, {pen.between(1, 9)}]))\n"
        "IndexError: list index out of range"
    )


def _html_snippet(pen: _Pen) -> str:
    title = pen.pick(("Welcome", "Menu", "Total", "Your order", "Profile"))
    payload = pen.pick(
        (
            "<script>alert(1)</script>",
            '<img src=x onerror="alert(1)">',
            "<b>{{ user.name }}</b>",
            '<a href="javascript:alert(document.cookie)">click</a>',
        )
    )
    return (
        '<div class="card">\n'
        f"  <b>{title}</b>\n"
        f"  {payload}\n"
        "</div>\n"
        "the page shows <b>undefined</b> instead of the name and the console says:\n"
        f"Uncaught SyntaxError: Unexpected token '<' (at index.html:{pen.between(5, 80)})"
    )


def _docker_error(pen: _Pen) -> str:
    port = pen.pick((80, 443, 3000, 5432, 8000, 8080))
    return (
        "docker: Error response from daemon: driver failed programming external connectivity "
        f"on endpoint {pen.pick(_FILES)}_{pen.between(1, 9)}: Bind for 0.0.0.0:{port} failed: "
        "port is already allocated."
    )


def _git_error(pen: _Pen) -> str:
    repo = pen.pick(("notes", "site", "budget-app", "thesis", "bot"))
    return (
        f"error: failed to push some refs to 'github.com:{pen.pick(('sam', 'kai', 'lee'))}"
        f"/{repo}.git'\n"
        "hint: Updates were rejected because the tip of your current branch is behind\n"
        "hint: its remote counterpart."
    )


def _device_error(pen: _Pen) -> str:
    code = pen.between(1, 99)
    return (
        f"Error E{code:02d}: {pen.pick(('sensor', 'sync', 'memory', 'connection'))} fault "
        f"(code 0x{pen.between(4096, 65535):04X})\n"
        f"FATAL EXCEPTION: main\nProcess: com.{pen.pick(('planner', 'tracker', 'helper'))}.app, "
        f"PID: {pen.between(1000, 32000)}\n"
        "java.lang.IllegalStateException: Fragment not attached to a context."
    )


_SNIPPETS: tuple[Callable[[_Pen], str], ...] = (
    _python_traceback,
    _python_traceback,
    _javascript_error,
    _java_exception,
    _npm_error,
    _server_log,
    _spreadsheet_error,
    _sql_error,
    _compiler_error,
    _buggy_code,
    _html_snippet,
    _docker_error,
    _git_error,
    _device_error,
)

# --- other languages --------------------------------------------------------------------------
# Each topic gives a request subject per language (an indefinite noun phrase; accusative in
# German) that fits every request template here.

_LANGUAGES = ("fr", "es", "de", "pt", "it")
_FOREIGN: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {
        "greetings": ("Bonjour,", "Salut !", "Bonsoir,", "Coucou,"),
        "requests": (
            "Je cherche {subject}.",
            "Pouvez-vous me donner {subject} ?",
            "Il me faudrait {subject}, s'il vous plaît.",
            "Je voudrais {subject}. Merci d'avance.",
            "Tu peux m'aider ? Je cherche {subject}.",
            "Est-ce que tu pourrais me proposer {subject} ?",
        ),
        "followups": (
            "Merci ! Et pouvez-vous donner un exemple ?",
            "C'est un peu long, tu peux faire plus court ?",
            "Pourquoi ?",
            "D'accord, et ensuite ?",
            "Merci beaucoup, c'est parfait.",
            "Je n'ai pas compris la deuxième partie, tu peux expliquer ?",
        ),
        "replies": (
            "Bien sûr ! Voici {subject} : commencez par les bases, puis avancez étape par étape.",
            "Avec plaisir. Voici quelques pistes simples pour démarrer.",
            "Voici une proposition. Dites-moi si vous voulez l'adapter.",
            "D'accord ! Le plus important est d'avancer progressivement et de vérifier chaque "
            "étape.",
        ),
    },
    "es": {
        "greetings": ("Hola,", "¡Hola!", "Buenas,", "Buenos días,"),
        "requests": (
            "Necesito {subject}.",
            "¿Me puedes dar {subject}?",
            "Quisiera {subject}, por favor.",
            "Estoy buscando {subject}. ¿Me ayudas?",
            "¿Podrías prepararme {subject}?",
            "Quiero {subject}, gracias.",
        ),
        "followups": (
            "Gracias. ¿Puedes dar un ejemplo?",
            "Es muy largo, ¿puedes resumirlo?",
            "¿Por qué?",
            "Vale, ¿y después qué hago?",
            "¡Muchas gracias, perfecto!",
            "No entendí el segundo paso, ¿me lo explicas?",
        ),
        "replies": (
            "¡Claro! Aquí tienes {subject}: empieza por lo básico y avanza paso a paso.",
            "Con gusto. Te dejo algunas ideas para empezar.",
            "Aquí va una propuesta. Dime si quieres cambiar algo.",
            "Por supuesto. Lo más importante es ir poco a poco y revisar cada paso.",
        ),
    },
    "de": {
        "greetings": ("Hallo,", "Guten Tag,", "Hi,", "Moin,"),
        "requests": (
            "Ich brauche {subject}.",
            "Kannst du mir bitte {subject} geben?",
            "Ich suche {subject}.",
            "Könnten Sie mir {subject} vorschlagen?",
            "Hilf mir bitte, ich brauche {subject}.",
            "Ich hätte gern {subject}, danke.",
        ),
        "followups": (
            "Danke! Kannst du ein Beispiel geben?",
            "Das ist zu lang, geht es kürzer?",
            "Warum?",
            "Okay, und was mache ich danach?",
            "Vielen Dank, perfekt!",
            "Den zweiten Schritt verstehe ich nicht, kannst du ihn erklären?",
        ),
        "replies": (
            "Gern! Hier ist mein Vorschlag: Fang mit den Grundlagen an und geh Schritt für "
            "Schritt vor.",
            "Natürlich. Hier sind ein paar einfache Ideen für den Anfang.",
            "Hier ein Vorschlag. Sag Bescheid, wenn ich etwas ändern soll.",
            "Klar. Das Wichtigste ist, langsam anzufangen und jeden Schritt zu prüfen.",
        ),
    },
    "pt": {
        "greetings": ("Olá,", "Oi,", "Bom dia,", "Boa tarde,"),
        "requests": (
            "Preciso de {subject}.",
            "Você pode me dar {subject}?",
            "Queria {subject}, por favor.",
            "Estou procurando {subject}. Pode me ajudar?",
            "Poderia me sugerir {subject}?",
            "Quero {subject}, obrigado.",
        ),
        "followups": (
            "Obrigado! Pode dar um exemplo?",
            "Ficou longo, pode resumir?",
            "Por quê?",
            "Tá, e depois?",
            "Muito obrigada, perfeito!",
            "Não entendi o segundo passo, pode explicar?",
        ),
        "replies": (
            "Claro! Aqui está {subject}: comece pelo básico e avance passo a passo.",
            "Com prazer. Seguem algumas ideias para começar.",
            "Aqui vai uma sugestão. Me diga se quer mudar algo.",
            "Certo. O mais importante é ir com calma e conferir cada etapa.",
        ),
    },
    "it": {
        "greetings": ("Ciao,", "Buongiorno,", "Salve,", "Buonasera,"),
        "requests": (
            "Ho bisogno di {subject}.",
            "Mi puoi dare {subject}?",
            "Vorrei {subject}, per favore.",
            "Sto cercando {subject}. Mi aiuti?",
            "Potresti suggerirmi {subject}?",
            "Mi serve {subject}, grazie.",
        ),
        "followups": (
            "Grazie! Puoi fare un esempio?",
            "È troppo lungo, puoi accorciarlo?",
            "Perché?",
            "Ok, e poi cosa faccio?",
            "Grazie mille, perfetto!",
            "Non ho capito il secondo passaggio, me lo spieghi?",
        ),
        "replies": (
            "Certo! Ecco {subject}: inizia dalle basi e procedi passo dopo passo.",
            "Volentieri. Ecco alcune idee per cominciare.",
            "Ecco una proposta. Dimmi se vuoi cambiare qualcosa.",
            "Va bene. La cosa più importante è procedere con calma e controllare ogni passaggio.",
        ),
    },
}

# --- topics -----------------------------------------------------------------------------------
# Drawn independently of the archetype. Each has a few tasks with slots, so the same behaviour
# shows up with many different subjects and objects.

_TOPICS: tuple[_Topic, ...] = (
    _Topic(
        key="coding",
        label="programming",
        app="{Flask app|Python script|React app|data pipeline}",
        slots={
            "lang": ("Python", "JavaScript", "TypeScript", "Go"),
            "collection": ("a dictionary by value", "a list of dates", "strings by length"),
            "field": ("category", "country", "month", "user"),
        },
        tasks=(
            ("write a {lang} function that sorts {collection}", "{lang} sort {collection}"),
            ("explain what a closure is in {lang}", "{lang} closure explained"),
            ("turn my {lang} for loop into a map call", "{lang} loop to map"),
            ("read a CSV file and count rows per {field} in {lang}", "{lang} csv count by {field}"),
        ),
        terms=("time complexity", "a key function", "immutability", "a closure"),
        facts=(
            "In {lang}, the built-in sort is stable, so equal items keep their order.",
            "Pass a key function instead of writing your own comparison.",
            "Sorting costs O(n log n), which is fine for a few million items.",
            "Write a small test with three or four items to check the result.",
        ),
        foreign=(
            "une fonction {lang} pour trier une liste",
            "una función en {lang} para ordenar una lista",
            "eine {lang}-Funktion zum Sortieren einer Liste",
            "uma função em {lang} para ordenar uma lista",
            "una funzione {lang} per ordinare una lista",
        ),
    ),
    _Topic(
        key="cooking",
        label="home cooking",
        app="{recipe scaling script|smart oven app|meal planner spreadsheet}",
        slots={
            "dish": ("lasagna", "chicken curry", "banana bread", "mushroom risotto", "pad thai"),
            "people": ("2", "4", "6", "8"),
        },
        tasks=(
            ("give me a recipe for {dish} that serves {people}", "{dish} recipe {people} people"),
            ("plan a week of cheap dinners around {dish}", "cheap dinner plan week {dish}"),
            ("tell me how to store leftover {dish}", "how long {dish} fridge"),
            ("suggest a substitute for eggs in {dish}", "egg substitute {dish}"),
        ),
        terms=("mise en place", "deglazing", "resting time"),
        facts=(
            "For {people} people, plan on about 150 g of the main ingredient per person.",
            "Cooked {dish} keeps three to four days in the fridge in a closed container.",
            "Prepare and measure everything before you start; it makes timing much easier.",
            "Season at the end: flavours concentrate as things reduce.",
        ),
        foreign=(
            "une recette de lasagnes pour {people} personnes",
            "una receta de lasaña para {people} personas",
            "ein Rezept für Lasagne für {people} Personen",
            "uma receita de lasanha para {people} pessoas",
            "una ricetta delle lasagne per {people} persone",
        ),
    ),
    _Topic(
        key="travel",
        label="travel planning",
        app="{trip planner app|booking site|flight price tracker}",
        slots={
            "city": ("Lisbon", "Kyoto", "Mexico City", "Edinburgh", "Marrakesh", "Vancouver"),
            "days": ("3", "4", "5", "7", "10"),
            "month": ("March", "July", "October", "December"),
        },
        tasks=(
            ("plan a {days}-day itinerary for {city}", "{city} itinerary {days} days"),
            ("list what to pack for {city} in {month}", "packing list {city} {month}"),
            ("compare the train and the plane to get to {city}", "train or plane {city}"),
            ("find a cheap area to stay in {city}", "cheap neighborhood {city}"),
        ),
        terms=("shoulder season", "an open-jaw ticket", "a rail pass"),
        facts=(
            "In {city}, group sights by neighbourhood so you don't cross town twice a day.",
            "Book the first and last night early; the middle can stay flexible.",
            "{month} is usually busy, so reserve popular museums in advance.",
            "Pack layers: mornings and evenings can differ by ten degrees.",
        ),
        foreign=(
            "un itinéraire de {days} jours à {city}",
            "un itinerario de {days} días en {city}",
            "einen Reiseplan für {days} Tage in {city}",
            "um roteiro de {days} dias em {city}",
            "un itinerario di {days} giorni a {city}",
        ),
    ),
    _Topic(
        key="finance",
        label="personal finance",
        app="{budget spreadsheet|expense tracker|banking app}",
        slots={
            "amount": ("500", "2,000", "10,000", "300 a month"),
            "goal": ("an emergency fund", "a house deposit", "paying off a credit card"),
        },
        tasks=(
            ("make a monthly budget that leaves {amount} for {goal}", "budget template {goal}"),
            ("explain how compound interest works", "compound interest explained"),
            ("compare paying off debt with investing {amount}", "pay debt or invest {amount}"),
            ("set up a savings plan for {goal}", "savings plan {goal}"),
        ),
        terms=("the 50/30/20 rule", "an index fund", "APR"),
        facts=(
            "A common starting point is the 50/30/20 rule: needs, wants, savings.",
            "Pay the highest-interest debt first; that's a guaranteed return.",
            "Automate the transfer to savings on payday so you never see the money.",
            "For {goal}, keep the money somewhere safe and easy to reach.",
        ),
        foreign=(
            "un budget mensuel simple",
            "un presupuesto mensual sencillo",
            "einen einfachen Monatshaushalt",
            "um orçamento mensal simples",
            "un budget mensile semplice",
        ),
    ),
    _Topic(
        key="writing",
        label="writing",
        app="{blog editor plugin|Markdown converter|Word macro}",
        slots={
            "piece": ("a cover letter", "a wedding toast", "a short story opening", "a blog post"),
            "theme": ("resilience", "a lost key", "summer", "moving abroad"),
        },
        tasks=(
            ("write {piece} about {theme}", "{piece} about {theme}"),
            ("proofread {piece} I wrote about {theme}", "proofread {piece}"),
            ("give me an outline for {piece}", "outline {piece}"),
            ("rewrite {piece} so it sounds more confident", "{piece} more confident"),
        ),
        terms=("show, don't tell", "a hook", "active voice"),
        facts=(
            "Open with a concrete detail rather than a general statement.",
            "Cut the first paragraph of your draft: the real start is often the second.",
            "Read it aloud; clumsy sentences are easier to hear than to see.",
            "Keep one idea per paragraph, with {theme} as the thread.",
        ),
        foreign=(
            "une lettre de motivation",
            "una carta de presentación",
            "ein Anschreiben für eine Bewerbung",
            "uma carta de apresentação",
            "una lettera di presentazione",
        ),
    ),
    _Topic(
        key="math",
        label="math",
        app="{graphing calculator app|homework checker|Python math script}",
        slots={
            "eq": ("2x + 5 = 17", "x^2 - 5x + 6 = 0", "3(x - 2) = 2x + 1"),
            "concept": ("derivatives", "probability", "logarithms", "matrices"),
        },
        tasks=(
            ("solve {eq} step by step", "solve {eq}"),
            ("explain {concept} like I'm 12", "{concept} simple explanation"),
            ("check my answer to a {concept} homework problem", "check {concept} homework"),
            ("give me five practice problems on {concept}", "{concept} practice problems"),
        ),
        terms=("the chain rule", "a variable", "the quadratic formula"),
        facts=(
            "Do the same operation on both sides so the equation stays balanced.",
            "Check the result by substituting it back into {eq}.",
            "With {concept}, start from a small numeric example before the general rule.",
            "Write each step on its own line; most mistakes hide in skipped steps.",
        ),
        foreign=(
            "une explication simple des logarithmes",
            "una explicación sencilla de los logaritmos",
            "eine einfache Erklärung von Logarithmen",
            "uma explicação simples de logaritmos",
            "una spiegazione semplice dei logaritmi",
        ),
    ),
    _Topic(
        key="health",
        label="health",
        app="{step counter app|symptom tracker|sleep tracking app}",
        slots={
            "symptom": ("a sore throat", "lower back pain", "trouble sleeping", "headaches"),
            "habit": ("drinking more water", "sleeping eight hours", "cutting sugar"),
        },
        tasks=(
            ("tell me when I should see a doctor about {symptom}", "{symptom} when see doctor"),
            ("suggest ways to get better at {habit}", "tips {habit}"),
            ("explain what usually causes {symptom}", "{symptom} causes"),
            ("make a simple routine for {habit}", "routine {habit}"),
        ),
        terms=("inflammation", "a sleep cycle", "hydration"),
        facts=(
            "If {symptom} lasts more than two weeks or gets worse, see a doctor.",
            "Small, fixed routines are easier to keep than big changes.",
            "Track it for a week: patterns are easier to spot on paper.",
            "This isn't medical advice; a pharmacist is a good first stop for quick questions.",
        ),
        foreign=(
            "des conseils pour mieux dormir",
            "consejos para dormir mejor",
            "Tipps für besseren Schlaf",
            "dicas para dormir melhor",
            "consigli per dormire meglio",
        ),
    ),
    _Topic(
        key="fitness",
        label="fitness",
        app="{workout tracker|running watch sync|gym booking app}",
        slots={
            "goal": ("run a 5k", "do ten pull-ups", "lose 5 kg", "build core strength"),
            "days": ("2", "3", "4"),
        },
        tasks=(
            ("make a plan to {goal} with {days} sessions a week", "plan {goal} {days}x week"),
            ("explain how to warm up before a run", "warm up before run"),
            ("suggest a home workout with no equipment", "home workout no equipment"),
            ("tell me how to avoid knee pain while I train to {goal}", "knee pain training"),
        ),
        terms=("progressive overload", "a deload week", "zone 2 training"),
        facts=(
            "Increase the load by about ten percent a week at most.",
            "With {days} sessions a week, leave a rest day between hard sessions.",
            "Warm up for five to ten minutes with easy movement before anything intense.",
            "Sleep and food matter as much as the training itself.",
        ),
        foreign=(
            "un programme d'entraînement pour débutants",
            "un plan de entrenamiento para principiantes",
            "einen Trainingsplan für Anfänger",
            "um plano de treino para iniciantes",
            "un programma di allenamento per principianti",
        ),
    ),
    _Topic(
        key="gardening",
        label="gardening",
        app="{garden planner app|irrigation timer|plant care app}",
        slots={
            "plant": ("tomatoes", "basil", "roses", "lemon trees", "succulents"),
            "place": ("a balcony", "a shady yard", "raised beds"),
        },
        tasks=(
            ("tell me how to grow {plant} on {place}", "grow {plant} {place}"),
            ("explain why the leaves of my {plant} are turning yellow", "{plant} yellow leaves"),
            ("plan a watering schedule for {plant}", "watering {plant} how often"),
            ("suggest companion plants for {plant}", "companion plants {plant}"),
        ),
        terms=("drainage", "hardening off", "nitrogen deficiency"),
        facts=(
            "{plant} on {place} need at least six hours of light to do well.",
            "Yellow leaves often mean too much water, not too little.",
            "Water deeply and less often so roots grow down.",
            "A pot needs drainage holes; standing water rots roots.",
        ),
        foreign=(
            "des conseils pour cultiver des tomates sur un balcon",
            "consejos para cultivar tomates en el balcón",
            "Tipps für Tomaten auf dem Balkon",
            "dicas para plantar tomates na varanda",
            "consigli per coltivare pomodori sul balcone",
        ),
    ),
    _Topic(
        key="music",
        label="music",
        app="{DAW plugin|guitar tuner app|MIDI script}",
        slots={
            "instrument": ("guitar", "piano", "ukulele", "drums"),
            "song": ("Wonderwall", "Let It Be", "a simple blues", "Hallelujah"),
        },
        tasks=(
            ("teach me the chords for {song} on {instrument}", "{song} chords {instrument}"),
            ("make a 20-minute practice routine for {instrument}", "{instrument} practice routine"),
            ("explain what a major scale is", "major scale explained"),
            ("suggest songs like {song} for beginners", "easy songs like {song}"),
        ),
        terms=("a chord progression", "the circle of fifths", "muscle memory"),
        facts=(
            "Practise slowly with a metronome, then raise the tempo by a few beats.",
            "Most of {song} uses three or four chords repeated.",
            "Short daily practice on the {instrument} beats one long weekly session.",
            "Learn the chord changes first, the strumming pattern second.",
        ),
        foreign=(
            "les accords d'une chanson facile à la guitare",
            "los acordes de una canción fácil para guitarra",
            "die Akkorde für ein einfaches Gitarrenlied",
            "os acordes de uma música fácil no violão",
            "gli accordi di una canzone facile per chitarra",
        ),
    ),
    _Topic(
        key="history",
        label="history",
        app="{timeline generator|flashcard app|citation tool}",
        slots={
            "event": ("the French Revolution", "the fall of Rome", "the Cold War"),
            "century": ("16th", "18th", "19th", "20th"),
        },
        tasks=(
            ("summarise the causes of {event}", "{event} causes summary"),
            ("make a timeline of {event}", "{event} timeline"),
            (
                "explain how ordinary people lived in the {century} century",
                "{century} century life",
            ),
            ("give me three essay questions about {event}", "essay questions {event}"),
        ),
        terms=("primary sources", "historiography", "the Enlightenment"),
        facts=(
            "Historians usually separate long-term causes from the trigger of {event}.",
            "Primary sources from the period show what people believed at the time.",
            "A timeline helps you see which changes were slow and which were sudden.",
            "Compare at least two accounts; they rarely agree on everything.",
        ),
        foreign=(
            "un résumé de la Révolution française",
            "un resumen de la Revolución francesa",
            "eine Zusammenfassung der Französischen Revolution",
            "um resumo da Revolução Francesa",
            "un riassunto della Rivoluzione francese",
        ),
    ),
    _Topic(
        key="science",
        label="science",
        app="{lab data script|simulation notebook|physics homework checker}",
        slots={
            "concept": ("black holes", "photosynthesis", "electric circuits", "vaccines"),
            "level": ("a 10 year old", "high school", "first-year university"),
        },
        tasks=(
            ("explain {concept} for {level}", "{concept} explained {level}"),
            ("design a simple experiment about {concept}", "experiment {concept} at home"),
            ("tell me the most common misconception about {concept}", "{concept} myths"),
            ("summarise recent research on {concept}", "{concept} latest research"),
        ),
        terms=("energy conservation", "a control variable", "a hypothesis"),
        facts=(
            "Start with what can be observed, then the model that explains it.",
            "A good experiment changes one thing at a time and keeps a control.",
            "For {level}, an everyday analogy usually works better than an equation.",
            "Scientists still debate parts of {concept}; that's normal.",
        ),
        foreign=(
            "une explication des trous noirs",
            "una explicación de los agujeros negros",
            "eine Erklärung zu schwarzen Löchern",
            "uma explicação sobre buracos negros",
            "una spiegazione dei buchi neri",
        ),
    ),
    _Topic(
        key="career",
        label="career planning",
        app="{job board scraper|CV template macro|applicant tracking portal}",
        slots={
            "role": ("data analyst", "project manager", "UX designer", "nurse practitioner"),
            "company": ("a startup", "a bank", "a hospital", "a big tech company"),
        },
        tasks=(
            ("prepare me for a {role} interview at {company}", "{role} interview questions"),
            ("improve my CV for a {role} job", "cv tips {role}"),
            ("write a follow-up email after my {role} interview", "follow up email interview"),
            ("tell me how to negotiate salary at {company}", "negotiate salary {company}"),
        ),
        terms=("the STAR method", "a salary band", "transferable skills"),
        facts=(
            "Answer behavioural questions with a situation, your action and the result.",
            "Put measurable results on your CV, not just duties.",
            "At {company}, research the salary band before the first offer.",
            "Send the follow-up within a day and keep it to four sentences.",
        ),
        foreign=(
            "des conseils pour un entretien d'embauche",
            "consejos para una entrevista de trabajo",
            "Tipps für ein Vorstellungsgespräch",
            "dicas para uma entrevista de emprego",
            "consigli per un colloquio di lavoro",
        ),
    ),
    _Topic(
        key="relationships",
        label="relationships",
        app="{dating app|shared calendar app|group chat bot}",
        slots={
            "person": ("my partner", "a friend", "my roommate", "my sister"),
            "issue": ("always being late", "splitting chores", "money", "a forgotten birthday"),
        },
        tasks=(
            ("help me talk to {person} about {issue}", "talk to {person} about {issue}"),
            ("write an apology message to {person}", "apology text {person}"),
            ("suggest a date idea on a small budget", "cheap date ideas"),
            ("explain how to set boundaries with {person}", "set boundaries {person}"),
        ),
        terms=("an I-statement", "active listening", "a boundary"),
        facts=(
            "Pick a calm moment, not the middle of an argument.",
            "Describe the behaviour and how it affects you, without labels.",
            "Agree on one small change rather than solving {issue} in one talk.",
            "Listen to their side before proposing a fix.",
        ),
        foreign=(
            "des conseils pour parler à mon colocataire",
            "consejos para hablar con mi pareja",
            "einen Rat für ein Gespräch mit meinem Partner",
            "conselhos para conversar com meu parceiro",
            "un consiglio per parlare con il mio partner",
        ),
    ),
    _Topic(
        key="parenting",
        label="parenting",
        app="{baby tracker app|school portal|screen time app}",
        slots={
            "age": ("2", "4", "7", "13"),
            "issue": ("bedtime", "screen time", "picky eating", "homework"),
        },
        tasks=(
            ("give me tips for {issue} with a {age}-year-old", "{issue} {age} year old"),
            ("plan a rainy-day activity for a {age}-year-old", "rainy day activities kids"),
            ("explain how much screen time is ok at {age}", "screen time age {age}"),
            ("write a chore chart for a {age}-year-old", "chore chart {age} year old"),
        ),
        terms=("positive reinforcement", "a consistent routine", "natural consequences"),
        facts=(
            "Children around {age} respond best to a predictable routine.",
            "Praise the effort you want to see more of, right when it happens.",
            "Offer two choices you are happy with; it lowers the fight.",
            "For {issue}, small changes kept for two weeks work better than big rules.",
        ),
        foreign=(
            "des idées d'activités pour enfants",
            "ideas de actividades para niños",
            "Ideen für Aktivitäten mit Kindern",
            "ideias de atividades para crianças",
            "idee di attività per bambini",
        ),
    ),
    _Topic(
        key="pets",
        label="pet care",
        app="{pet feeder app|vet booking site|dog walking tracker}",
        slots={
            "pet": ("puppy", "older cat", "rabbit", "rescue dog", "parrot"),
            "problem": ("barking at night", "not eating", "scratching furniture", "biting"),
        },
        tasks=(
            ("help me deal with my {pet} {problem}", "{pet} {problem}"),
            ("make a feeding schedule for a {pet}", "feeding schedule {pet}"),
            ("list what I need before adopting a {pet}", "{pet} checklist adopt"),
            ("tell me if {problem} is a reason to see a vet", "{problem} vet or not"),
        ),
        terms=("positive reinforcement", "enrichment", "a recall cue"),
        facts=(
            "Reward the behaviour you want within a second or two.",
            "A {pet} needs a quiet place of its own to settle.",
            "Sudden changes in eating are worth a call to the vet.",
            "Keep training sessions short: five minutes, a few times a day.",
        ),
        foreign=(
            "des conseils pour éduquer un chiot",
            "consejos para educar a un cachorro",
            "Tipps zur Erziehung eines Welpen",
            "dicas para educar um filhote",
            "consigli per educare un cucciolo",
        ),
    ),
    _Topic(
        key="home_repair",
        label="home repair",
        app="{smart thermostat|home automation script|smart plug app}",
        slots={
            "fix": ("a dripping tap", "a squeaky door", "a hole in drywall", "a running toilet"),
            "room": ("bathroom", "kitchen", "bedroom"),
        },
        tasks=(
            ("tell me how to fix {fix} in the {room}", "fix {fix}"),
            ("list the tools I need to fix {fix}", "tools for {fix}"),
            ("estimate what a plumber charges for {fix}", "{fix} cost"),
            ("explain how to paint a {room} without streaks", "paint {room} no streaks"),
        ),
        terms=("a washer", "a stud finder", "primer"),
        facts=(
            "Turn off the water or power before you touch anything.",
            "For {fix}, the part usually costs less than ten dollars.",
            "Take a photo before you take things apart.",
            "If it's behind a wall, check for pipes and cables first.",
        ),
        foreign=(
            "des instructions pour réparer un robinet qui fuit",
            "instrucciones para arreglar un grifo que gotea",
            "eine Anleitung für einen tropfenden Wasserhahn",
            "instruções para consertar uma torneira pingando",
            "istruzioni per riparare un rubinetto che gocciola",
        ),
    ),
    _Topic(
        key="cars",
        label="cars",
        app="{OBD2 reader app|car sharing app|dashcam software}",
        slots={
            "car": ("2012 Honda Civic", "Toyota Corolla", "used VW Golf", "Ford Focus"),
            "symptom": ("a check engine light", "squeaky brakes", "a battery that dies overnight"),
        },
        tasks=(
            ("tell me what causes {symptom} on a {car}", "{car} {symptom}"),
            ("make a checklist for buying a used {car}", "used {car} checklist"),
            ("explain when to change the oil on a {car}", "oil change interval {car}"),
            ("compare leasing and buying a {car}", "lease or buy {car}"),
        ),
        terms=("an OBD code", "a timing belt", "tire pressure"),
        facts=(
            "Read the OBD code first; it narrows things down a lot.",
            "On a {car}, check the service book for the recommended interval.",
            "{symptom} can be cheap to fix if you catch it early.",
            "Ask for a test drive both cold and warm.",
        ),
        foreign=(
            "une liste pour acheter une voiture d'occasion",
            "una lista para comprar un coche usado",
            "eine Checkliste für den Gebrauchtwagenkauf",
            "uma lista para comprar um carro usado",
            "una lista per comprare un'auto usata",
        ),
    ),
    _Topic(
        key="gaming",
        label="video games",
        app="{game mod|Discord bot|Minecraft server}",
        slots={
            "game": ("Minecraft", "Elden Ring", "Stardew Valley", "Fortnite", "Zelda"),
            "goal": ("beat the first boss", "earn money fast", "build a hidden door"),
        },
        tasks=(
            ("tell me how to {goal} in {game}", "{game} {goal}"),
            ("suggest games like {game}", "games like {game}"),
            ("explain the best settings for {game} on a laptop", "{game} laptop settings"),
            ("make a beginner guide for {game}", "{game} beginner guide"),
        ),
        terms=("frame rate", "a build", "aggro"),
        facts=(
            "In {game}, upgrade your gear before pushing further.",
            "Lowering shadows and resolution gives the biggest frame rate boost.",
            "Most players get stuck at the same spot; there's no shame in a guide.",
            "Save often, especially before a boss.",
        ),
        foreign=(
            "des astuces pour débuter à Minecraft",
            "trucos para empezar en Minecraft",
            "Tipps für den Einstieg in Minecraft",
            "dicas para começar no Minecraft",
            "dei trucchi per iniziare a Minecraft",
        ),
    ),
    _Topic(
        key="photography",
        label="photography",
        app="{Lightroom preset|photo backup script|camera app}",
        slots={
            "subject": ("portraits", "the night sky", "my dog", "food", "landscapes"),
            "camera": ("phone", "old DSLR", "mirrorless camera"),
        },
        tasks=(
            ("tell me how to take better photos of {subject} with my {camera}", "{subject} tips"),
            ("explain aperture and shutter speed", "aperture vs shutter speed"),
            ("suggest editing steps for photos of {subject}", "edit {subject} photos"),
            ("pick {camera} settings for {subject} in low light", "low light {camera} settings"),
        ),
        terms=("the exposure triangle", "depth of field", "the rule of thirds"),
        facts=(
            "Light matters more than the {camera}: shoot near a window or at golden hour.",
            "A wider aperture blurs the background and lets in more light.",
            "Tap to focus on the eyes for portraits.",
            "Edit exposure and white balance first, colours after.",
        ),
        foreign=(
            "des conseils pour faire de beaux portraits",
            "consejos para hacer buenos retratos",
            "Tipps für schöne Porträtfotos",
            "dicas para tirar bons retratos",
            "consigli per fare bei ritratti",
        ),
    ),
    _Topic(
        key="language_learning",
        label="learning languages",
        app="{flashcard app|vocabulary script|language exchange app}",
        slots={
            "language": ("Spanish", "Japanese", "German", "Korean", "Italian"),
            "level": ("A1", "B1", "intermediate"),
        },
        tasks=(
            ("make a plan to learn {language} in six months", "learn {language} 6 months"),
            ("explain when to use the subjunctive in {language}", "{language} subjunctive"),
            ("give me ten {language} phrases for travel", "{language} travel phrases"),
            ("suggest how to practise speaking {language} alone", "practice {language} alone"),
        ),
        terms=("spaced repetition", "comprehensible input", "a conjugation table"),
        facts=(
            "Fifteen minutes a day beats two hours on Sunday.",
            "Use spaced repetition for vocabulary and real conversations for speaking.",
            "At {level}, graded readers are a good bridge to real texts.",
            "Shadowing audio helps your pronunciation a lot.",
        ),
        foreign=(
            "une méthode pour apprendre l'anglais",
            "un método para aprender inglés",
            "eine Methode, um Englisch zu lernen",
            "um método para aprender inglês",
            "un metodo per imparare l'inglese",
        ),
    ),
    _Topic(
        key="legal",
        label="legal questions",
        app="{contract template generator|tenant portal|e-signature tool}",
        slots={
            "issue": ("my security deposit", "a parking ticket", "a noisy neighbour"),
            "doc": ("a rental contract", "an NDA", "a freelance agreement"),
        },
        tasks=(
            ("explain my rights about {issue}", "rights {issue}"),
            ("write a formal letter about {issue}", "letter {issue}"),
            ("tell me what to check in {doc} before signing", "{doc} what to check"),
            ("summarise {doc} in plain language", "{doc} plain english"),
        ),
        terms=("a notice period", "liability", "small claims court"),
        facts=(
            "Keep everything in writing and date it.",
            "Rules about {issue} differ a lot by country and even by city.",
            "Check the notice period and the termination clause first.",
            "This is general information, not legal advice; a local lawyer can confirm.",
        ),
        foreign=(
            "un modèle de lettre pour récupérer ma caution",
            "un modelo de carta para recuperar mi fianza",
            "eine Vorlage für einen Brief wegen meiner Kaution",
            "um modelo de carta para recuperar meu depósito",
            "un modello di lettera per riavere la mia caparra",
        ),
    ),
    _Topic(
        key="marketing",
        label="marketing",
        app="{newsletter tool|analytics dashboard|Instagram scheduler}",
        slots={
            "business": ("a bakery", "a yoga studio", "an Etsy shop", "a bike repair shop"),
            "channel": ("Instagram", "email", "TikTok", "Google ads"),
        },
        tasks=(
            ("write three {channel} posts for {business}", "{channel} posts {business}"),
            ("make a launch plan for {business}", "launch plan {business}"),
            ("suggest a slogan for {business}", "slogan {business}"),
            ("explain how to measure {channel} results", "{channel} metrics"),
        ),
        terms=("a call to action", "conversion rate", "a target persona"),
        facts=(
            "Every post needs one clear call to action.",
            "For {business}, local photos beat stock images.",
            "Post at a steady rhythm you can actually keep.",
            "Track one metric per goal, e.g. clicks for traffic.",
        ),
        foreign=(
            "des idées de publications Instagram pour une boulangerie",
            "ideas de publicaciones de Instagram para una panadería",
            "Ideen für Instagram-Posts für eine Bäckerei",
            "ideias de posts no Instagram para uma padaria",
            "idee di post Instagram per una panetteria",
        ),
    ),
    _Topic(
        key="data_analysis",
        label="data analysis",
        app="{pandas notebook|Power BI report|SQL dashboard}",
        slots={
            "data": ("sales data", "survey answers", "website logs", "sensor readings"),
            "tool": ("Excel", "pandas", "SQL", "R"),
        },
        tasks=(
            ("clean {data} with missing values in {tool}", "{tool} missing values {data}"),
            ("choose a chart for monthly {data}", "best chart {data}"),
            ("calculate a moving average in {tool}", "moving average {tool}"),
            ("explain p-values to my manager", "p value simple"),
        ),
        terms=("an outlier", "a pivot table", "statistical significance"),
        facts=(
            "Look at the raw {data} before any model: counts, gaps, odd values.",
            "A line chart is usually best for values over time.",
            "Decide how to treat missing values before computing averages.",
            "In {tool}, keep the cleaning steps in a script so they can be rerun.",
        ),
        foreign=(
            "une méthode pour nettoyer des données dans Excel",
            "un método para limpiar datos en Excel",
            "eine Methode, um Daten in Excel zu bereinigen",
            "um método para limpar dados no Excel",
            "un metodo per pulire i dati in Excel",
        ),
    ),
    _Topic(
        key="fashion",
        label="fashion",
        app="{outfit planner app|online shop wishlist|wardrobe spreadsheet}",
        slots={
            "occasion": ("a wedding", "a job interview", "a first date", "a festival"),
            "item": ("navy blazer", "white sneakers", "green dress", "leather boots"),
            "season": ("winter", "summer", "autumn"),
        },
        tasks=(
            ("put together an outfit for {occasion}", "outfit {occasion}"),
            ("tell me what goes with a {item}", "what to wear with {item}"),
            ("build a capsule wardrobe for {season}", "capsule wardrobe {season}"),
            ("explain how a suit should fit", "how suit should fit"),
        ),
        terms=("a capsule wardrobe", "a neutral palette", "tailoring"),
        facts=(
            "Start from one piece you love and build around its colour.",
            "For {occasion}, check the dress code and go one step above it.",
            "Neutral basics make the {item} stand out.",
            "Fit matters more than brand: a cheap tailored piece looks expensive.",
        ),
        foreign=(
            "une tenue pour un mariage",
            "un conjunto para una boda",
            "ein Outfit für eine Hochzeit",
            "uma roupa para um casamento",
            "un outfit per un matrimonio",
        ),
    ),
    _Topic(
        key="movies",
        label="movies and TV",
        app="{streaming watchlist script|Plex server|movie night bot}",
        slots={
            "film": ("Inception", "Spirited Away", "The Godfather", "Parasite", "Arrival"),
            "genre": ("sci-fi", "horror", "romantic comedy", "documentary"),
        },
        tasks=(
            ("recommend movies like {film}", "movies like {film}"),
            ("explain the ending of {film}", "{film} ending explained"),
            ("plan a {genre} movie marathon", "{genre} marathon list"),
            ("write a short review of {film}", "{film} review"),
        ),
        terms=("an unreliable narrator", "foreshadowing", "a plot twist"),
        facts=(
            "{film} rewards a second viewing; small details set up the ending.",
            "For a {genre} marathon, start lighter and end with the strongest film.",
            "Directors often hide the theme in the first five minutes.",
            "A review works best when it says what the film tries to do and whether it does.",
        ),
        foreign=(
            "des recommandations de films de science-fiction",
            "recomendaciones de películas de ciencia ficción",
            "Empfehlungen für Science-Fiction-Filme",
            "recomendações de filmes de ficção científica",
            "dei consigli su film di fantascienza",
        ),
    ),
    _Topic(
        key="education",
        label="studying",
        app="{study timer app|school LMS|note-taking plugin}",
        slots={
            "exam": ("the SAT", "a biology final", "the bar exam", "a driving theory test"),
            "weeks": ("2", "4", "6", "8"),
        },
        tasks=(
            (
                "make a study schedule for {exam} in {weeks} weeks",
                "study plan {exam} {weeks} weeks",
            ),
            ("explain how to take better notes in class", "note taking method"),
            ("quiz me on {exam} topics", "{exam} practice questions"),
            ("tell me how to stop procrastinating before {exam}", "stop procrastinating study"),
        ),
        terms=("active recall", "the Pomodoro technique", "interleaving"),
        facts=(
            "Test yourself instead of rereading; recall is what makes it stick.",
            "With {weeks} weeks, leave the last few days for past papers only.",
            "Study in 25-minute blocks with short breaks.",
            "Mix topics in a session rather than doing one at a time.",
        ),
        foreign=(
            "un planning de révision pour un examen",
            "un plan de estudio para un examen",
            "einen Lernplan für eine Prüfung",
            "um plano de estudos para uma prova",
            "un piano di studio per un esame",
        ),
    ),
    _Topic(
        key="sustainability",
        label="sustainability",
        app="{energy monitor|solar inverter app|carbon calculator}",
        slots={
            "habit": ("commuting", "heating", "food shopping", "flying"),
            "home": ("flat", "house", "student room"),
        },
        tasks=(
            ("suggest ways to cut the carbon footprint of my {habit}", "reduce footprint {habit}"),
            ("explain if solar panels are worth it for my {home}", "solar panels worth it {home}"),
            ("compare electric and hybrid cars", "electric vs hybrid"),
            ("make a zero-waste shopping list", "zero waste shopping list"),
        ),
        terms=("a heat pump", "embodied carbon", "a payback period"),
        facts=(
            "{habit} is often one of the biggest parts of a household footprint.",
            "Solar payback depends mostly on your roof direction and electricity price.",
            "Insulation is usually the cheapest first step for heating.",
            "Buying less beats buying greener versions of the same things.",
        ),
        foreign=(
            "des idées pour réduire mon empreinte carbone",
            "ideas para reducir mi huella de carbono",
            "Ideen, um meinen CO2-Fußabdruck zu senken",
            "ideias para reduzir minha pegada de carbono",
            "idee per ridurre la mia impronta di carbonio",
        ),
    ),
    _Topic(
        key="shopping",
        label="shopping",
        app="{price tracker extension|online store checkout|coupon app}",
        slots={
            "product": ("a laptop", "a vacuum cleaner", "running shoes", "a mattress"),
            "budget": ("100", "300", "800", "1,500"),
        },
        tasks=(
            ("recommend {product} under {budget} dollars", "best {product} under {budget}"),
            ("compare two options for {product}", "{product} comparison"),
            ("tell me when {product} usually goes on sale", "{product} sale when"),
            ("write a return request for {product}", "return {product} email"),
        ),
        terms=("a price history", "a warranty", "a refurbished model"),
        facts=(
            "Decide the two features that matter most before comparing models.",
            "Refurbished models with a warranty are often the best value.",
            "Big sales are usually in late November and early January.",
            "Read the one-star reviews: they show what breaks.",
        ),
        foreign=(
            "un bon ordinateur portable pas cher",
            "un buen portátil barato",
            "einen guten, günstigen Laptop",
            "um bom notebook barato",
            "un buon portatile economico",
        ),
    ),
    _Topic(
        key="events",
        label="event planning",
        app="{RSVP form|event ticketing site|seating chart tool}",
        slots={
            "party": ("a birthday party", "a team offsite", "a baby shower", "a small wedding"),
            "guests": ("10", "25", "60", "120"),
        },
        tasks=(
            ("plan {party} for {guests} guests", "plan {party} {guests} people"),
            ("write an invitation for {party}", "{party} invitation text"),
            ("make a budget for {party}", "{party} budget"),
            ("suggest games for {party}", "{party} games ideas"),
        ),
        terms=("a run of show", "a headcount", "a contingency budget"),
        facts=(
            "For {guests} guests, book the venue first; everything else depends on it.",
            "Send invitations four to six weeks ahead.",
            "Keep ten percent of the budget aside for surprises.",
            "A simple timeline for the day keeps helpers on the same page.",
        ),
        foreign=(
            "un plan pour organiser une fête d'anniversaire",
            "un plan para organizar una fiesta de cumpleaños",
            "einen Plan für eine Geburtstagsfeier",
            "um plano para organizar uma festa de aniversário",
            "un piano per organizzare una festa di compleanno",
        ),
    ),
)
