"""``ftm trace theme|sentence|lineage ID``: where a theme comes from, where a sentence went, and
how a theme runs across quarters.

``theme``: the theme's topics grouped by firm, each with its sentences; ``sentence``: its topic,
its theme and the other firms in that theme. Reads the ``theme_sentences``, ``topic_lineage`` and
``sentence_lineage`` views (docs/search.md shows the same queries for psql). ``lineage``: the
theme's chain across quarters (``theme_links``), each quarter's theme with its name, firms and
their exposure (docs/export.md).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ftm_assets.llm.text import clip_text

DEFAULT_SENTENCES = 5
DEFAULT_FIRMS = 10


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="trace a theme down to sentences, a sentence up to its theme, or a theme "
                       "across quarters")
    p.add_argument("kind", choices=("theme", "sentence", "lineage"))
    p.add_argument("id", type=int, help="theme_id or sentence_id (as shown by ftm search); lineage: a theme_id")
    p.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES,
                   help=f"sentences listed per topic of a theme (default {DEFAULT_SENTENCES})")
    p.add_argument("--firms", type=int, default=DEFAULT_FIRMS,
                   help=f"lineage: firms listed per quarter, by exposure (default {DEFAULT_FIRMS})")
    p.add_argument("--all", action="store_true", help="list every sentence of every topic of a theme "
                   "(lineage: every firm)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ftm_assets.search import runtime
    from ftm_assets.search.trace import trace_lineage, trace_sentence, trace_theme
    from ftm_assets.warehouse.database import connect

    url = runtime.database_url()
    runtime.prepare_database(url)
    with connect(url, autocommit=True) as conn:
        if args.kind == "theme":
            result = trace_theme(conn, args.id, sentences_per_topic=None if args.all else args.sentences)
        elif args.kind == "lineage":
            result = trace_lineage(conn, args.id, firms_per_theme=None if args.all else args.firms)
        else:
            result = trace_sentence(conn, args.id)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        formatter = {"theme": format_theme, "sentence": format_sentence, "lineage": format_lineage}[args.kind]
        print(formatter(result))
    return 0


def format_lineage(trace: dict[str, Any]) -> str:
    chain = trace["chain"]
    lines = [f"lineage {trace['lineage_id']} of theme {trace['theme_id']}: {len(chain)} quarter(s), "
             f"{chain[0]['quarter']} .. {chain[-1]['quarter']}"]
    for step in chain:
        marker = "*" if step["theme_id"] == trace["theme_id"] else " "
        link = ("starts the lineage" if step["prev_theme_id"] is None else
                f"continues theme {step['prev_theme_id']} (similarity {step['similarity']:.2f}, "
                f"firm overlap {step['firm_overlap']:.2f})")
        mean = "n/a" if step["mean_exposure"] is None else f"{step['mean_exposure']:.3f}"
        lines.append(f"{marker} {step['quarter']}  theme {step['theme_id']}: {step['name']}  [{link}]")
        lines.append(f"    {step['n_firms']} firms, {step['n_topics']} topics, mean exposure {mean}")
        for firm in step["firms"]:
            name = f" ({firm['firm_name']})" if firm["firm_name"] else ""
            topics = f"{firm['n_topics']} topic" + ("" if firm["n_topics"] == 1 else "s")
            lines.append(f"      {firm['firm_id']}{name}: exposure {firm['exposure']:.3f} "
                         f"({firm['n_sentences']} sentences, {topics})")
        hidden = step["n_firms_exposed"] - len(step["firms"])
        if hidden > 0:
            lines.append(f"      ... {hidden} more (--all)")
    return "\n".join(lines)


def format_theme(trace: dict[str, Any]) -> str:
    t = trace["theme"]
    lines = [f"theme {t['theme_id']} ({t['quarter']}): {t['name']}",
             f"  {clip_text(t['description'], 300)}",
             f"  {trace['n_firms']} firms, {trace['n_topics']} topics, {trace['n_sentences']} sentences"]
    for firm in trace["firms"]:
        lines.append(f"  {firm['firm_id']}" + (f" ({firm['firm_name']})" if firm["firm_name"] else ""))
        for topic in firm["topics"]:
            lines.append(f"    topic {topic['topic_id']} [rank {topic['rank_in_theme']}] {topic['label']}"
                         f" ({topic['n_sentences']} sentences)")
            lines.append(f"      {clip_text(topic['summary'], 200)}")
            for s in topic["sentences"]:
                lines.append(f"      [S{s['sentence_id']}] #{s['sentence_index']}: {clip_text(s['text'], 160)}")
            hidden = topic["n_sentences"] - len(topic["sentences"])
            if hidden > 0:
                lines.append(f"      ... {hidden} more (--all)")
    return "\n".join(lines)


def format_sentence(trace: dict[str, Any]) -> str:
    s, topic, theme = trace["sentence"], trace["topic"], trace["theme"]
    firm = s["firm_id"] + (f" ({s['firm_name']})" if s["firm_name"] else "")
    lines = [f"sentence [S{s['sentence_id']}] {firm} {s['quarter']} #{s['sentence_index']}"
             + (f" {s['section']}" if s["section"] else "") + (f", {s['speaker']}" if s["speaker"] else ""),
             f"  {s['text']}"]
    if topic is None:
        lines.append("  topic: none (BERTopic outlier)")
    else:
        lines.append(f"  topic {topic['topic_id']}: {topic['label']}")
        lines.append(f"    {clip_text(topic['summary'], 300)}")
    if theme is None:
        lines.append("  theme: none" + ("" if topic is None else " (the topic joined no theme)"))
    else:
        lines.append(f"  theme {theme['theme_id']}: {theme['name']}")
        lines.append(f"    {clip_text(theme['description'], 300)}")
        lines.append(f"  other firms in this theme: {len(trace['other_firms'])}")
        for other in trace["other_firms"]:
            labels = "; ".join(f"topic {t['topic_id']} {t['label']}" for t in other["topics"])
            lines.append(f"    {other['firm_id']}: {labels}")
    return "\n".join(lines)
