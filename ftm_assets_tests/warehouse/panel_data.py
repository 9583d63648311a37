"""A small real warehouse over several quarters for the exposure, lineage and export tests.

The first 60 sentences of four real earnings21 calls (NextEra, Spire, Mosaic, Innovative Solutions
and Support), embedded with the real model. Boilerplate sentences (``is_boilerplate``: operator
lines, greetings) are outliers; the other sentences form topics of ten consecutive sentences, and
the substantive sentences left over are outliers too. Calls are stored under several quarters
(relabelled), and each quarter's themes are given by hand as lists of (firm, local topic), so that
exposures and lineage have an expected value known from the construction alone.

Themes are stored the way the themes IO manager stores them: replace the quarter's themes, clear
its exposure panel and relink, in one transaction (:func:`store_themes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ftm_assets.llm.extractive import extractive_topic_summary
from ftm_assets.llm.prompts import TopicPromptInput
from ftm_assets.modeling.boilerplate import is_boilerplate
from ftm_assets.modeling.types import (
    OUTLIER_TOPIC,
    CallSentence,
    FirmCall,
    FirmTopics,
    Theme,
    TopicRecord,
    TopicSummary,
)
from ftm_assets.warehouse.exposure import clear_quarter_exposures
from ftm_assets.warehouse.firm_rows import FirmResult, input_fingerprint, replace_firm
from ftm_assets.warehouse.lineage import LineageCounts, relink_quarter
from ftm_assets.warehouse.quarter_rows import replace_quarter_themes

EARNINGS21 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "earnings21" / "corpus.parquet"
PANEL_FIRMS = ("NEE", "SR", "MOS", "ISSC")
FIRST_SENTENCES = 60
TOPIC_SIZE = 10

ThemeSpec = tuple[str, tuple[tuple[str, int], ...]]  # (name, members (firm_id, local_topic_id))

#: the scenario of the lineage tests: A and B run on, C ends in 2020Q3, D starts there
SCENARIO: dict[str, dict] = {
    "2020Q2": {"firms": ("NEE", "SR", "MOS"),
               "themes": (("A", (("NEE", 0), ("SR", 0), ("MOS", 0))),
                          ("B", (("NEE", 1), ("SR", 1), ("MOS", 1))),
                          ("C", (("MOS", 2), ("MOS", 3))))},
    "2020Q3": {"firms": ("NEE", "SR", "ISSC"),
               "themes": (("A", (("NEE", 0), ("SR", 0))),
                          ("B", (("NEE", 1), ("SR", 1))),
                          ("D", (("ISSC", 0), ("ISSC", 1), ("ISSC", 2))))},
    "2020Q4": {"firms": ("NEE", "SR"),
               "themes": (("A", (("NEE", 0), ("SR", 0))),)},
}


@dataclass
class PanelCall:
    """One real call, modelled once and stored under any quarter."""

    call: FirmCall
    sentence_vectors: np.ndarray
    topics: FirmTopics
    summaries: list[TopicSummary]
    summary_vectors: np.ndarray

    @property
    def n_substantive(self) -> int:
        return sum(not is_boilerplate(t) for t in self.call.texts)

    def topic_size(self, local: int) -> int:
        return int((self.topics.assignments == local).sum())

    def topic_positions(self, local: int) -> list[int]:
        return [int(p) for p in np.flatnonzero(self.topics.assignments == local)]


@dataclass
class PanelWarehouse:
    url: str
    calls: dict[str, PanelCall]
    #: quarter -> theme name -> theme_id (as last stored)
    theme_ids: dict[str, dict[str, int]] = field(default_factory=dict)
    lineage: dict[str, LineageCounts] = field(default_factory=dict)


def _topics(call: FirmCall) -> tuple[FirmTopics, list[TopicPromptInput]]:
    substantive = [p for p, t in enumerate(call.texts) if not is_boilerplate(t)]
    n_topics = len(substantive) // TOPIC_SIZE - (1 if len(substantive) % TOPIC_SIZE < 3 else 0)
    assignments = np.full(len(call.sentences), OUTLIER_TOPIC, dtype=np.int64)
    records, prompts = [], []
    for local in range(n_topics):
        positions = substantive[local * TOPIC_SIZE:(local + 1) * TOPIC_SIZE]
        assignments[positions] = local
        texts = [call.sentences[p].text for p in positions]
        keywords = tuple(sorted({w.lower() for t in texts for w in t.split() if len(w) > 6})[:5])
        records.append(TopicRecord(local, keywords, " / ".join(keywords[:3]), len(positions), tuple(positions[:2])))
        prompts.append(TopicPromptInput(local, keywords, texts[:2]))
    return FirmTopics(tuple(records), assignments), prompts


def load_panel_calls(encoder, firms: tuple[str, ...] = PANEL_FIRMS) -> dict[str, PanelCall]:
    corpus = pd.read_parquet(EARNINGS21, columns=["firm_id", "firm_name", "quarter", "section", "speaker",
                                                  "sentence_index", "text"])
    calls, modelled = [], []
    for firm_id in firms:
        rows = corpus[corpus.firm_id == firm_id].sort_values("sentence_index").head(FIRST_SENTENCES)
        sentences = tuple(CallSentence(int(r.sentence_index), str(r.text), r.section, r.speaker)
                          for r in rows.itertuples())
        call = FirmCall(firm_id, str(rows.quarter.iloc[0]), sentences, firm_name=str(rows.firm_name.iloc[0]))
        calls.append(call)
        modelled.append(_topics(call))
    summaries = [[TopicSummary(p.local_topic_id, extractive_topic_summary(p), "extractive", "no_api_key")
                  for p in prompts] for _, prompts in modelled]
    sentence_texts = [t for call in calls for t in call.texts]
    summary_texts = [s.summary for firm in summaries for s in firm]
    vectors = encoder.encode(sentence_texts + summary_texts)
    out, s_at, t_at = {}, 0, len(sentence_texts)
    for call, (topics, _), firm_summaries in zip(calls, modelled, summaries, strict=True):
        n, m = len(call.sentences), len(firm_summaries)
        out[call.firm_id] = PanelCall(call, vectors[s_at:s_at + n], topics, firm_summaries, vectors[t_at:t_at + m])
        s_at, t_at = s_at + n, t_at + m
    return out


def call_date(quarter: str) -> date:
    """The panel's call date of a quarter: 20 days after the quarter ends."""
    year, q = int(quarter[:4]), int(quarter[-1])
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return end + timedelta(days=19)


