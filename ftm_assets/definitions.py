"""The one Dagster entry point: assets, resources, IO manager, jobs, sensors, the schedule and the
in-process executor.

Every step of every run (UI materializations, backfills, schedule and sensor runs) executes in one
process, so the embedding model is loaded once per run and shared by all firms (docs/design.md §2).
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from ftm_assets.defs.asset_keys import EXPOSURE_PANEL, FIRM_ASSET_KEYS, THEMES
from ftm_assets.defs.exposure_asset import exposure_panel
from ftm_assets.defs.firm_assets import firm_pipeline
from ftm_assets.defs.resources import build_resources
from ftm_assets.defs.retry import RETRY_JOB, retry_failed_firms
from ftm_assets.defs.schedules import build_quarterly_schedule
from ftm_assets.defs.sensors import build_discovery_sensor, build_themes_sensors
from ftm_assets.defs.themes_asset import themes

FIRM_JOB = "quarter_firms_job"
THEMES_JOB = "quarter_themes_job"

quarter_firms_job = dg.define_asset_job(
    FIRM_JOB,
    selection=dg.AssetSelection.assets(*FIRM_ASSET_KEYS),
    description="All firm-level assets of the selected firm partitions, with their per-firm topic-quality "
    "check, in one run.",
)
quarter_themes_job = dg.define_asset_job(
    THEMES_JOB,
    selection=dg.AssetSelection.assets(THEMES, EXPOSURE_PANEL),
    description="Cross-firm themes of one quarter (linked to the neighbouring quarters' themes), then its "
    "firm x theme / firm x topic exposure panel.",
)


def build_definitions(environ: Mapping[str, str] | None = None) -> dg.Definitions:
    """The project's Definitions, resources declared from ``environ`` (default ``os.environ``, read
    now): which fields are ``dg.EnvVar`` depends on the variables set (``defs.resources``).
    ``defs`` below is what Dagster loads; in-process launches (``defs/launch.py``) build them
    again, so a variable set or unset since this module was imported is honoured."""
    return dg.Definitions(
        assets=[firm_pipeline, themes, exposure_panel],
        jobs=[quarter_firms_job, quarter_themes_job, retry_failed_firms],
        sensors=[build_discovery_sensor(FIRM_JOB), *build_themes_sensors(FIRM_JOB, RETRY_JOB, quarter_themes_job)],
        schedules=[build_quarterly_schedule(FIRM_JOB)],
        resources=build_resources(environ),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
