"""Q&A chatter topics: firm topics made of content-free utterances, kept out of themes.

A call's Q&A holds many short turns that say nothing about the business ("Todd. Todd.",
"I got two questions. I have three questions.", "Oh, you're back. Micheal your on.", "That's,
that's it for me."). They are not boilerplate sentence by sentence (no courtesy phrase), so
BERTopic can group them into a topic whose keywords are people's names and interjections
("baka / jeanmarc / nice / answering"). Such a topic may stay a firm topic (its sentences are
real), but it must not form or join a cross-firm theme: two firms' chatter embeds alike and
would make a theme named "Awesome and comment".

The rule reads what the themes stage has of a topic (``TopicRef``): its summary's sentences and
its keywords.

* **An empty sentence** has no content word (``MAX_EMPTY_CONTENT_WORDS`` = 0): no word of
  three or more letters that is not a topic stop word (English, courtesy and earnings-call
  framing words), a ``CHATTER_WORDS`` word
  (interjections and Q&A talk: "nice", "awesome", "hear", "comment", "answering"), a spoken
  contraction ("we'll") or a name (below). "Dan, again.", "Carolina, anything you would add to
  that?" and "I got two questions." are empty; "Same sales were down 0.9%." is not.
* **An empty keyword** is made only of ``CHATTER_WORDS`` or of words the topic's sentences
  write only in title case, never in lower case (people's names: "Baka", "Jeanmarc";
  acronyms such as "OXXO" are not counted).
* **A chatter topic** has at least ``MIN_EMPTY_SENTENCE_SHARE`` (0.5) of its sentences empty,
  or at least ``MIN_EMPTY_KEYWORD_SHARE`` (0.6) of its keywords empty (a business topic about
  a named product, "nordex / turbines", keeps its place).

Extractive summaries (no API key) are "Key terms: ..." plus the topic's representative
sentences, so the sentence rule sees the speakers' own words. An LLM summary is prose with
content words, so there only the keyword rule can recognise chatter. Cost: about 60 us a topic.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from functools import lru_cache

from ftm_assets.modeling.phrases import words_of

__all__ = [
    "CHATTER_LABEL",
    "CHATTER_WORDS",
    "INTERJECTIONS",
    "MAX_EMPTY_CONTENT_WORDS",
    "capitalised_only",
    "chatter_score",
    "content_words",
    "is_chatter",
    "is_chatter_sentences",
    "sentences_chatter_score",
    "summary_sentences",
]


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


#: Interjections: never part of any topic label.
INTERJECTIONS: frozenset[str] = _word_set(
    """
    ah oh ooh wow huh hmm er erm eh ahh aha alright awesome nice cool fantastic wonderful
    terrific perfect excellent lovely
    """
)
#: Interjections and Q&A talk that name no subject (beyond the topic stop words).
CHATTER_WORDS: frozenset[str] = INTERJECTIONS | _word_set(
    """
    fine fair exactly absolutely definitely certainly correct true agreed
    hear heard hearing listen comment comments commentary answering answer answered respond
    tell telling told asking ask questions following question follow followup
    mute muted unmute line lines back welcome sir madam buddy gentleman man guy guys folks everybody everyone
    helpful clear clarify clarification color colour detail details quick quickly add adding
    maybe perhaps yeah yep yes nope sure sounds sound happy glad jump jumping
    """
)
#: The label of a chatter topic none of whose keywords is left once names and interjections go.
CHATTER_LABEL = "Q&A exchange"
#: A topic with at least this share of empty sentences, or of empty keywords, is chatter.
MIN_EMPTY_SENTENCE_SHARE = 0.5
MIN_EMPTY_KEYWORD_SHARE = 0.6
#: A sentence with at most this many content words says nothing.
MAX_EMPTY_CONTENT_WORDS = 0
_CALENDAR = _word_set(
    """
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    """
)
_KEY_TERMS = re.compile(r"^\s*Key terms:[^.]*\.\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from ftm_assets.modeling.firm_topics import topic_stop_words

    return frozenset(topic_stop_words()) | CHATTER_WORDS


def summary_sentences(summary: str) -> list[str]:
    """The sentences of a topic summary, without an extractive summary's "Key terms: ..." line."""
    body = _KEY_TERMS.sub("", summary or "")
    return [s for s in _SENTENCE_END.split(body.strip()) if s.strip()]


