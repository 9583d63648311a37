"""The quarter themes job on a real instance: themes (with lineage metadata) then the exposure panel."""

from __future__ import annotations

import dagster as dg

from ftm_assets.definitions import THEMES_JOB, defs
from ftm_assets.defs.asset_keys import EXPOSURE_PANEL, THEMES
from ftm_assets.defs.partitions import quarter_to_key
from ftm_assets.warehouse.database import connect
from ftm_assets_tests.warehouse.panel_data import PANEL_FIRMS, build_panel_warehouse, load_panel_calls

#: the same four real calls in two consecutive quarters: the same topics, so the same themes
QUARTERS = ("2020Q2", "2020Q3")
#: 16 topics of 4 firms: small clusters allowed, or the quarter may have no theme to link
THEME_CONFIG = {"ops": {"themes": {"config": {"min_cluster_size": 2, "min_cluster_size_at_10k_topics": 0,
                                               "min_cohesion_ratio": 0}}}}


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey, quarter: str) -> dict:
    event = instance.get_latest_materialization_event(key)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[quarter_to_key(quarter)]), limit=1).records
    assert records, f"{key.to_user_string()} not materialized for {quarter}"
    assert event is not None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_themes_job_links_quarters_and_builds_the_exposure_panel(ftm_env, encoder):
    url = ftm_env["database_url"]
    scenario = {q: {"firms": PANEL_FIRMS, "themes": ()} for q in QUARTERS}
    build_panel_warehouse(url, load_panel_calls(encoder), scenario, with_themes=False)
    job = defs.resolve_job_def(THEMES_JOB)
    with dg.instance_for_test() as instance:
        for quarter in QUARTERS:
            result = job.execute_in_process(instance=instance, partition_key=quarter_to_key(quarter),
                                            run_config=THEME_CONFIG)
            assert result.success
        themes_md = {q: _metadata(instance, THEMES, q) for q in QUARTERS}
        panel_md = {q: _metadata(instance, EXPOSURE_PANEL, q) for q in QUARTERS}

    with connect(url, autocommit=True) as conn:
        n_themes = dict(conn.execute("SELECT quarter, count(*) FROM themes GROUP BY quarter").fetchall())
        links = conn.execute("SELECT quarter, count(*) FILTER (WHERE prev_theme_id IS NOT NULL), count(*)"
                             " FROM theme_links GROUP BY quarter ORDER BY quarter").fetchall()
        stats = {r[0]: r[1:] for r in conn.execute(
            "SELECT quarter, count(*), count(DISTINCT firm_id), count(DISTINCT theme_id), avg(exposure), max(exposure)"
            " FROM firm_theme_exposures GROUP BY quarter").fetchall()}
        totals = conn.execute("SELECT max(s) FROM (SELECT sum(exposure) AS s FROM firm_theme_exposures"
                              " GROUP BY quarter, firm_id) x").fetchone()[0]
    assert n_themes["2020Q2"] >= 1 and n_themes["2020Q3"] == n_themes["2020Q2"]
    # the first quarter starts every lineage; the second continues every theme (same topics)
    first, second = themes_md["2020Q2"], themes_md["2020Q3"]
    assert (first["lineage_continued"], first["lineage_new"], first["lineage_ended"]) == (0, n_themes["2020Q2"], 0)
    assert (second["lineage_continued"], second["lineage_new"], second["lineage_ended"]) == (n_themes["2020Q3"], 0, 0)
    assert second["lineage_prev_quarter"] == "2020Q2" and second["lineage_prev_quarter_themes"] == n_themes["2020Q2"]
    assert first["themes"] == n_themes["2020Q2"]  # the asset's own metadata is still there
    assert links == [("2020Q2", 0, n_themes["2020Q2"]), ("2020Q3", n_themes["2020Q3"], n_themes["2020Q3"])]
    for quarter in QUARTERS:
        md = panel_md[quarter]
        rows, firms, themes, mean, peak = stats[quarter]
        assert (md["rows"], md["firms"], md["themes"]) == (rows, firms, themes)
        assert abs(md["mean_exposure"] - float(mean)) < 1e-4 and abs(md["max_exposure"] - float(peak)) < 1e-4
        assert md["max_firm_total_exposure"] <= 1
    assert totals <= 1 + 1e-12
