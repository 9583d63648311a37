"""Fixtures of the panel tests: the real calls modelled once per session, a fresh panel warehouse per test."""

from __future__ import annotations

import pytest

from ftm_assets_tests.warehouse.panel_data import PanelWarehouse, build_panel_warehouse, load_panel_calls


@pytest.fixture(scope="session")
def panel_calls(encoder):
    return load_panel_calls(encoder)


@pytest.fixture
def panel(database_url, panel_calls) -> PanelWarehouse:
    """The three quarters of ``panel_data.SCENARIO`` with their themes, linked; no exposures yet."""
    return build_panel_warehouse(database_url, panel_calls)
