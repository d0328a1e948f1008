"""The cues the heuristic annotator looks for: patterns, word lists and language detection.

Cues are deliberately general (what a human annotator would look for), not phrases of any one
data set. Most run on lowercased text; the few that need case say so by their use. They live
apart from the annotator so that the rules reading them (`heuristic`) stay short enough to read.
"""

from __future__ import annotations

import re


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


WORD = _rx(r"[^\W\d_]+(?:'[^\W\d_]+)?")
LETTER = _rx(r"[^\W\d_]")
SENTENCE_SPLIT = _rx(r"(?<=[.!?])\s+|\n+")
LIST_ITEM = _rx(r"^\s*(?:[-*•]|\d{1,2}[.)]|[a-z][.)])\s+\S")
CODE_FENCE = _rx(r"```|~~~")
LOG_LINE = _rx(
    r"traceback \(most recent call last\)|^\s*file \".*\", line \d+|^\s*at [\w$.<>]+\(.*\)"
    r"|^\s*[\w./-]+:\d+(?::\d+)?:"
    r"|\b\w*(?:error|exception|fault)\b\s*:|^\s*\[?(?:error|warn(?:ing)?|fatal|info|debug)\]?[\s:]"
    r"|\d{1,2}:\d{2}:\d{2}|\b(?:errno|exit code|status code|segmentation fault|stack trace"
    r"|undefined reference|cannot find symbol|syntaxerror|nullpointer)\b|npm err!"
)
# An error word next to machine-made tokens (paths, calls, codes, addresses, "label: " prefixes)
# marks a pasted one-line error, e.g. "Bind for 0.0.0.0:8080 failed" or "result: #DIV/0!".
ERROR_WORD = _rx(
    r"\b(?:error|errno|exception|warning|failed|failure|fatal|traceback|denied|refused|undefined"
    r"|not found|cannot|unable to|timed out|timeout|segmentation|panic)\b|#(?:div/0|n/a|value|ref"
    r"|name)[!?]?"
)
TECH_TOKEN = _rx(
    r"\w+(?:[./:@=]|::|->)\w[\w./:@=-]*|\w+\(|\[\w+\]|\b[A-Z][A-Z_]{2,}\b|#\w+[!/?]|0x[0-9a-f]+"
    r"|\b[a-z]+_\w+|\b\w+: "
)
CODE_LINE = _rx(
    r"^\s*(?:def |class |import |from \S+ import |function |const |let |var |public |private "
    r"|return\b|#include|select .* from |for \(|if \(|while \(|print\(|console\.)"
    r"|[;{}]\s*$|^\s*\w+(?:\.\w+)*\([^)]*\)\s*;?\s*$|^\s{4,}\S|=>|^\s*</?[a-z]+[^>]*>\s*$"
)
CONSTRAINT = _rx(
    r"\b(?:must|should|need to|needs to|has to|have to|make sure|ensure|don'?t|do not|never"
    r"|avoid|without|only|exactly|at least|at most|no more than|no longer than|less than"
    r"|fewer than|maximum|minimum|limit|required|requirements?|mandatory|keep it)\b"
    r"|\b\d+\s*(?:-\s*\d+\s*)?(?:words?|sentences?|paragraphs?|lines?|items?|pages?"
    r"|characters?|chars|bullets?|points?|steps?|examples?|options?|%|percent)\b"
    r"|\b(?:json|csv|yaml|xml|markdown|table|bullet(?:ed)? (?:list|points)|numbered list"
    r"|headings?|subheadings?|title|format(?:ted)?|tone|style|audience|word count)\b"
)
EXAMPLE = _rx(r"\b(?:for example|for instance|e\.g\.|such as|example:|like this:?|sample:)")
QUESTION_START = _rx(
    r"^\W*(?:what|why|how|when|where|which|who|whose|is|are|can|could|would|does|do|did"
    r"|should|will|isn'?t|aren'?t|doesn'?t|shouldn'?t|wouldn'?t)\b"
)
GREETING = _rx(
    r"^\W*(?:hi|hello|hey|hiya|greetings|good (?:morning|afternoon|evening)|dear"
    r"|bonjour|salut|hola|buenos d[ií]as|hallo|guten (?:tag|morgen)|ciao|buongiorno|ol[aá]"
    r"|bom dia|boa tarde|hoi|goedemorgen|goedendag)\b"
)
GRATITUDE = _rx(
    r"\b(?:thanks?|thank you|thx|ty|cheers|appreciated?|grateful|merci|gracias|danke"
    r"|grazie|obrigad[oa]|bedankt|dank je|dank u)\b"
)
GOODBYE = _rx(
    r"\b(?:bye|goodbye|see you|see ya|that'?s all|that is all|that'?s it|that will be all"
    r"|have a (?:nice|good|great) (?:day|one|evening)|take care|au revoir|adi[oó]s|tsch[uü]ss"
    r"|auf wiedersehen|arrivederci|tchau|doei|all set|i'?m (?:done|all good)|nothing else"
    r"|no more questions|that helps|that'?s helpful|that'?s perfect)\b|###stop###"
)
POLITE = _rx(
    r"\b(?:please|pls|plz|kindly|could you|would you|would it be possible|if you (?:don'?t"
    r"|do not) mind|i (?:would|'d) (?:really |greatly )?appreciate|i hope (?:you|this)"
    r"|(?:thanks|thank you)(?: so much)? in advance|sorry to bother|if possible|may i"
    r"|s'il (?:te|vous) pla[iî]t|pourriez-vous|pouvez-vous|por favor|podr[ií]as?|bitte"
    r"|k[öo]nnten sie|per favore|potresti|potrebbe|poderia|alsjeblieft|alstublieft)\b"
)
IMPERATIVE = _rx(
    r"^\W*(?:(?:ok(?:ay)?|now|also|and|then|so|great|nice|cool|good|perfect|alright)\W+)*"
    r"(?:write|make|give|create|explain|tell|list|show|generate|fix|help|add|remove|delete"
    r"|change|translate|summari[sz]e|rewrite|rephrase|convert|find|compare|describe|suggest"
    r"|draft|compose|plan|calculate|solve|design|build|implement|correct|edit|improve"
    r"|shorten|expand|continue|provide|recommend|check|debug|optimi[sz]e|refactor|update"
    r"|use|do|try|keep|redo|include|turn|put|replace|simplify|format|sort|name|define"
    r"|outline|prepare|analy[sz]e|review|proofread|get|send|book|cancel|go|stop|answer)\b"
)
AFFIRM = _rx(
    r"^\W*(?:yes|yeah|yep|yup|sure|ok(?:ay)?|alright|right|correct|exactly|perfect|great"
    r"|good|nice|cool|awesome|sounds good|that works|got it|makes sense|i see|understood"
    r"|oui|s[ií]|ja|sim|d'accord|genau"
    r"|claro|esatto|precies)\b"
)
NEGATE_START = _rx(r"^\W*(?:no|nope|nah|not|non|nein|nee|não|wrong|incorrect)\b")
CORRECTION = _rx(
    r"\b(?:that'?s not|that is not|this is not|it'?s not what|not what i|i didn'?t ask"
    r"|i did not ask|you(?:'re| are) wrong|(?:is|was|are) (?:wrong|incorrect)|that'?s wrong"
    r"|that'?s incorrect|i meant|i said|i asked for|misunderstood|misread|you ignored|you forgot"
    r"|you missed|you didn'?t|you did not|still (?:wrong|not)|doesn'?t (?:work|answer|compile|run)"
    r"|does not (?:work|answer)|didn'?t work|did not work|not correct|not right|isn'?t right"
    r"|^\W*wrong\b|^\W*incorrect\b|^\W*actually,? i (?:meant|said|wanted|asked))"
)
NO_START = _rx(r"^\W*(?:no|nope|nah)\b")
FRUSTRATION = _rx(
    r"!{2,}|\?{2,}|\?!|!\?|\b(?:useless|ridiculous|stupid|terrible|awful|annoying|frustrat\w*"
    r"|ugh+|seriously|come on|wtf|damn|again\?|already (?:told|said|asked|explained)"
    r"|how many times|for the (?:last|third|second|hundredth) time|waste of (?:my )?time"
    r"|pathetic|garbage|nonsense|are you even|can'?t you|why can'?t|why don'?t you|unacceptable"
    r"|hopeless|what is wrong with you|just do|impossible|asap|immediately|at once"
    r"|hurry|instantly|too long|get it done)\b"
)
SELECT = _rx(
    r"\b(?:the (?:first|second|third|last|former|latter) (?:one|option|version)"
    r"|option (?:\d|one|two|three|[abc])\b|i'?ll (?:go with|take|choose|pick)|let'?s go with"
    r"|i (?:choose|pick|prefer|like) the|go with the)\b"
)
ALTS = _rx(
    r"\b(?:another|other (?:options?|ideas?|suggestions?|ones|alternatives?|ways?)"
    r"|something else|alternatives?|different (?:one|option|version|idea|approach|way)"
    r"|more (?:options|ideas|suggestions)|instead)\b"
)
# Edit requests on the last output; stems, so that "adding" and "removve" still count.
REFINE = _rx(
    r"\b(?:make (?:it|them|this|that|the)|more|less|fewer|shorter|longer|simpler|formal|casual"
    r"|concise|detailed|tone|(?:add|remov|delet|drop|chang|replac|rewrit|rephras|reword|tweak"
    r"|adjust|includ|shorten|expand|simplif|edit|bold|split|merg|renam|reorder|number|format"
    r"|polish|condens|trim|cut)\w*"
    r"|another (?:one|option|version)|(?:second|other|different) (?:option|version|one))\b"
)
# A reference back to the answer near the start of a turn ("make it ...", "why is that ...").
ANAPHORA = _rx(
    r"^\W*(?:\w+\W+){0,3}?(?:it|this|that|these|those|them)\b"
    r"|\b(?:the (?:above|previous|last|first|second|third) (?:one|answer|version|step|part|option"
    r"|paragraph|sentence|point)|you (?:said|wrote|mentioned|suggested)|your (?:answer|list"
    r"|version|suggestion|example))\b"
)
# Words users put in front of a new, unrelated request.
SWITCH_CUE = _rx(
    r"\b(?:unrelated|different (?:question|topic|subject|thing)|something else|chang(?:e|ing)"
    r" (?:the )?(?:subject|topic)|new (?:question|topic)|another question|random question"
    r"|on another note|switching gears|off topic|also unrelated)\b"
)
CLARIFY = _rx(
    r"\b(?:what do you mean|what does .{0,40} mean|mean by|why|how come|explain|clarify"
    r"|elaborate|are you sure|what about|in other words|i don'?t understand"
    r"|i do not understand|not sure i follow|confused|which one|step|(?:and|but|what) if)\b"
)
# "I forgot to say: it didn't work before" adds context; it does not correct the answer.
ADDED_CONTEXT = _rx(
    r"\b(?:forgot to (?:say|mention|add)|i should (?:also )?(?:say|mention)|to add)\b"
)
ALSO = _rx(r"\b(?:also|too|as well|next topic)\b")
PURPOSE = _rx(
    r"\b(?:because|so that|in order to|i need (?:it|this) for|for my|the goal is|my goal"
    r"|i'?m trying to|i am trying to|i want to)\b"
)
BACKGROUND = _rx(
    r"^\W*(?:i|my|we|our|me|as an?)\b|\b(?:i'?m|im|i am|i'?ve|i have|i had|i work|i live|i was"
    r"|i used to|i recently|i just|i currently|my|our|we are|we'?re|we have|we live|me and my)\b"
)
COURTESY = _rx(
    "|".join(p.pattern for p in (GREETING, GRATITUDE, GOODBYE, AFFIRM))
    + r"|\b(?:so much|a lot|very much|again|really|great|perfect|awesome|helpful|needed)\b"
)
COURTESY_FILLER = _word_set(
    """that that's this it's everything wonderful super excellent amazing brilliant lovely much
    muito beaucoup mucho molto vielen tante perfeito parfait perfecto perfetto perfekt gracias
    merci danke grazie obrigado obrigada bedankt c'est tout your help time today"""
)
NOT_BACKGROUND = _rx(
    r"\?|\b(?:can you|could you|would you|please|help me|i want|i need|i'?d like|i would like"
    r"|tell me|give me|show me|write|create|make|explain|suggest|i wanted|i meant|i said"
    r"|i asked|i was asking|i hope|thank|thanks)\b"
)
INTENT_CUE = _rx(
    r"\b(?:i want|i need|i'?d like|i would like|help me|i'?m looking for|i am looking for"
    r"|looking to|how (?:do|can|should) i|can you|could you|would you|please)\b"
)
ASSISTANT_OFFER = _rx(
    r"\b(?:would you like|do you want|shall i|should i|want me to|let me know if|can i help"
    r"|anything else)\b"
)
INFORMAL = _rx(
    r"\b(?:u|ur|pls|plz|thx|btw|idk|imo|lol|ya|gonna|wanna|gotta|dont|cant|wont|doesnt|isnt"
    r"|didnt|thats|whats|ive|youre|im|hes|shes|theyre|wasnt|arent|shouldnt|couldnt|wouldnt"
    r"|i)\b|([a-z])\1\1"
)
EMOJI = _rx("[\U0001f300-\U0001faff\u2600-\u27bf]|[:;]-?[)(dp]")

