"""The offline heuristic annotator: measured features of the user turns written out as words.

Cues are deliberately general (what a human annotator would look for), not phrases of any one
data set. Nothing of the user's text is copied into a behaviour text, so two conversations that
behave alike on different topics get the same description.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from simgap_core.model import Corpus
from simgap_core.parts import Part, register
from simgap_core.represent import BEHAVIOUR_FACETS, Progress

# --- the heuristic annotator ---------------------------------------------------------------
# Cues are deliberately general (what a human annotator would look for), not phrases of any
# one data set. Most run on lowercased text; the few that need case say so by their use.


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORD = _rx(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_LETTER = _rx(r"[^\W\d_]")
_SENTENCE_SPLIT = _rx(r"(?<=[.!?])\s+|\n+")
_LIST_ITEM = _rx(r"^\s*(?:[-*•]|\d{1,2}[.)]|[a-z][.)])\s+\S")
_CODE_FENCE = _rx(r"```|~~~")
_LOG_LINE = _rx(
    r"traceback \(most recent call last\)|^\s*file \".*\", line \d+|^\s*at [\w$.<>]+\(.*\)"
    r"|^\s*[\w./-]+:\d+(?::\d+)?:"
    r"|\b\w*(?:error|exception|fault)\b\s*:|^\s*\[?(?:error|warn(?:ing)?|fatal|info|debug)\]?[\s:]"
    r"|\d{1,2}:\d{2}:\d{2}|\b(?:errno|exit code|status code|segmentation fault|stack trace"
    r"|undefined reference|cannot find symbol|syntaxerror|nullpointer)\b|npm err!"
)
# An error word next to machine-made tokens (paths, calls, codes, addresses, "label: " prefixes)
# marks a pasted one-line error, e.g. "Bind for 0.0.0.0:8080 failed" or "result: #DIV/0!".
_ERROR_WORD = _rx(
    r"\b(?:error|errno|exception|warning|failed|failure|fatal|traceback|denied|refused|undefined"
    r"|not found|cannot|unable to|timed out|timeout|segmentation|panic)\b|#(?:div/0|n/a|value|ref"
    r"|name)[!?]?"
)
_TECH_TOKEN = _rx(
    r"\w+(?:[./:@=]|::|->)\w[\w./:@=-]*|\w+\(|\[\w+\]|\b[A-Z][A-Z_]{2,}\b|#\w+[!/?]|0x[0-9a-f]+"
    r"|\b[a-z]+_\w+|\b\w+: "
)
_CODE_LINE = _rx(
    r"^\s*(?:def |class |import |from \S+ import |function |const |let |var |public |private "
    r"|return\b|#include|select .* from |for \(|if \(|while \(|print\(|console\.)"
    r"|[;{}]\s*$|^\s*\w+(?:\.\w+)*\([^)]*\)\s*;?\s*$|^\s{4,}\S|=>|^\s*</?[a-z]+[^>]*>\s*$"
)
_CONSTRAINT = _rx(
    r"\b(?:must|should|need to|needs to|has to|have to|make sure|ensure|don'?t|do not|never"
    r"|avoid|without|only|exactly|at least|at most|no more than|no longer than|less than"
    r"|fewer than|maximum|minimum|limit|required|requirements?|mandatory|keep it)\b"
    r"|\b\d+\s*(?:-\s*\d+\s*)?(?:words?|sentences?|paragraphs?|lines?|items?|pages?"
    r"|characters?|chars|bullets?|points?|steps?|examples?|options?|%|percent)\b"
    r"|\b(?:json|csv|yaml|xml|markdown|table|bullet(?:ed)? (?:list|points)|numbered list"
    r"|headings?|subheadings?|title|format(?:ted)?|tone|style|audience|word count)\b"
)
_EXAMPLE = _rx(r"\b(?:for example|for instance|e\.g\.|such as|example:|like this:?|sample:)")
_QUESTION_START = _rx(
    r"^\W*(?:what|why|how|when|where|which|who|whose|is|are|can|could|would|does|do|did"
    r"|should|will|isn'?t|aren'?t|doesn'?t|shouldn'?t|wouldn'?t)\b"
)
_GREETING = _rx(
    r"^\W*(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening)|dear"
    r"|bonjour|salut|hola|buenos d[ií]as|hallo|guten (?:tag|morgen)|ciao|buongiorno|ol[aá]"
    r"|bom dia|boa tarde|hoi|goedemorgen|goedendag)\b"
)
_GRATITUDE = _rx(
    r"\b(?:thanks?|thank you|thx|ty|cheers|appreciated?|grateful|merci|gracias|danke"
    r"|grazie|obrigad[oa]|bedankt|dank je|dank u)\b"
)
_GOODBYE = _rx(
    r"\b(?:bye|goodbye|see you|see ya|that'?s all|that is all|that'?s it|that will be all"
    r"|have a (?:nice|good|great) (?:day|one|evening)|take care|au revoir|adi[oó]s|tsch[uü]ss"
    r"|auf wiedersehen|arrivederci|tchau|doei|all set|i'?m (?:done|all good)|nothing else"
    r"|no more questions|that helps|that'?s helpful|that'?s perfect)\b|###stop###"
)
_POLITE = _rx(
    r"\b(?:please|pls|plz|kindly|could you|would you|would it be possible|if you (?:don'?t"
    r"|do not) mind|i (?:would|'d) (?:really |greatly )?appreciate|i hope (?:you|this)"
    r"|(?:thanks|thank you)(?: so much)? in advance|sorry to bother|if possible|may i"
    r"|s'il (?:te|vous) pla[iî]t|pourriez-vous|pouvez-vous|por favor|podr[ií]as?|bitte"
    r"|k[öo]nnten sie|per favore|potresti|potrebbe|poderia|alsjeblieft|alstublieft)\b"
)
_IMPERATIVE = _rx(
    r"^\W*(?:(?:ok(?:ay)?|now|also|and|then|so|great|nice|cool|good|perfect|alright)\W+)*"
    r"(?:write|make|give|create|explain|tell|list|show|generate|fix|help|add|remove|delete"
    r"|change|translate|summari[sz]e|rewrite|rephrase|convert|find|compare|describe|suggest"
    r"|draft|compose|plan|calculate|solve|design|build|implement|correct|edit|improve"
    r"|shorten|expand|continue|provide|recommend|check|debug|optimi[sz]e|refactor|update"
    r"|use|do|try|keep|redo|include|turn|put|replace|simplify|format|sort|name|define"
    r"|outline|prepare|analy[sz]e|review|proofread|get|send|book|cancel|go|stop|answer)\b"
)
_AFFIRM = _rx(
    r"^\W*(?:yes|yeah|yep|yup|sure|ok(?:ay)?|alright|right|correct|exactly|perfect|great"
    r"|good|nice|cool|awesome|sounds good|that works|got it|makes sense|i see|understood"
    r"|oui|s[ií]|ja|sim|d'accord|genau"
    r"|claro|esatto|precies)\b"
)
_NEGATE_START = _rx(r"^\W*(?:no|nope|nah|not|non|nein|nee|não|wrong|incorrect)\b")
_CORRECTION = _rx(
    r"\b(?:that'?s not|that is not|this is not|it'?s not what|not what i|i didn'?t ask"
    r"|i did not ask|you(?:'re| are) wrong|(?:is|was|are) (?:wrong|incorrect)|that'?s wrong"
    r"|that'?s incorrect|i meant|i said|i asked for|misunderstood|misread|you ignored|you forgot"
    r"|you missed|you didn'?t|you did not|still (?:wrong|not)|doesn'?t (?:work|answer|compile|run)"
    r"|does not (?:work|answer)|didn'?t work|did not work|not correct|not right|isn'?t right"
    r"|^\W*wrong\b|^\W*incorrect\b|^\W*actually,? i (?:meant|said|wanted|asked))"
)
_NO_START = _rx(r"^\W*(?:no|nope|nah)\b")
_FRUSTRATION = _rx(
    r"!{2,}|\?{2,}|\?!|!\?|\b(?:useless|ridiculous|stupid|terrible|awful|annoying|frustrat\w*"
    r"|ugh+|seriously|come on|wtf|damn|again\?|already (?:told|said|asked|explained)"
    r"|how many times|for the (?:last|third|second|hundredth) time|waste of (?:my )?time"
    r"|pathetic|garbage|nonsense|are you even|can'?t you|why can'?t|why don'?t you|unacceptable"
    r"|hopeless|what is wrong with you|just do|impossible|asap|immediately|at once"
    r"|hurry|instantly|too long|get it done)\b"
)
_SELECT = _rx(
    r"\b(?:the (?:first|second|third|last|former|latter) (?:one|option|version)"
    r"|option (?:\d|one|two|three|[abc])\b|i'?ll (?:go with|take|choose|pick)|let'?s go with"
    r"|i (?:choose|pick|prefer|like) the|go with the)\b"
)
_ALTS = _rx(
    r"\b(?:another|other (?:options?|ideas?|suggestions?|ones|alternatives?|ways?)"
    r"|something else|alternatives?|different (?:one|option|version|idea|approach|way)"
    r"|more (?:options|ideas|suggestions)|instead)\b"
)
# Edit requests on the last output; stems, so that "adding" and "removve" still count.
_REFINE = _rx(
    r"\b(?:make (?:it|them|this|that|the)|more|less|fewer|shorter|longer|simpler|formal|casual"
    r"|concise|detailed|tone|(?:add|remov|delet|drop|chang|replac|rewrit|rephras|reword|tweak"
    r"|adjust|includ|shorten|expand|simplif|edit|bold|split|merg|renam|reorder|number|format"
    r"|polish|condens|trim|cut)\w*"
    r"|another (?:one|option|version)|(?:second|other|different) (?:option|version|one))\b"
)
# A reference back to the answer near the start of a turn ("make it ...", "why is that ...").
_ANAPHORA = _rx(
    r"^\W*(?:\w+\W+){0,3}?(?:it|this|that|these|those|them)\b"
    r"|\b(?:the (?:above|previous|last|first|second|third) (?:one|answer|version|step|part|option"
    r"|paragraph|sentence|point)|you (?:said|wrote|mentioned|suggested)|your (?:answer|list"
    r"|version|suggestion|example))\b"
)
# Words users put in front of a new, unrelated request.
_SWITCH_CUE = _rx(
    r"\b(?:unrelated|different (?:question|topic|subject|thing)|something else|chang(?:e|ing)"
    r" (?:the )?(?:subject|topic)|new (?:question|topic)|another question|random question"
    r"|on another note|switching gears|off topic|also unrelated)\b"
)
_CLARIFY = _rx(
    r"\b(?:what do you mean|what does .{0,40} mean|mean by|why|how come|explain|clarify"
    r"|elaborate|are you sure|what about|in other words|i don'?t understand"
    r"|i do not understand|not sure i follow|confused|which one|step|(?:and|but|what) if)\b"
)
# "I forgot to say: it didn't work before" adds context; it does not correct the answer.
_ADDED_CONTEXT = _rx(
    r"\b(?:forgot to (?:say|mention|add)|i should (?:also )?(?:say|mention)|to add)\b"
)
_ALSO = _rx(r"\b(?:also|too|as well|next topic)\b")
_PURPOSE = _rx(
    r"\b(?:because|so that|in order to|i need (?:it|this) for|for my|the goal is|my goal"
    r"|i'?m trying to|i am trying to|i want to)\b"
)
_BACKGROUND = _rx(
    r"^\W*(?:i|my|we|our|me|as an?)\b|\b(?:i'?m|im|i am|i'?ve|i have|i had|i work|i live|i was"
    r"|i used to|i recently|i just|i currently|my|our|we are|we'?re|we have|we live|me and my)\b"
)
_COURTESY = _rx(
    "|".join(p.pattern for p in (_GREETING, _GRATITUDE, _GOODBYE, _AFFIRM))
    + r"|\b(?:so much|a lot|very much|again|really|great|perfect|awesome|helpful|needed)\b"
)
_COURTESY_FILLER = _word_set(
    """that that's this it's everything wonderful super excellent amazing brilliant lovely much
    muito beaucoup mucho molto vielen tante perfeito parfait perfecto perfetto perfekt gracias
    merci danke grazie obrigado obrigada bedankt c'est tout your help time today"""
)
_NOT_BACKGROUND = _rx(
    r"\?|\b(?:can you|could you|would you|please|help me|i want|i need|i'?d like|i would like"
    r"|tell me|give me|show me|write|create|make|explain|suggest|i wanted|i meant|i said"
    r"|i asked|i was asking|i hope|thank|thanks)\b"
)
_INTENT_CUE = _rx(
    r"\b(?:i want|i need|i'?d like|i would like|help me|i'?m looking for|i am looking for"
    r"|looking to|how (?:do|can|should) i|can you|could you|would you|please)\b"
)
_ASSISTANT_OFFER = _rx(
    r"\b(?:would you like|do you want|shall i|should i|want me to|let me know if|can i help"
    r"|anything else)\b"
)
_INFORMAL = _rx(
    r"\b(?:u|ur|pls|plz|thx|btw|idk|imo|lol|ya|gonna|wanna|gotta|dont|cant|wont|doesnt|isnt"
    r"|didnt|thats|whats|ive|youre|im|hes|shes|theyre|wasnt|arent|shouldnt|couldnt|wouldnt"
    r"|i)\b|([a-z])\1\1"
)
_EMOJI = _rx("[\U0001f300-\U0001faff\u2600-\u27bf]|[:;]-?[)(dp]")

