"""The themes stage, framework-agnostic: a quarter's topic summaries -> named cross-firm themes."""

from __future__ import annotations

from dataclasses import dataclass

from ftm_assets.llm.prompts import ThemePromptInput
from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.settings import ThemeSettings
from ftm_assets.modeling.themes import cluster_themes
from ftm_assets.modeling.types import Theme, TokenUsage
from ftm_assets.warehouse.quarter_rows import QuarterTopics


@dataclass(frozen=True)
class QuarterThemes:
    quarter: str
    themes: tuple[Theme, ...]
    usage: TokenUsage
    n_firms_included: int
    n_topics_in: int
    n_firms_expected: int | None = None  # firms with a call in the source (coverage = included/expected)


def build_themes(
    quarter_topics: QuarterTopics,
    encoder: SentenceEncoder,
    summarizer,
    settings: ThemeSettings | None = None,
    n_firms_expected: int | None = None,
) -> QuarterThemes:
    """Cluster the quarter's summaries, name each theme (LLM, extractive fallback) and embed
    ``name + description`` with the same model as sentences and summaries."""
    settings = settings or ThemeSettings()
    topics = quarter_topics.topics
    clusters = cluster_themes(topics, quarter_topics.embeddings, settings) if topics else []
    prompts = [
        ThemePromptInput(
            keywords=list(c.keywords),
            summaries=[topics[i].summary for i in c.central_indices],
        )
        for c in clusters
    ]
    texts = summarizer.name_themes(quarter_topics.quarter, prompts) if prompts else []
    embeddings = encoder.encode([f"{t.name}. {t.description}" for t in texts])
    usage = TokenUsage()
    themes = []
    for local_id, (cluster, text) in enumerate(zip(clusters, texts, strict=True)):
        usage = usage + text.usage
        themes.append(
            Theme(
                theme_local_id=local_id,
                name=text.name,
                description=text.description,
                keywords=tuple(cluster.keywords),
                member_topic_ids=tuple(topics[i].topic_id for i in cluster.member_indices),
                n_firms=len(set(cluster.firm_ids)),
                source=text.source,
                embedding=embeddings[local_id],
                fallback_reason=text.fallback_reason,
            )
        )
    return QuarterThemes(
        quarter=quarter_topics.quarter,
        themes=tuple(themes),
        usage=usage,
        n_firms_included=len(quarter_topics.firm_ids),
        n_topics_in=len(topics),
        n_firms_expected=n_firms_expected,
    )
