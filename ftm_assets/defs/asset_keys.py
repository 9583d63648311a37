"""The project's asset keys and check names, declared once.

Every module that names an asset (the firm op, the themes asset, the quality check, the sensors,
the launchers) imports its key from here, so a key cannot be spelled two ways, and ``checks.py``
no longer needs to re-declare ``firm_topics`` to avoid importing the firm op.
"""

import dagster as dg

SENTENCE_EMBEDDINGS = dg.AssetKey("sentence_embeddings")
FIRM_TOPICS = dg.AssetKey("firm_topics")
TOPIC_SUMMARIES = dg.AssetKey("topic_summaries")
#: The three firm-level assets, computed together by the one ``firm_pipeline`` op.
FIRM_ASSET_KEYS = (SENTENCE_EMBEDDINGS, FIRM_TOPICS, TOPIC_SUMMARIES)
THEMES = dg.AssetKey("themes")
#: The quarter's firm x theme / firm x topic exposure panel, built after the themes.
EXPOSURE_PANEL = dg.AssetKey("exposure_panel")

#: The per-firm quality check on ``firm_topics``.
TOPIC_QUALITY_CHECK = "topic_quality"
