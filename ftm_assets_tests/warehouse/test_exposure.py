"""The exposure panel on a real warehouse: values as constructed, sums at most 1, evidence, idempotency."""

from __future__ import annotations

import numpy as np
import pytest

from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.exposure import replace_quarter_exposures, substantive_sentence_counts
from ftm_assets_tests.warehouse.panel_data import SCENARIO, expected_theme_exposures, store_themes

QUARTER = "2020Q2"


def _rows(conn, table: str, key: str) -> dict[tuple, dict]:
    cur = conn.execute(f"SELECT * FROM {table} WHERE quarter = %s", (QUARTER,))
    names = [d.name for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return {(r["firm_id"], r[key]): r for r in rows}


def test_substantive_sentences_leave_out_boilerplate_only(panel):
    with connect(panel.url) as conn, conn.transaction():
        counts = substantive_sentence_counts(conn, QUARTER)
    expected = {f: panel.calls[f].n_substantive for f in SCENARIO[QUARTER]["firms"]}
    assert counts == expected
    # the calls' openings are boilerplate-heavy: the definition matters
    assert all(n < len(panel.calls[f].call.sentences) - 5 for f, n in counts.items())


def test_theme_exposures_are_the_constructed_shares(panel):
    with connect(panel.url, autocommit=True) as conn:
        summary = replace_quarter_exposures(conn, QUARTER)
        rows = _rows(conn, "firm_theme_exposures", "theme_id")
    names = {v: k for k, v in panel.theme_ids[QUARTER].items()}
    expected = expected_theme_exposures(panel.calls, SCENARIO[QUARTER]["themes"])
    got = {(firm, names[theme]): r for (firm, theme), r in rows.items()}
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        assert (r["n_topics"], r["n_sentences"], r["n_substantive_sentences"]) == (
            e["n_topics"], e["n_sentences"], e["n_substantive"]), key
        assert r["exposure"] == pytest.approx(e["exposure"])
    assert summary.theme_rows == len(expected)
    assert summary.firms == 3 and summary.themes == 3
    assert summary.max_exposure == pytest.approx(max(e["exposure"] for e in expected.values()))
    assert summary.mean_exposure == pytest.approx(np.mean([e["exposure"] for e in expected.values()]))


def test_a_firms_exposures_sum_to_at_most_one(panel):
    with connect(panel.url, autocommit=True) as conn:
        for quarter in SCENARIO:
            replace_quarter_exposures(conn, quarter)
        theme_totals = conn.execute("SELECT quarter, firm_id, sum(exposure) FROM firm_theme_exposures"
                                    " GROUP BY quarter, firm_id").fetchall()
        topic_totals = dict(((q, f), t) for q, f, t in conn.execute(
            "SELECT quarter, firm_id, sum(exposure) FROM firm_topic_exposures GROUP BY quarter, firm_id").fetchall())
    assert theme_totals and topic_totals
    for quarter, firm, total in theme_totals:
        assert 0 < total <= topic_totals[(quarter, firm)] + 1e-12 <= 1 + 1e-12
    for (_quarter, firm), total in topic_totals.items():
        pc = panel.calls[firm]
        in_topics = int((pc.topics.assignments >= 0).sum())
        # every topic sentence is substantive; the rest of the share is substantive outliers
        assert total == pytest.approx(in_topics / pc.n_substantive)
        assert total < 1


def test_topic_rows_carry_their_theme_and_representative_evidence(panel):
    with connect(panel.url, autocommit=True) as conn:
        replace_quarter_exposures(conn, QUARTER)
        rows = _rows(conn, "firm_topic_exposures", "topic_id")
        topics = {r[0]: r[1:] for r in conn.execute(
            "SELECT topic_id, firm_id, local_topic_id FROM topics WHERE quarter = %s", (QUARTER,)).fetchall()}
        sentence_ids = {(r[0], r[1]): r[2] for r in conn.execute(
            "SELECT firm_id, sentence_index, sentence_id FROM sentences WHERE quarter = %s", (QUARTER,)).fetchall()}
    assert len(rows) == len(topics)
    theme_of = {(f, t): panel.theme_ids[QUARTER][name] for name, members in SCENARIO[QUARTER]["themes"]
                for f, t in members}
    for (firm, topic_id), r in rows.items():
        _, local = topics[topic_id]
        pc = panel.calls[firm]
        assert r["theme_id"] == theme_of.get((firm, local))
        assert r["n_sentences"] == pc.topic_size(local)
        reps = pc.topics.topics[local].representative_positions
        assert r["evidence_sentence_ids"] == [sentence_ids[(firm, pc.call.sentences[p].sentence_index)] for p in reps]


def test_theme_evidence_is_the_firms_sentences_nearest_the_theme(panel):
    with connect(panel.url, autocommit=True) as conn:
        replace_quarter_exposures(conn, QUARTER, evidence=2)
        rows = _rows(conn, "firm_theme_exposures", "theme_id")
        theme_vectors = {r[0]: r[1].to_numpy() for r in conn.execute(
            "SELECT theme_id, embedding FROM themes WHERE quarter = %s", (QUARTER,)).fetchall()}
        sentences = {r[0]: (r[1], r[2], r[3].to_numpy()) for r in conn.execute(
            "SELECT s.sentence_id, s.firm_id, tt.theme_id, s.embedding FROM sentences s"
            " JOIN topic_themes tt ON tt.topic_id = s.topic_id WHERE s.quarter = %s", (QUARTER,)).fetchall()}
    for (firm, theme), r in rows.items():
        members = [sid for sid, (f, t, _) in sentences.items() if f == firm and t == theme]
        assert len(members) == r["n_sentences"]
        distance = {sid: 1 - float(sentences[sid][2] @ theme_vectors[theme]) for sid in members}
        nearest = sorted(members, key=lambda sid: (distance[sid], sid))[:2]
        assert r["evidence_sentence_ids"] == nearest


def test_replacing_is_idempotent_and_views_join_names(panel):
    with connect(panel.url, autocommit=True) as conn:
        replace_quarter_exposures(conn, QUARTER)
        first = (_rows(conn, "firm_theme_exposures", "theme_id"), _rows(conn, "firm_topic_exposures", "topic_id"))
        replace_quarter_exposures(conn, QUARTER)
        second = (_rows(conn, "firm_theme_exposures", "theme_id"), _rows(conn, "firm_topic_exposures", "topic_id"))
        assert first == second
        panel_rows = conn.execute(
            "SELECT firm_id, firm_name, call_date, theme_id, theme_name, lineage_id, exposure FROM theme_exposure_panel"
            " WHERE quarter = %s", (QUARTER,)).fetchall()
        assert len(panel_rows) == len(first[0])
        for firm, firm_name, call_date, theme_id, theme_name, lineage_id, exposure in panel_rows:
            assert firm_name == panel.calls[firm].call.firm_name and call_date is not None
            assert theme_name == {v: k for k, v in panel.theme_ids[QUARTER].items()}[theme_id]
            assert lineage_id == theme_id  # 2020Q2 starts every lineage
            assert exposure == first[0][(firm, theme_id)]["exposure"]
        n_topic_view = conn.execute("SELECT count(*) FROM topic_exposure_panel WHERE quarter = %s AND topic_label"
                                    " IS NOT NULL", (QUARTER,)).fetchone()[0]
        assert n_topic_view == len(first[1])


def test_replacing_the_themes_clears_the_quarters_exposures_only(panel):
    with connect(panel.url, autocommit=True) as conn:
        for quarter in ("2020Q2", "2020Q3"):
            replace_quarter_exposures(conn, quarter)
        store_themes(conn, panel.calls, QUARTER, SCENARIO[QUARTER]["themes"])
        counts = dict(conn.execute("SELECT quarter, count(*) FROM firm_theme_exposures GROUP BY quarter").fetchall())
        assert counts == {"2020Q3": 5}  # NEE and SR in A and B, ISSC in D
        assert conn.execute("SELECT count(*) FROM firm_topic_exposures WHERE quarter = %s",
                            (QUARTER,)).fetchone()[0] == 0


def test_evidence_must_be_positive(panel):
    with connect(panel.url, autocommit=True) as conn, pytest.raises(ValueError, match="evidence"):
        replace_quarter_exposures(conn, QUARTER, evidence=0)