# Words too common to tell one topic from another; everything else of four letters or more
# counts as a content word when judging whether a later request changes the subject.
_STOP = _word_set(
    """
    about above after again against also although always another answer anything around
    because been before being below between both but cannot could does doing done down during
    each either else even ever every example few first from further give going good great have
    having help here hers herself himself however into just know last least less like little
    make made many maybe more most much must myself need never next none nothing now often once
    only other ought ours ourselves over own please quite rather really said same should show
    since some something still such sure take tell than thank thanks that their theirs them
    themselves then there these they thing things this those though through thus together too
    under until upon very want well were what whatever when where whether which while who whom
    whose why will with within without would write your yours yourself yourselves okay yeah
    shorter longer simpler version title formal casual tone change add remove rewrite explain
    mean means meant instead actually wrong right correct what's that's it's don't can't i'm
    you're let's there's here's doesn't didn't isn't wasn't won't
    """
)

# Function words per language. Words that are also common English words ("a", "in", "die",
# "come", "no") are left out: a short English turn must not read as foreign.
_LANGUAGE_WORDS = {
    "English": "the and is are you to of in it that for with this my what how can me be on not"
    " do have your was i",
    "French": "le la les des est et je vous une un pour que qui dans pas ne du au avec ce cette"
    " mon ma sur comment pourquoi merci suis c'est j'ai tu il elle nous sont faire peux aider",
    "Spanish": "el la los las es y que de en un una por para con mi como qué cómo estoy pero"
    " más del al gracias puedes quiero tengo hola necesito muy ayudar estoy",
    "German": "der das und ist ich nicht ein eine zu mit für auf wie bitte mein sie es"
    " den dem kannst können danke habe möchte wir auch helfen suche warum",
    "Portuguese": "o os e que de em um uma para com não meu minha como você por obrigado"
    " obrigada está isso da eu preciso quero muito pode estou ajudar",
    "Italian": "il lo la gli le è e che di da un una per con non mio sono questo grazie"
    " puoi posso potresti cosa del della ho voglio vorrei anche aiutare mille",
    "Dutch": "de het een en ik niet van op voor dat je mijn hoe wat kun kunt bedankt"
    " graag zijn ook heb wil helpen zoek",
}


