"""Offline themes of a quarter, without a database or an LLM: how readable and how balanced.

The themes stage clusters the embeddings of a quarter's topic summaries and names each theme.
Without an API key both texts are extractive (``llm/extractive.py``), so this module rebuilds
exactly that path from ``build_firm_topics`` output: extractive topic summaries from each
topic's keywords and representative sentences, embedded with the pipeline's encoder,
``cluster_themes``, then ``extractive_theme_text`` for the names. It reports per quarter the
number of themes, the largest theme's share of the quarter's topics (one theme swallowing most
topics is the failure to watch), the share of topics in any theme, each theme's name and size,
and, for the demo calls, how pure each theme is against the planted topics (the majority
planted topic of a theme's member topics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ftm_assets.llm.extractive import extractive_theme_text, extractive_topic_summary
from ftm_assets.llm.prompts import ThemePromptInput, TopicPromptInput
from ftm_assets.modeling.embedding import SentenceEncoder
from ftm_assets.modeling.firm_topics import build_firm_topics
from ftm_assets.modeling.settings import FirmTopicSettings, ThemeSettings
from ftm_assets.modeling.themes import cluster_themes
from ftm_assets.modeling.types import FirmCall, FirmTopics, TopicRef
from ftm_assets.sources.demo import BOILERPLATE, OTHER

__all__ = ["OfflineTopic", "evaluate_themes", "offline_topics", "quarter_theme_report"]


@dataclass(frozen=True)
class OfflineTopic:
    """One firm topic with its extractive summary and label, and (demo calls) its planted topic."""

    ref: TopicRef
    label: str
    planted: str | None


def _planted_majority(call: FirmCall, positions: np.ndarray, planted: Mapping[int, str]) -> str | None:
    labels = [planted.get(call.sentences[int(i)].sentence_index, OTHER) for i in positions]
    labels = [label for label in labels if label not in (BOILERPLATE, OTHER)]
    if not labels:
        return None
    return Counter(labels).most_common(1)[0][0]


def offline_topics(
    results: Sequence[tuple[FirmCall, FirmTopics]],
    planted: Mapping[tuple[str, str], Mapping[int, str]] | None = None,
) -> list[OfflineTopic]:
    """The topics of ``results`` as the themes stage sees them offline (``topic_id`` numbered in
    order), each with its extractive summary; ``planted`` (demo calls) adds the planted topic
    most of the topic's sentences belong to."""
    topics = []
    for call, firm_topics in results:
        texts = call.texts
        firm_planted = (planted or {}).get((call.firm_id, call.quarter))
        assignments = np.asarray(firm_topics.assignments)
        for t in firm_topics.topics:
            prompt = TopicPromptInput(
                local_topic_id=t.local_topic_id,
                keywords=list(t.keywords),
                sentences=[texts[i] for i in t.representative_positions],
            )
            members = np.flatnonzero(assignments == t.local_topic_id)
            topics.append(
                OfflineTopic(
                    ref=TopicRef(
                        topic_id=len(topics),
                        firm_id=call.firm_id,
                        local_topic_id=t.local_topic_id,
                        summary=extractive_topic_summary(prompt),
                        keywords=tuple(t.keywords),
                    ),
                    label=t.label,
                    planted=_planted_majority(call, members, firm_planted) if firm_planted else None,
                )
            )
    return topics


def quarter_theme_report(
    topics: Sequence[OfflineTopic],
    encoder: SentenceEncoder,
    settings: ThemeSettings | None = None,
    max_names: int = 40,
) -> dict:
    """Cluster ``topics`` (one quarter) into themes and name them offline; returns counts, the
    largest theme's share of the topics, names and sizes, and planted purity when known."""
    settings = settings or ThemeSettings()
    refs = [t.ref for t in topics]
    if not refs:
        return {"topics": 0, "themes": 0, "largest_theme_share": None, "themed_share": None, "names": []}
    embeddings = encoder.encode([r.summary for r in refs])
    clusters = cluster_themes(refs, embeddings, settings)
    named = []
    purities = []
    for cluster in clusters:
        name, _description = extractive_theme_text(
            ThemePromptInput(
                keywords=list(cluster.keywords),
                summaries=[refs[i].summary for i in cluster.central_indices],
            )
        )
        entry = {"name": name, "topics": len(cluster.member_indices), "firms": len(cluster.firm_ids)}
        planted = [topics[i].planted for i in cluster.member_indices if topics[i].planted is not None]
        if planted:
            top, count = Counter(planted).most_common(1)[0]
            entry["planted"] = top
            entry["purity"] = round(count / len(cluster.member_indices), 3)
            purities.append(count / len(cluster.member_indices))
        named.append(entry)
    sizes = [len(c.member_indices) for c in clusters]
    report = {
        "topics": len(refs),
        "themes": len(clusters),
        "largest_theme_share": round(max(sizes) / len(refs), 3) if sizes else 0.0,
        "themed_share": round(sum(sizes) / len(refs), 3),
        "names": named[:max_names],
        "topic_labels": [t.label for t in topics[:max_names]],
    }
    if purities:
        report["planted_purity_mean"] = round(float(np.mean(purities)), 3)
        report["planted_topics_found"] = len({e["planted"] for e in named if "planted" in e})
    return report


def evaluate_themes(
    path: str,
    encoder: SentenceEncoder,
    topic_settings: FirmTopicSettings | None = None,
    theme_settings: ThemeSettings | None = None,
    *,
    quarter: str | None = None,
    cache_dir: Path | None = None,
    max_names: int = 40,
) -> dict:
    """Firm topics of every call of ``path`` (``build_firm_topics``), then each quarter's offline
    themes (``quarter_theme_report``); planted purity when the file has planted topics."""
    from ftm_assets.quality.evaluate import embed_cached, load_calls, planted_labels

    calls, errors = load_calls(path, quarter)
    planted = planted_labels(path)
    settings = topic_settings or FirmTopicSettings()
    by_quarter: dict[str, list[tuple[FirmCall, FirmTopics]]] = {}
    for call in calls:
        topics = build_firm_topics(call, embed_cached(encoder, call.texts, cache_dir), settings)
        by_quarter.setdefault(call.quarter, []).append((call, topics))
    return {
        "transcripts": str(path),
        "unreadable_firms": errors,
        "quarters": {
            q: quarter_theme_report(offline_topics(results, planted), encoder, theme_settings, max_names)
            for q, results in sorted(by_quarter.items())
        },
    }
