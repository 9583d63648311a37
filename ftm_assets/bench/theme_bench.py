"""Theme stage at quarter scale: time, peak memory and quality per clustering method.

Each measurement runs ``modeling.themes.cluster_themes`` in a fresh subprocess (so its peak
RSS is its own) on synthetic topic summaries with planted themes (:func:`planted_summaries`):
``n / topics_per_theme`` themes whose topics spread over many firms, plus ``noise_share`` of
one-off topics that belong to no theme. Quality is the adjusted Rand index of the found themes
against the planted ones:

* ``ari``: over all topics, one-offs and unassigned topics each forming one class;
* ``ari_planted``: over the planted-theme topics only, each unassigned topic a class of its own
  (a miss, not a shared "unassigned" cluster, whose pairs would grow with the square of the
  quarter: 2,000 unassigned planted topics of 87,500 make 2 M false pairs against 4.4 M true ones);
* ``ari_planted_topics``: the same topics with the unassigned ones as one class (kept for
  comparison with earlier runs).

A quarter size **meets the target** when the themes found are within ``TARGET_COUNT_TOLERANCE``
(25 %) of the planted ones and ``ari_planted`` is at least ``TARGET_ARI_PLANTED`` (0.8); each
row also records the ``min_cluster_size`` the quarter's size gave (``min_cluster_size_used``).
:func:`run_theme_bench` sums this up in ``quarter_scale``: per measured size of the default
method, ``themes_found``, ``themes_planted``, ``found_over_planted``, ``ari_planted``, ``ari``,
``seconds``, ``peak_rss_mb``, ``min_cluster_size_used`` and ``meets_target``.

Methods are compared at a small size on two separations of the planted themes (within-theme
cosine about 0.46 and 0.66), then run at quarter sizes while their projected time fits the
budget; :func:`choose_method` picks by quality first, then time.

Run one measurement: ``python -m ftm_assets.bench.theme_bench --n 10000 --method pca_hdbscan``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np

__all__ = [
    "QUARTER_SCALE_KEYS",
    "TARGET_ARI_PLANTED",
    "TARGET_COUNT_TOLERANCE",
    "choose_method",
    "meets_target",
    "measure_in_subprocess",
    "measure_theme_clustering",
    "planted_summaries",
    "quarter_scale",
    "run_theme_bench",
]

#: Themes found may differ from the planted count by this share ...
TARGET_COUNT_TOLERANCE = 0.25
#: ... and ``ari_planted`` must reach this, for a quarter size to meet the target.
TARGET_ARI_PLANTED = 0.8

_GENERIC_WORDS = (
    "quarter",
    "revenue",
    "growth",
    "customers",
    "demand",
    "margin",
    "year",
    "business",
    "cost",
    "market",
    "results",
    "team",
    "expect",
    "continue",
    "strong",
    "pricing",
    "performance",
    "investment",
    "segment",
    "operating",
    "outlook",
)


def planted_summaries(
    n: int,
    dim: int = 384,
    *,
    topics_per_theme: int = 100,
    noise_share: float = 0.3,
    topics_per_firm: int = 25,
    center_weight: float = 0.8,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``n`` unit vectors, their planted theme (``-1`` for one-off topics), firm ids and short
    summary texts. A vector is a shared direction (all summaries share one), plus
    ``center_weight`` x its theme's centre (a one-off topic gets a centre of its own), plus noise
    with a decaying spectrum, normalised (the shape of ``search_bench.clustered_unit_vectors``)."""
    rng = np.random.default_rng(seed)
    n_themes = max(2, round(n * (1 - noise_share) / topics_per_theme))
    labels = np.where(rng.random(n) < noise_share, -1, rng.integers(0, n_themes, n))
    shared = rng.standard_normal(dim).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centers = rng.standard_normal((n_themes, dim)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    scale = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    scale /= np.sqrt(np.sum(scale**2))
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        block_labels = labels[start:stop]
        own = rng.standard_normal((stop - start, dim)).astype(np.float32)
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        center = np.where(block_labels[:, None] >= 0, centers[np.maximum(block_labels, 0)], own)
        block = rng.standard_normal((stop - start, dim)).astype(np.float32) * scale
        block += center_weight * center + 0.45 * shared
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[start:stop] = block
    n_firms = max(2, n // topics_per_firm)
    firm_ids = [f"F{int(f):05d}" for f in rng.integers(0, n_firms, n)]
    vocabulary = rng.integers(0, 10**6, (n_themes, 12))
    summaries = []
    for i, label in enumerate(labels):
        words = [f"w{vocabulary[label][j]}" for j in rng.integers(0, 12, 6)] if label >= 0 else [f"u{i}"]
        summaries.append(
            " ".join(words + [_GENERIC_WORDS[j] for j in rng.integers(0, len(_GENERIC_WORDS), 8)])
        )
    return vectors, labels, firm_ids, summaries


def meets_target(themes_found: int, themes_planted: int, ari_planted: float) -> bool:
    """Themes found within ``TARGET_COUNT_TOLERANCE`` of the planted count and ``ari_planted``
    at least ``TARGET_ARI_PLANTED``."""
    return (
        abs(themes_found - themes_planted) <= TARGET_COUNT_TOLERANCE * themes_planted
        and ari_planted >= TARGET_ARI_PLANTED
    )


def _theme_settings(
    method: str, pca_components: int, min_cluster_size: int | None, size_at_10k: float | None
):
    from ftm_assets.modeling.settings import ThemeSettings

    sizes: dict = {} if min_cluster_size is None else {"min_cluster_size": min_cluster_size}
    if size_at_10k is not None:
        sizes["min_cluster_size_at_10k_topics"] = size_at_10k
    return ThemeSettings(method=method, pca_components=pca_components, **sizes)


def measure_theme_clustering(
    n: int,
    method: str,
    *,
    center_weight: float = 0.8,
    pca_components: int = 32,
    min_cluster_size: int | None = None,
    min_cluster_size_at_10k_topics: float | None = None,
    seed: int = 0,
) -> dict:
    """Cluster ``n`` planted summaries with ``method`` in this process; time, RSS and ARI
    (``min_cluster_size`` / ``min_cluster_size_at_10k_topics`` ``None``: the ``ThemeSettings``
    defaults)."""
    from ftm_assets.bench.timing import current_rss_mb, peak_rss_mb
    from ftm_assets.modeling.themes import cluster_themes, theme_min_cluster_size
    from ftm_assets.modeling.types import TopicRef
    from ftm_assets.quality.metrics import adjusted_rand

    vectors, labels, firm_ids, summaries = planted_summaries(n, center_weight=center_weight, seed=seed)
    topics = [TopicRef(i, firm_ids[i], 0, summaries[i], ()) for i in range(n)]
    rss_before = current_rss_mb()
    settings = _theme_settings(method, pca_components, min_cluster_size, min_cluster_size_at_10k_topics)
    t0 = time.perf_counter()
    themes = cluster_themes(topics, vectors, settings)
    seconds = time.perf_counter() - t0
    found = np.full(n, -1)
    own_class = np.arange(n) + len(themes)  # unassigned: each topic a class of its own
    for k, theme in enumerate(themes):
        found[list(theme.member_indices)] = k
        own_class[list(theme.member_indices)] = k
    planted = labels >= 0
    themes_planted = int(labels.max()) + 1
    ari_planted = round(adjusted_rand(labels[planted], own_class[planted]), 4)
    return {
        "n": n,
        "method": method,
        "center_weight": center_weight,
        "pca_components": pca_components if method == "pca_hdbscan" else None,
        "min_cluster_size": settings.min_cluster_size,
        "min_cluster_size_at_10k_topics": settings.min_cluster_size_at_10k_topics,
        "min_cluster_size_used": theme_min_cluster_size(n, settings),
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_clustering_mb": round(rss_before, 1),
        "themes_found": len(themes),
        "themes_planted": themes_planted,
        "found_over_planted": round(len(themes) / themes_planted, 3),
        "assigned_share": round(float(np.mean(found >= 0)), 4),
        "planted_unassigned_share": round(float(np.mean(found[planted] < 0)), 4),
        "largest_theme": max((len(t.member_indices) for t in themes), default=0),
        "ari": round(adjusted_rand(labels, found), 4),
        "ari_planted": ari_planted,
        "ari_planted_topics": round(adjusted_rand(labels[planted], found[planted]), 4),
        "meets_target": meets_target(len(themes), themes_planted, ari_planted),
    }


def measure_in_subprocess(
    n: int,
    method: str,
    timeout_s: float,
    *,
    center_weight: float = 0.8,
    pca_components: int = 32,
    min_cluster_size: int | None = None,
    min_cluster_size_at_10k_topics: float | None = None,
    seed: int = 0,
) -> dict:
    """``measure_theme_clustering`` in a fresh interpreter; a timeout is reported, not raised."""
    command = [
        sys.executable,
        "-m",
        "ftm_assets.bench.theme_bench",
        "--n",
        str(n),
        "--method",
        method,
        "--center-weight",
        str(center_weight),
        "--pca-components",
        str(pca_components),
        "--seed",
        str(seed),
    ]
    if min_cluster_size is not None:
        command += ["--min-cluster-size", str(min_cluster_size)]
    if min_cluster_size_at_10k_topics is not None:
        command += ["--min-cluster-size-at-10k", str(min_cluster_size_at_10k_topics)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {
            "n": n,
            "method": method,
            "center_weight": center_weight,
            "timed_out": True,
            "limit_s": timeout_s,
        }
    if done.returncode != 0:
        raise RuntimeError(f"theme bench n={n} method={method} failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - t0, 1)
    return result


#: What ``quarter_scale`` reports per size.
QUARTER_SCALE_KEYS = (
    "n",
    "themes_found",
    "themes_planted",
    "found_over_planted",
    "ari_planted",
    "ari",
    "seconds",
    "peak_rss_mb",
    "min_cluster_size_used",
    "meets_target",
)


def quarter_scale(scale: Sequence[dict], method: str) -> list[dict]:
    """Per measured size of ``method`` (separation ``SEPARATIONS[0]``), the target figures;
    a size that was skipped or timed out is listed with its reason and ``meets_target`` false."""
    rows = []
    for r in scale:
        if r.get("method") != method:
            continue
        if "seconds" in r:
            rows.append({k: r.get(k) for k in QUARTER_SCALE_KEYS})
        else:
            reason = r.get("skipped") or f"timed out after {r.get('limit_s')} s"
            rows.append({"n": r["n"], "meets_target": False, "not_measured": reason})
    return rows


def _n_log_n(seconds: float, n_from: int, n_to: int) -> float:
    return seconds * (n_to * math.log(n_to)) / (n_from * math.log(n_from))


def choose_method(
    comparison: Sequence[dict], scale: Sequence[dict], largest_n: int, ari_tolerance: float = 0.02
) -> dict:
    """The theme method for a quarter of ``largest_n`` topics, by quality first, then time.

    Eligible: methods measured at ``largest_n`` within the time limit. They are ranked by ARI at
    ``largest_n``; within ``ari_tolerance`` of the best, the fastest there wins. The mean ARI of
    the small-size comparison (every separation) is reported alongside, and a choice whose ARI at
    ``largest_n`` is below 0.5 carries a ``quality_warning``: it was the only method that fit
    the time limit, not a good one.
    """
    at_largest = {r["method"]: r for r in scale if r["n"] == largest_n and "seconds" in r}
    mean_ari = {}
    for method in sorted({r["method"] for r in comparison}):
        scores = [r["ari"] for r in comparison if r["method"] == method and "ari" in r]
        if scores:
            mean_ari[method] = round(float(np.mean(scores)), 4)
    if not at_largest:
        return {
            "method": None,
            "comparison_mean_ari": mean_ari,
            "why": f"no method was measured at {largest_n} topics within its time limit",
        }
    best = max(r["ari"] for r in at_largest.values())
    close = [m for m, r in at_largest.items() if r["ari"] >= best - ari_tolerance]
    choice = min(close, key=lambda m: at_largest[m]["seconds"])
    methods = sorted(set(mean_ari) | set(at_largest))
    parts = []
    for m in methods:
        at = at_largest.get(m)
        measured = f"ARI {at['ari']} in {at['seconds']} s at {largest_n}" if at else f"not run at {largest_n}"
        parts.append(f"{m}: {measured}; comparison mean ARI {mean_ari.get(m)}")
    out = {
        "method": choice,
        "largest_n": largest_n,
        "ari_at_largest": {m: r["ari"] for m, r in at_largest.items()},
        "comparison_mean_ari": mean_ari,
        "why": "; ".join(parts)
        + f". Chosen: best ARI at {largest_n} (within {ari_tolerance}), then fastest.",
    }
    if at_largest[choice]["ari"] < 0.5:
        out["quality_warning"] = (
            f"{choice} recovers the planted themes poorly at {largest_n} topics (ARI "
            f"{at_largest[choice]['ari']}); it is only the best of the methods that fit the time limit"
        )
    return out


#: Separations of the planted themes compared: within-theme cosine about 0.46 and 0.66.
SEPARATIONS = (0.8, 1.3)


def run_theme_bench(
    sizes: Sequence[int],
    comparison_sizes: Sequence[int],
    timeout_s: float,
    methods: Sequence[str] | None = None,
    scale_budget_s: float | None = None,
) -> dict:
    """Every method at ``comparison_sizes`` (each separation), then every method at ``sizes``
    (separation 0.8) while its time, projected n log n from its last run, stays under
    ``scale_budget_s`` (default ``timeout_s``); a projected or real overrun is reported as skipped.
    A size already measured in the comparison is not run again. ``quarter_scale`` lists the
    target figures of the default ``ThemeSettings`` method per size (:func:`quarter_scale`)."""
    from ftm_assets.modeling.settings import THEME_METHODS, ThemeSettings

    methods = tuple(methods or THEME_METHODS)
    budget = timeout_s if scale_budget_s is None else scale_budget_s
    comparison = [
        measure_in_subprocess(n, m, timeout_s, center_weight=w)
        for n in comparison_sizes
        for w in SEPARATIONS
        for m in methods
    ]
    scale: list[dict] = []
    for method in methods:
        last = next(
            (
                r
                for r in reversed(comparison)
                if r["method"] == method and r["center_weight"] == SEPARATIONS[0] and "seconds" in r
            ),
            None,
        )
        for n in sorted(set(sizes)):
            if last is None:
                scale.append({"n": n, "method": method, "skipped": "no earlier run to project from"})
                continue
            projected = _n_log_n(last["seconds"], last["n"], n)
            if projected > budget:
                scale.append(
                    {"n": n, "method": method, "skipped": f"projected {projected:.0f} s > {budget:.0f} s"}
                )
                last = None
                continue
            same = next(
                (
                    r
                    for r in comparison
                    if (r["n"], r["method"], r.get("center_weight")) == (n, method, SEPARATIONS[0])
                ),
                None,
            )
            result = same or measure_in_subprocess(n, method, timeout_s, center_weight=SEPARATIONS[0])
            scale.append(result)
            last = result if "seconds" in result else None
    default_method = ThemeSettings().method
    at_scale = quarter_scale(scale, default_method) if default_method in methods else []
    return {
        "comparison": comparison,
        "scale": scale,
        "quarter_scale": {
            "method": default_method if at_scale else None,
            "target": f"themes found within {TARGET_COUNT_TOLERANCE:.0%} of planted and "
            f"ari_planted >= {TARGET_ARI_PLANTED}",
            "sizes": at_scale,
            "all_meet_target": bool(at_scale) and all(r["meets_target"] for r in at_scale),
        },
        "choice": choose_method(comparison, scale, max(sizes)),
        "timeout_s": timeout_s,
        "scale_budget_s": budget,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ftm_assets.bench.theme_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--method", default="pca_hdbscan")
    parser.add_argument("--center-weight", type=float, default=0.8, help="separation of the planted themes")
    parser.add_argument("--pca-components", type=int, default=32)
    parser.add_argument("--min-cluster-size", type=int, default=None, help="default: ThemeSettings'")
    parser.add_argument(
        "--min-cluster-size-at-10k", type=float, default=None, help="scale rule; 0 = fixed size"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            measure_theme_clustering(
                args.n,
                args.method,
                center_weight=args.center_weight,
                pca_components=args.pca_components,
                min_cluster_size=args.min_cluster_size,
                min_cluster_size_at_10k_topics=args.min_cluster_size_at_10k,
                seed=args.seed,
            )
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
