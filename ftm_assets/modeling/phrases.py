"""Readable names without a language model: short noun phrases taken from the members' own text.

A keyword list ("price / prices / crude") tells a reader little; the phrase the speakers used
("crude oil prices") tells more. ``keyphrase`` expands the best keyword into the longest word
sequence that the texts repeat around it: every contiguous run of up to ``max_words`` words
that holds the keyword, starts and ends on a content word (only "of", "and", "&" may sit
inside) and holds no stop word, number or participant name is counted, and the longest run
said at least ``min_share`` as often as the keyword itself (and at least twice) wins; ties go
to the more frequent run. The surface form is lower case, except tokens the texts write in
capitals (acronyms such as "COVID", "EBITDA"). Adverbs ("certainly", "organically": words in
"-ly" other than a few nouns such as "supply") never enter a name.

``participant_names`` finds the people (and the host firm) of a call: capitalised words of its
boilerplate sentences ("Our next question comes from Juan Perez with Citi.", "Thank you,
Steve.") that never appear in lower case anywhere in the call. They are stop words of that
call's topic keywords, so "juan / steve / dan" never becomes a topic or theme.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

__all__ = ["INNER_WORDS", "keyphrase", "participant_names", "phrase_name", "words_of"]

#: Words allowed inside (never at the edge of) a phrase: "cost of sales", "research and development".
INNER_WORDS = frozenset({"of", "and", "&"})
_WORD = re.compile(r"[A-Za-z][A-Za-z'’&-]*[A-Za-z]|[A-Za-z]|&")
_TITLE = re.compile(r"^[A-Z][a-z-]+$")
_POSSESSIVE = re.compile(r"['’]s$")
#: Words ending in "-ly" that are nouns, not adverbs ("supply chain", not "certainly").
_LY_NOUNS = frozenset(
    {"supply", "july", "italy", "family", "assembly", "rally", "monopoly", "anomaly", "reply", "apply"}
)
# Phrases never run across punctuation: "Key terms: oil, prices" holds no "oil prices".
_CLAUSE_BREAK = re.compile(r"[,.;:!?()\[\]\"“”/]+")


def words_of(text: str) -> list[str]:
    """The words of ``text`` in order, as written (letters, inner apostrophes and hyphens; "&")."""
    return _WORD.findall(text)


def _without_possessive(word: str) -> str:
    return _POSSESSIVE.sub("", word)


def participant_names(texts: Sequence[str], boilerplate: Sequence[bool], firm_name: str = "") -> frozenset[str]:
    """Lower-cased capitalised words of the boilerplate sentences (not sentence-initial) and of
    ``firm_name`` that the call never writes in lower case: the names of the people on the call
    and of the host firm ("Juan", "Citi", "Danaher"; possessives stripped)."""
    lower_seen: set[str] = set()
    candidates = {w.lower() for w in map(_without_possessive, words_of(firm_name)) if _TITLE.match(w)}
    for text, flagged in zip(texts, boilerplate, strict=True):
        for position, raw in enumerate(words_of(text)):
            word = _without_possessive(raw)
            if word[0].islower():
                lower_seen.add(word.lower())
            elif flagged and position > 0 and _TITLE.match(word):
                candidates.add(word.lower())
    return frozenset(candidates - lower_seen)


def _surface(tokens: Sequence[str], upper: Collection[str]) -> str:
    return " ".join(t.upper() if t in upper else t for t in tokens)


def _is_adverb(word: str) -> bool:
    return len(word) > 4 and word.endswith("ly") and word not in _LY_NOUNS


def _runs(words: Sequence[str], max_words: int, excluded: Collection[str]) -> Iterable[tuple[str, ...]]:
    words = ["" if _is_adverb(w) else w for w in words]  # "" is never a phrase word
    excluded = {*excluded, ""}
    for start in range(len(words)):
        if words[start] in excluded or words[start] in INNER_WORDS:
            continue
        for length in range(1, max_words + 1):
            run = words[start : start + length]
            if len(run) < length:
                break
            last = run[-1]
            if last in excluded:
                break
            if last in INNER_WORDS:
                continue
            yield tuple(run)


def keyphrase(
    keywords: Sequence[str],
    texts: Sequence[str],
    excluded: Collection[str],
    *,
    max_words: int = 3,
    min_share: float = 0.3,
    extra_words: Collection[str] = (),
) -> str | None:
    """The phrase of the texts that best names the keywords (see the module docstring), or
    ``None`` when no usable keyword occurs in the texts.

    ``excluded``: lower-case words that may not be part of a phrase (stop words, names). Every
    word of the phrase is a word of some keyword (or an ``INNER_WORDS`` word): the keywords say
    what the topic is about, the texts say in which order people put those words.
    ``extra_words`` widens that vocabulary (a theme's name may use its member topics' keywords:
    "free cash flow" when the theme's own keywords hold "cash" and "free" but not "flow"); the
    phrase still starts from a keyword of ``keywords``.
    """
    lowered, upper = _lowered(texts)
    keyword_words = {t for k in keywords for t in k.lower().split()} | INNER_WORDS
    keyword_words |= {w.lower() for w in extra_words}
    counts: Counter[tuple[str, ...]] = Counter()
    for words in lowered:
        counts.update(run for run in _runs(words, max_words, excluded) if set(run) <= keyword_words)
    for keyword in keywords:
        key = tuple(keyword.lower().split())
        if not key or any(t in excluded or _is_adverb(t) for t in key) or len(key) > max_words:
            continue
        base = counts.get(key, 0)
        if base == 0:
            continue
        threshold = max(2, min_share * base)
        best = key
        for run, n in counts.items():
            if len(run) <= len(key) or n < threshold or not _contains(run, key):
                continue
            if len(run) > len(best) or (len(run) == len(best) and (n, run) > (counts[best], best)):
                best = run
        return _surface(best, upper)
    return None


def _lowered(texts: Sequence[str]) -> tuple[list[list[str]], set[str]]:
    """Lower-cased words of each text, and the words the texts mostly write in capitals."""
    tokenised = [words_of(clause) for text in texts for clause in _CLAUSE_BREAK.split(text)]
    upper_counts: Counter[str] = Counter()
    other_counts: Counter[str] = Counter()
    for words in tokenised:
        for word in words:
            (upper_counts if word.isupper() and len(word) > 1 else other_counts)[word.lower()] += 1
    upper = {w for w, n in upper_counts.items() if n > other_counts[w]}
    return [[w.lower() for w in words] for words in tokenised], upper


def _contains(run: tuple[str, ...], key: tuple[str, ...]) -> bool:
    width = len(key)
    return any(run[i : i + width] == key for i in range(len(run) - width + 1))


def phrase_name(
    keywords: Sequence[str],
    texts: Sequence[str],
    excluded: Collection[str],
    *,
    max_words: int = 3,
    extra_words: Collection[str] = (),
) -> str | None:
    """A short noun phrase naming ``keywords`` from ``texts``: the best keyphrase and, when
    that is a single word, a second one from a keyword it does not contain ("pricing and
    demand"). ``None`` when no keyword occurs in the texts. ``extra_words``: see ``keyphrase``."""
    first = keyphrase(keywords, texts, excluded, max_words=max_words, extra_words=extra_words)
    if first is None:
        return None
    if " " in first:
        return first
    used = set(first.lower().split())
    rest = [k for k in keywords if not set(k.lower().split()) & used]
    # The second phrase shares no word with the first ("pipeline and nordex", never "pipeline
    # and nordex pipeline").
    second = keyphrase(rest, texts, {*excluded, *used}, max_words=max_words, extra_words=extra_words)
    return f"{first} and {second}" if second else first
