"""The quarter-level ``themes`` asset: cross-firm themes from all topic summaries of a quarter.

Partitioned by quarter; its input ``topic_summaries`` (quarter x firm) is mapped to the quarter
automatically (``MultiToSingleDimensionPartitionMapping``) and loaded by the warehouse IO manager,
which also stores the output. It runs after the quarter's firm run even when a few firms failed
(the sensor launches it), and records coverage: firms included / firms with a call.

Storing the themes also links them to the previous quarter's themes and relinks the next quarter's
to them (``warehouse/lineage.py``, in the IO manager's transaction, since the new theme ids exist
only once stored); the materialization's metadata then carries ``lineage_continued`` /
``lineage_new`` / ``lineage_ended``.
"""


import dagster as dg

from ftm_assets.config import load_settings
from ftm_assets.defs.asset_keys import TOPIC_SUMMARIES
from ftm_assets.defs.checks import quarter_plot_metadata
from ftm_assets.defs.partitions import key_to_quarter, quarter_partitions
from ftm_assets.defs.resources import (
    EmbeddingModelResource,
    LlmResource,
    TranscriptSourceResource,
    WarehouseResource,
)
from ftm_assets.modeling.settings import ThemeSettings
from ftm_assets.stages.themes import build_themes
from ftm_assets.warehouse.quarter_rows import QuarterTopics


class ThemeConfig(dg.Config):
    method: str = ThemeSettings.method
    min_cluster_size: int = ThemeSettings.min_cluster_size  # the floor; grows with the quarter (below)
    min_cluster_size_at_10k_topics: float = ThemeSettings.min_cluster_size_at_10k_topics  # 0: fixed size
    min_cohesion_ratio: float = ThemeSettings.min_cohesion_ratio  # 0: keep catch-all clusters
    min_firms: int = ThemeSettings.min_firms
    max_firm_share: float = ThemeSettings.max_firm_share
    max_theme_share: float = ThemeSettings.max_theme_share  # larger clusters are split once (1.0: never)
    exclude_chatter: bool = ThemeSettings.exclude_chatter  # Q&A chatter topics join no theme

    def settings(self) -> ThemeSettings:
        return ThemeSettings(method=self.method, min_cluster_size=self.min_cluster_size,
                             min_cluster_size_at_10k_topics=self.min_cluster_size_at_10k_topics,
                             min_cohesion_ratio=self.min_cohesion_ratio,
                             min_firms=self.min_firms, max_firm_share=self.max_firm_share,
                             max_theme_share=self.max_theme_share, exclude_chatter=self.exclude_chatter)


def themes_markdown(result) -> str:
    lines = ["| # | theme | firms | topics | keywords |", "|---|---|---|---|---|"]
    for t in result.themes:
        name = t.name.replace("|", "/")
        lines.append(f"| {t.theme_local_id} | {name} | {t.n_firms} | {t.n_topics} | {', '.join(t.keywords[:5])} |")
    return "\n".join(lines)


@dg.asset(
    partitions_def=quarter_partitions,
    ins={"topic_summaries": dg.AssetIn(key=TOPIC_SUMMARIES, input_manager_key="warehouse_io_manager")},
    io_manager_key="warehouse_io_manager",
    group_name="quarter",
    kinds={"hdbscan", "openai", "pgvector"},
    description="Cross-firm themes of a quarter (tables `themes`, `topic_themes`), linked to the previous "
    "and next quarters' themes (table `theme_links`; metadata lineage_continued / lineage_new / lineage_ended).",
)
def themes(
    context: dg.AssetExecutionContext,
    config: ThemeConfig,
    topic_summaries: QuarterTopics,
    embedding_model: EmbeddingModelResource,
    llm: LlmResource,
    transcripts: TranscriptSourceResource,
    warehouse: WarehouseResource,
) -> dg.Output:
    quarter = key_to_quarter(context.partition_key)
    try:
        expected = sum(1 for _, q in transcripts.source().list_calls() if q == quarter)
    except Exception as exc:  # coverage is informative; the themes are still built
        context.log.warning(f"quarter {quarter}: could not count expected firms: {exc}")
        expected = None
    result = build_themes(topic_summaries, embedding_model.encoder, llm.summarizer, config.settings(),
                          n_firms_expected=expected)
    sources = sorted({t.source for t in result.themes}) or ["none"]
    with warehouse.connect() as conn:
        firm_tokens = conn.execute(
            "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) FROM firms"
            " WHERE quarter = %s", (quarter,)).fetchone()
    plots = quarter_plot_metadata(quarter, topic_summaries.topics, result.themes, load_settings().home / "plots")
    return dg.Output(
        result,
        metadata={
            **plots,
            "quarter": quarter,
            "themes": len(result.themes),
            "topics_in": result.n_topics_in,
            "topics_assigned": sum(t.n_topics for t in result.themes),
            "firms_included": result.n_firms_included,
            "firms_expected": expected if expected is not None else -1,
            "firms_covered_by_themes": len({f for t in result.themes for f in _firms_of(t, topic_summaries)}),
            "theme_text_source": ", ".join(sources),
            "theme_prompt_tokens": result.usage.prompt_tokens,
            "theme_completion_tokens": result.usage.completion_tokens,
            "quarter_prompt_tokens": int(firm_tokens[0]) + result.usage.prompt_tokens,
            "quarter_completion_tokens": int(firm_tokens[1]) + result.usage.completion_tokens,
            "themes_table": dg.MetadataValue.md(themes_markdown(result)),
        },
    )


def _firms_of(theme, quarter_topics: QuarterTopics) -> set[str]:
    firm_of = {t.topic_id: t.firm_id for t in quarter_topics.topics}
    return {firm_of[i] for i in theme.member_topic_ids if i in firm_of}