def store_call(conn, pc: PanelCall, quarter: str) -> None:
    call = replace(pc.call, quarter=quarter, call_date=call_date(quarter))
    replace_firm(conn, FirmResult(call, pc.sentence_vectors, pc.topics, pc.summaries, pc.summary_vectors,
                                  input_fingerprint(call, "panel-tests", "panel-tests")))


def store_themes(conn, calls: dict[str, PanelCall], quarter: str, specs: tuple[ThemeSpec, ...],
                 relink: bool = True) -> tuple[dict[str, int], LineageCounts | None]:
    """Store the quarter's themes as the themes IO manager does; returns name -> theme_id and the counts."""
    topic_ids = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT firm_id, local_topic_id, topic_id FROM topics WHERE quarter = %s", (quarter,)).fetchall()}
    themes = []
    for local, (name, members) in enumerate(specs):
        vec = np.mean([calls[f].summary_vectors[t] for f, t in members], axis=0)
        themes.append(Theme(local, name, f"Theme {name} of the panel tests", (name.lower(),),
                            tuple(topic_ids[m] for m in members), len({f for f, _ in members}), "extractive",
                            embedding=vec / np.linalg.norm(vec)))
    with conn.transaction():
        replace_quarter_themes(conn, quarter, themes, n_firms_included=len({f for f, _ in topic_ids}),
                               n_firms_expected=None)
        clear_quarter_exposures(conn, quarter)
        counts = relink_quarter(conn, quarter) if relink else None
    ids = dict(conn.execute("SELECT name, theme_id FROM themes WHERE quarter = %s", (quarter,)).fetchall())
    return ids, counts


def build_panel_warehouse(url: str, calls: dict[str, PanelCall], scenario: dict[str, dict] = SCENARIO,
                          with_themes: bool = True) -> PanelWarehouse:
    from ftm_assets.warehouse.database import connect
    from ftm_assets.warehouse.schema import migrate

    encoder_dim = next(iter(calls.values())).sentence_vectors.shape[1]
    migrate(url, int(encoder_dim), "panel-tests")
    panel = PanelWarehouse(url, calls)
    with connect(url, autocommit=True) as conn:
        for quarter, spec in scenario.items():
            for firm in spec["firms"]:
                store_call(conn, calls[firm], quarter)
            if with_themes:
                panel.theme_ids[quarter], panel.lineage[quarter] = store_themes(conn, calls, quarter, spec["themes"])
    return panel


def expected_theme_exposures(calls: dict[str, PanelCall], specs: tuple[ThemeSpec, ...]) -> dict[tuple[str, str], dict]:
    """(firm_id, theme name) -> n_topics, n_sentences, n_substantive, exposure, from the construction."""
    out: dict[tuple[str, str], dict] = {}
    for name, members in specs:
        for firm in {f for f, _ in members}:
            locals_ = [t for f, t in members if f == firm]
            n = sum(calls[firm].topic_size(t) for t in locals_)
            out[(firm, name)] = {"n_topics": len(locals_), "n_sentences": n,
                                 "n_substantive": calls[firm].n_substantive,
                                 "exposure": n / calls[firm].n_substantive}
    return out