def _language_weights() -> dict[str, dict[str, float]]:
    """word -> {language: weight}; a word shared by k languages counts 1/k for each."""
    languages_of: dict[str, list[str]] = {}
    for language, words in _LANGUAGE_WORDS.items():
        for word in words.split():
            languages_of.setdefault(word, []).append(language)
    return {
        word: {language: 1.0 / len(languages) for language in languages}
        for word, languages in languages_of.items()
    }


_LANGUAGE_WEIGHTS = _language_weights()
_SCRIPTS = (
    ("Japanese", _rx(r"[\u3040-\u30ff]")),
    ("Korean", _rx(r"[\uac00-\ud7af]")),
    ("Chinese", _rx(r"[\u4e00-\u9fff]")),
    ("Russian", _rx(r"[\u0400-\u04ff]")),
    ("Arabic", _rx(r"[\u0600-\u06ff]")),
)

# Cues show early; reading past this many characters of a turn (a pasted file, a long answer)
# would cost time without changing any description.
_ANALYSED_CHARS = 2000

_LATIN_MARKS = (
    ("Spanish", _rx(r"[ñ¿¡]")),
    ("Portuguese", _rx(r"[ãõç]|ção|ções")),
    ("German", _rx(r"[ßäöü]")),
    ("French", _rx(r"[êâîôûœ]|[a-z]'(?:est|ai|un|une|il)\b")),
    ("Italian", _rx(r"[ìò]|\bè\b")),
)


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


