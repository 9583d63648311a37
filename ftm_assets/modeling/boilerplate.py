"""Recognise courtesy, operator and safe-harbor sentences of an earnings call.

Such sentences ("Thank you, Mike.", "Our next question comes from X with Y.", "Please go
ahead.", "Actual results may differ materially...") are frequent and near-identical across
calls, so if they reach the topic model they form a "thanks / question / morning" topic in
every firm. The firm-topic stage therefore drops them before fitting (they get the outlier
topic), and adds ``BOILERPLATE_STOP_WORDS`` to the vectorizer's English stop words so that the
remaining words of that kind never become keywords.

Two plain, inspectable rules, no model:

1. **Phrase patterns** (searched anywhere in the sentence): operator hand-offs and queue
   instructions, call openings and closings, forward-looking-statement and safe-harbor
   language.
2. **Courtesy-only sentences**: the sentence holds a courtesy marker (thank, good morning,
   welcome, congratulations, ...) and, once courtesy words and function words are removed,
   what is left is at most three capitalised words, i.e. names ("Thanks for taking my
   question, Jason."). A courtesy opener followed by a real question ("Thanks, how should we
   think about margins?") keeps its lower-case content words and is *not* boilerplate.

The patterns were written against hand-picked lines of the Earnings-21 corpus; the tests hold
both the lines that must match and substantive lines that must not.
"""

from __future__ import annotations

import re

__all__ = ["BOILERPLATE_STOP_WORDS", "EARNINGS_CALL_STOP_WORDS", "is_boilerplate"]


