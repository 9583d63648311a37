"""The bench JSON as Markdown tables (``ftm bench --markdown``; docs/performance.md)."""

from __future__ import annotations

__all__ = ["markdown_report"]


def _f(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _headline(report: dict) -> list[str]:
    m = report["machine"]
    rows = [
        f"Measured {report['date']} ({report['mode']} mode) on {m['cpu_count']} x "
        f"{m.get('cpu_model') or 'CPU'}, "
        f"{m['memory_gb']} GB, torch {m['torch']} ({m['torch_threads']} threads), "
        f"GPU: {m.get('cuda') or 'none'}; load average {m['load_average'][0]} at start, "
        f"{m.get('load_average_end', ['?'])[0]} at end; total {report.get('total_seconds')} s.",
        "",
        "| measurement | ours | baseline | ratio |",
        "|---|---:|---:|---:|",
    ]
    e = report.get("embedding")
    if e:
        rows.append(
            f"| embedding, sentences/s ({e['sentences']} sentences, {e['firms']} calls, {e['device']}) | "
            f"{_f(e['pipeline']['sentences_per_s'], 1)} (batch {e['pipeline']['batch_size']}) | "
            f"{_f(e['naive']['sentences_per_s'], 1)} (`model.encode`, batch 32) | "
            f"{_f(e['ratio_pipeline_to_naive_throughput'])}x |"
        )
    fs = report.get("firm_stage")
    if fs:
        p, n = fs["pipeline"], fs["naive"]
        rows.append(
            f"| firm stage, firms/min ({fs['firms']} real calls, {fs['sentences']} sentences, "
            f"LLM {fs['llm_latency_s']} s) | {_f(p['firms_per_min'])} (Dagster run) | "
            f"{_f(n['firms_per_min'])} (naive) | time {_f(fs['time_ratio_pipeline_to_naive'], 3)} of naive |"
        )
        rows.append(
            f"| firm stage, database write s | {_f(p['stages_s']['db_write'])} (COPY) | "
            f"{_f(n['stages_s']['db_write'])} (ORM row by row) | "
            f"{_f(n['stages_s']['db_write'] / max(p['stages_s']['db_write'], 1e-9), 1)}x faster |"
        )
        rows.append(
            f"| firm stage, LLM wait s ({p['llm_requests']} requests) | {_f(p['stages_s']['llm_wait'])} "
            f"(concurrent, overlapped) | {_f(n['stages_s']['llm_wait'])} (one at a time) | - |"
        )
    b = report.get("bulk_load")
    if b:
        rows.append(
            f"| bulk load, rows/s with {b['dim']}-d vectors ({_f(b['rows'])} rows) | "
            f"{_f(b['copy']['rows_per_s'])} (binary COPY) | "
            f"{_f(b['executemany']['rows_per_s'])} (executemany) | "
            f"{_f(b['ratio_copy_to_executemany'])}x |"
        )
    return rows


def _stages(report: dict) -> list[str]:
    fs = report.get("firm_stage")
    if not fs:
        return []
    p, n = fs["pipeline"]["stages_s"], fs["naive"]["stages_s"]
    rows = [
        "",
        "Firm stage, seconds per stage (same calls):",
        "",
        "| stage | pipeline | naive |",
        "|---|---:|---:|",
    ]
    for stage in (
        "model_load",
        "embed",
        "umap",
        "hdbscan",
        "representation",
        "summary_embed",
        "llm_wait",
        "db_write",
        "dagster_bookkeeping",
    ):
        naive = n.get(stage)
        if stage == "representation" and "topics" in n:
            naive = n["topics"] - n.get("umap", 0.0) - n.get("hdbscan", 0.0)
        rows.append(f"| {stage} | {_f(p.get(stage))} | {_f(naive)} |")
    rows.append(f"| **wall** | **{_f(fs['pipeline']['seconds'])}** | **{_f(fs['naive']['seconds'])}** |")
    return rows


def _themes(report: dict) -> list[str]:
    t = report.get("themes")
    if not t:
        return []
    rows = [
        "",
        "Theme clustering (synthetic planted themes; each run in its own process):",
        "",
        "| topics | method | separation | seconds | peak RSS MB | themes found / planted | ARI "
        "| ARI planted |",
        "|---:|---|---:|---:|---:|---|---:|---:|",
    ]
    for r in [*t["comparison"], *t["scale"]]:
        if "skipped" in r or r.get("timed_out"):
            why = r.get("skipped") or f"timed out after {r.get('limit_s')} s"
            rows.append(f"| {_f(r['n'])} | {r['method']} | - | {why} | | | | |")
            continue
        rows.append(
            f"| {_f(r['n'])} | {r['method']} | {r['center_weight']} | {_f(r['seconds'], 1)} | "
            f"{_f(r['peak_rss_mb'], 0)} | {r['themes_found']} / {r['themes_planted']} | {_f(r['ari'], 3)} | "
            f"{_f(r['ari_planted_topics'], 3)} |"
        )
    choice = t["choice"]
    rows += ["", f"Chosen: **{choice.get('method')}**. {choice.get('why', '')}"]
    if choice.get("quality_warning"):
        rows.append(f"Warning: {choice['quality_warning']}.")
    return rows


def _memory(report: dict) -> list[str]:
    m = report.get("memory")
    if not m:
        return []
    rows = [
        "",
        "Quarter run memory (stand-ins: " + m["stand_ins"] + "):",
        "",
        "| firms | sentences/firm | rows stored | seconds | peak RSS MB | RSS at 10 % / 100 % of firms |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in m["runs"]:
        samples = r["rss_samples_mb"]
        rows.append(
            f"| {_f(r['firms'])} | {r['sentences_per_firm']} | {_f(r['sentences_stored'])} | "
            f"{_f(r['seconds'], 1)} | "
            f"{_f(r['peak_rss_mb'], 0)} | {samples[0][1]} / {samples[-1][1]} |"
        )
    rows.append(
        f"\nPeak RSS growth: {m['peak_rss_growth_mb_per_1000_firms']} MB per 1,000 firms (flat: {m['flat']})."
    )
    return rows


def _projection(report: dict) -> list[str]:
    p = report.get("projection_5000_firms")
    if not p:
        return []
    rows = [
        "",
        f"**{p['label']}** ({p['assumptions']['firms']:,} firms x {p['assumptions']['sentences_per_firm']} "
        f"sentences):",
        "",
        "| stage | projected s |",
        "|---|---:|",
    ]
    for stage, seconds in p["stages_s"].items():
        rows.append(f"| {stage} | {_f(seconds, 0)} |")
    rows.append(f"| **total** | **{_f(p['total_s'], 0)} ({p['total_h']} h)** |")
    rows.append(
        f"\nBottleneck: **{p['bottleneck']}**. LLM: {p['llm_requests']:,} requests, "
        f"${p['cost_usd']['llm']}; box and database ${p['cost_usd']['box_and_database']}; "
        f"total ${p['cost_usd']['total']}."
    )
    return rows


def markdown_report(report: dict) -> str:
    """The headline table, the firm-stage breakdown, themes, memory and the projection."""
    lines = [*_headline(report), *_stages(report), *_themes(report), *_memory(report), *_projection(report)]
    return "\n".join(lines) + "\n"
