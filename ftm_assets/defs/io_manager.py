"""Postgres IO manager for the quarter level (docs/design.md §4).

* ``load_input`` for the ``themes`` asset's input ``topic_summaries``: Dagster maps the quarter
  partition to all its firm partitions; we read the quarter's topic summaries and embeddings in one
  ``WHERE quarter = ...`` query (never an IN-list of 5,000 firms). Firm partitions that failed or
  were never materialized simply have no rows.
* ``handle_output`` for ``themes``: replaces the quarter's themes and topic->theme links, empties
  the quarter's exposure panel (it names the replaced themes; the ``exposure_panel`` asset that
  follows in the themes job rebuilds it) and relinks the quarter's themes to the previous and next
  quarters' (``warehouse/lineage.py``), all in one transaction. The lineage counts (continued /
  new / ended) are added to the themes materialization's metadata.

``InputContext.add_input_metadata`` is not called (it fails with several input partitions, #27940).
"""


import dagster as dg

from ftm_assets.defs.partitions import key_to_quarter
from ftm_assets.defs.resources import WarehouseResource
from ftm_assets.stages.themes import QuarterThemes
from ftm_assets.warehouse.exposure import clear_quarter_exposures
from ftm_assets.warehouse.lineage import relink_quarter
from ftm_assets.warehouse.quarter_rows import QuarterTopics, load_quarter_topics, replace_quarter_themes


class WarehouseIOManager(dg.ConfigurableIOManager):
    warehouse: WarehouseResource

    def load_input(self, context: dg.InputContext) -> QuarterTopics:
        quarter = key_to_quarter(context.partition_key)
        with self.warehouse.connect() as conn:
            return load_quarter_topics(conn, quarter)

    def handle_output(self, context: dg.OutputContext, obj: QuarterThemes) -> None:
        if not isinstance(obj, QuarterThemes):
            raise TypeError(f"WarehouseIOManager stores QuarterThemes, got {type(obj).__name__}")
        quarter = key_to_quarter(context.partition_key)
        if obj.quarter != quarter:
            raise ValueError(f"themes for {obj.quarter} handed to partition {quarter}")
        with self.warehouse.connect() as conn, conn.transaction():
            replace_quarter_themes(
                conn,
                quarter,
                obj.themes,
                n_firms_included=obj.n_firms_included,
                n_firms_expected=obj.n_firms_expected,
                prompt_tokens=obj.usage.prompt_tokens,
                completion_tokens=obj.usage.completion_tokens,
            )
            clear_quarter_exposures(conn, quarter)
            lineage = relink_quarter(conn, quarter)
        context.add_output_metadata(lineage.metadata())
