"""Topic-quality metrics of one firm's topics and of a quarter.

* **Coherence**: NPMI of each topic's top words over the firm's own sentences, averaged over
  the word pairs of a topic, then over the firm's topics.
  ``NPMI(a, b) = log(p(a, b) / (p(a) p(b))) / -log p(a, b)``; a pair that never occurs together
  scores -1, a pair found in every document +1. A document is a window of ``window`` (default 3)
  consecutive sentences of the call, sliding by one: single sentences are so short that most
  pairs of ten top words never share one, and the mean then mostly counts that (see
  docs/quality.md). A sentence "holds" a word when the word is one of its terms as a topic
  vectorizer sees them (uni- to trigrams after stop words, with or without the earnings-call
  stop words) or as a plain vectorizer without stop words does, so keywords of any vectorizer
  variant are found.
* **Diversity**: distinct top words / all top words over the firm's topics (1.0: no word is
  shared between topics).
* **Outlier share**: sentences of the call with no topic (boilerplate sentences count).
* **Boilerplate share**: share of topics that are about the call itself rather than the
  business: at least half of their top words are courtesy/operator words
  (``modeling.boilerplate.BOILERPLATE_STOP_WORDS`` plus ``CALL_LOGISTICS_WORDS``), or at least
  half of their sentences are boilerplate by ``modeling.boilerplate.is_boilerplate``.

``firm_quality`` computes all four for one call; ``quarter_quality`` aggregates firms; the
thresholds the Dagster asset check applies are ``QualityThresholds``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ftm_assets.modeling.boilerplate import BOILERPLATE_STOP_WORDS, is_boilerplate
from ftm_assets.modeling.firm_topics import TOKEN_PATTERN, make_vectorizer
from ftm_assets.modeling.settings import FirmTopicSettings
from ftm_assets.modeling.types import OUTLIER_TOPIC, FirmCall, FirmTopics

__all__ = [
    "CALL_LOGISTICS_WORDS",
    "COURTESY_OPERATOR_WORDS",
    "FirmQuality",
    "QualityThresholds",
    "TopicQuality",
    "adjusted_rand",
    "courtesy_word_share",
    "firm_quality",
    "npmi_coherence",
    "quarter_quality",
    "sentence_terms",
    "sentence_windows",
    "topic_diversity",
]

#: Words about the call rather than the business (the vectorizer does not drop these).
_CALL_LOGISTICS_TEXT = """
    call calls conference teleconference line lines queue webcast replay recorded recording
    participants participant listen listening joining join joined remarks session
    statements forward looking safe harbor harbour sec filings filing gaap reconciliation
    reconciliations press star keypad analyst analysts
"""
CALL_LOGISTICS_WORDS: frozenset[str] = frozenset(_CALL_LOGISTICS_TEXT.split())
#: A top word counts as courtesy/operator language when it is one of these.
COURTESY_OPERATOR_WORDS: frozenset[str] = BOILERPLATE_STOP_WORDS | CALL_LOGISTICS_WORDS

#: A topic is boilerplate when at least this share of its top words, or of its sentences, is.
BOILERPLATE_TOPIC_SHARE = 0.5
#: Top words per topic used for coherence and diversity (the firm stage keeps 10).
DEFAULT_TOP_N = 10
#: Consecutive sentences per coherence document.
DEFAULT_WINDOW = 3


def sentence_terms(texts: Sequence[str]) -> list[frozenset[str]]:
    """The terms of each sentence: uni- to trigrams of the topic vectorizer with and without the
    earnings-call stop words (stop words removed first, so the skip-grams a vectorizer makes are
    there) united with those of a plain vectorizer that keeps stop words, so that the keywords
    of any vectorizer variant compared are found."""
    from sklearn.feature_extraction.text import CountVectorizer

    analyzers = [
        make_vectorizer(FirmTopicSettings(earnings_stop_words=earnings, ngram_max=3)).build_analyzer()
        for earnings in (False, True)
    ]
    analyzers.append(CountVectorizer(ngram_range=(1, 3), token_pattern=TOKEN_PATTERN).build_analyzer())
    return [frozenset().union(*(analyzer(t) for analyzer in analyzers)) for t in texts]


def sentence_windows(terms: Sequence[frozenset[str]], window: int = DEFAULT_WINDOW) -> list[frozenset[str]]:
    """The union of the terms of each run of ``window`` consecutive sentences (sliding by one; one
    document when there are fewer sentences than ``window``)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not terms:
        return []
    return [frozenset().union(*terms[i : i + window]) for i in range(max(1, len(terms) - window + 1))]


