"""Writing one demo conversation: a topic's filled slots and one writer per archetype.

Each writer appends the turns of one conversation, drawing every choice from the conversation's
`Pen` and every phrase from the banks loaded by `phrases.load_phrases` (by bank name, so the
words live in `phrases/*.json` and only the shape of the behaviour lives here).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from simgap_core.demo.pen import Pen
from simgap_core.demo.phrases import Phrases, Topic
from simgap_core.demo.snippets import SNIPPETS


class Conversation:
    """The turns of one conversation being written, and the topic's filled slots."""

    def __init__(self, pen: Pen, topic: Topic, phrases: Phrases) -> None:
        self.pen = pen
        self.topic = topic
        self.phrases = phrases
        self.turns: list[tuple[str, str]] = []
        self.vars = self._variables(topic)

    def _variables(self, topic: Topic) -> dict[str, str]:
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

    def bank(self, name: str) -> tuple[str, ...]:
        """The phrase bank `name` of `user.json` or `assistant.json`."""
        return self.phrases.banks[name]

    def phrase(self, bank: str) -> str:
        """One template of the bank named `bank`, filled."""
        return self.fill(self.pen.pick(self.bank(bank)))

    def user(self, text: str) -> None:
        self.turns.append(("user", text.strip()))

    def assistant(self, text: str) -> None:
        self.turns.append(("assistant", text.strip()))

    def answer(
        self, openers: str = "openers", *, facts: int | None = None, closer: bool = True
    ) -> str:
        """A plausible reply on the topic: an opener, one to three facts, maybe a closer."""
        pen = self.pen
        count = facts if facts is not None else pen.pick((1, 1, 1, 1, 2, 2))
        body = [self.fill(f) for f in pen.sample(self.topic.facts, count)]
        opener = self.phrase(openers)
        if len(body) > 1 and pen.chance(0.4):
            text = opener + "\n\n" + "\n".join(f"{i}. {f}" for i, f in enumerate(body, 1))
        else:
            text = " ".join([opener, *body])
        if closer and pen.chance(0.15):
            text += "\n\n" + self.phrase("closers")
        return text


# --- the archetypes ---------------------------------------------------------------------------
# Each writer appends the turns of one conversation. The behaviour shows in measurable cues
# (length, lists of constraints, pasted logs, correction words after an answer, capitals and
# "!!", a later unrelated request, a thanks-only last turn, questions about the answer, short
# edit requests, another language, politeness formulas, first-person background), with the
# everyday overlaps real users have (a terse user makes typos, a spec may be polite).


def _ask(c: Conversation, *, greet: float = 0.12, purpose: float = 0.3) -> str:
    """An ordinary first request: a frame around the task, maybe a purpose and a greeting."""
    pen = c.pen
    text = c.phrase("request_frames")
    if pen.chance(purpose):
        text += " " + c.phrase("purposes")
    text = pen.casual(text)
    if pen.chance(greet):
        greeting = pen.pick(c.bank("greetings"))
        if greeting[-1].isalpha() or greeting.endswith(","):
            text = text[:1].lower() + text[1:]
        text = f"{greeting} {text}"
    return text


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ":")) else text + "."


def _shout(pen: Pen, text: str) -> str:
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


def _write_terse(c: Conversation) -> None:
    pen = c.pen
    words = c.vars["terse"].split()
    if len(words) > 3 and pen.chance(0.25):
        del words[pen.between(1, len(words) - 1)]
    text = c.fill(
        pen.pick(c.bank("terse_prefixes")) + " ".join(words) + pen.pick(c.bank("terse_suffixes"))
    )
    text = pen.typos(text.lower(), pen.pick((0.0, 0.0, 0.05, 0.12)))
    if pen.chance(0.08):
        text += "?"
    c.user(text)
    c.assistant(c.answer(facts=pen.pick((1, 1, 2))))
    if pen.chance(0.4):
        c.user(pen.typos(c.phrase("terse_followups").lower(), 0.05))
        c.assistant(c.answer(facts=1))