def content_words(text: str, names: Collection[str] = ()) -> list[str]:
    """Lower-cased words of ``text`` with three or more letters that are neither topic stop
    words, ``CHATTER_WORDS``, spoken contractions ("we'll") nor ``names``."""
    stop = _stop_words()
    words = (t.lower() for t in words_of(text) if "'" not in t and "’" not in t)
    return [w for w in words if len(w) >= 3 and w not in stop and w not in names]


def _is_empty_sentence(text: str, names: Collection[str]) -> bool:
    # No ``is_boilerplate`` here: the firm stage keeps boilerplate out of topics, and its
    # patterns cost ~0.7 ms a topic (minutes at a full quarter's 125,000 topics).
    return len(content_words(text, names)) <= MAX_EMPTY_CONTENT_WORDS


def capitalised_only(texts: Sequence[str]) -> frozenset[str]:
    """Lower-cased words the texts write only in title case (names), never in lower case;
    month and day names are not counted ("July" is a subject, not a person)."""
    title: set[str] = set()
    lower: set[str] = set()
    for text in texts:
        for word in words_of(text):
            if word[0].isupper() and not word.isupper():
                title.add(word.lower())
            elif word[0].islower():
                lower.add(word.lower())
    return frozenset(title - lower - _CALENDAR)


def sentences_chatter_score(sentences: Sequence[str], keywords: Sequence[str]) -> tuple[float, float]:
    """``(empty sentence share, empty keyword share)`` of a topic with these ``sentences`` and
    ``keywords`` (see the module docstring); 0.0 where there are no sentences or no keywords."""
    sentences = [s for s in sentences if s.strip()]
    names = capitalised_only(sentences)
    empty_sentences = sum(_is_empty_sentence(s, names) for s in sentences)
    sentence_share = empty_sentences / len(sentences) if sentences else 0.0
    words = [k.lower().split() for k in keywords if k.strip()]
    empty = [all(w in CHATTER_WORDS or w in names for w in kw) for kw in words]
    keyword_share = sum(empty) / len(empty) if empty else 0.0
    return sentence_share, keyword_share


def chatter_score(summary: str, keywords: Sequence[str]) -> tuple[float, float]:
    """``sentences_chatter_score`` of a topic summary's sentences (``summary_sentences``)."""
    return sentences_chatter_score(summary_sentences(summary), keywords)


def is_chatter(
    summary: str,
    keywords: Sequence[str],
    *,
    min_empty_sentence_share: float = MIN_EMPTY_SENTENCE_SHARE,
    min_empty_keyword_share: float = MIN_EMPTY_KEYWORD_SHARE,
) -> bool:
    """True when the topic (its summary and keywords) is Q&A chatter (see the module docstring)."""
    return is_chatter_sentences(
        summary_sentences(summary),
        keywords,
        min_empty_sentence_share=min_empty_sentence_share,
        min_empty_keyword_share=min_empty_keyword_share,
    )


def is_chatter_sentences(
    sentences: Sequence[str],
    keywords: Sequence[str],
    *,
    min_empty_sentence_share: float = MIN_EMPTY_SENTENCE_SHARE,
    min_empty_keyword_share: float = MIN_EMPTY_KEYWORD_SHARE,
) -> bool:
    """``is_chatter`` of a topic given its sentences (the firm stage has all of them)."""
    sentence_share, keyword_share = sentences_chatter_score(sentences, keywords)
    return sentence_share >= min_empty_sentence_share or keyword_share >= min_empty_keyword_share
