"""``ftm export`` on a real warehouse: files written, read back, joined; idempotent; S3 through moto."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from ftm_assets.cli import main
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.export import TABLE_NAMES, ExportError, export_quarters
from ftm_assets.warehouse.exposure import replace_quarter_exposures
from ftm_assets_tests.warehouse.panel_data import SCENARIO, call_date

QUARTERS = tuple(SCENARIO)


@pytest.fixture
def exported_panel(panel, monkeypatch, tmp_path):
    """The panel with its exposure panels, and the CLI pointed at it."""
    with connect(panel.url, autocommit=True) as conn:
        for quarter in QUARTERS:
            replace_quarter_exposures(conn, quarter)
    monkeypatch.setenv("FTM_DATABASE_URL", panel.url)
    monkeypatch.setenv("FTM_HOME", str(tmp_path / "ftm_home"))
    return panel


def _read(out: Path, fmt: str) -> dict[str, pd.DataFrame]:
    """Each table folder read back as one dataset (all quarters); CSV list columns decoded."""
    tables = {}
    for name in TABLE_NAMES:
        if fmt == "parquet":
            df = pd.read_parquet(out / name)
        else:
            df = pd.concat([pd.read_csv(p, dtype={"call_date": str}) for p in sorted((out / name).glob("*.csv"))],
                           ignore_index=True)
            for col in ("keywords", "evidence_sentence_ids"):
                if col in df:
                    df[col] = df[col].map(lambda v: json.loads(v) if isinstance(v, str) else None)
        tables[name] = df
    return tables


def _check_joins(t: dict[str, pd.DataFrame], panel) -> None:
    firms, themes, topics, assign = t["firms"], t["themes"], t["topics"], t["sentence_topics"]
    theme_exp, topic_exp = t["firm_theme_exposures"], t["firm_topic_exposures"]
    assert sorted(firms.quarter.unique()) == list(QUARTERS)
    for quarter in QUARTERS:
        assert set(firms[firms.quarter == quarter].firm_id) == set(SCENARIO[quarter]["firms"])
        assert set(themes[themes.quarter == quarter].name) == {n for n, _ in SCENARIO[quarter]["themes"]}
    # every table names the same firm the same way, with the quarter's call date
    names = {(r.quarter, r.firm_id): (r.firm_name, str(r.call_date)[:10]) for r in firms.itertuples()}
    for name in ("topics", "sentence_topics", "firm_theme_exposures", "firm_topic_exposures"):
        df = t[name]
        assert len(df) > 0, name
        for r in df[["quarter", "firm_id", "firm_name", "call_date"]].drop_duplicates().itertuples():
            assert names[(r.quarter, r.firm_id)] == (r.firm_name, str(r.call_date)[:10]), name
            assert str(r.call_date)[:10] == call_date(r.quarter).isoformat()
    # ids join: sentence -> topic -> theme, exposures -> theme / topic / sentences
    topic_keys = topics.set_index("topic_id")
    assigned = assign.dropna(subset=["topic_id"])
    assert set(assigned.topic_id.astype("int64")) == set(topics.topic_id)
    for r in assigned.itertuples():
        topic = topic_keys.loc[int(r.topic_id)]
        assert (topic.quarter, topic.firm_id) == (r.quarter, r.firm_id)
        assert pd.isna(r.theme_id) and pd.isna(topic.theme_id) or int(r.theme_id) == int(topic.theme_id)
    assert set(topics.theme_id.dropna().astype("int64")) == set(themes.theme_id)
    assert set(theme_exp.theme_id) <= set(themes.theme_id)
    assert set(topic_exp.topic_id) == set(topics.topic_id)
    lineage = themes.set_index("theme_id").lineage_id
    sentence_of = assign.set_index("sentence_id")
    for r in theme_exp.itertuples():
        assert r.lineage_id == lineage[r.theme_id]
        for sid in r.evidence_sentence_ids:
            s = sentence_of.loc[sid]
            assert (s.firm_id, s.quarter, int(s.theme_id)) == (r.firm_id, r.quarter, r.theme_id)
        # the exposure is recomputable from the exported assignments
        n = ((assign.quarter == r.quarter) & (assign.firm_id == r.firm_id) & (assign.theme_id == r.theme_id)).sum()
        assert n == r.n_sentences and r.exposure == pytest.approx(n / r.n_substantive_sentences)
    assert (theme_exp.groupby(["quarter", "firm_id"]).exposure.sum() <= 1 + 1e-12).all()
    # lineage: A runs 2020Q2 -> 2020Q4
    a = themes[themes.name == "A"].sort_values("quarter")
    assert a.lineage_id.nunique() == 1 and int(a.lineage_id.iloc[0]) == int(a.theme_id.iloc[0])
    assert list(a.prev_theme_id.iloc[1:].astype("int64")) == list(a.theme_id.iloc[:-1])
    assert firms.n_substantive_sentences.notna().all()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_all_quarters_reads_back_and_joins(exported_panel, tmp_path, fmt, capsys):
    out = tmp_path / "export"
    assert main(["export", "--all-quarters", "--format", fmt, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [q["quarter"] for q in report["quarters"]] == list(QUARTERS)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted([f"{name}/{q}.{fmt}" for name in TABLE_NAMES for q in QUARTERS]
                           + [f"manifest/{q}.json" for q in QUARTERS])
    tables = _read(out, fmt)
    _check_joins(tables, exported_panel)
    manifest = json.loads((out / "manifest" / "2020Q3.json").read_text())
    assert manifest["rows"] == {name: int((df.quarter == "2020Q3").sum()) for name, df in tables.items()}
    with connect(exported_panel.url) as conn:
        assert conn.execute("SELECT count(*) FROM sentences").fetchone()[0] == len(tables["sentence_topics"])


def test_reexport_overwrites_the_same_files(exported_panel, tmp_path):
    out = tmp_path / "export"
    assert main(["export", "--quarter", "2020Q3", "--out", str(out)]) == 0
    first = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert len(first) == len(TABLE_NAMES) + 1
    assert main(["export", "--quarter", "2020Q3", "--out", str(out)]) == 0
    second = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert second == first
    assert not list(out.rglob("*.partial"))


def test_export_errors_name_the_quarter_and_destination(exported_panel, tmp_path, capsys):
    assert main(["export", "--quarter", "2019Q1", "--out", str(tmp_path / "x")]) == 2
    assert "quarter 2019Q1 has no stored firms" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["export", "--quarter", "2020Q2", "--out", str(blocker)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    with connect(exported_panel.url, autocommit=True) as conn, pytest.raises(ValueError, match="unknown export format"):
        export_quarters(conn, ["2020Q2"], str(tmp_path / "y"), "xlsx")


@pytest.fixture
def s3(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": f"http://{host}:{port}", "NO_PROXY": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield boto3.client("s3")
    server.stop()


def test_export_to_s3_writes_the_same_files(exported_panel, tmp_path, s3):
    s3.create_bucket(Bucket="research")
    assert main(["export", "--all-quarters", "--out", "s3://research/ftm/v1/"]) == 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="research")["Contents"])
    assert keys == sorted([f"ftm/v1/{name}/{q}.parquet" for name in TABLE_NAMES for q in QUARTERS]
                          + [f"ftm/v1/manifest/{q}.json" for q in QUARTERS])
    local = tmp_path / "local"
    assert main(["export", "--all-quarters", "--out", str(local)]) == 0
    downloaded = tmp_path / "downloaded"
    for key in keys:
        target = downloaded / key.removeprefix("ftm/v1/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("research", key, str(target))
        assert target.read_bytes() == (local / key.removeprefix("ftm/v1/")).read_bytes(), key
    _check_joins(_read(downloaded, "parquet"), exported_panel)
    with connect(exported_panel.url, autocommit=True) as conn, pytest.raises(ExportError, match="s3://missing/"):
        export_quarters(conn, ["2020Q2"], "s3://missing/x", "parquet")


def test_a_quarter_without_its_exposure_panel_is_exported_with_a_warning(panel, tmp_path):
    with connect(panel.url, autocommit=True) as conn:
        report = export_quarters(conn, ["2020Q2"], str(tmp_path / "out"), "parquet")
    (quarter,) = report.quarters
    assert quarter.rows["firm_theme_exposures"] == 0 and quarter.rows["topics"] > 0
    assert quarter.warnings == ["quarter 2020Q2: topics but no exposure panel: materialize `exposure_panel` "
                                "(or re-run the quarter's themes job) and export again"]
    manifest = json.loads((tmp_path / "out" / "manifest" / "2020Q2.json").read_text())
    assert manifest["warnings"] == quarter.warnings
    assert pd.read_parquet(tmp_path / "out" / "firms").n_substantive_sentences.isna().all()