def _write_detailed_spec(c: Conversation) -> None:
    pen = c.pen
    parts = [c.phrase("spec_openers")]
    if pen.chance(0.4):
        parts.append(_sentence(c.phrase("purposes")))
    constraints = [c.fill(x) for x in pen.sample(c.bank("constraints"), pen.between(4, 7))]
    layout = pen.pick(("bullets", "numbers", "prose"))
    if layout == "bullets":
        marker = pen.pick(("-", "*", "•"))
        items = "\n".join(f"{marker} {x}" for x in constraints)
        parts.append(pen.pick(c.bank("list_headers")) + "\n" + items)
    elif layout == "numbers":
        items = "\n".join(f"{i}. {x}" for i, x in enumerate(constraints, 1))
        parts.append(pen.pick(c.bank("list_headers")) + "\n" + items)
    else:
        parts.append(" ".join(_sentence(x) for x in constraints))
    if pen.chance(0.35):
        parts.append(c.phrase("spec_examples"))
    if pen.chance(0.4):
        parts.append(c.phrase("spec_closers"))
    text = (" " if layout == "prose" and pen.chance(0.6) else "\n\n").join(parts)
    c.user(pen.typos(text, 0.02) if pen.chance(0.25) else text)
    c.assistant(c.answer(facts=pen.between(1, 3)))
    if pen.chance(0.3):
        c.user(pen.casual(c.phrase("spec_additions"), lower=0.1))
        c.assistant(c.answer("revisions", facts=pen.between(1, 2)))


def _write_error_log(c: Conversation) -> None:
    pen = c.pen
    snippet = pen.pick(SNIPPETS)(pen)
    block = f"```\n{snippet}\n```" if pen.chance(0.5) else snippet
    intro = pen.casual(c.phrase("error_intros"), bare=0.5)
    question = pen.casual(c.phrase("error_questions"), bare=0.1)
    layout = pen.between(0, 3)
    if layout == 0:
        text = f"{block}\n\n{question}"
    elif layout == 1:
        text = f"{intro}\n{block}"
    else:
        text = f"{intro}\n\n{block}\n\n{question}"
    c.user(text)
    c.assistant(c.answer("fixes"))
    if pen.chance(0.45):
        if pen.chance(0.5):
            last_line = pen.pick(SNIPPETS)(pen).splitlines()[-1]
            c.user(pen.casual(c.phrase("error_still"), bare=0.0) + "\n" + last_line)
        else:
            c.user(pen.casual(c.phrase("error_followups")))
        c.assistant(c.answer("fixes", facts=1))


def _write_correction(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    for round_ in range(pen.pick((1, 1, 1, 2, 2, 3))):
        bank = "corrections" if round_ == 0 else "more_corrections"
        c.user(pen.casual(c.phrase(bank), lower=0.35))
        c.assistant(c.answer("apologies", facts=pen.pick((1, 1, 2))))
    if pen.chance(0.35):
        c.user(pen.casual(c.phrase("acceptances")))


def _write_frustrated(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c) if pen.chance(0.6) else _shout(pen, c.phrase("impatient_asks")))
    c.assistant(c.answer())
    for _ in range(pen.pick((1, 1, 2, 3))):
        c.user(_shout(pen, c.phrase("frustrations")))
        c.assistant(c.answer("apologies", facts=pen.pick((1, 1, 2))))
    if pen.chance(0.3):
        c.user(_shout(pen, c.phrase("frustrated_exits")))


