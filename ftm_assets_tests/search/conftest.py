"""A small real warehouse for the search tests, built once per session.

Windows of three real earnings21 calls (SiTime and Hershey in 2020Q3, Innovative Solutions and
Support in 2020Q4), embedded with the real model. Topics are runs of ten consecutive sentences
(the last three sentences of each call are outliers) with extractive summaries; each quarter's
themes are hand-written texts, and a topic joins the theme its summary is most similar to, except
the quarter's least similar topic, which stays unassigned. ``expected`` records, from this
construction alone (not from the database views), where every sentence belongs.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ftm_assets.llm.extractive import extractive_topic_summary
from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.modeling.types import (
    OUTLIER_TOPIC,
    CallSentence,
    FirmCall,
    FirmTopics,
    Theme,
    TopicRecord,
    TopicSummary,
)
from ftm_assets.warehouse.database import connect, ensure_database
from ftm_assets.warehouse.firm_rows import FirmResult, input_fingerprint, replace_firm
from ftm_assets.warehouse.quarter_rows import replace_quarter_themes
from ftm_assets.warehouse.quarters import build_quarter_indexes
from ftm_assets.warehouse.schema import migrate

EARNINGS21 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "earnings21" / "corpus.parquet"
#: (firm_id, sentence_index windows [start, stop)) of the calls loaded
CALL_WINDOWS = {"SITM": [(20, 70), (146, 196)], "HSY": [(26, 80)], "ISSC": [(17, 70)]}
TOPIC_SIZE = 10
OUTLIERS_PER_CALL = 3
THEME_TEXTS = {
    "2020Q3": [
        ("Supply chain resilience", "Firms described supply chain disruptions, component shortages and the "
                                    "reliability of their suppliers and manufacturing."),
        ("Revenue growth and margins", "Firms reported quarterly revenue growth, gross margin expansion, "
                                       "operating expenses and guidance for the next quarter."),
        ("Consumer demand and brands", "Firms discussed consumer demand, pricing, advertising and investment "
                                       "in their brands during the pandemic."),
    ],
    "2020Q4": [
        ("Aircraft products and contracts", "Firms discussed aircraft avionics products, production contracts "
                                            "with aircraft makers and certification."),
        ("Financial results", "Firms reported revenue, margins, expenses and income for the quarter and year."),
    ],
}
_STOP_TEXT = (
    "about after again also because been before being could does going have into just know like more much other "
    "over really right said same should some still than that their them then there these they thing think this "
    "those through very want well were what when where which while will with would year years quarter your from"
)
_STOP = frozenset(_STOP_TEXT.split())


@dataclass
class SearchWarehouse:
    url: str
    #: (firm_id, sentence_index) -> sentence_id
    sentence_ids: dict[tuple[str, int], int]
    #: sentence_id -> firm_id, quarter, local_topic_id (None = outlier), theme_name (None = no theme)
    expected: dict[int, dict]
    #: (firm_id, local_topic_id) -> topic_id
    topic_ids: dict[tuple[str, int], int]
    #: theme name -> theme_id
    theme_ids: dict[str, int]
    #: theme name -> member (firm_id, local_topic_id)
    theme_members: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: sentence_id -> stored embedding
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)


def _keywords(texts: list[str], n: int = 5) -> tuple[str, ...]:
    words = Counter(w for t in texts for w in re.findall(r"[a-z]{5,}", t.lower()) if w not in _STOP)
    return tuple(w for w, _ in words.most_common(n))


def _calls() -> list[FirmCall]:
    corpus = pd.read_parquet(EARNINGS21, columns=["firm_id", "firm_name", "quarter", "section", "speaker",
                                                  "sentence_index", "text"])
    calls = []
    for firm_id, windows in CALL_WINDOWS.items():
        rows = corpus[corpus.firm_id == firm_id].sort_values("sentence_index")
        keep = np.zeros(len(rows), dtype=bool)
        for start, stop in windows:
            keep |= (rows.sentence_index >= start).to_numpy() & (rows.sentence_index < stop).to_numpy()
        rows = rows[keep]
        sentences = tuple(CallSentence(int(r.sentence_index), str(r.text), r.section, r.speaker)
                          for r in rows.itertuples())
        calls.append(FirmCall(firm_id, str(rows.quarter.iloc[0]), sentences, firm_name=str(rows.firm_name.iloc[0])))
    return calls


def _topics(call: FirmCall) -> tuple[FirmTopics, list[TopicPromptInput]]:
    n = len(call.sentences)
    assignments = np.array([p // TOPIC_SIZE if p < n - OUTLIERS_PER_CALL else OUTLIER_TOPIC for p in range(n)])
    records, prompts = [], []
    for local in sorted(set(assignments) - {OUTLIER_TOPIC}):
        positions = [p for p in range(n) if assignments[p] == local]
        texts = [call.sentences[p].text for p in positions]
        keywords = _keywords(texts)
        records.append(TopicRecord(int(local), keywords, " / ".join(keywords[:3]), len(positions),
                                   tuple(positions[:2])))
        prompts.append(TopicPromptInput(int(local), keywords, texts[:2]))
    return FirmTopics(tuple(records), assignments), prompts


def build_search_warehouse(url: str, encoder) -> SearchWarehouse:
    migrate(url, encoder.dim, encoder.model_id)
    calls = _calls()
    topics = [_topics(call) for call in calls]
    summaries = [[TopicSummary(p.local_topic_id, extractive_topic_summary(p), "extractive", "no_api_key")
                  for p in prompts] for _, prompts in topics]
    # one encode call for every text of the warehouse
    sentence_texts = [t for call in calls for t in call.texts]
    summary_texts = [s.summary for firm in summaries for s in firm]
    theme_list = [(q, name, desc) for q, texts in THEME_TEXTS.items() for name, desc in texts]
    vectors = encoder.encode(sentence_texts + summary_texts + [f"{n}. {d}" for _, n, d in theme_list])
    s_end, t_end = len(sentence_texts), len(sentence_texts) + len(summary_texts)
    sentence_vecs, summary_vecs, theme_vecs = vectors[:s_end], vectors[s_end:t_end], vectors[t_end:]

    expected_topic: dict[tuple[str, int], int | None] = {}
    with connect(url, autocommit=True) as conn:
        s_at, t_at = 0, 0
        for call, (firm_topics, _), firm_summaries in zip(calls, topics, summaries, strict=True):
            n, m = len(call.sentences), len(firm_summaries)
            result = FirmResult(call, sentence_vecs[s_at:s_at + n], firm_topics, firm_summaries,
                                summary_vecs[t_at:t_at + m], input_fingerprint(call, encoder.model_id, "search-tests"))
            replace_firm(conn, result)
            for p, s in enumerate(call.sentences):
                local = int(firm_topics.assignments[p])
                expected_topic[(call.firm_id, s.sentence_index)] = None if local == OUTLIER_TOPIC else local
            s_at, t_at = s_at + n, t_at + m

        topic_rows = conn.execute("SELECT topic_id, firm_id, quarter, local_topic_id, embedding FROM topics").fetchall()
        topic_ids = {(r[1], r[3]): r[0] for r in topic_rows}
        theme_members: dict[str, list[tuple[str, int]]] = {}
        for quarter in THEME_TEXTS:
            q_themes = [(i, name, desc) for i, (tq, name, desc) in enumerate(theme_list) if tq == quarter]
            q_topics = [r for r in topic_rows if r[2] == quarter]
            sims = np.array([[float(np.dot(r[4].to_numpy(), theme_vecs[i])) for i, _, _ in q_themes] for r in q_topics])
            left_out = int(np.argmin(sims.max(axis=1)))
            members: dict[int, list] = {}
            for row_no, r in enumerate(q_topics):
                if row_no != left_out:
                    members.setdefault(int(np.argmax(sims[row_no])), []).append(r)
            themes = []
            for slot, (i, name, desc) in enumerate(q_themes):
                if slot not in members:
                    continue
                rows = members[slot]
                theme_members[name] = [(r[1], r[3]) for r in rows]
                themes.append(Theme(len(themes), name, desc, (name.split()[0].lower(),), tuple(r[0] for r in rows),
                                    len({r[1] for r in rows}), "extractive", embedding=theme_vecs[i]))
            replace_quarter_themes(conn, quarter, themes, n_firms_included=len({r[1] for r in q_topics}),
                                   n_firms_expected=None)
        for quarter in THEME_TEXTS:
            build_quarter_indexes(conn, quarter)
        conn.execute("ANALYZE")
        theme_ids = dict(conn.execute("SELECT name, theme_id FROM themes").fetchall())
        sentence_rows = conn.execute("SELECT firm_id, sentence_index, sentence_id, quarter, embedding FROM sentences"
                                     ).fetchall()
    theme_of_topic = {member: name for name, ms in theme_members.items() for member in ms}
    sentence_ids = {(r[0], r[1]): r[2] for r in sentence_rows}
    expected = {}
    for firm_id, index, sentence_id, quarter, _ in sentence_rows:
        local = expected_topic[(firm_id, index)]
        expected[sentence_id] = {
            "firm_id": firm_id, "quarter": quarter, "local_topic_id": local,
            "topic_id": None if local is None else topic_ids[(firm_id, local)],
            "theme_name": None if local is None else theme_of_topic.get((firm_id, local)),
        }
    return SearchWarehouse(url, sentence_ids, expected, topic_ids, theme_ids, theme_members,
                           {r[2]: r[4].to_numpy() for r in sentence_rows})


@pytest.fixture(scope="session")
def warehouse(pg_admin_url, encoder) -> SearchWarehouse:
    name = f"search_{uuid.uuid4().hex[:10]}"
    ensure_database(pg_admin_url, name)
    return build_search_warehouse(pg_admin_url.replace("/postgres?", f"/{name}?"), encoder)
