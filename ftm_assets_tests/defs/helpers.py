"""Helpers for Dagster wiring tests: a small demo corpus, a model-load counter, partition status."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ftm_assets.defs.partitions import call_partitions, split_call_key


def write_corpus(path: Path, n_firms: int = 10, quarter: str = "2024Q1", seed: int = 1) -> Path:
    from ftm_assets.sources.demo import write_demo_corpus

    return write_demo_corpus(path, n_firms=n_firms, quarter=quarter, seed=seed, sentences_per_firm=(100, 130))


def count_model_loads(monkeypatch) -> list[str]:
    """Wrap the real loader: every load is recorded (and still happens)."""
    import ftm_assets.modeling.embedding as embedding

    loads: list[str] = []
    real = embedding.load_sentence_transformer

    def counting(model, device):
        loads.append(str(model))
        return real(model, device)

    monkeypatch.setattr(embedding, "load_sentence_transformer", counting)
    return loads


def status_partition_keys(instance: dg.DagsterInstance, asset: str,
                          partitions_def: dg.PartitionsDefinition) -> tuple[list[str], list[str]]:
    """(materialized, failed) partition keys of an asset, from the status cache the UI reads."""
    from ftm_assets.defs.dagster_internals import partition_status_cache

    value = partition_status_cache(instance, dg.AssetKey(asset), partitions_def)
    if value is None:
        return [], []
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        mat = value.deserialize_materialized_partition_subsets(partitions_def).get_partition_keys()
        failed = value.deserialize_failed_partition_subsets(partitions_def).get_partition_keys()
    return list(mat), list(failed)


def partition_status(instance: dg.DagsterInstance, asset: str) -> tuple[set[str], set[str]]:
    """(materialized firms, failed firms) of a firm-level asset, as the UI computes them."""
    mat, failed = status_partition_keys(instance, asset, call_partitions)
    return {split_call_key(k)[0] for k in mat}, {split_call_key(k)[0] for k in failed}