def _npmi(n_a: int, n_b: int, n_ab: int, n_docs: int) -> float:
    if n_ab == 0:
        return -1.0
    p_ab = n_ab / n_docs
    if p_ab >= 1.0:
        return 1.0
    return math.log(p_ab / ((n_a / n_docs) * (n_b / n_docs))) / -math.log(p_ab)


def npmi_coherence(top_words: Sequence[str], documents: Sequence[Iterable[str]]) -> float | None:
    """Mean NPMI over all pairs of ``top_words`` with document co-occurrence counted in
    ``documents`` (each an iterable of terms). ``None`` for fewer than two distinct words or no
    documents."""
    words = list(dict.fromkeys(w for w in top_words if w))
    if len(words) < 2 or not documents:
        return None
    docs_with: dict[str, set[int]] = {w: set() for w in words}
    for i, doc in enumerate(documents):
        terms = doc if isinstance(doc, (set, frozenset)) else set(doc)
        for w in words:
            if w in terms:
                docs_with[w].add(i)
    n_docs = len(documents)
    scores = [
        _npmi(len(docs_with[a]), len(docs_with[b]), len(docs_with[a] & docs_with[b]), n_docs)
        for i, a in enumerate(words)
        for b in words[i + 1 :]
    ]
    return float(np.mean(scores))


def topic_diversity(topic_words: Sequence[Sequence[str]]) -> float | None:
    """Distinct words / all words over the topics' top-word lists; ``None`` with no words."""
    words = [w for topic in topic_words for w in topic if w]
    return len(set(words)) / len(words) if words else None


def courtesy_word_share(top_words: Sequence[str]) -> float:
    """Share of ``top_words`` that are courtesy/operator words (a bigram counts when all its
    tokens are); 0.0 for no words."""
    words = [w for w in top_words if w]
    if not words:
        return 0.0
    hits = sum(all(token in COURTESY_OPERATOR_WORDS for token in w.split()) for w in words)
    return hits / len(words)


@dataclass(frozen=True)
class TopicQuality:
    local_topic_id: int
    size: int
    coherence: float | None
    courtesy_word_share: float
    boilerplate_sentence_share: float

    @property
    def boilerplate(self) -> bool:
        return (
            self.courtesy_word_share >= BOILERPLATE_TOPIC_SHARE
            or self.boilerplate_sentence_share >= BOILERPLATE_TOPIC_SHARE
        )


@dataclass(frozen=True)
class FirmQuality:
    """Quality of one firm's topics. Metrics over topics are ``None`` when there are none."""

    firm_id: str
    quarter: str
    n_sentences: int
    n_topics: int
    coherence: float | None
    diversity: float | None
    outlier_share: float
    boilerplate_share: float | None
    topic_outcome: str = "ok"
    topics: tuple[TopicQuality, ...] = field(default=(), repr=False)

    def as_dict(self, *, with_topics: bool = False) -> dict:
        """Plain JSON-ready dict, floats rounded to 4 places."""
        out = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "topics"
        }
        if with_topics:
            out["topics"] = [
                {
                    **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(t).items()},
                    "boilerplate": t.boilerplate,
                }
                for t in self.topics
            ]
        return out


