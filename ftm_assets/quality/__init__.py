"""Topic quality: metrics (coherence, diversity, outliers, boilerplate, ARI), the ``ftm eval``
runner and the quarter plots. Pure Python and SQL; no Dagster import."""
