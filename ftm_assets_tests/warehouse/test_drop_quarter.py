"""Dropping a quarter: its partitions go, its rows in every other table with a quarter column go,
other quarters (rows and HNSW indexes) stay, and the quarter can be written again."""

from __future__ import annotations

import numpy as np
import pytest

from ftm_assets.modeling.types import Theme
from ftm_assets.warehouse.database import connect
from ftm_assets.warehouse.firm_rows import replace_firm
from ftm_assets.warehouse.quarter_rows import load_quarter_topics, replace_quarter_themes, table_counts
from ftm_assets.warehouse.quarters import (
    build_quarter_indexes,
    drop_quarter,
    quarter_indexes,
    quarter_row_counts,
    stored_quarters,
)
from ftm_assets.warehouse.schema import migrate
from ftm_assets_tests.warehouse.test_schema_and_rows import DIM, _result


def _store_quarter(conn, quarter: str, seed: int) -> None:
    replace_firm(conn, _result("ACME", quarter=quarter, seed=seed))
    replace_firm(conn, _result("BETA", quarter=quarter, seed=seed + 1))
    topics = load_quarter_topics(conn, quarter).topics
    theme = Theme(0, "Pricing", "Firms discuss pricing.", ("price",), (topics[0].topic_id, topics[2].topic_id), 2,
                  "extractive", embedding=np.ones(DIM, np.float32))
    replace_quarter_themes(conn, quarter, [theme], n_firms_included=2, n_firms_expected=2)
    build_quarter_indexes(conn, quarter)


def test_drop_quarter_removes_it_from_every_quarter_table_and_keeps_the_others(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn:
        # a table as another migration may add: a quarter column and no foreign key
        conn.execute("CREATE TABLE theme_exposures (quarter text NOT NULL, firm_id text, exposure real)")
        conn.execute("INSERT INTO theme_exposures VALUES ('2024Q1', 'ACME', 0.5), ('2024Q2', 'ACME', 0.7)")
        _store_quarter(conn, "2024Q1", seed=1)
        _store_quarter(conn, "2024Q2", seed=3)
        kept_counts = table_counts(conn, "2024Q2")
        kept_index = conn.execute("SELECT 'sentences_2024q2_embedding_hnsw'::regclass::oid").fetchone()[0]
        before = quarter_row_counts(conn, "2024Q1")
        # migration 0004's exposure and lineage tables are found like the test's own theme_exposures
        assert before == {"firm_runs": 2, "firms": 2, "quarter_runs": 1, "sentences": 12, "theme_exposures": 1,
                          "themes": 1, "topic_themes": 2, "topics": 4, "firm_theme_exposures": 0,
                          "firm_topic_exposures": 0, "theme_links": 0}

        dropped = drop_quarter(conn, "2024Q1")

        assert sorted(dropped.partitions_dropped) == ["sentences_2024q1", "themes_2024q1", "topic_themes_2024q1",
                                                      "topics_2024q1"]
        assert dropped.rows_deleted == {"firm_runs": 2, "firms": 2, "quarter_runs": 1, "theme_exposures": 1,
                                        "firm_theme_exposures": 0, "firm_topic_exposures": 0, "theme_links": 0}
        assert set(quarter_row_counts(conn, "2024Q1").values()) == {0}
        assert stored_quarters(conn) == ["2024Q2"]
        assert table_counts(conn, "2024Q2") == kept_counts
        assert conn.execute("SELECT 'sentences_2024q2_embedding_hnsw'::regclass::oid").fetchone()[0] == kept_index
        assert all("2024q1" not in name for name in quarter_indexes(conn))
        assert conn.execute("SELECT count(*) FROM theme_exposures WHERE quarter = '2024Q2'").fetchone()[0] == 1
        # the views still answer for the quarter that is left
        assert conn.execute("SELECT count(*) FROM sentence_lineage").fetchone()[0] == kept_counts["sentences"]

        again = drop_quarter(conn, "2024Q1")  # idempotent
        assert again.partitions_dropped == () and set(again.rows_deleted.values()) == {0}

        # the quarter can be written again: new partitions, new ids after the old ones
        _store_quarter(conn, "2024Q1", seed=1)
        assert stored_quarters(conn) == ["2024Q1", "2024Q2"]
        assert table_counts(conn, "2024Q1")["sentences"] == 12


def test_drop_quarter_rejects_a_malformed_quarter(database_url):
    migrate(database_url, DIM)
    with connect(database_url, autocommit=True) as conn, pytest.raises(ValueError, match="malformed quarter"):
        drop_quarter(conn, "2024-Q1; DROP TABLE firms")
