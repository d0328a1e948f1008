"""The offline heuristic annotator: measured features of the user turns written out as words.

Cues are deliberately general (what a human annotator would look for), not phrases of any one
data set. Nothing of the user's text is copied into a behaviour text, so two conversations that
behave alike on different topics get the same description.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from simgap_core.model import Corpus
from simgap_core.parts import Part, register
from simgap_core.represent import BEHAVIOUR_FACETS, Progress
from simgap_core.represent.cues import (
    ADDED_CONTEXT,
    AFFIRM,
    ALSO,
    ALTS,
    ANAPHORA,
    ASSISTANT_OFFER,
    BACKGROUND,
    CLARIFY,
    CODE_FENCE,
    CODE_LINE,
    CONSTRAINT,
    CORRECTION,
    COURTESY,
    COURTESY_FILLER,
    EMOJI,
    ERROR_WORD,
    EXAMPLE,
    FRUSTRATION,
    GOODBYE,
    GRATITUDE,
    GREETING,
    IMPERATIVE,
    INFORMAL,
    INTENT_CUE,
    LIST_ITEM,
    LOG_LINE,
    NEGATE_START,
    NO_START,
    NOT_BACKGROUND,
    POLITE,
    PURPOSE,
    QUESTION_START,
    REFINE,
    SELECT,
    SENTENCE_SPLIT,
    STOP,
    SWITCH_CUE,
    TECH_TOKEN,
    WORD,
    detect_language,
)

# Cues show early; reading past this many characters of a turn (a pasted file, a long answer)
# would cost time without changing any description.
_ANALYSED_CHARS = 2000


def _length_bucket(words: float) -> str:
    if words <= 5:
        return "very short"
    if words <= 15:
        return "short"
    if words <= 40:
        return "medium-length"
    if words <= 100:
        return "long"
    return "very long"


def _turn_count(n: int) -> str:
    # Coarse on purpose: two versus three turns is rarely a difference in behaviour.
    if n <= 3:
        return "a few"
    if n <= 6:
        return "several"
    return "many"


@dataclass(frozen=True, slots=True)
class UserTurn:
    """Measured features of one user turn, given what came before it."""

    words: int
    lowercase_start: bool
    end_punctuation: bool
    code: bool
    log: bool
    list_items: int
    constraints: int
    example: bool
    question: bool
    greet: bool
    thank: bool
    goodbye: bool
    polite: int
    imperative: bool
    affirm: bool
    negate: bool
    correction: bool
    frustration: int
    shouting: bool
    exclaims: bool
    informal: int
    emoji: bool
    background: int
    purpose: bool
    select: bool
    alternatives: bool
    intent: bool
    opens: bool
    switch: bool
    answers_question: bool
    offer_reply: bool
    reaction: str


def _analyse_turn(
    full_text: str,
    *,
    seen: set[str],
    after_assistant: bool,
    assistant_text: str,
    prior_request: bool,
) -> UserTurn:
    n_words = len(full_text.split())
    text = full_text[:_ANALYSED_CHARS]
    lower = text.lower()
    words = WORD.findall(lower)
    lines = [line for line in text.splitlines() if line.strip()]
    fence = bool(CODE_FENCE.search(text))
    log_lines = len(LOG_LINE.findall(lower))
    code_lines = sum(1 for line in lines if CODE_LINE.search(line))
    log = (
        log_lines >= 2
        or (log_lines >= 1 and (fence or len(lines) >= 3))
        or (bool(ERROR_WORD.search(lower)) and len(TECH_TOKEN.findall(text)) >= 3)
    )
    code = fence or code_lines >= 3 or (code_lines >= 2 and code_lines * 2 >= len(lines))
    list_items = len(LIST_ITEM.findall(lower))
    caps = [w for w in WORD.findall(text) if len(w) >= 3 and w.isupper()]
    # Capitals in pasted code or logs (CONSTANTS, ERROR) are not shouting.
    shouting = len(caps) >= 2 and len(caps) * 5 >= len(words) and not (log or code)
    frustration = len(FRUSTRATION.findall(lower)) + (2 if shouting else 0)
    question = "?" in text or "？" in text or bool(QUESTION_START.search(lower))
    thank = bool(GRATITUDE.search(lower))
    goodbye = bool(GOODBYE.search(lower))
    greet = bool(GREETING.search(lower))
    # What is left once courtesy is taken out decides whether a turn asks for anything; this
    # works in languages the request cues do not cover.
    residue = (
        [
            w
            for w in WORD.findall(COURTESY.sub(" ", lower))
            if len(w) >= 4 and w not in COURTESY_FILLER
        ]
        if (thank or goodbye or greet) and n_words <= 40
        else words
    )
    courtesy_only = (thank or goodbye) and len(residue) <= 1 and not question
    assistant_asked = "?" in assistant_text
    # A bare "No, ..." answers a question the assistant asked; after a plain answer it pushes back.
    correction = (
        after_assistant
        and not courtesy_only
        and not ADDED_CONTEXT.search(lower)
        and bool(CORRECTION.search(lower) or (NO_START.search(lower) and not assistant_asked))
    )
    negate = after_assistant and (
        correction or frustration >= 2 or bool(NEGATE_START.search(lower))
    )
    sentences = [s for s in SENTENCE_SPLIT.split(lower) if s.strip()]
    background = sum(
        1
        for s in sentences
        if BACKGROUND.search(s)
        and not NOT_BACKGROUND.search(s)
        and not CORRECTION.search(s)
        and not FRUSTRATION.search(s)
    )
    content = {w[:5] for w in words if len(w) >= 4 and w not in STOP}
    novel = len(content - seen)
    head = sentences[0] if sentences else ""
    anaphora = bool(ANAPHORA.search(head))
    edit = bool(REFINE.search(lower))
    request_like = question or bool(IMPERATIVE.search(lower)) or bool(INTENT_CUE.search(lower))
    # A new task: announced as such, or a request whose content words are nearly all new and
    # that neither edits, refers back to the last answer, nor adds on ("also ...").
    switch = (
        after_assistant
        and prior_request
        and not correction
        and request_like
        and (
            bool(SWITCH_CUE.search(lower))
            or (
                len(content) >= 3
                and novel >= 0.8 * len(content)
                and not (anaphora or edit or ALSO.search(lower))
            )
        )
    )
    # "ok thanks" acknowledges; AFFIRM is agreeing to something asked, or "yes, and ...".
    affirm = (
        after_assistant
        and not negate
        and bool(AFFIRM.search(lower))
        and ("?" in assistant_text or not courtesy_only)
    )
    greeting_only = greet and len(residue) <= 1 and not question
    # A first message that is more than a greeting is a request even without a request verb
    # ("python sort dict by value").
    intent = not (courtesy_only or greeting_only) and (request_like or not prior_request)
    clarify = bool(CLARIFY.search(lower))
    # "can you make it shorter?" is an edit request in question form, not a question back.
    refine = (
        after_assistant
        and not switch
        and not clarify
        and (n_words <= 12 or (n_words <= 25 and anaphora))
        and edit
    )
    answers_question = after_assistant and assistant_asked and not question and not courtesy_only
    offer_reply = after_assistant and bool(ASSISTANT_OFFER.search(assistant_text.lower()))
    if not after_assistant:
        reaction = ""
    elif frustration >= 2 or (frustration and negate):
        reaction = "complains"
    elif correction:
        reaction = "corrects"
    elif courtesy_only:
        reaction = "thanks"
    elif switch:
        reaction = "switches"
    elif refine:
        reaction = "refines"
    elif question and (clarify or anaphora) and not ALSO.search(lower):
        reaction = "asks"
    elif question:
        reaction = "continues"
    elif answers_question:
        reaction = "answers"
    elif affirm:
        reaction = "accepts"
    else:
        reaction = "continues"
    return UserTurn(
        words=n_words,
        lowercase_start=text.lstrip()[:1].islower(),
        # A list or pasted block ends wherever it ends; its first line shows the writing habit.
        end_punctuation=(lines[0] if len(lines) > 1 else text).rstrip()[-1:] in ".!?)\"':？。",
        code=code and not log,
        log=log,
        list_items=list_items,
        constraints=len(CONSTRAINT.findall(lower)),
        example=bool(EXAMPLE.search(lower)),
        question=question,
        greet=greet,
        thank=thank,
        goodbye=goodbye,
        polite=len(POLITE.findall(lower)),
        imperative=bool(IMPERATIVE.search(lower)),
        affirm=affirm,
        negate=negate,
        correction=correction,
        frustration=frustration,
        shouting=shouting,
        exclaims="!!" in text,
        informal=len(INFORMAL.findall(text)),
        emoji=bool(EMOJI.search(lower)),
        background=background,
        purpose=bool(PURPOSE.search(lower)),
        select=after_assistant and bool(SELECT.search(lower)),
        alternatives=after_assistant and bool(ALTS.search(lower)),
        intent=intent,
        opens=intent and not prior_request,
        switch=switch,
        answers_question=answers_question,
        offer_reply=offer_reply,
        reaction=reaction,
    )


def analyse_user_turns(turns: list[tuple[str, str]]) -> list[UserTurn]:
    seen: set[str] = set()
    analysed: list[UserTurn] = []
    assistant_text = ""
    after_assistant = False
    prior_request = False
    for role, text in turns:
        if role == "user":
            turn = _analyse_turn(
                text,
                seen=seen,
                after_assistant=after_assistant,
                assistant_text=assistant_text,
                prior_request=prior_request,
            )
            analysed.append(turn)
            prior_request = prior_request or turn.intent
            after_assistant = False
            assistant_text = ""
        elif role == "assistant":
            after_assistant = True
            assistant_text += text + "\n"
        else:
            continue
        seen.update(w[:5] for w in WORD.findall(text[:_ANALYSED_CHARS].lower()) if len(w) >= 4)
    return analysed


def _dialog_acts(turn: UserTurn) -> list[str]:
    acts: list[str] = []
    if turn.greet:
        acts.append("GREET")
    if turn.offer_reply and turn.affirm:
        acts.append("AFFIRM_INTENT")
    elif turn.affirm:
        acts.append("AFFIRM")
    if turn.offer_reply and turn.negate and not turn.correction:
        acts.append("NEGATE_INTENT")
    elif turn.negate:
        acts.append("NEGATE")
    if turn.select:
        acts.append("SELECT")
    informs = (
        turn.background
        or turn.constraints >= 2
        or turn.code
        or turn.log
        or turn.correction
        or turn.answers_question
        or turn.reaction == "refines"
    )
    if informs:
        acts.append("INFORM")
    # The opening request and a new task are intents; asking is REQUEST only after that, and an
    # edit request is REQUEST_ALTS (the same output again, changed).
    if turn.opens or turn.switch:
        acts.append("INFORM_INTENT")
    elif (turn.question or turn.intent) and turn.reaction not in ("complains", "refines"):
        acts.append("REQUEST")
    if turn.alternatives or turn.reaction == "refines":
        acts.append("REQUEST_ALTS")
    if turn.thank:
        acts.append("THANK")
    if turn.goodbye:
        acts.append("GOODBYE")
    if not acts:
        acts.append("INFORM")
    return acts


_REACTION_PHRASES = {
    "complains": "complains angrily that the answer is wrong",
    "corrects": "pushes back and corrects the assistant",
    "switches": "drops the subject and asks about an unrelated new topic",
    "asks": "asks a question back about the answer",
    "refines": "asks for a small change to the answer",
    "thanks": "only thanks the assistant",
    "answers": "answers the assistant's question",
    "accepts": "accepts the answer",
    "continues": "continues with a related request",
}
_REACTION_ORDER = tuple(_REACTION_PHRASES)


def opening_turn(turns: list[UserTurn]) -> UserTurn:
    """The turn that states the first request (a bare "hi" before it does not count)."""
    return next((t for t in turns if t.opens), turns[0])


def _conversation_language(turns: list[tuple[str, str]]) -> str:
    """The language of all user text together: short turns ("Warum?") carry little evidence."""
    text = "\n".join(text for role, text in turns if role == "user")[:_ANALYSED_CHARS]
    return detect_language(text, WORD.findall(text.lower()))


def _describe_requests(turns: list[UserTurn], language: str) -> str:
    first = opening_turn(turns)
    statements: list[str] = []
    if language != "English":
        statements.append("The requests are written in a language other than English.")
    if first.log:
        statements.append("The user pastes an error message or log output and asks about it.")
    elif first.code:
        statements.append("The user pastes a block of code and asks about it.")
    detail = first.constraints + first.list_items + (2 if first.example else 0)
    length = _length_bucket(first.words)
    # Lists, examples and explicit limits all add up to one graded level of specification.
    if detail >= 5:
        spec = "highly specified, with many explicit constraints, formats or examples"
    elif detail >= 2:
        spec = "partly specified, with some explicit constraints"
    elif first.words <= 5 and not first.end_punctuation:
        spec = "an unspecified keyword fragment"
    else:
        spec = "barely specified, with few or no constraints"
    statements.append(f"The first request is {length} and {spec}.")
    if first is not turns[0]:
        statements.append("The user opens with a greeting alone before asking.")
    later = turns[turns.index(first) + 1 :]
    if not later:
        statements.append("The whole goal is stated in a single turn.")
        return " ".join(statements)
    counts = {r: sum(t.reaction == r for t in later) for r in _REACTION_ORDER}
    decomposition = f"The goal unfolds over {_turn_count(len(turns))} user turns"
    if counts["switches"]:
        decomposition += ", and a later turn starts an unrelated new task"
    elif counts["refines"] >= 2:
        decomposition += ", refining the same output step by step"
    elif counts["corrects"] + counts["complains"]:
        decomposition += ", restating the request after wrong answers"
    elif counts["asks"]:
        decomposition += ", with follow-up questions about the answer"
    elif counts["thanks"] == len(later):
        decomposition = "The goal is stated in one turn, followed only by thanks"
    statements.append(decomposition + ".")
    if any(t.constraints >= 2 for t in later):
        statements.append("Later turns add new constraints.")
    return " ".join(statements)


def _describe_responses(turns: list[UserTurn]) -> str:
    reactions = [t.reaction for t in turns if t.reaction]
    if not reactions:
        return "The user never reacts to an answer: a single request and no follow-up."
    counts = {r: reactions.count(r) for r in _REACTION_ORDER if r in reactions}
    statements = [
        "After the assistant answers, the user "
        + ", ".join(_REACTION_PHRASES[r] for r in counts)
        + "."
    ]
    if "complains" in counts:
        statements.append("The user is dissatisfied and frustrated with the assistant.")
    elif "corrects" in counts:
        statements.append("The user says the assistant misunderstood or got it wrong.")
    if counts.get("refines", 0) >= 2:
        statements.append("The user steers the output through repeated small edits.")
    if "asks" in counts:
        statements.append("The user questions the assistant to understand its answer.")
    last = turns[-1]
    if last.reaction == "thanks":
        closing = "a thank-you and goodbye" if last.goodbye else "a thank-you"
        statements.append(f"The user closes the conversation with {closing} only.")
    elif "switches" in counts:
        statements.append("The user changes the subject instead of following up.")
    return " ".join(statements)


def _describe_context(turns: list[UserTurn]) -> str:
    first = opening_turn(turns)
    background = sum(t.background for t in turns)
    statements: list[str] = []
    if first.background >= 3:
        statements.append(
            "The user volunteers a lot of personal background, several sentences about "
            "themselves and their situation, before the actual request."
        )
    elif first.background >= 2:
        statements.append("The user volunteers some personal background before the request.")
    elif background - first.background >= 2:
        statements.append("The user adds personal context only in later turns.")
    else:
        statements.append("The user gives little or no personal background about themselves.")
    if any(t.answers_question for t in turns):
        statements.append("Details are elicited: the user supplies them when the assistant asks.")
    if first.log or first.code:
        statements.append("The pasted code or log is the main context.")
    if any(t.purpose for t in turns):
        statements.append("The user explains the purpose behind the request.")
    if first.constraints >= 2 or first.list_items >= 2:
        statements.append("Requirements are spelled out upfront.")
    elif not background and first.words <= 15:
        statements.append("The request comes bare, leaving the assistant to guess the details.")
    return " ".join(statements)


def _tone(turns: list[UserTurn]) -> str:
    """One tone per conversation, so that tone cues do not multiply into many variants."""
    requests = [t for t in turns if t.intent] or turns
    if sum(t.frustration for t in turns) >= 2:
        marks = [
            mark
            for mark, present in (
                ("repeated exclamation marks", any(t.exclaims for t in turns)),
                ("words in capitals", any(t.shouting for t in turns)),
            )
            if present
        ]
        return "angry and impatient" + (", with " + " and ".join(marks) if marks else "")
    polite = sum(t.polite for t in turns)
    if polite >= 3 or (polite >= 2 and any(t.greet for t in turns)):
        return "very polite and formal, with greetings, courtesy phrases and thanks"
    if polite >= 2 and sum(t.polite > 0 for t in requests) * 2 >= len(requests):
        return "polite, with please or could you"
    if all(t.imperative for t in requests):
        return "direct, bare commands without please"
    if any(t.thank for t in turns):
        return "friendly and appreciative"
    return "neutral"


def _describe_style(turns: list[UserTurn], language: str) -> str:
    n = len(turns)
    statements: list[str] = []
    if language != "English":
        statements.append(f"The user writes in {language}, not English.")
    statements.append(f"Tone: {_tone(turns)}.")
    if sum(t.lowercase_start for t in turns) * 2 > n:
        statements.append("Casual register: lowercase, little punctuation.")
    else:
        statements.append("Standard capitalization and punctuation.")
    statements.append(f"Messages are {_length_bucket(sum(t.words for t in turns) / n)} on average.")
    if sum(t.informal for t in turns) >= 2:
        statements.append("Informal spellings or typos.")
    if any(t.log or t.code for t in turns):
        statements.append("Includes pasted technical text.")
    elif any(t.list_items >= 2 for t in turns):
        statements.append("Uses list formatting.")
    if any(t.emoji for t in turns):
        statements.append("Uses emoji.")
    return " ".join(statements)


_MAX_ACT_TURNS = 8


def _describe_dialog_acts(turns: list[UserTurn]) -> str:
    """Acts per user turn; a run of turns with the same acts is one sentence ("Turns 2-4")."""
    runs: list[tuple[int, int, str]] = []
    for i, turn in enumerate(turns[:_MAX_ACT_TURNS], start=1):
        acts = ", ".join(_dialog_acts(turn))
        if runs and runs[-1][2] == acts:
            runs[-1] = (runs[-1][0], i, acts)
        else:
            runs.append((i, i, acts))
    parts = [
        f"Turn {first}: {acts}." if first == last else f"Turns {first}-{last}: {acts}."
        for first, last, acts in runs
    ]
    if len(turns) > _MAX_ACT_TURNS:
        parts.append("Then more turns.")
    return " ".join(parts)


_NO_USER = "The conversation has no user turns."


def describe_turns(turns: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Heuristic behaviour texts (one per `BEHAVIOUR_FACETS` entry) for one conversation.

    `turns` are (role, text) in order; system and tool turns are ignored.
    """
    turns = list(turns)
    analysed = analyse_user_turns(turns)
    if not analysed:
        return dict.fromkeys(BEHAVIOUR_FACETS, _NO_USER)
    language = _conversation_language(turns)
    return {
        "requests": _describe_requests(analysed, language),
        "responses": _describe_responses(analysed),
        "context": _describe_context(analysed),
        "style": _describe_style(analysed, language),
        "dialog_acts": _describe_dialog_acts(analysed),
    }


@register
class HeuristicAnnotator(Part):
    """Offline, deterministic behaviour descriptions from rules and measured features."""

    kind = "annotator"
    name = "heuristic"
    version = "1"  # bump when a rule changes what any description says

    def params(self) -> dict[str, str]:
        return {"version": self.version}

    def describe(self, corpus: Corpus, *, progress: Progress | None = None) -> pd.DataFrame:
        """One row per conversation: conversation_id and one text per behaviour facet."""
        ids = corpus.conversations["conversation_id"].astype(str).tolist()
        by_conversation = corpus.turns_by_conversation()
        columns: dict[str, list[str]] = {facet: [] for facet in BEHAVIOUR_FACETS}
        total = len(ids)
        for done, cid in enumerate(ids, start=1):
            texts = describe_turns(by_conversation.get(cid, []))
            for facet in BEHAVIOUR_FACETS:
                columns[facet].append(texts[facet])
            if progress is not None and (done % 500 == 0 or done == total):
                progress(done, total)
        return pd.DataFrame({"conversation_id": ids, **columns})