def firm_quality(
    call: FirmCall, topics: FirmTopics, top_n: int = DEFAULT_TOP_N, window: int = DEFAULT_WINDOW
) -> FirmQuality:
    """All metrics of one call's topics (``topics.assignments`` aligned with ``call.sentences``);
    coherence over windows of ``window`` sentences."""
    texts = call.texts
    assignments = np.asarray(topics.assignments)
    if len(assignments) != len(texts):
        raise ValueError(
            f"firm {call.firm_id!r} quarter {call.quarter}: {len(assignments)} topic assignments "
            f"for {len(texts)} sentences"
        )
    documents = sentence_windows(sentence_terms(texts), window) if topics.topics else []
    flagged = np.array([is_boilerplate(t) for t in texts], dtype=bool) if topics.topics else np.zeros(0, bool)
    per_topic = []
    for t in topics.topics:
        members = np.flatnonzero(assignments == t.local_topic_id)
        words = list(t.keywords[:top_n])
        per_topic.append(
            TopicQuality(
                local_topic_id=t.local_topic_id,
                size=len(members),
                coherence=npmi_coherence(words, documents),
                courtesy_word_share=courtesy_word_share(words),
                boilerplate_sentence_share=float(flagged[members].mean()) if len(members) else 0.0,
            )
        )
    scored = [t.coherence for t in per_topic if t.coherence is not None]
    return FirmQuality(
        firm_id=call.firm_id,
        quarter=call.quarter,
        n_sentences=len(texts),
        n_topics=len(per_topic),
        coherence=float(np.mean(scored)) if scored else None,
        diversity=topic_diversity([list(t.keywords[:top_n]) for t in topics.topics]),
        outlier_share=float(np.mean(assignments == OUTLIER_TOPIC)) if len(assignments) else 0.0,
        boilerplate_share=(sum(t.boilerplate for t in per_topic) / len(per_topic)) if per_topic else None,
        topic_outcome=topics.outcome,
        topics=tuple(per_topic),
    )


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 4) if kept else None


def quarter_quality(firms: Sequence[FirmQuality]) -> dict:
    """Aggregate of a quarter's firms: coherence over all topics (mean and 10th percentile),
    diversity averaged over firms, outlier share over all sentences, boilerplate share over
    all topics."""
    topics = [t for f in firms for t in f.topics]
    coherences = [t.coherence for t in topics if t.coherence is not None]
    n_sentences = sum(f.n_sentences for f in firms)
    return {
        "firms": len(firms),
        "firms_with_topics": sum(1 for f in firms if f.n_topics),
        "sentences": n_sentences,
        "topics": len(topics),
        "topics_per_firm": round(len(topics) / len(firms), 2) if firms else None,
        "coherence": _mean(coherences),
        "coherence_p10": round(float(np.percentile(coherences, 10)), 4) if coherences else None,
        "diversity": _mean(f.diversity for f in firms),
        "outlier_share": (
            round(sum(f.outlier_share * f.n_sentences for f in firms) / n_sentences, 4)
            if n_sentences
            else None
        ),
        "boilerplate_share": round(sum(t.boilerplate for t in topics) / len(topics), 4) if topics else None,
    }


def adjusted_rand(truth: Sequence, predicted: Sequence) -> float:
    """Adjusted Rand index of two labellings of the same items (1.0 identical, ~0 random)."""
    from sklearn.metrics import adjusted_rand_score

    if len(truth) != len(predicted):
        raise ValueError(f"labellings differ in length: {len(truth)} vs {len(predicted)}")
    return float(adjusted_rand_score(list(truth), list(predicted)))


@dataclass(frozen=True)
class QualityThresholds:
    """What the per-firm asset check accepts (see docs/quality.md for how they were set)."""

    min_coherence: float = -0.4
    min_diversity: float = 0.8
    max_outlier_share: float = 0.35
    max_boilerplate_share: float = 0.2

    def failures(self, quality: Mapping) -> list[str]:
        """Human-readable reasons why ``quality`` (a ``FirmQuality.as_dict()``) fails; [] if it passes."""
        reasons = []
        if not quality.get("n_topics"):
            reasons.append(f"no topics (outcome {quality.get('topic_outcome', 'unknown')})")
            return reasons
        checks = (
            (
                "coherence",
                quality.get("coherence"),
                lambda v: v >= self.min_coherence,
                f">= {self.min_coherence}",
            ),
            (
                "diversity",
                quality.get("diversity"),
                lambda v: v >= self.min_diversity,
                f">= {self.min_diversity}",
            ),
            (
                "outlier_share",
                quality.get("outlier_share"),
                lambda v: v <= self.max_outlier_share,
                f"<= {self.max_outlier_share}",
            ),
            (
                "boilerplate_share",
                quality.get("boilerplate_share"),
                lambda v: v <= self.max_boilerplate_share,
                f"<= {self.max_boilerplate_share}",
            ),
        )
        for name, value, ok, bound in checks:
            if value is not None and not ok(value):
                reasons.append(f"{name} {value:.3f} (want {bound})")
        return reasons
