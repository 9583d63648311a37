"""Topic-quality metrics on hand-made inputs with known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftm_assets.modeling.types import OUTLIER_TOPIC, CallSentence, FirmCall, FirmTopics, TopicRecord
from ftm_assets.quality.metrics import (
    QualityThresholds,
    adjusted_rand,
    courtesy_word_share,
    firm_quality,
    npmi_coherence,
    quarter_quality,
    sentence_terms,
    sentence_windows,
    topic_diversity,
)


def test_npmi_known_values():
    always_together = [{"a", "b"}, {"a", "b"}, {"c"}, {"d"}]
    assert npmi_coherence(["a", "b"], always_together) == pytest.approx(1.0)
    assert npmi_coherence(["a", "c"], always_together) == pytest.approx(-1.0)  # never together
    independent = [{"a", "b"}, {"a"}, {"b"}, set()]  # p(a)=p(b)=1/2, p(a,b)=1/4
    assert npmi_coherence(["a", "b"], independent) == pytest.approx(0.0)
    # three words: pairs (a,b)=1, (a,c)=-1, (b,c)=-1
    assert npmi_coherence(["a", "b", "c"], always_together) == pytest.approx(-1 / 3)
    # p(a)=3/4, p(b)=1/2, p(a,b)=1/2: log(1/2 / 3/8) / -log(1/2)
    partial = [{"a", "b"}, {"a", "b"}, {"a"}, set()]
    assert npmi_coherence(["a", "b"], partial) == pytest.approx(math.log(4 / 3) / math.log(2))
    assert npmi_coherence(["a"], always_together) is None
    assert npmi_coherence(["a", "a"], always_together) is None  # duplicates count once
    assert npmi_coherence(["a", "b"], []) is None


def test_diversity_and_courtesy_share():
    assert topic_diversity([["a", "b"], ["b", "c"]]) == pytest.approx(0.75)
    assert topic_diversity([["a", "b"], ["c", "d"]]) == 1.0
    assert topic_diversity([]) is None
    # thanks/operator are courtesy words, "call" a call-logistics word, "revenue" is content
    assert courtesy_word_share(["thanks", "operator", "revenue", "call"]) == pytest.approx(0.75)
    assert courtesy_word_share(["conference call", "supply chain"]) == pytest.approx(
        0.5
    )  # bigrams: all tokens
    assert courtesy_word_share([]) == 0.0


def test_sentence_terms_and_windows():
    terms = sentence_terms(["Supply chain costs rose.", "Thank you, operator.", "Freight rates fell."])
    assert {"supply", "chain", "supply chain", "costs"} <= terms[0]
    assert "thank" in terms[1]  # the plain analyzer keeps what the topic vectorizer drops
    windows = sentence_windows(terms, 2)
    assert len(windows) == 2 and windows[0] == terms[0] | terms[1] and windows[1] == terms[1] | terms[2]
    assert sentence_windows(terms, 5) == [terms[0] | terms[1] | terms[2]]
    with pytest.raises(ValueError):
        sentence_windows(terms, 0)


def _call(texts: list[str]) -> FirmCall:
    return FirmCall("ACME", "2024Q1", tuple(CallSentence(i, t) for i, t in enumerate(texts)))


def test_firm_quality_on_a_hand_made_call():
    texts = [
        "Supply chain delays hit freight.",
        "Freight costs and supply chain delays persisted.",
        "Thank you, operator.",
        "Our next question comes from Jane Doe with Big Bank.",
        "Margins improved on pricing.",
        "Pricing lifted margins again.",
        "Something unrelated happened.",
    ]
    topics = FirmTopics(
        topics=(
            TopicRecord(0, ("supply", "chain", "freight"), "supply / chain", 2, (0,)),
            TopicRecord(1, ("margins", "pricing"), "margins / pricing", 2, (4,)),
            TopicRecord(2, ("jane", "bank"), "jane / bank", 2, (2,)),
        ),
        assignments=np.array([0, 0, 2, 2, 1, 1, OUTLIER_TOPIC]),
    )
    q = firm_quality(_call(texts), topics, window=1)
    assert q.n_topics == 3 and q.n_sentences == 7
    assert q.outlier_share == pytest.approx(1 / 7)
    assert q.diversity == 1.0
    supply, margins, operator = q.topics
    assert supply.coherence == pytest.approx(1.0)  # the three words always come together
    assert margins.coherence == pytest.approx(1.0)
    assert operator.boilerplate and not supply.boilerplate  # its sentences are operator lines
    assert q.boilerplate_share == pytest.approx(1 / 3)
    assert q.coherence == pytest.approx(np.mean([t.coherence for t in q.topics]))
    row = q.as_dict(with_topics=True)
    assert row["firm_id"] == "ACME" and len(row["topics"]) == 3 and row["topics"][2]["boilerplate"] is True

    none = firm_quality(_call(texts), FirmTopics((), np.full(7, OUTLIER_TOPIC), outcome="too_few_sentences"))
    assert none.coherence is None and none.diversity is None and none.boilerplate_share is None
    assert none.outlier_share == 1.0 and none.topic_outcome == "too_few_sentences"
    with pytest.raises(ValueError, match="ACME"):
        firm_quality(_call(texts), FirmTopics((), np.zeros(3, dtype=int)))


def test_quarter_quality_and_thresholds():
    texts = ["Freight costs rose.", "Freight costs fell.", "Okay."]
    a = firm_quality(
        _call(texts),
        FirmTopics((TopicRecord(0, ("freight", "costs"), "f", 2, (0,)),), np.array([0, 0, OUTLIER_TOPIC])),
    )
    b = firm_quality(_call(texts), FirmTopics((), np.full(3, OUTLIER_TOPIC), outcome="too_few_sentences"))
    agg = quarter_quality([a, b])
    assert agg["firms"] == 2 and agg["firms_with_topics"] == 1 and agg["topics"] == 1
    assert agg["outlier_share"] == pytest.approx(4 / 6, abs=1e-4)
    assert agg["coherence"] == pytest.approx(1.0) and agg["diversity"] == 1.0
    thresholds = QualityThresholds()
    assert thresholds.failures(a.as_dict()) == []
    assert "no topics" in thresholds.failures(b.as_dict())[0]
    noisy = {**a.as_dict(), "outlier_share": 0.9, "coherence": -0.6}
    reasons = thresholds.failures(noisy)
    assert any(r.startswith("outlier_share 0.900") for r in reasons) and any(
        r.startswith("coherence") for r in reasons
    )


def test_adjusted_rand():
    assert adjusted_rand([0, 0, 1, 1], [5, 5, 7, 7]) == pytest.approx(1.0)  # same partition, other names
    assert adjusted_rand(["x", "x", "y", "y"], [1, 2, 1, 2]) < 0.1
    with pytest.raises(ValueError):
        adjusted_rand([0, 1], [0])
