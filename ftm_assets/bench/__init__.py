"""Benchmarks: run each module with ``python -m ftm_assets.bench.<name>``."""
