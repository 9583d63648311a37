from __future__ import annotations

import numpy as np
import pytest

from ftm_assets.search.knn import Neighbour
from ftm_assets.search.retrieval import LEVELS, merge_ranked, parse_levels, search
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.quarter_rows import table_counts

PARAPHRASE = "Cumulative oscillator shipments have reached about two billion units, each with a MEMS resonator"
BUYBACK = "Why did the company not buy back any stock this quarter?"


@pytest.fixture
def conn(warehouse):
    with connect(warehouse.url, autocommit=True) as c:
        yield c


def test_paraphrase_finds_the_known_sentence(conn, encoder, warehouse):
    hits = search(conn, encoder, PARAPHRASE, levels=("sentence",), k=5)
    assert hits[0].id == warehouse.sentence_ids[("SITM", 33)]
    assert "two billion oscillators" in hits[0].text
    buyback = search(conn, encoder, BUYBACK, levels="sentence", k=3)
    assert warehouse.sentence_ids[("HSY", 47)] in [h.id for h in buyback]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)


def test_one_ranked_list_reaches_every_level(conn, encoder):
    hits = search(conn, encoder, "supply chain disruption", quarter="2020Q3", k=10)
    assert {h.level for h in hits} == set(LEVELS)
    assert len(hits) == 10
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].level == "theme" and hits[0].theme.name == "Supply chain resilience"


def test_sentence_hits_carry_their_topic_theme_firm_and_quarter(conn, encoder, warehouse):
    hits = search(conn, encoder, "supply chain disruption", levels=("sentence",), k=25)
    assert len(hits) == 25
    for hit in hits:
        want = warehouse.expected[hit.id]
        assert (hit.firm_id, hit.quarter) == (want["firm_id"], want["quarter"])
        assert hit.firm_name and hit.firm_ids == (want["firm_id"],)
        if want["topic_id"] is None:
            assert hit.topic is None and hit.theme is None
            continue
        assert hit.topic.id == want["topic_id"]
        if want["theme_name"] is None:
            assert hit.theme is None
        else:
            assert hit.theme.name == want["theme_name"]
            assert hit.theme.id == warehouse.theme_ids[want["theme_name"]]
    d = hits[0].to_dict()
    assert set(d["topic"]) == {"id", "label", "summary"} and set(d["theme"]) == {"id", "name"}


def test_outliers_and_unassigned_topics_have_no_parent(conn, encoder, warehouse):
    outlier = next(sid for sid, e in warehouse.expected.items() if e["topic_id"] is None)
    no_theme = next(sid for sid, e in warehouse.expected.items() if e["topic_id"] is not None and not e["theme_name"])
    for sentence_id in (outlier, no_theme):
        text = conn.execute("SELECT text FROM sentences WHERE sentence_id = %s", (sentence_id,)).fetchone()[0]
        hit = search(conn, encoder, text, levels="sentence", k=1)[0]
        assert hit.id == sentence_id and hit.score > 0.99
        assert hit.theme is None
        assert (hit.topic is None) == (sentence_id == outlier)


def test_topic_and_theme_hits_carry_parents_and_best_evidence(conn, encoder, warehouse):
    query_vec = encoder.encode(["supply chain disruption"])[0]
    hits = search(conn, encoder, "supply chain disruption", levels=("theme", "topic"), k=8)
    assert {h.level for h in hits} == {"theme", "topic"}
    topic_of = {tid: key for key, tid in warehouse.topic_ids.items()}
    for hit in hits:
        if hit.level == "topic":
            firm_id, local = topic_of[hit.id]
            assert hit.firm_id == firm_id and hit.topic.id == hit.id
            member_sentences = [sid for sid, e in warehouse.expected.items() if e["topic_id"] == hit.id]
            name = next((n for n, ms in warehouse.theme_members.items() if (firm_id, local) in ms), None)
            assert (hit.theme.name if hit.theme else None) == name
        else:
            assert hit.firm_id is None and hit.theme.id == hit.id
            members = warehouse.theme_members[hit.theme.name]
            assert set(hit.firm_ids) == {f for f, _ in members}
            member_sentences = [sid for sid, e in warehouse.expected.items()
                                if e["theme_name"] == hit.theme.name]
        exact = sorted(member_sentences, key=lambda sid: -float(np.dot(warehouse.embeddings[sid], query_vec)))[:3]
        assert [e.sentence_id for e in hit.evidence] == exact
        assert [e.score for e in hit.evidence] == sorted((e.score for e in hit.evidence), reverse=True)


