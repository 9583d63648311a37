"""Any quarter from FTM_FIRST_QUARTER (default 2000Q1) to the newest ended one is a partition; a
quarter outside that range gets a clear error naming it and the setting, never Dagster's internal
"Partition key range start ... is before the partitions definition start time"."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from ftm_assets.defs.launch import run_quarter
from ftm_assets.defs.partitions import (
    FIRST_QUARTER,
    FIRST_QUARTER_ENV,
    QuarterOutOfRange,
    first_quarter,
    quarter_partitions,
    quarter_range_tags,
    quarter_to_key,
    require_partition_quarter,
)

from .helpers import write_corpus


def _current_quarter() -> str:
    today = date.today()
    return f"{today.year}Q{(today.month - 1) // 3 + 1}"


def test_first_quarter_setting(monkeypatch):
    monkeypatch.delenv(FIRST_QUARTER_ENV, raising=False)
    assert first_quarter() == "2000Q1" == FIRST_QUARTER
    assert quarter_partitions.get_first_partition_key() == "2000-01-01"
    monkeypatch.setenv(FIRST_QUARTER_ENV, "1995Q3")
    assert first_quarter() == "1995Q3"
    monkeypatch.setenv(FIRST_QUARTER_ENV, "1995-07")
    with pytest.raises(ValueError, match=f"{FIRST_QUARTER_ENV} must be a quarter like 2000Q1, got '1995-07'"):
        first_quarter()


def test_quarters_outside_the_partitions_get_a_clear_error():
    for ok in ("2000Q1", "2015Q4", "2016Q1", "2020Q2"):
        assert require_partition_quarter(ok) == ok
        assert quarter_range_tags(ok, ["AAA"])["ftm/quarter"] == ok
    with pytest.raises(QuarterOutOfRange, match=r"quarter 1999Q4 is before the first quarter partition 2000Q1 "
                                                r"\(setting FTM_FIRST_QUARTER, default 2000Q1\)"):
        quarter_range_tags("1999Q4", ["AAA"])
    current = _current_quarter()
    with pytest.raises(QuarterOutOfRange, match=rf"quarter {current} has not ended yet"):
        require_partition_quarter(current)
    assert quarter_to_key(current) > quarter_partitions.get_last_partition_key()


@pytest.mark.slow
def test_a_2015_quarter_runs_end_to_end_and_a_1999_quarter_is_refused(ftm_env, tmp_path):
    early = write_corpus(tmp_path / "q1999.parquet", n_firms=3, quarter="1999Q4", seed=5)
    old = write_corpus(tmp_path / "q2015.parquet", n_firms=3, quarter="2015Q4", seed=5)
    with dg.instance_for_test() as instance:
        with pytest.raises(QuarterOutOfRange, match="quarter 1999Q4 is before the first quarter partition"):
            run_quarter(str(early), "1999Q4", instance=instance)
        assert instance.get_dynamic_partitions("firm") == []  # refused before anything was registered
        report = run_quarter(str(old), "2015Q4", instance=instance)
    assert report["quarter"] == "2015Q4" and report["failed_firms"] == []
    assert report["firms_stored"] == 3 and report["sentences"] > 0
