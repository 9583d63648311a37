"""Themes across quarters: each quarter's themes linked to the previous quarter's, in ``theme_links``.

A theme of quarter Q *continues* a theme of the calendar-previous quarter Q-1 when the two are
about the same thing (cosine similarity of their vectors) and, better still, are discussed by the
same firms (Jaccard overlap of their member firms). The rule (:class:`LinkSettings`, defaults
measured on the real 2020 calls, docs/export.md "Theme lineage"):

* a pair is a candidate when ``similarity >= min_similarity``, or when ``similarity >=
  min_similarity_with_firms`` and ``firm_overlap >= min_firm_overlap``;
* candidates are taken best first by ``similarity + firm_weight * firm_overlap``, one to one: a
  theme continues at most one theme and is continued by at most one (when a theme splits, the
  closer half continues it and the other half starts a new lineage).

A theme's vector is the mean of its member topics' summary embeddings (what the themes stage
clustered), L2-normalised, so linking does not depend on how the theme was named.

``theme_links`` holds one row per theme: its predecessor (NULL: it starts a lineage) and its
``lineage_id``, the ``theme_id`` of the chain's first theme. Quarters are consecutive: a quarter
without themes ends every lineage. :func:`relink_quarter` runs in the transaction that replaces a
quarter's themes (the themes IO manager): it recomputes the quarter's links, the next quarter's
links to it, and the lineage ids of every later quarter, so no stale theme id remains. It also works
for a quarter whose themes were deleted (its next quarter's themes then start new lineages).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from ftm_assets.modeling.types import parse_quarter

LINEAGE_LOCK_ID = 7_311_2025


@dataclass(frozen=True)
class LinkSettings:
    """When a theme continues one of the previous quarter's (module docstring)."""

    min_similarity: float = 0.75
    min_similarity_with_firms: float = 0.65
    min_firm_overlap: float = 0.25
    firm_weight: float = 0.25

    def __post_init__(self) -> None:
        for name in ("min_similarity", "min_similarity_with_firms", "min_firm_overlap"):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [-1, 1], got {value}")
        if self.firm_weight < 0:
            raise ValueError(f"firm_weight must be >= 0, got {self.firm_weight}")


@dataclass(frozen=True)
class ThemeProfile:
    """What linking compares: a theme's unit vector and its member firms."""

    theme_id: int
    vector: np.ndarray
    firms: frozenset[str]


@dataclass(frozen=True)
class ThemeLink:
    theme_id: int
    prev_theme_id: int
    similarity: float
    firm_overlap: float


@dataclass(frozen=True)
class LineageCounts:
    """How the quarter's themes relate to the previous quarter's (for the themes asset metadata)."""

    quarter: str
    prev_quarter: str
    prev_themes: int
    continued: int  # themes of the quarter that continue a theme of prev_quarter
    new: int  # themes of the quarter that start a lineage
    ended: int  # themes of prev_quarter that no theme of the quarter continues
    next_quarter: str
    next_themes: int  # themes of next_quarter (0 when it has none yet)
    next_continued: int  # of those, the ones that continue a theme of the quarter (relinked now)

    def metadata(self) -> dict[str, int | str]:
        return {
            "lineage_continued": self.continued,
            "lineage_new": self.new,
            "lineage_ended": self.ended,
            "lineage_prev_quarter": self.prev_quarter,
            "lineage_prev_quarter_themes": self.prev_themes,
            "lineage_next_quarter_relinked": self.next_themes,
            "lineage_next_quarter_continued": self.next_continued,
        }


def shift_quarter(quarter: str, by: int) -> str:
    """``shift_quarter("2020Q1", -1) == "2019Q4"``."""
    year, q = parse_quarter(quarter)
    index = year * 4 + (q - 1) + by
    return f"{index // 4}Q{index % 4 + 1}"


def firm_overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two firm sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def match_themes(prev: Sequence[ThemeProfile], curr: Sequence[ThemeProfile],
                 settings: LinkSettings = LinkSettings()) -> list[ThemeLink]:
    """One-to-one links from ``curr`` themes to ``prev`` themes, best candidates first (module docstring)."""
    if not prev or not curr:
        return []
    similarity = np.vstack([c.vector for c in curr]) @ np.vstack([p.vector for p in prev]).T
    candidates = []
    for i, c in enumerate(curr):
        for j, p in enumerate(prev):
            sim, overlap = float(similarity[i, j]), firm_overlap(c.firms, p.firms)
            if sim >= settings.min_similarity or (
                    sim >= settings.min_similarity_with_firms and overlap >= settings.min_firm_overlap):
                candidates.append((sim + settings.firm_weight * overlap, c.theme_id, p.theme_id, sim, overlap))
    # best score first; ids break ties so the result does not depend on input order
    candidates.sort(key=lambda x: (-x[0], x[1], x[2]))
    taken_curr: set[int] = set()
    taken_prev: set[int] = set()
    links = []
    for _, cid, pid, sim, overlap in candidates:
        if cid in taken_curr or pid in taken_prev:
            continue
        taken_curr.add(cid)
        taken_prev.add(pid)
        links.append(ThemeLink(cid, pid, sim, overlap))
    return sorted(links, key=lambda link: link.theme_id)