def test_quarter_filter_keeps_k_in_quarter_hits_even_when_all_top_hits_are_elsewhere(conn, encoder, warehouse):
    unfiltered = search(conn, encoder, "supply chain disruption", levels=("sentence",), k=5)
    assert {h.quarter for h in unfiltered} == {"2020Q3"}  # the best matches are all SiTime's
    hits = search(conn, encoder, "supply chain disruption", quarter="2020Q4", levels=("sentence",), k=5)
    assert len(hits) == 5 and {h.quarter for h in hits} == {"2020Q4"}
    query_vec = encoder.encode(["supply chain disruption"])[0]
    in_quarter = [sid for sid, e in warehouse.expected.items() if e["quarter"] == "2020Q4"]
    exact = sorted(in_quarter, key=lambda sid: -float(np.dot(warehouse.embeddings[sid], query_vec)))[:5]
    assert [h.id for h in hits] == exact
    every_level = search(conn, encoder, "supply chain disruption", quarter="2020Q4", k=10)
    assert {h.quarter for h in every_level} == {"2020Q4"}
    assert all(e.quarter == "2020Q4" for h in every_level for e in h.evidence)


def test_firm_filter(conn, encoder, warehouse):
    hits = search(conn, encoder, "supply chain disruption", firm="HSY", k=10)
    assert len(hits) == 10
    for hit in hits:
        if hit.level == "theme":
            assert "HSY" in hit.firm_ids
            assert all(e.firm_id == "HSY" for e in hit.evidence)
        else:
            assert hit.firm_id == "HSY"
    assert search(conn, encoder, "supply chain", firm="NOPE", k=5) == []


def test_levels_flag_and_validation(conn, encoder):
    assert {h.level for h in search(conn, encoder, "gross margin", levels="topic", k=4)} == {"topic"}
    assert {h.level for h in search(conn, encoder, "gross margin", levels="sentence,theme", k=6)} == {
        "sentence", "theme"}
    assert parse_levels(" sentence , theme ") == ("theme", "sentence")
    with pytest.raises(ValueError, match="levels must be"):
        parse_levels("sentences")
    with pytest.raises(ValueError, match="empty"):
        search(conn, encoder, "   ")
    with pytest.raises(ValueError, match="k must be"):
        search(conn, encoder, "margin", k=0)
    with pytest.raises(ValueError, match="malformed quarter"):
        search(conn, encoder, "margin", quarter="2020-Q3")


@pytest.mark.parametrize("query", [
    "'; DROP TABLE sentences; --",
    'supply "chain" \'quartz\' %s %(q)s {q}',
    "back\\slash \\' \\\\ E'\\x41'",
    "供应链中断 — zürich ünïcødé 🚢",
    ") OR 1=1; DELETE FROM themes WHERE (1=1",
])
def test_injection_looking_queries_are_harmless(conn, encoder, warehouse, query):
    before = table_counts(conn)
    hits = search(conn, encoder, query, quarter="2020Q3", firm="SITM", k=5)
    assert all(h.quarter == "2020Q3" for h in hits)
    assert table_counts(conn) == before
    assert conn.execute("SELECT to_regclass('sentences') IS NOT NULL").fetchone()[0]
    # the same text as a firm filter is just a firm that does not exist
    assert search(conn, encoder, "supply chain", firm=query, k=3) == []


def test_merge_keeps_the_best_of_each_level_and_orders_by_score():
    per_level = {
        "sentence": [Neighbour(1, 0.1), Neighbour(2, 0.15), Neighbour(3, 0.2), Neighbour(4, 0.25)],
        "topic": [Neighbour(10, 0.3), Neighbour(11, 0.5)],
        "theme": [Neighbour(20, 0.6)],
    }
    merged = merge_ranked(per_level, k=4)
    # the best theme (0.4) and topic (0.7) take slots that plain top-4 would give to sentences 3 and 4
    assert [(c.level, c.neighbour.id) for c in merged] == [("sentence", 1), ("sentence", 2), ("topic", 10),
                                                           ("theme", 20)]
    plain = merge_ranked(per_level, k=4, min_per_level=0)
    assert [c.neighbour.id for c in plain] == [1, 2, 3, 4]
    assert len(merge_ranked(per_level, k=2)) == 2
