"""``ftm demo``'s terminal output: one progress line and the summary, not Dagster's event lines."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from ftm_assets.defs.launch import run_quarter
from ftm_assets.defs.progress import FirmCounts, format_progress

from .helpers import write_corpus

QUARTER = "2024Q1"


def test_progress_line_shows_counts_rate_and_eta():
    assert format_progress(FirmCounts(done=30, skipped=5, failed=2), 122, 10.0) == (
        "firms 37/122 (30 done, 5 skipped, 2 failed)  3.7 firms/s  ETA 23 s")
    assert format_progress(FirmCounts(done=4), 4, 2.0) == "firms 4/4 (4 done, 0 skipped, 0 failed)  2.0 firms/s"
    assert format_progress(FirmCounts(), 4, 0.0) == "firms 0/4 (0 done, 0 skipped, 0 failed)  0.0 firms/s"


@pytest.mark.slow
def test_quarter_run_prints_a_progress_line_instead_of_dagster_events(ftm_env, pg_instance, tmp_path, capfd):
    path = write_corpus(tmp_path / "calls.parquet", n_firms=4)
    frame = pd.read_parquet(path)
    broken = sorted(frame["firm_id"].unique())[2]  # a duplicate sentence_index: this firm fails
    rows = frame.index[frame["firm_id"] == broken]
    frame.loc[rows[1], "sentence_index"] = frame.loc[rows[0], "sentence_index"]
    frame.to_parquet(path, index=False)

    out = io.StringIO()
    report = run_quarter(str(path), QUARTER, instance=pg_instance, progress=out, event_log_level="WARNING")
    assert report["failed_firms"] == [broken]
    assert out.getvalue().splitlines()[-1].startswith("firms 4/4 (3 done, 0 skipped, 1 failed)")
    captured = capfd.readouterr()
    assert "ASSET_MATERIALIZATION" not in captured.err and " - DEBUG - " not in captured.err
    # the event log in the instance is complete
    records = pg_instance.get_records_for_run(report["firm_run_id"]).records
    assert sum(1 for r in records if r.event_log_entry.asset_materialization) == 3 * 3

    again = io.StringIO()
    run_quarter(str(path), QUARTER, instance=pg_instance, progress=again, event_log_level="WARNING")
    assert again.getvalue().splitlines()[-1].startswith("firms 4/4 (0 done, 3 skipped, 1 failed)")