def _detect_language(text: str, words: list[str]) -> str:
    scores: dict[str, float] = {}
    if not text.isascii():
        letters = len(_LETTER.findall(text)) or 1
        for language, pattern in _SCRIPTS:
            if len(pattern.findall(text)) / letters > 0.2:
                return language
        for language, pattern in _LATIN_MARKS:
            # Letters one language uses and English never does; capped so a name cannot win.
            scores[language] = min(len(pattern.findall(text)), 2) * 0.75
    for word in words:
        for language, weight in _LANGUAGE_WEIGHTS.get(word, {}).items():
            scores[language] = scores.get(language, 0.0) + weight
    english = scores.pop("English", 0.0)
    if not scores:
        return "English"
    best = max(sorted(scores), key=scores.__getitem__)
    # Short fragments carry too few function words to overrule the English default.
    needed = max(1.5, english * 1.5)
    return best if scores[best] >= needed else "English"


@dataclass(frozen=True, slots=True)
class _UserTurn:
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
) -> _UserTurn:
    n_words = len(full_text.split())
    text = full_text[:_ANALYSED_CHARS]
    lower = text.lower()
    words = _WORD.findall(lower)
    lines = [line for line in text.splitlines() if line.strip()]
    fence = bool(_CODE_FENCE.search(text))
    log_lines = len(_LOG_LINE.findall(lower))
    code_lines = sum(1 for line in lines if _CODE_LINE.search(line))
    log = (
        log_lines >= 2
        or (log_lines >= 1 and (fence or len(lines) >= 3))
        or (bool(_ERROR_WORD.search(lower)) and len(_TECH_TOKEN.findall(text)) >= 3)
    )
    code = fence or code_lines >= 3 or (code_lines >= 2 and code_lines * 2 >= len(lines))
    list_items = len(_LIST_ITEM.findall(lower))
    caps = [w for w in _WORD.findall(text) if len(w) >= 3 and w.isupper()]
    # Capitals in pasted code or logs (CONSTANTS, ERROR) are not shouting.
    shouting = len(caps) >= 2 and len(caps) * 5 >= len(words) and not (log or code)
    frustration = len(_FRUSTRATION.findall(lower)) + (2 if shouting else 0)
    question = "?" in text or "？" in text or bool(_QUESTION_START.search(lower))
    thank = bool(_GRATITUDE.search(lower))
    goodbye = bool(_GOODBYE.search(lower))
    greet = bool(_GREETING.search(lower))
    # What is left once courtesy is taken out decides whether a turn asks for anything; this
    # works in languages the request cues do not cover.
    residue = (
        [
            w
            for w in _WORD.findall(_COURTESY.sub(" ", lower))
            if len(w) >= 4 and w not in _COURTESY_FILLER
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
        and not _ADDED_CONTEXT.search(lower)
        and bool(_CORRECTION.search(lower) or (_NO_START.search(lower) and not assistant_asked))
    )
    negate = after_assistant and (
        correction or frustration >= 2 or bool(_NEGATE_START.search(lower))
    )
    sentences = [s for s in _SENTENCE_SPLIT.split(lower) if s.strip()]
    background = sum(
        1
        for s in sentences
        if _BACKGROUND.search(s)
        and not _NOT_BACKGROUND.search(s)
        and not _CORRECTION.search(s)
        and not _FRUSTRATION.search(s)
    )
    content = {w[:5] for w in words if len(w) >= 4 and w not in _STOP}
    novel = len(content - seen)
    head = sentences[0] if sentences else ""
    anaphora = bool(_ANAPHORA.search(head))
    edit = bool(_REFINE.search(lower))
    request_like = question or bool(_IMPERATIVE.search(lower)) or bool(_INTENT_CUE.search(lower))
    # A new task: announced as such, or a request whose content words are nearly all new and
    # that neither edits, refers back to the last answer, nor adds on ("also ...").
    switch = (
        after_assistant
        and prior_request
        and not correction
        and request_like
        and (
            bool(_SWITCH_CUE.search(lower))
            or (
                len(content) >= 3
                and novel >= 0.8 * len(content)
                and not (anaphora or edit or _ALSO.search(lower))
            )
        )
    )
    # "ok thanks" acknowledges; AFFIRM is agreeing to something asked, or "yes, and ...".
    affirm = (
        after_assistant
        and not negate
        and bool(_AFFIRM.search(lower))
        and ("?" in assistant_text or not courtesy_only)
    )
    greeting_only = greet and len(residue) <= 1 and not question
    # A first message that is more than a greeting is a request even without a request verb
    # ("python sort dict by value").
    intent = not (courtesy_only or greeting_only) and (request_like or not prior_request)
    clarify = bool(_CLARIFY.search(lower))
    # "can you make it shorter?" is an edit request in question form, not a question back.
    refine = (
        after_assistant
        and not switch
        and not clarify
        and (n_words <= 12 or (n_words <= 25 and anaphora))
        and edit
    )
    answers_question = after_assistant and assistant_asked and not question and not courtesy_only
    offer_reply = after_assistant and bool(_ASSISTANT_OFFER.search(assistant_text.lower()))
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
    elif question and (clarify or anaphora) and not _ALSO.search(lower):
        reaction = "asks"
    elif question:
        reaction = "continues"
    elif answers_question:
        reaction = "answers"
    elif affirm:
        reaction = "accepts"
    else:
        reaction = "continues"
    return _UserTurn(
        words=n_words,
        lowercase_start=text.lstrip()[:1].islower(),
        # A list or pasted block ends wherever it ends; its first line shows the writing habit.
        end_punctuation=(lines[0] if len(lines) > 1 else text).rstrip()[-1:] in ".!?)\"':？。",
        code=code and not log,
        log=log,
        list_items=list_items,
        constraints=len(_CONSTRAINT.findall(lower)),
        example=bool(_EXAMPLE.search(lower)),
        question=question,
        greet=greet,
        thank=thank,
        goodbye=goodbye,
        polite=len(_POLITE.findall(lower)),
        imperative=bool(_IMPERATIVE.search(lower)),
        affirm=affirm,
        negate=negate,
        correction=correction,
        frustration=frustration,
        shouting=shouting,
        exclaims="!!" in text,
        informal=len(_INFORMAL.findall(text)),
        emoji=bool(_EMOJI.search(lower)),
        background=background,
        purpose=bool(_PURPOSE.search(lower)),
        select=after_assistant and bool(_SELECT.search(lower)),
        alternatives=after_assistant and bool(_ALTS.search(lower)),
        intent=intent,
        opens=intent and not prior_request,
        switch=switch,
        answers_question=answers_question,
        offer_reply=offer_reply,
        reaction=reaction,
    )


def _analyse(turns: list[tuple[str, str]]) -> list[_UserTurn]:
    seen: set[str] = set()
    analysed: list[_UserTurn] = []
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
        seen.update(w[:5] for w in _WORD.findall(text[:_ANALYSED_CHARS].lower()) if len(w) >= 4)
    return analysed


def _dialog_acts(turn: _UserTurn) -> list[str]:
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


def _opening(turns: list[_UserTurn]) -> _UserTurn:
    """The turn that states the first request (a bare "hi" before it does not count)."""
    return next((t for t in turns if t.opens), turns[0])


def _conversation_language(turns: list[tuple[str, str]]) -> str:
    """The language of all user text together: short turns ("Warum?") carry little evidence."""
    text = "\n".join(text for role, text in turns if role == "user")[:_ANALYSED_CHARS]
    return _detect_language(text, _WORD.findall(text.lower()))


def _describe_requests(turns: list[_UserTurn], language: str) -> str:
    first = _opening(turns)
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


def _describe_responses(turns: list[_UserTurn]) -> str:
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


def _describe_context(turns: list[_UserTurn]) -> str:
    first = _opening(turns)
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


def _tone(turns: list[_UserTurn]) -> str:
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


def _describe_style(turns: list[_UserTurn], language: str) -> str:
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


def _describe_dialog_acts(turns: list[_UserTurn]) -> str:
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
    analysed = _analyse(turns)
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
