"""Topic quality of a firm as stored in the warehouse (for a check run on its own, after the fact)."""

from __future__ import annotations

import numpy as np
import psycopg

from ftm_assets.modeling.types import OUTLIER_TOPIC, CallSentence, FirmCall, FirmTopics, TopicRecord
from ftm_assets.quality.metrics import FirmQuality, firm_quality


def load_stored_topics(
    conn: psycopg.Connection, firm_id: str, quarter: str
) -> tuple[FirmCall, FirmTopics] | None:
    """The firm's stored sentences and topics as the modelling types, or ``None`` when the firm
    has no stored row for the quarter."""
    firm = conn.execute(
        "SELECT topic_outcome FROM firms WHERE firm_id = %s AND quarter = %s", (firm_id, quarter)
    ).fetchone()
    if firm is None:
        return None
    topics = conn.execute(
        "SELECT topic_id, local_topic_id, keywords, label, size FROM topics"
        " WHERE firm_id = %s AND quarter = %s ORDER BY local_topic_id",
        (firm_id, quarter),
    ).fetchall()
    local_of = {topic_id: local for topic_id, local, *_ in topics}
    sentences = conn.execute(
        "SELECT sentence_index, text, section, speaker, topic_id FROM sentences"
        " WHERE firm_id = %s AND quarter = %s ORDER BY sentence_index",
        (firm_id, quarter),
    ).fetchall()
    call = FirmCall(
        firm_id,
        quarter,
        tuple(CallSentence(i, text, section, speaker) for i, text, section, speaker, _ in sentences),
    )
    assignments = np.array(
        [
            local_of.get(topic_id, OUTLIER_TOPIC) if topic_id is not None else OUTLIER_TOPIC
            for *_, topic_id in sentences
        ],
        dtype=np.int64,
    )
    records = tuple(
        TopicRecord(local, tuple(keywords), label, size, ()) for _, local, keywords, label, size in topics
    )
    return call, FirmTopics(records, assignments, outcome=firm[0])


def stored_firm_quality(conn: psycopg.Connection, firm_id: str, quarter: str) -> FirmQuality | None:
    """``firm_quality`` of the firm's stored rows, or ``None`` when it has none for the quarter."""
    loaded = load_stored_topics(conn, firm_id, quarter)
    return None if loaded is None else firm_quality(*loaded)