def _word_set(words: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated block of words (easier to read than a literal)."""
    return frozenset(words.split())


#: Words added to the English stop words of the topic vectorizer: courtesy, operator and
#: spoken-filler words that carry no topic ("you know", "kind of", "I mean"), and spoken
#: contractions as BERTopic's c-TF-IDF sees them once it strips punctuation ("that's" -> thats).
BOILERPLATE_STOP_WORDS: frozenset[str] = _word_set(
    """
    thank thanks thanking question questions operator morning afternoon evening good please
    hi hello hey welcome ladies gentlemen everybody guys folks yeah yes okay ok great sure
    congratulations congrats appreciate appreciated ahead
    just know think kind sort like really actually obviously basically mean maybe little bit
    lot gonna wanna gotta going want say said look looking thing things right yep um uh
    got gotcha guess sorry chief officer vice president ceo cfo
    hope answered answers apologies apologize apologise wish wishing
    thats weve dont ill im ive youve youre wouldnt theres lets doesnt didnt isnt arent wasnt
    werent cant wont id youd hes shes theyre theyve theyll youll wed shouldnt couldnt havent
    hasnt hadnt whats heres
    """
)

#: Words that frame what every earnings call says rather than what it is about: reporting
#: periods and units ("quarter", "million", "year"), spoken connectives ("continue", "mentioned",
#: "come") and vague qualifiers ("strong", "significant", "different"). Picked from the words
#: found in at least ~70 % of the 42 Earnings-21 calls (after English and courtesy stop words),
#: keeping every word that names a subject (revenue, margin, demand, cash, debt, covid, supply,
#: customers, pricing, ...). Used as topic stop words with ``earnings_stop_words`` (default on).
EARNINGS_CALL_STOP_WORDS: frozenset[str] = _word_set(
    """
    quarter quarters quarterly year years yearly month months week weeks day days today
    million millions billion billions thousand percent percentage basis points point
    first second third fourth half end ending period periods date time
    ll ve don didn doesn isn wasn aren won re
    continue continued continues continuing mentioned mention include including included
    includes impact impacted expect expected expecting believe come coming comes came
    did does doing make making made need needed let ask asked answer turn turning talk
    talked talking provide provided use used using seen saw seeing taking take took
    start started starting able given based way place case course couple hand note
    new current currently future recent recently prior past ago earlier early later
    overall total additional different certain significant significantly key important
    strong better best big large high higher low lower long term terms level levels
    number result results performance business company companies working work worked
    moving move getting trying wanted feel having thinking probably pretty especially
    particularly primarily approximately compared versus despite far real add added
    help helped update potential driven related available non gaap
    """
)

# (?i:...) scopes case-insensitivity so that a few patterns can require a capitalised name.
_PHRASE_PATTERNS: tuple[str, ...] = (
    # --- operator: queue instructions and hand-offs -------------------------------------
    r"(?i:\bpress(?:ing)?\s+(?:the\s+)?(?:star|start|pound)\b|\b(?:press|is)\s+\*\s*\d|\bkeypad\b)",
    r"(?i:\bstar\s+(?:key|then|and|one|two|zero|1|2|0)\b)",
    r"(?i:\btouch[- ]?tone\b)",
    r"(?i:\bconference\s+specialist\b|\boperator\s+assistance\b|\bconfirmation\s+tone\b)",
    r"(?i:\bquestion\s+queue\b|\bwithdraw\s+your\s+question\b)",
    r"(?i:\bplease\s+stand\s+by\b|\b(?:q\s*&\s*a|question)\s+roster\b|^\W*please\s+ask\s+(?:a|your)\s+question)",
    # "From Morgan Stanley, we have Josh Smith." (operator); audio trouble
    r"(?i:^\W*(?:and\s+)?from\s+(?-i:[A-Z])[^,]{1,40},\s+we\s+have\b)",
    r"(?i:\bmute\b|\bcan\s+you\s+hear\s+(?:me|us)\b|\bcan(?:'t|not)\s+hear\s+(?:you|us|me)\b)",
    # "With me today are Jane Doe, our Chief Executive Officer, and ..." (who is on the call)
    r"(?i:^\W*(?:and\s+)?(?:also,?\s+)?(?:with\s+(?:me|us)|joining\s+(?:me|us)|presenting|speaking|"
    r"participating\s+with\s+me|on\s+the\s+call|i'?m\s+(?:joined|accompanied)|we\s+are\s+(?:also\s+)?joined|"
    r"we\s+have\s+(?-i:[A-Z]))\b.{0,200}?\b(?:chief\s+\w+\s+officer|ceo|cfo|coo|president|chairman|treasurer|controller|"
    r"head\s+of\s+investor)\b)",
    r"(?i:\bintroduce\b.{0,60}\b(?:chief\s+\w+\s+officer|ceo|cfo|president)\b)",
    r"(?i:\byour\s+line\s+(?:is|has\s+been)\s+(?:now\s+)?(?:open|unmuted|live)\b|\byour\s+line'?s\s+open\b)",
    r"(?i:\bplease,?\s+(?:go\s+ahead|proceed)\b)",
    r"(?i:\bquestion[- ]and[- ]answers?\s+(?:session|portion|period)\b|\bq\s*&\s*a\s+(?:session|portion)\b)",
    r"(?i:\bbe\s+(?:your|the)\s+(?:conference\s+)?(?:operator|moderator|facilitator|coordinator)\b)",
    r"(?i:\b(?:no|any)\s+(?:further|more|other)\s+questions?\b|\bfloor\s+is\s+(?:now\s+)?open\b)",
    r"(?i:\b(?:take|move\s+on\s+to|go\s+to|move\s+to|proceed\s+(?:to|with))\s+(?:our|the)\s+"
    r"(?:next|first|last|final)\s+question\b)",
    r"(?i:\bline\s+(?:has\s+)?(?:gone\s+idle|disconnected|dropped)\b)",
    r"(?i:\blimit\b.{0,40}\bquestions?\b.{0,40}\b(?:one|two|per)\b|\bone\s+question\s+per\b)",
    # "Our next question comes from the line of Jason English with Goldman Sachs."
    r"(?i:\b(?:our|your|the|this|next|another|(?:we\s+(?:also\s+)?have|take)\s+(?:your|our|an?other|a))\s+"
    r"(?:(?:next|first|last|final|following|second|third)\s+)?question\s+(?:today\s+)?"
    r"(?:this\s+morning\s+|this\s+afternoon\s+)?"
    r"(?:(?:will\s+)?(?:comes?|is\s+coming|is|will\s+be|come)\s+(?:to\s+you\s+)?)?"
    r"(?:(?:from|form)\s+)+(?:(?:done|asked)\s+by\s+)?(?:(?:the\s+)?line\s+(?:of\s+)?|an?\s+)?)[A-Z]",
    r"(?i:\bcomes?\s+(?:from|form)\s+(?:the\s+)?line\s+of\b)",
    r"(?i:^\s*(?:\w+,?\s+)?(?:in\s+)?(?:our|the)?\s*(?:next|first|last|final)\s+question\s*(?:,\s*)?"
    r"(?:is|comes)?\s*(?:from\s+)?)[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)?\s*[.,]?\s*$",
    r"(?i:^\s*(?:\w+,?\s+)?next\s+question\s*[,.]?\s*(?:please)?\s*[.!?]?\s*$)",
    r"(?i:\b(?:open|opening)\s+(?:up\s+)?(?:the\s+)?(?:call|line|lines|floor)\s+(?:up\s+)?(?:for|to)\s+"
    r"(?:any\s+)?questions\b)",
    r"(?i:^\s*(?:\w+,?\s+)?operator\s*[,.!]|^\s*(?:\w+,?\s+){0,3}operator\s*[.!?]?\s*$)",
    # --- call opening and closing ---------------------------------------------------------
    r"(?i:\bwelcome,?\s+(?:(?:everyone|all|everybody),?\s+)?to\s+(?:the\s+|our\s+|today'?s\s+)?.{0,120}"
    r"\b(?:call|conference|teleconference|webcast|presentation|meeting|results|earnings|discussion)s?\b)",
    r"(?i:\bthank\s+you\s+for\s+standing\s+by\b|\bthis\s+call\s+is\s+being\s+recorded\b)",
    r"(?i:\b(?:conference|call|event|webcast)\s+is\s+(?:now\s+)?(?:being\s+)?(?:recorded|over|concluded)\b)",
    r"(?i:\b(?:conference|call|webcast)\b.{0,40}\bbe(?:ing)?\s+recorded\b)",
    r"(?i:\b(?:thanks?|appreciate)\b.{0,40}\b(?:join(?:ing)?\s+us|for\s+joining)\b)",
    r"(?i:\byou\s+may\s+(?:now\s+)?(?:begin|proceed)\b|\bpick\s+up\s+(?:your|the)\s+handsets?\b)",
    r"(?i:\bhave\s+a\s+(?:good|great|nice|wonderful)\s+(?:day|evening|weekend|afternoon|one)\b)",
    r"(?i:^\s*(?:i\s+am|i'm|my\s+name\s+is)\b.{0,60}\boperator\b)",
    r"(?i:\b(?:this|that)\s+(?:does\s+)?concludes?\s+(?:today'?s|the|our|this)\b)",
    r"(?i:\byou\s+may\s+(?:now\s+)?disconnect\b|\breplay\s+of\s+(?:this|today'?s)\b)",
    r"(?i:\bend\s+of\s+(?:our|the|today'?s)\s+(?:planned\s+)?(?:session|call|conference|question)\b)",
    r"(?i:\bthank\s+you\s+(?:all\s+)?for\s+(?:your\s+)?(?:participation|participating|joining|attending)\b)",
    r"(?i:\bthanks?\s+(?:you\s+)?(?:everyone|all|everybody)\s+for\s+(?:joining|participating|attending|listening)\b)",
    r"(?i:\blook(?:ing)?\s+forward\s+to\s+(?:speaking|talking|seeing|updating|catching\s+up)\s+(?:with\s+)?"
    r"(?:you|all|everyone).{0,60}\b(?:call|quarter|soon|months|year)\b)",
    r"(?i:\bclosing\s+(?:remarks|comments)\b)",
    r"(?i:\b(?:does|did)\s+(?:that|this)\s+answer\s+your\s+question\b)",
    # --- safe harbor ------------------------------------------------------------------------
    r"(?i:\bforward[- ]looking\s+(?:statements?|information)\b)",
    r"(?i:\bsafe[- ]harbou?r\b)",
    r"(?i:\bdiffer\s+materially\b)",
    r"(?i:\b(?:undertake|assume)s?\s+no\s+(?:obligation|duty)\b)",
    r"(?i:\b(?:filed|filings?)\s+with\s+the\s+(?:sec|securities\s+and\s+exchange\s+commission)\b)",
    r"(?i:\bnon[- ]?\s*gaap\s+(?:financial\s+)?measures?\b.{0,120}\b(?:reconcil|this\s+(?:conference\s+)?call))",
    r"(?i:\breconciliations?\s+(?:of|to)\b.{0,80}\bnon[- ]?gaap\b)",
)
_PHRASE_RE = re.compile("|".join(f"(?:{p})" for p in _PHRASE_PATTERNS))

# Patterns that mark boilerplate only in a sentence of at most so many words. A hand-off may
# also be the side clause of a substantive sentence ("Before I turn it over to Q&A, I'd like to
# update you on our diversity initiatives..."), so it counts only when the sentence does not
# open with "before/as/after" and is not long; "go ahead" only in a short exchange.
_SHORT_SENTENCE_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\bgo\s+ahead\b", re.IGNORECASE), 8),
    # Q&A courtesies, only as a short sentence of their own: "Hope that answers your question.",
    # "Apologies, I was on mute." ("We hope this helps customers cut costs ..." is longer).
    (
        re.compile(
            r"\bhope\s+(?:that|this|it|i)\s+(?:\w+\s+)?(?:answers?|answered|helps?|helped|clarifies)\b",
            re.IGNORECASE,
        ),
        12,
    ),
    (re.compile(r"^\W*(?:my\s+)?apolog(?:ies|ize|ise)\b", re.IGNORECASE), 12),
    (
        re.compile(
            r"^(?!\W*(?:before|as|after)\b).*?"
            r"\b(?:turn|hand|pass)(?:ing)?\s+(?:the\s+(?:call|conference|floor|line|meeting|program)|it|things)"
            r"\s+(?:back\s+)?(?:over\s+)?(?:to|back)\b",
            re.IGNORECASE,
        ),
        35,
    ),
)

_COURTESY_MARKER_RE = re.compile(
    r"\b(?:thank|thanks|thx|good\s+(?:morning|afternoon|evening|day)|hello|hi|hey|greetings|welcome|"
    r"congratulations|congrats|appreciate|cheers|stay\s+safe|"
    r"(?:good|great|fair|excellent|interesting|reasonable)\s+question)\b",
    re.IGNORECASE,
)

# Words a courtesy-only sentence may consist of (besides names). Lower-case on purpose.
_COURTESY_WORDS: frozenset[str] = _word_set(
    """
    thank thanks thx you very much so lot again good morning afternoon evening day hello hi hey
    greetings welcome congratulations congrats appreciate appreciated it that cheers stay safe
    healthy well everyone everybody all guys folks ladies gentlemen team management and also
    yeah yes yep okay ok great sure perfect excellent wonderful terrific fantastic nice fine
    alright right got understood clear helpful useful color colour detail details answer answers
    answering taking take question questions time opportunity presentation update updates call
    participation participating interest joining joined having letting hosting squeezing fitting sneaking
    both best luck of clarification clarifying additional perspective support ongoing encouragement
    attention listeners listening audience president comment comments discussion allowing progress
    quarter results execution strong solid such happy new year not sorry how are doing hope you're
    but those every warm phone record fair interesting reasonable another no
    sir madam mr mrs ms dr operator from my side participants everyone's as always too
    for the a an of on in to me us our your this that today today's tonight now us
    be being is was will would could can i we you i'm we're you're it's that's
    let do did again indeed really just quick quickly follow up follow-up followup
    one two there here with
    """
)

_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’.-]*")
_MAX_NAME_TOKENS = 3


def _is_courtesy_only(text: str) -> bool:
    if not _COURTESY_MARKER_RE.search(text):
        return False
    leftovers = []
    for raw in _TOKEN_RE.findall(text):
        token = raw.strip(".-'’")
        # "Thank you v- Thank you": a cut-off word fragment carries nothing.
        if not token or raw.endswith("-") or token.lower().replace("’", "'") in _COURTESY_WORDS:
            continue
        leftovers.append(token)
    # What is left may only be names: capitalised and few. A lower-case content word means
    # the sentence carries substance after its courtesy opener.
    return len(leftovers) <= _MAX_NAME_TOKENS and all(t[0].isupper() for t in leftovers)


def is_boilerplate(text: str) -> bool:
    """True when ``text`` is a courtesy, operator or safe-harbor sentence with no topic content.

    See the module docstring for the two rules. Empty or whitespace-only text counts as
    boilerplate (it can carry no topic either).
    """
    stripped = text.strip()
    if not stripped:
        return True
    if _PHRASE_RE.search(stripped):
        return True
    n_words = len(stripped.split())
    if any(
        n_words <= max_words and pattern.search(stripped) for pattern, max_words in _SHORT_SENTENCE_PATTERNS
    ):
        return True
    return _is_courtesy_only(stripped)
