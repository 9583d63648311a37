"""Theme lineage: the linking rule on its own, then theme_links on a real warehouse of three quarters."""

from __future__ import annotations

import numpy as np
import pytest

from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.lineage import (
    LinkSettings,
    ThemeProfile,
    firm_overlap,
    match_themes,
    relink_all,
    relink_quarter,
    shift_quarter,
)
from ftm_assets_tests.warehouse.panel_data import SCENARIO, store_themes


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def _profile(theme_id: int, vector: np.ndarray, firms: str = "") -> ThemeProfile:
    return ThemeProfile(theme_id, vector, frozenset(firms.split()))


def test_shift_quarter_and_firm_overlap():
    assert shift_quarter("2020Q1", -1) == "2019Q4"
    assert shift_quarter("2019Q4", 1) == "2020Q1"
    assert shift_quarter("2015Q4", 5) == "2017Q1"
    assert firm_overlap(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert firm_overlap(frozenset(), frozenset()) == 0.0


def test_similar_themes_link_and_dissimilar_ones_do_not():
    prev = [_profile(1, _unit(1, 0, 0)), _profile(2, _unit(0, 1, 0))]
    curr = [_profile(10, _unit(0.95, 0.05, 0)), _profile(11, _unit(0, 0, 1))]
    links = match_themes(prev, curr)
    assert [(link.theme_id, link.prev_theme_id) for link in links] == [(10, 1)]
    assert links[0].similarity == pytest.approx(float(_unit(0.95, 0.05, 0) @ _unit(1, 0, 0)))


def test_shared_firms_lower_the_similarity_needed():
    settings = LinkSettings()
    # cosine 0.7: below min_similarity (0.75), above min_similarity_with_firms (0.65)
    a, b = _unit(1, 0), _unit(0.7, np.sqrt(1 - 0.49))
    assert settings.min_similarity_with_firms <= float(a @ b) < settings.min_similarity
    same_firms = match_themes([_profile(1, a, "X Y")], [_profile(2, b, "X Y Z")], settings)
    other_firms = match_themes([_profile(1, a, "X Y")], [_profile(2, b, "U V W")], settings)
    assert [(link.theme_id, link.prev_theme_id) for link in same_firms] == [(2, 1)]
    assert same_firms[0].firm_overlap == pytest.approx(2 / 3)
    assert other_firms == []


def test_links_are_one_to_one_and_a_split_keeps_the_closer_half():
    prev = [_profile(1, _unit(1, 0, 0))]
    half_close, half_far = _profile(10, _unit(1, 0.1, 0)), _profile(11, _unit(1, 0.3, 0))
    links = match_themes(prev, [half_far, half_close])
    assert [(link.theme_id, link.prev_theme_id) for link in links] == [(10, 1)]
    # and a merge: two previous themes, one successor, which continues the closer one
    merged = match_themes([_profile(1, _unit(1, 0.3, 0)), _profile(2, _unit(1, 0.1, 0))], [_profile(9, _unit(1, 0, 0))])
    assert [(link.theme_id, link.prev_theme_id) for link in merged] == [(9, 2)]


def test_link_settings_are_validated():
    with pytest.raises(ValueError, match="min_similarity must be within"):
        LinkSettings(min_similarity=1.5)
    with pytest.raises(ValueError, match="firm_weight"):
        LinkSettings(firm_weight=-1)


def _links(conn) -> dict[tuple[str, int], tuple]:
    return {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT quarter, theme_id, lineage_id, prev_quarter, prev_theme_id FROM theme_links").fetchall()}


def _assert_no_stale_ids(conn) -> None:
    dangling = conn.execute(
        "SELECT count(*) FROM theme_links l WHERE NOT EXISTS (SELECT 1 FROM themes t WHERE t.theme_id = l.theme_id"
        " AND t.quarter = l.quarter) OR (l.prev_theme_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM themes t"
        " WHERE t.theme_id = l.prev_theme_id AND t.quarter = l.prev_quarter))"
        " OR NOT EXISTS (SELECT 1 FROM themes t WHERE t.theme_id = l.lineage_id)").fetchone()[0]
    assert dangling == 0
    unlinked = conn.execute("SELECT count(*) FROM themes t WHERE NOT EXISTS (SELECT 1 FROM theme_links l"
                            " WHERE l.theme_id = t.theme_id AND l.quarter = t.quarter)").fetchone()[0]
    assert unlinked == 0


def test_three_quarters_link_as_constructed(panel):
    ids = panel.theme_ids
    q2, q3, q4 = (panel.lineage[q] for q in ("2020Q2", "2020Q3", "2020Q4"))
    assert (q2.continued, q2.new, q2.ended, q2.prev_themes) == (0, 3, 0, 0)
    assert (q3.continued, q3.new, q3.ended, q3.prev_themes) == (2, 1, 1, 3)  # A, B go on; D starts; C ends
    assert (q4.continued, q4.new, q4.ended, q4.prev_themes) == (1, 0, 2, 3)  # A goes on; B and D end
    with connect(panel.url, autocommit=True) as conn:
        links = _links(conn)
        a_root = ids["2020Q2"]["A"]
        assert links[("2020Q3", ids["2020Q3"]["A"])] == (a_root, "2020Q2", a_root)
        assert links[("2020Q4", ids["2020Q4"]["A"])] == (a_root, "2020Q3", ids["2020Q3"]["A"])
        assert links[("2020Q3", ids["2020Q3"]["B"])][2] == ids["2020Q2"]["B"]
        d = ids["2020Q3"]["D"]
        assert links[("2020Q3", d)] == (d, None, None)
        similarity = conn.execute("SELECT similarity FROM theme_links WHERE theme_id = %s",
                                  (ids["2020Q4"]["A"],)).fetchone()[0]
        assert similarity == pytest.approx(1.0, abs=1e-5)  # same calls, same member topics
        _assert_no_stale_ids(conn)


def test_rematerializing_a_quarter_relinks_both_neighbours_and_carries_lineage_ids(panel):
    with connect(panel.url, autocommit=True) as conn:
        old = panel.theme_ids["2020Q2"]
        new, counts = store_themes(conn, panel.calls, "2020Q2", SCENARIO["2020Q2"]["themes"])
        assert set(new.values()).isdisjoint(old.values())
        assert (counts.next_themes, counts.next_continued) == (3, 2)
        links = _links(conn)
        a3, a4 = panel.theme_ids["2020Q3"]["A"], panel.theme_ids["2020Q4"]["A"]
        assert links[("2020Q3", a3)] == (new["A"], "2020Q2", new["A"])
        assert links[("2020Q4", a4)][0] == new["A"], "the lineage id reaches two quarters on"
        _assert_no_stale_ids(conn)
        before = _links(conn)
        store_themes(conn, panel.calls, "2020Q3", SCENARIO["2020Q3"]["themes"])
        after = _links(conn)
        # the same themes again: new ids for 2020Q3, same structure everywhere
        assert len(after) == len(before)
        assert {k: v for k, v in after.items() if k[0] == "2020Q2"} == {k: v for k, v in before.items()
                                                                         if k[0] == "2020Q2"}
        _assert_no_stale_ids(conn)


def test_a_quarter_whose_themes_are_gone_ends_every_lineage(panel):
    with connect(panel.url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("DELETE FROM themes WHERE quarter = '2020Q3'")
            counts = relink_quarter(conn, "2020Q3")
        assert (counts.continued, counts.new, counts.ended, counts.next_themes, counts.next_continued) == (0, 0, 3, 1, 0)
        a4 = panel.theme_ids["2020Q4"]["A"]
        assert _links(conn)[("2020Q4", a4)] == (a4, None, None)
        _assert_no_stale_ids(conn)


def test_quarters_stored_without_links_are_linked_first(database_url, panel_calls):
    from ftm_assets_tests.warehouse.panel_data import build_panel_warehouse

    panel = build_panel_warehouse(database_url, panel_calls, with_themes=False)
    with connect(panel.url, autocommit=True) as conn:
        for quarter in ("2020Q2", "2020Q3"):  # as a database of before migration 0004 holds them
            store_themes(conn, panel.calls, quarter, SCENARIO[quarter]["themes"], relink=False)
        assert conn.execute("SELECT count(*) FROM theme_links").fetchone()[0] == 0
        ids4, counts = store_themes(conn, panel.calls, "2020Q4", SCENARIO["2020Q4"]["themes"])
        assert counts.continued == 1
        a2 = conn.execute("SELECT theme_id FROM themes WHERE quarter = '2020Q2' AND name = 'A'").fetchone()[0]
        assert _links(conn)[("2020Q4", ids4["A"])][0] == a2
        _assert_no_stale_ids(conn)
        # relink_all (after a change of settings) gives the same links again
        before = _links(conn)
        assert [c.quarter for c in relink_all(conn)] == ["2020Q2", "2020Q3", "2020Q4"]
        assert _links(conn) == before


def test_trace_lineage_prints_each_quarters_theme_firms_and_exposure(panel, monkeypatch, tmp_path, capsys):
    from ftm_assets.cli import main
    from ftm_assets.search.trace import trace_lineage
    from ftm_assets.warehouse.exposure import replace_quarter_exposures

    with connect(panel.url, autocommit=True) as conn:
        for quarter in SCENARIO:
            replace_quarter_exposures(conn, quarter)
        a3 = panel.theme_ids["2020Q3"]["A"]
        trace = trace_lineage(conn, a3)
        exposures = dict(((r[0], r[1]), r[2]) for r in conn.execute(
            "SELECT theme_id, firm_id, exposure FROM firm_theme_exposures").fetchall())
    a_ids = [panel.theme_ids[q]["A"] for q in SCENARIO]
    assert trace["lineage_id"] == a_ids[0] and trace["quarters"] == list(SCENARIO)
    assert [s["theme_id"] for s in trace["chain"]] == a_ids
    assert [s["prev_theme_id"] for s in trace["chain"]] == [None, *a_ids[:-1]]
    for step in trace["chain"]:
        assert step["name"] == "A"
        members = {f: e for (t, f), e in exposures.items() if t == step["theme_id"]}
        assert {f["firm_id"]: f["exposure"] for f in step["firms"]} == members
        assert [f["exposure"] for f in step["firms"]] == sorted(members.values(), reverse=True)
        assert step["mean_exposure"] == pytest.approx(np.mean(list(members.values())))
    assert {f["firm_id"] for f in trace["chain"][0]["firms"]} == {"NEE", "SR", "MOS"}

    monkeypatch.setenv("FTM_DATABASE_URL", panel.url)
    monkeypatch.setenv("FTM_HOME", str(tmp_path / "home"))
    assert main(["trace", "lineage", str(a3), "--firms", "1"]) == 0
    out = capsys.readouterr().out
    assert f"lineage {a_ids[0]} of theme {a3}: 3 quarter(s), 2020Q2 .. 2020Q4" in out
    assert f"* 2020Q3  theme {a3}: A  [continues theme {a_ids[0]} (similarity" in out
    assert "NextEra Energy" in out or "Spire" in out
    assert "... 2 more (--all)" in out  # 2020Q2: three firms, one listed
    assert main(["trace", "lineage", "999999"]) == 2
    assert "theme 999999 not found" in capsys.readouterr().err


def test_dropping_a_quarter_leaves_no_link_into_it(panel):
    from ftm_assets.warehouse.quarters import drop_quarter

    with connect(panel.url, autocommit=True) as conn:
        drop_quarter(conn, "2020Q3")
        links = _links(conn)
        assert not any(q == "2020Q3" for q, _ in links)
        assert all(prev_quarter != "2020Q3" for _, prev_quarter, _ in links.values())
        a4 = panel.theme_ids["2020Q4"]["A"]
        assert links[("2020Q4", a4)] == (a4, None, None)  # A starts a new chain after the gap
        _assert_no_stale_ids(conn)