def _write_topic_switch(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    if pen.chance(0.4):
        c.user(pen.casual(c.phrase("followups")))
        c.assistant(c.answer(facts=1))
    topics = [t for t in c.phrases.topics if t.key != c.topic.key]
    other = Conversation(pen, pen.pick(topics), c.phrases)
    switch = _ask(other, greet=0.0)
    if pen.chance(0.65):
        marker = pen.pick(c.bank("switch_markers"))
        if marker.endswith(","):
            switch = switch[:1].lower() + switch[1:]
        switch = f"{marker} {switch}"
    c.user(switch)
    c.assistant(other.answer())
    if pen.chance(0.3):
        c.user(pen.casual(other.phrase("followups")))
        c.assistant(other.answer(facts=1))


def _write_thanks_leave(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer())
    if pen.chance(0.25):
        c.user(pen.casual(c.phrase("followups")))
        c.assistant(c.answer(facts=1))
    c.user(pen.casual(c.phrase("thanks"), lower=0.4, sloppy=0.15, bare=0.2))
    if pen.chance(0.4):
        c.assistant(c.phrase("welcomes"))


def _write_clarifying_question(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c))
    c.assistant(c.answer(closer=False) + " " + c.phrase("term_sentences"))
    for question in pen.sample(c.bank("clarify_questions"), pen.pick((1, 1, 2, 2, 3))):
        c.user(pen.casual(c.fill(question), bare=0.0))
        c.assistant(c.answer("clarifications", facts=pen.pick((0, 1, 1))))
    if pen.chance(0.25):
        c.user(pen.casual(c.phrase("understood")))


def _write_iterative_refinement(c: Conversation) -> None:
    pen = c.pen
    c.user(_ask(c, purpose=0.2))
    c.assistant(c.answer(facts=pen.pick((1, 2))))
    for change in pen.sample(c.bank("refinements"), pen.pick((3, 3, 4, 4, 5))):
        text = c.fill(change)
        if pen.chance(0.35):
            text = pen.pick(c.bank("refine_leads")) + " " + text
        c.user(pen.casual(text, lower=0.5, bare=0.5))
        c.assistant(c.answer("revisions", facts=1))


def _write_non_english(c: Conversation) -> None:
    pen = c.pen
    language = pen.pick(tuple(c.phrases.languages))
    bank = c.phrases.languages[language]
    values = {"subject": c.fill(c.topic.foreign[language])}
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


def _write_polite_verbose(c: Conversation) -> None:
    pen = c.pen
    parts = [pen.pick(c.bank("polite_greetings"))]
    if pen.chance(0.8):
        parts.append(pen.pick(c.bank("polite_wellbeing")))
    parts.append(c.phrase("polite_asks"))
    if pen.chance(0.5):
        parts.append(c.phrase("polite_extras"))
    if pen.chance(0.4):
        parts.append(_sentence(c.phrase("purposes")))
    parts.append(pen.pick(c.bank("polite_closings")))
    if parts[0].endswith(","):
        parts[1] = parts[1][:1].lower() + parts[1][1:]
    text = " ".join(parts)
    c.user(pen.typos(text, 0.02) if pen.chance(0.15) else text)
    c.assistant(c.answer())
    if pen.chance(0.4):
        c.user(c.phrase("polite_followups"))
        c.assistant(c.answer("revisions", facts=pen.pick((1, 2))))


def _write_context_dump(c: Conversation) -> None:
    pen = c.pen
    background = [_sentence(c.fill(s)) for s in pen.sample(c.bank("background"), pen.between(3, 6))]
    ask = c.phrase("dump_asks")
    if pen.chance(0.3):
        text = " ".join(background[: len(background) // 2]) + "\n\n"
        text += " ".join(background[len(background) // 2 :]) + "\n\n" + ask
    else:
        text = " ".join([*background, ask])
    c.user(pen.casual(text, lower=0.15, bare=0.2))
    c.assistant(c.answer())
    if pen.chance(0.35):
        c.user(pen.casual(c.phrase("dump_addenda")))
        c.assistant(c.answer("revisions", facts=1))


WRITERS: dict[str, Callable[[Conversation], None]] = {
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
