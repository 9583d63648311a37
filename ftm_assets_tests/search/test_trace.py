from __future__ import annotations

import pytest

from ftm_assets.search.trace import TraceNotFoundError, trace_sentence, trace_theme
from ftm_assets.warehouse.database import connect

VIEWS = ("sentence_lineage", "topic_lineage", "theme_sentences")


@pytest.fixture
def conn(warehouse):
    with connect(warehouse.url, autocommit=True) as c:
        yield c


def test_trace_theme_goes_down_to_every_sentence(conn, warehouse):
    name = "Revenue growth and margins"
    trace = trace_theme(conn, warehouse.theme_ids[name])
    assert trace["theme"]["name"] == name and trace["theme"]["quarter"] == "2020Q3"
    members = warehouse.theme_members[name]
    assert [f["firm_id"] for f in trace["firms"]] == sorted({f for f, _ in members})
    listed = {(f["firm_id"], t["local_topic_id"]) for f in trace["firms"] for t in f["topics"]}
    assert listed == set(members)
    expected_sentences = {sid for sid, e in warehouse.expected.items() if e["theme_name"] == name}
    got = {s["sentence_id"] for f in trace["firms"] for t in f["topics"] for s in t["sentences"]}
    assert got == expected_sentences and trace["n_sentences"] == len(expected_sentences)
    for firm in trace["firms"]:
        for topic in firm["topics"]:
            assert topic["n_sentences"] == len(topic["sentences"])
            assert all(warehouse.expected[s["sentence_id"]]["topic_id"] == topic["topic_id"]
                       for s in topic["sentences"])
            indexes = [s["sentence_index"] for s in topic["sentences"]]
            assert indexes == sorted(indexes)


def test_trace_theme_caps_sentences_but_counts_them_all(conn, warehouse):
    full = trace_theme(conn, warehouse.theme_ids["Revenue growth and margins"])
    capped = trace_theme(conn, warehouse.theme_ids["Revenue growth and margins"], sentences_per_topic=2)
    none = trace_theme(conn, warehouse.theme_ids["Revenue growth and margins"], sentences_per_topic=0)
    for trace in (capped, none):
        assert trace["n_sentences"] == full["n_sentences"]
    assert all(len(t["sentences"]) <= 2 for f in capped["firms"] for t in f["topics"])
    assert all(t["sentences"] == [] and t["n_sentences"] > 0 for f in none["firms"] for t in f["topics"])


def test_trace_sentence_goes_up_and_across_firms(conn, warehouse):
    name = "Revenue growth and margins"
    firm_id, local = next(m for m in warehouse.theme_members[name] if m[0] == "HSY")
    sentence_id = next(sid for sid, e in warehouse.expected.items()
                       if e["firm_id"] == firm_id and e["local_topic_id"] == local)
    trace = trace_sentence(conn, sentence_id)
    assert trace["sentence"]["sentence_id"] == sentence_id and trace["sentence"]["firm_id"] == "HSY"
    assert trace["sentence"]["firm_name"] == "The Hershey Company"
    assert trace["topic"]["topic_id"] == warehouse.topic_ids[(firm_id, local)]
    assert trace["theme"]["theme_id"] == warehouse.theme_ids[name]
    others = {f["firm_id"]: {t["topic_id"] for t in f["topics"]} for f in trace["other_firms"]}
    assert others == {"SITM": {warehouse.topic_ids[m] for m in warehouse.theme_members[name] if m[0] == "SITM"}}


def test_trace_sentence_of_an_outlier_and_unknown_ids(conn, warehouse):
    outlier = next(sid for sid, e in warehouse.expected.items() if e["topic_id"] is None)
    trace = trace_sentence(conn, outlier)
    assert trace["topic"] is None and trace["theme"] is None and trace["other_firms"] == []
    with pytest.raises(TraceNotFoundError, match="sentence 999999 not found"):
        trace_sentence(conn, 999_999)
    with pytest.raises(TraceNotFoundError, match="theme 999999 not found"):
        trace_theme(conn, 999_999)


def test_views_are_documented_and_agree_with_the_tables(conn):
    for view in VIEWS:
        comment = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')", (view,)).fetchone()[0]
        assert comment and "Example" in comment
    n_sentences = conn.execute("SELECT count(*) FROM sentences").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM sentence_lineage").fetchone()[0] == n_sentences
    in_themes = conn.execute(
        "SELECT count(*) FROM sentences s JOIN topic_themes tt ON tt.topic_id = s.topic_id").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM theme_sentences").fetchone()[0] == in_themes