# Words too common to tell one topic from another; everything else of four letters or more
# counts as a content word when judging whether a later request changes the subject.
STOP = _word_set(
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
LANGUAGE_WORDS = {
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
    for language, words in LANGUAGE_WORDS.items():
        for word in words.split():
            languages_of.setdefault(word, []).append(language)
    return {
        word: {language: 1.0 / len(languages) for language in languages}
        for word, languages in languages_of.items()
    }


LANGUAGE_WEIGHTS = _language_weights()
SCRIPTS = (
    ("Japanese", _rx(r"[\u3040-\u30ff]")),
    ("Korean", _rx(r"[\uac00-\ud7af]")),
    ("Chinese", _rx(r"[\u4e00-\u9fff]")),
    ("Russian", _rx(r"[\u0400-\u04ff]")),
    ("Arabic", _rx(r"[\u0600-\u06ff]")),
)

LATIN_MARKS = (
    ("Spanish", _rx(r"[ñ¿¡]")),
    ("Portuguese", _rx(r"[ãõç]|ção|ções")),
    ("German", _rx(r"[ßäöü]")),
    ("French", _rx(r"[êâîôûœ]|[a-z]'(?:est|ai|un|une|il)\b")),
    ("Italian", _rx(r"[ìò]|\bè\b")),
)


def detect_language(text: str, words: list[str]) -> str:
    """The language a turn is written in, English unless another one clearly outweighs it.

    `words` are the turn's lowercased words; scripts and accented letters decide first, then
    function words, each shared word split between the languages that use it.
    """
    scores: dict[str, float] = {}
    if not text.isascii():
        letters = len(LETTER.findall(text)) or 1
        for language, pattern in SCRIPTS:
            if len(pattern.findall(text)) / letters > 0.2:
                return language
        for language, pattern in LATIN_MARKS:
            # Letters one language uses and English never does; capped so a name cannot win.
            scores[language] = min(len(pattern.findall(text)), 2) * 0.75
    for word in words:
        for language, weight in LANGUAGE_WEIGHTS.get(word, {}).items():
            scores[language] = scores.get(language, 0.0) + weight
    english = scores.pop("English", 0.0)
    if not scores:
        return "English"
    best = max(sorted(scores), key=scores.__getitem__)
    # Short fragments carry too few function words to overrule the English default.
    needed = max(1.5, english * 1.5)
    return best if scores[best] >= needed else "English"
