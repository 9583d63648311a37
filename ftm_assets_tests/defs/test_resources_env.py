"""Settings through Dagster: environment-backed resource fields are ``dg.EnvVar``, resolved when a
run starts and never stored as values; unset variables leave the documented defaults."""

from __future__ import annotations

import json

import dagster as dg

from ftm_assets.defs.resources import LlmResource, WarehouseResource, build_resources, env_fields

SECRET_URL = "postgresql://ftm:pw-not-in-the-ui@db.example:5432/ftm"
SECRET_KEY = "xai-key-not-in-the-ui"


def test_set_variables_become_env_vars_and_unset_ones_stay_unset():
    environ = {"FTM_DATABASE_URL": SECRET_URL, "XAI_API_KEY": SECRET_KEY, "FTM_LLM_MAX_CONCURRENCY": "5",
               "FTM_TRANSCRIPTS_URI": "  ", "FTM_LLM_MODE": ""}
    assert {k: v.env_var_name for k, v in env_fields("warehouse", environ).items()} == {
        "database_url": "FTM_DATABASE_URL"}
    assert {k: v.env_var_name for k, v in env_fields("llm", environ).items()} == {
        "api_key": "XAI_API_KEY", "max_concurrency": "FTM_LLM_MAX_CONCURRENCY"}
    assert env_fields("transcripts", environ) == {}  # blank: unset
    # the key's variable is renamed by FTM_LLM_API_KEY_ENV
    renamed = env_fields("llm", {"FTM_LLM_API_KEY_ENV": "MY_KEY", "MY_KEY": SECRET_KEY, "XAI_API_KEY": "x"})
    assert {k: v.env_var_name for k, v in renamed.items()} == {"api_key": "MY_KEY"}
    resources = build_resources(environ)
    assert set(resources) == {"embedding_model", "warehouse", "warehouse_io_manager", "llm", "transcripts"}


def test_env_vars_resolve_when_the_run_starts_and_are_not_stored(monkeypatch):
    monkeypatch.setenv("FTM_DATABASE_URL", "postgresql://placeholder@nowhere/db")
    monkeypatch.setenv("XAI_API_KEY", "placeholder")
    monkeypatch.setenv("FTM_LLM_MAX_CONCURRENCY", "5")
    resources = build_resources()  # declared while the variables hold other values

    @dg.asset
    def seen(warehouse: WarehouseResource, llm: LlmResource) -> dict:
        settings = llm.llm_settings()
        return {"url": warehouse.url(), "key": settings.api_key, "max": settings.max_concurrency}

    monkeypatch.setenv("FTM_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("XAI_API_KEY", SECRET_KEY)
    with dg.instance_for_test() as instance:
        result = dg.materialize([seen], resources={k: resources[k] for k in ("warehouse", "llm")},
                                instance=instance)
        assert result.output_for_node("seen") == {"url": SECRET_URL, "key": SECRET_KEY, "max": 5}
        run = instance.get_run_by_id(result.run_id)
        stored = json.dumps(run.run_config) + repr(run)
        assert SECRET_URL not in stored and SECRET_KEY not in stored


def test_a_variable_declared_but_unset_at_run_start_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FTM_DATABASE_URL", SECRET_URL)
    resources = build_resources()
    monkeypatch.delenv("FTM_DATABASE_URL")

    @dg.asset
    def needs_db(warehouse: WarehouseResource) -> None:
        warehouse.url()

    try:
        dg.materialize([needs_db], resources={"warehouse": resources["warehouse"]})
    except dg.DagsterInvalidConfigError as exc:
        assert "FTM_DATABASE_URL" in str(exc)
    else:
        raise AssertionError("a run with FTM_DATABASE_URL declared and unset must not start")
