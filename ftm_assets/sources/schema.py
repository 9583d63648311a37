"""The transcript input schema and the checks that turn one firm's rows into a ``FirmCall``.

Input is one row per sentence. Required columns: ``firm_id``, ``quarter`` (``YYYYQn``),
``sentence_index`` (non-negative integer, unique within a firm's call) and ``text``. Optional:
``firm_name``, ``call_date``, ``section``, ``speaker``. Other columns are ignored.

Problems are split in two kinds:

* A broken *file* (missing columns, no rows, bytes that are not UTF-8, not Parquet/CSV) raises
  ``InputDataError``: nothing from that source is trusted until it is fixed.
* A broken *firm* (unusable firm id, malformed quarter, duplicate or bad ``sentence_index``, empty
  text) becomes a ``FirmInputError`` value: the pipeline fails that firm only.

Row numbers in messages count data rows from 1 (a CSV header is not counted, so row ``r`` of a
CSV is on line ``r + 1`` when no field spans lines).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ftm_assets.modeling.types import FORBIDDEN_FIRM_ID_CHARS, QUARTER_RE, CallSentence, FirmCall

REQUIRED_COLUMNS = ("firm_id", "quarter", "sentence_index", "text")
OPTIONAL_COLUMNS = ("firm_name", "call_date", "section", "speaker")
#: Longest firm id accepted: ids end up in partition keys, run tags and file names.
MAX_FIRM_ID_LENGTH = 64
#: Row-provenance columns the readers add to the rows handed to ``assemble_firm_call``.
FILE_COLUMN = "_file"
ROW_COLUMN = "_row"

_LIST_LIMIT = 10
_LENIENT_QUARTER_PATTERNS = (
    re.compile(r"(?:FY)?\s*(\d{4})\s*[-_/ .]?\s*Q\s*([1-4])", re.IGNORECASE),
    re.compile(r"Q\s*([1-4])\s*[-_/ .,]?\s*(?:FY)?\s*'?(\d{4})", re.IGNORECASE),
)
_NON_NEGATIVE_INT = re.compile(r"^\+?\d+$")


@dataclass(frozen=True)
class FirmInputError:
    """A data problem confined to one firm's call; other firms of the quarter are unaffected.

    ``reason`` names the offending rows or ``sentence_index`` values; ``source`` names the file(s).
    """

    firm_id: str
    quarter: str
    reason: str
    source: str

    def message(self) -> str:
        return f"{self.source}: firm {self.firm_id!r}, quarter {self.quarter}: {self.reason}"


def validate_firm_id(firm_id: str) -> str | None:
    """Return why ``firm_id`` cannot be a Dagster partition key, or ``None`` if it can.

    Dagster multi-partition keys cannot hold ``| , [ ]``; any partition key rejects ``...`` and
    control characters. Ids are expected already stripped of surrounding whitespace.
    """
    if firm_id is None or firm_id == "":
        return "firm id is empty"
    hint = "use a stable identifier such as the SEC CIK (e.g. 0000320193) and keep the name in firm_name"
    bad = sorted({c for c in firm_id if c in FORBIDDEN_FIRM_ID_CHARS})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"firm id {firm_id!r} contains {shown}, which a Dagster partition key cannot carry; {hint}"
    if "..." in firm_id:
        return f"firm id {firm_id!r} contains '...', which Dagster reads as a partition range; {hint}"
    if any(ord(c) < 32 or ord(c) == 127 for c in firm_id):
        return f"firm id {firm_id!r} contains control characters; {hint}"
    if firm_id != firm_id.strip():
        return f"firm id {firm_id!r} has leading or trailing whitespace"
    if len(firm_id) > MAX_FIRM_ID_LENGTH:
        return f"firm id {firm_id[:20]!r}... is {len(firm_id)} characters long (at most {MAX_FIRM_ID_LENGTH}); {hint}"
    return None


def is_canonical_quarter(value: str | None) -> bool:
    return value is not None and QUARTER_RE.match(value) is not None


def interpret_quarter(value: str | None) -> str | None:
    """Best-effort reading of a quarter label: ``"2020Q2"``, ``"2020-Q2"``, ``"Q2 2020"``, ``"fy2020q2"``
    all give ``"2020Q2"``; ``None`` when no year and quarter can be read.

    Used only to *attribute* malformed rows to the call they probably belong to, so that call
    fails with a clear message; malformed rows are never accepted as valid.
    """
    if value is None:
        return None
    text = str(value).strip()
    if is_canonical_quarter(text):
        return text
    m = _LENIENT_QUARTER_PATTERNS[0].search(text)
    if m:
        return f"{m.group(1)}Q{m.group(2)}"
    m = _LENIENT_QUARTER_PATTERNS[1].search(text)
    if m:
        return f"{m.group(2)}Q{m.group(1)}"
    return None


def format_list(items: list[object], limit: int = _LIST_LIMIT) -> str:
    """``[1, 2, 3]`` -> ``"1, 2, 3"``; long lists end with ``"... (N more)"``."""
    shown = ", ".join(str(i) for i in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items) - limit} more)"


#: One firm's rows as columns of equal length (column name -> values), as the readers hand them over.
FirmRows = Mapping[str, Sequence[Any]]


def assemble_firm_call(firm_id: str, quarter: str, rows: FirmRows) -> FirmCall | FirmInputError:
    """Check one firm's rows for one quarter and build its ``FirmCall``.

    ``rows`` holds the reader-normalised columns: ``quarter`` (stripped label; rows whose label is
    not exactly ``quarter`` are reported as malformed), ``sentence_index`` (as text), ``text``, the
    optional columns (text or ``None``; absent columns count as all ``None``) and ``_file`` /
    ``_row`` (provenance). Every problem found is reported together in one ``FirmInputError``.
    """
    files, row_numbers = rows[FILE_COLUMN], rows[ROW_COLUMN]
    n = len(files)
    source = ", ".join(sorted(set(files))) if n else "(no rows)"
    problems: list[str] = []

    id_problem = validate_firm_id(firm_id)
    if id_problem:
        problems.append(id_problem)

    malformed = [i for i, label in enumerate(rows["quarter"]) if label != quarter]
    if malformed:
        values = sorted({repr(rows["quarter"][i]) if rows["quarter"][i] else "missing" for i in malformed})
        problems.append(
            f"malformed quarter {format_list(values)} on {_rows_phrase(rows, malformed)}; "
            f"expected YYYYQn such as {quarter}"
        )

    indices = [_parse_sentence_index(v) for v in rows["sentence_index"]]
    bad_index = [i for i, v in enumerate(indices) if v is None]
    if bad_index:
        shown = [f"{_shown(rows['sentence_index'][i])} ({files[i]} row {row_numbers[i]})" for i in bad_index]
        problems.append(f"sentence_index must be a non-negative integer, got {format_list(shown)}")

    seen: dict[int, list[int]] = {}
    for i, value in enumerate(indices):
        if value is not None:
            seen.setdefault(value, []).append(i)
    duplicates = sorted(v for v, where in seen.items() if len(where) > 1)
    if duplicates:
        where = sorted(i for v in duplicates for i in seen[v])
        problems.append(f"duplicate sentence_index {format_list(duplicates)} ({_rows_phrase(rows, where)})")

    texts = [_clean_text(v) for v in rows["text"]]
    empty = [i for i, t in enumerate(texts) if t is None]
    if empty:
        known = sorted(indices[i] for i in empty if indices[i] is not None)
        at = f"sentence_index {format_list(known)} " if known else ""
        problems.append(f"empty or missing text at {at}({_rows_phrase(rows, empty)})")

    call_date, date_problem = _call_date(rows)
    if date_problem:
        problems.append(date_problem)

    if problems:
        return FirmInputError(firm_id=firm_id, quarter=quarter, reason="; ".join(problems), source=source)

    order = sorted(range(n), key=indices.__getitem__)
    sections, speakers = _optional(rows, "section", n), _optional(rows, "speaker", n)
    sentences = tuple(
        CallSentence(
            sentence_index=indices[i],
            text=texts[i],
            section=_clean_text(sections[i]),
            speaker=_clean_text(speakers[i]),
        )
        for i in order
    )
    names = _optional(rows, "firm_name", n)
    firm_name = next((t for t in (_clean_text(names[i]) for i in order) if t is not None), None)
    return FirmCall(
        firm_id=firm_id, quarter=quarter, sentences=sentences, firm_name=firm_name, call_date=call_date
    )


def _rows_phrase(rows: FirmRows, positions: Sequence[int]) -> str:
    """``"a.csv rows 3, 4; b.parquet rows 9"`` for the given positions in ``rows``."""
    by_file: dict[str, list[int]] = {}
    for i in positions:
        by_file.setdefault(rows[FILE_COLUMN][i], []).append(int(rows[ROW_COLUMN][i]))
    return "; ".join(f"{name} rows {format_list(sorted(nums))}" for name, nums in sorted(by_file.items()))


def _parse_sentence_index(value: object) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    return int(text) if _NON_NEGATIVE_INT.match(text) else None


def _shown(value: object) -> str:
    return repr(str(value).strip()) if value is not None and str(value).strip() else "missing"


def _clean_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _optional(rows: FirmRows, column: str, n: int) -> Sequence[Any]:
    return rows[column] if column in rows else [None] * n


def _call_date(rows: FirmRows) -> tuple[date | None, str | None]:
    values = _optional(rows, "call_date", len(rows[FILE_COLUMN]))
    first = next((i for i, v in enumerate(values) if _clean_text(v) is not None), None)
    if first is None:
        return None, None
    raw = _clean_text(values[first])
    try:
        return _to_date(raw), None
    except ValueError:
        return None, f"call_date {raw!r} is not a date ({_rows_phrase(rows, [first])}); use YYYY-MM-DD"


def _to_date(text: str) -> date:
    """``"2020-05-01"`` or ``"2020-05-01 00:00:00"`` (how readers render date/timestamp columns)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text).date()