def load_theme_profiles(conn: psycopg.Connection, quarter: str) -> list[ThemeProfile]:
    """The quarter's themes with their member-topic centroid and member firms, by theme_id."""
    rows = conn.execute(
        "SELECT th.theme_id, avg(t.embedding), array_agg(DISTINCT t.firm_id)"
        " FROM themes th JOIN topic_themes tt ON tt.theme_id = th.theme_id"
        " JOIN topics t ON t.topic_id = tt.topic_id AND t.quarter = th.quarter"
        " WHERE th.quarter = %s GROUP BY th.theme_id ORDER BY th.theme_id", (quarter,)).fetchall()
    profiles = []
    for theme_id, centroid, firms in rows:
        vector = np.asarray(centroid.to_numpy(), dtype=np.float64)
        norm = np.linalg.norm(vector)
        profiles.append(ThemeProfile(int(theme_id), vector / norm if norm > 0 else vector, frozenset(firms)))
    return profiles


def _quarter_has_themes(conn: psycopg.Connection, quarter: str) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM themes WHERE quarter = %s)", (quarter,)).fetchone()[0]


def _quarter_has_links(conn: psycopg.Connection, quarter: str) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM theme_links WHERE quarter = %s)", (quarter,)).fetchone()[0]


def _link_quarter(conn: psycopg.Connection, quarter: str, settings: LinkSettings) -> tuple[int, int, int, int]:
    """Rewrite ``quarter``'s rows of ``theme_links``; returns (themes, continued, prev themes, ended)."""
    prev_quarter = shift_quarter(quarter, -1)
    conn.execute("DELETE FROM theme_links WHERE quarter = %s", (quarter,))
    curr = load_theme_profiles(conn, quarter)
    prev = load_theme_profiles(conn, prev_quarter) if curr else []
    links = {link.theme_id: link for link in match_themes(prev, curr, settings)}
    prev_lineage = dict(conn.execute(
        "SELECT theme_id, lineage_id FROM theme_links WHERE quarter = %s", (prev_quarter,)).fetchall())
    rows = []
    for theme in curr:
        link = links.get(theme.theme_id)
        if link is None:
            rows.append((quarter, theme.theme_id, theme.theme_id, None, None, None, None))
        else:
            rows.append((quarter, theme.theme_id, prev_lineage.get(link.prev_theme_id, link.prev_theme_id),
                         prev_quarter, link.prev_theme_id, link.similarity, link.firm_overlap))
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO theme_links (quarter, theme_id, lineage_id, prev_quarter, prev_theme_id, similarity,"
                " firm_overlap) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    n_prev = len(prev) if curr else len(load_theme_profiles(conn, prev_quarter))
    return len(curr), len(links), n_prev, n_prev - len(links)


def _link_missing_before(conn: psycopg.Connection, quarter: str, settings: LinkSettings) -> None:
    """Link earlier quarters that have themes but no ``theme_links`` rows (themes stored before
    migration 0004), oldest first, so that lineage ids reach back to the first quarter."""
    missing = []
    q = shift_quarter(quarter, -1)
    while _quarter_has_themes(conn, q) and not _quarter_has_links(conn, q):
        missing.append(q)
        q = shift_quarter(q, -1)
    for q in reversed(missing):
        _link_quarter(conn, q, settings)


def _propagate_lineage_after(conn: psycopg.Connection, quarter: str) -> None:
    """Carry lineage ids forward from ``quarter`` through every later quarter whose links follow."""
    later = [r[0] for r in conn.execute(
        "SELECT DISTINCT quarter FROM theme_links WHERE quarter > %s ORDER BY quarter", (quarter,)).fetchall()]
    expected = shift_quarter(quarter, 1)
    for q in later:
        if q != expected:  # a gap: lineages cannot cross it
            break
        changed = conn.execute(
            "UPDATE theme_links l SET lineage_id = p.lineage_id FROM theme_links p"
            " WHERE l.quarter = %s AND p.quarter = l.prev_quarter AND p.theme_id = l.prev_theme_id"
            " AND l.lineage_id <> p.lineage_id", (q,)).rowcount
        if changed == 0:
            break
        expected = shift_quarter(q, 1)


def relink_quarter(conn: psycopg.Connection, quarter: str, settings: LinkSettings = LinkSettings()) -> LineageCounts:
    """Recompute ``quarter``'s links to the previous quarter, the next quarter's links to it, and
    later lineage ids, in one transaction (nested in the caller's when there is one)."""
    parse_quarter(quarter)
    prev_quarter, next_quarter = shift_quarter(quarter, -1), shift_quarter(quarter, 1)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LINEAGE_LOCK_ID,))
        _link_missing_before(conn, quarter, settings)
        n_curr, continued, n_prev, ended = _link_quarter(conn, quarter, settings)
        n_next, next_continued, _, _ = _link_quarter(conn, next_quarter, settings)
        _propagate_lineage_after(conn, next_quarter)
    return LineageCounts(quarter=quarter, prev_quarter=prev_quarter, prev_themes=n_prev, continued=continued,
                         new=n_curr - continued, ended=ended, next_quarter=next_quarter, next_themes=n_next,
                         next_continued=next_continued)


def relink_all(conn: psycopg.Connection, settings: LinkSettings = LinkSettings()) -> list[LineageCounts]:
    """Recompute every quarter's links, oldest first (after changing :class:`LinkSettings`)."""
    quarters = [r[0] for r in conn.execute("SELECT DISTINCT quarter FROM themes ORDER BY quarter").fetchall()]
    return [relink_quarter(conn, q, settings) for q in quarters]
