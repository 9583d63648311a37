"""What the warehouse holds for each firm of a quarter: its latest attempt and stored fingerprint.

Read by the discovery sensor (is a quarter up to date with its transcripts?) and by
``retry_failed_firms`` (which quarters have failed or unstored firms?). A database whose schema
was never created holds nothing, so every firm reads as not yet stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

SUCCEEDED, FAILED = "succeeded", "failed"


@dataclass(frozen=True)
class StoredFirm:
    """``status`` of the firm's latest attempt (``succeeded`` / ``failed``); ``fingerprint`` is the
    input fingerprint of its stored rows (``None`` when no rows are stored)."""

    status: str
    fingerprint: str | None


def _schema_exists(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT to_regclass('firm_runs') IS NOT NULL").fetchone()[0])


def stored_firms(conn: psycopg.Connection, quarter: str) -> dict[str, StoredFirm]:
    """``{firm_id: StoredFirm}`` for every firm of ``quarter`` with an attempt recorded."""
    if not _schema_exists(conn):
        return {}
    rows = conn.execute(
        "SELECT r.firm_id, r.status, f.input_fingerprint FROM firm_runs r"
        " LEFT JOIN firms f ON f.firm_id = r.firm_id AND f.quarter = r.quarter"
        " WHERE r.quarter = %s",
        (quarter,),
    ).fetchall()
    return {firm: StoredFirm(status, fingerprint) for firm, status, fingerprint in rows}


def succeeded_firms(conn: psycopg.Connection, quarters: Sequence[str]) -> dict[str, set[str]]:
    """``{quarter: firms whose latest attempt succeeded}`` for ``quarters``."""
    out: dict[str, set[str]] = {q: set() for q in quarters}
    if not quarters or not _schema_exists(conn):
        return out
    for firm, quarter in conn.execute(
        "SELECT firm_id, quarter FROM firm_runs WHERE status = 'succeeded' AND quarter = ANY(%s)",
        (list(quarters),),
    ):
        out[quarter].add(firm)
    return out
