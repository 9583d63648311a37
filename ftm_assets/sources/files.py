"""Transcript tables on the local disk: one Parquet/CSV file or a directory of them.

Reading one quarter streams firm by firm with flat memory, in two steps:

1. *Index*: read only ``firm_id`` and ``quarter`` of every file (Parquet row group by row group,
   CSV in blocks) and note which firms each row group holds. This also finds rows that belong to
   no firm (blank id) or to no readable quarter.
2. *Chunks*: walk the quarter's firms in sorted order, ``chunk_firms`` at a time; for each chunk
   read only the row groups (or CSV files) that hold those firms, keep the matching rows and build
   one ``FirmCall`` per firm. At most one chunk of firms' rows is in memory.

A directory is read recursively (``*.parquet`` and ``*.csv``, case-insensitive; hidden files and
folders, whose name starts with ``.``, are skipped). One bad file stops the whole source with an
``InputDataError`` naming it: data is never dropped silently.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ftm_assets.modeling.types import FirmCall, InputDataError, parse_quarter
from ftm_assets.sources.schema import (
    FILE_COLUMN,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ROW_COLUMN,
    FirmInputError,
    FirmRows,
    assemble_firm_call,
    format_list,
    interpret_quarter,
)

SUPPORTED_SUFFIXES = (".parquet", ".csv")
_BATCH_ROWS = 65_536
_CSV_BLOCK_BYTES = 8 << 20
_EXAMPLE_ROWS = 5
_NORMALISED_SCHEMA = pa.schema(
    [(c, pa.string()) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, FILE_COLUMN)]
    + [(ROW_COLUMN, pa.int64())]
)


@dataclass(frozen=True)
class TableFile:
    """A local Parquet or CSV file; ``name`` is how messages refer to it (a path or an ``s3://`` URI)."""

    path: Path
    name: str

    @property
    def kind(self) -> str:
        suffix = Path(self.name).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise InputDataError(f"{self.name}: not a transcript table; expected a .parquet or .csv file")
        return suffix[1:]


def find_table_files(root: Path) -> list[TableFile]:
    """The transcript tables at ``root``: the file itself, or every ``*.parquet``/``*.csv`` below it."""
    if not root.exists():
        raise InputDataError(f"transcript source {root} does not exist")
    if root.is_file():
        if root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise InputDataError(f"{root}: not a transcript table; expected a .parquet or .csv file")
        return [TableFile(root, str(root))]
    found = [
        TableFile(p, str(p))
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    if not found:
        raise InputDataError(f"transcript directory {root} holds no *.parquet or *.csv files")
    return found


class FileTranscriptSource:
    """Transcripts in a Parquet/CSV file or a directory of them (read recursively)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def describe(self) -> str:
        kind = "directory" if self.path.is_dir() else "file"
        return f"transcript {kind} {self.path}"

    def fingerprint(self) -> str:
        """Changes when a file is added, removed or rewritten (path, size, mtime)."""
        digest = hashlib.sha256()
        for table in find_table_files(self.path):
            stat = table.path.stat()
            digest.update(f"{table.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def list_calls(self) -> list[tuple[str, str]]:
        return list_calls_in(find_table_files(self.path))

    def iter_calls(
        self, quarter: str, firm_ids: Collection[str] | None = None, chunk_firms: int = 256
    ) -> Iterator[FirmCall | FirmInputError]:
        tables = find_table_files(self.path)
        yield from iter_calls_in(tables, quarter, firm_ids, chunk_firms, source_name=self.describe())


# --------------------------------------------------------------------------- reading


def list_calls_in(tables: Sequence[TableFile]) -> list[tuple[str, str]]:
    """Sorted ``(firm_id, quarter)`` pairs present in ``tables`` (ids as found, even unusable ones, so
    that the call can be reported; rows with a malformed quarter count under the quarter they name)."""
    index = _SourceIndex.build(tables)
    return sorted(index.calls)


def iter_calls_in(
    tables: Sequence[TableFile],
    quarter: str,
    firm_ids: Collection[str] | None,
    chunk_firms: int,
    source_name: str,
) -> Iterator[FirmCall | FirmInputError]:
    """Stream ``quarter`` from ``tables`` firm by firm in ``firm_id`` order (see module docstring)."""
    parse_quarter(quarter)
    if isinstance(firm_ids, str):
        raise TypeError(f"firm_ids must be a collection of firm ids, not the string {firm_ids!r}")
    if chunk_firms < 1:
        raise ValueError(f"chunk_firms must be at least 1, got {chunk_firms}")
    index = _SourceIndex.build(tables)
    present = index.firms_in(quarter)
    labels = index.labels_for(quarter)
    wanted = sorted(present) if firm_ids is None else sorted({str(f).strip() for f in firm_ids})
    for start in range(0, len(wanted), chunk_firms):
        chunk = wanted[start : start + chunk_firms]
        rows_by_firm = _read_chunk(index, labels, [f for f in chunk if f in present])
        for firm_id in chunk:
            rows = rows_by_firm.get(firm_id)
            if rows is None:
                yield FirmInputError(
                    firm_id, quarter, f"no sentences for this firm in quarter {quarter}", source_name
                )
            else:
                yield assemble_firm_call(firm_id, quarter, rows)


@dataclass
class _Segment:
    """A readable piece of a file: a Parquet row group, or a whole CSV (``row_group is None``)."""

    table: TableFile
    row_group: int | None
    #: firm -> the quarter labels (stripped, ``None`` for null) its rows carry in this segment
    labels: dict[str, set[str | None]] = field(default_factory=lambda: defaultdict(set))


@dataclass
class _SourceIndex:
    segments: list[_Segment]
    #: firm -> labels it carries that name no readable quarter, with example rows
    unreadable: dict[str, list[tuple[str | None, str, int]]]

    @classmethod
    def build(cls, tables: Sequence[TableFile]) -> _SourceIndex:
        segments: list[_Segment] = []
        unreadable: dict[str, list[tuple[str | None, str, int]]] = defaultdict(list)
        for table in tables:
            segments.extend(_index_table(table, unreadable))
        index = cls(segments, dict(unreadable))
        index._check_attributable()
        return index

    @cached_property
    def calls(self) -> set[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for segment in self.segments:
            for firm, labels in segment.labels.items():
                pairs.update((firm, q) for q in map(interpret_quarter, labels) if q is not None)
        return pairs

    def firms_in(self, quarter: str) -> set[str]:
        return {f for f, q in self.calls if q == quarter}

    def labels_for(self, quarter: str) -> set[str | None]:
        """Quarter labels whose rows are read for ``quarter``: the label itself, labels that name it
        in another spelling, and labels naming no quarter (the firm's call then fails)."""
        labels: set[str | None] = set()
        for segment in self.segments:
            for firm_labels in segment.labels.values():
                labels.update(q for q in firm_labels if q is None or interpret_quarter(q) in (quarter, None))
        return labels

    def _check_attributable(self) -> None:
        attributable = {f for f, _ in self.calls}
        orphans = {f: examples for f, examples in self.unreadable.items() if f not in attributable}
        if not orphans:
            return
        details = []
        for firm, examples in sorted(orphans.items())[:_EXAMPLE_ROWS]:
            label, file_name, row = examples[0]
            shown = repr(label) if label else "missing"
            details.append(f"firm {firm!r}: quarter {shown} ({file_name} row {row})")
        raise InputDataError(
            "rows whose quarter cannot be read and whose firm has no other quarter, so they belong to no "
            f"call: {format_list(details)}; expected YYYYQn such as 2020Q2"
        )


def _index_table(
    table: TableFile, unreadable: dict[str, list[tuple[str | None, str, int]]]
) -> list[_Segment]:
    segments: list[_Segment] = []
    n_rows = 0
    blank_rows: list[int] = []
    for segment, offset, batch in _scan(table, ("firm_id", "quarter"), row_groups=None):
        if not segments or segments[-1] is not segment:
            segments.append(segment)
        firm = _text_column(batch, "firm_id", table)
        label = _text_column(batch, "quarter", table)
        n_rows += batch.num_rows
        blank = pc.fill_null(pc.equal(firm, ""), True)
        if pc.any(blank).as_py():
            blank_rows.extend(offset + 1 + i for i in pc.indices_nonzero(blank).to_pylist()[:_EXAMPLE_ROWS])
        pairs = pa.table({"f": firm, "q": label}).filter(pc.invert(blank)).group_by(["f", "q"]).aggregate([])
        for f, q in zip(pairs["f"].to_pylist(), pairs["q"].to_pylist(), strict=True):
            segment.labels[f].add(q)
        odd = pc.and_(pc.invert(blank), pc.invert(_canonical(label)))
        if pc.any(odd).as_py():
            rows = pa.array(range(offset + 1, offset + 1 + batch.num_rows), pa.int64())
            firsts = (
                pa.table({"f": firm, "q": label, "row": rows})
                .filter(odd)
                .group_by(["f", "q"])
                .aggregate([("row", "min")])
            )
            for f, q, row in zip(*(firsts[c].to_pylist() for c in ("f", "q", "row_min")), strict=True):
                if interpret_quarter(q) is None and len(unreadable[f]) < _EXAMPLE_ROWS:
                    unreadable[f].append((q, table.name, row))
    if n_rows == 0:
        raise InputDataError(f"{table.name}: the file has no rows")
    if blank_rows:
        raise InputDataError(
            f"{table.name}: rows {format_list(sorted(blank_rows))} have an empty firm_id, so they belong to no "
            "firm; give every row a stable firm id such as the SEC CIK"
        )
    return segments


def _read_chunk(index: _SourceIndex, labels: set[str | None], firms: list[str]) -> dict[str, FirmRows]:
    """The rows of ``firms`` whose quarter label is in ``labels``, as columns per firm; reads only
    the segments that hold them."""
    if not firms:
        return {}
    wanted = set(firms)
    firm_set = pa.array(sorted(wanted), pa.string())
    label_set = pa.array(sorted(q for q in labels if q is not None), pa.string())
    by_table: dict[TableFile, list[_Segment]] = defaultdict(list)
    for segment in index.segments:
        if any(f in segment.labels and not labels.isdisjoint(segment.labels[f]) for f in wanted):
            by_table[segment.table].append(segment)
    pieces: list[pa.Table] = []
    columns = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    for table, segments in by_table.items():
        row_groups = None if segments[0].row_group is None else [s.row_group for s in segments]
        for _, offset, batch in _scan(table, columns, row_groups=row_groups):
            normalised = _normalise(batch, table, offset)
            keep = pc.is_in(normalised["firm_id"], value_set=firm_set)
            in_quarter = pc.is_in(normalised["quarter"], value_set=label_set)
            if None in labels:
                in_quarter = pc.or_(in_quarter, pc.is_null(normalised["quarter"]))
            keep = pc.fill_null(pc.and_(keep, in_quarter), False)
            if pc.any(keep).as_py():
                pieces.append(normalised.filter(keep))
    if not pieces:
        return {}
    columns = pa.concat_tables(pieces).to_pydict()
    positions: dict[str, list[int]] = defaultdict(list)
    for i, firm in enumerate(columns["firm_id"]):
        positions[firm].append(i)
    return {
        firm: {name: [values[i] for i in where] for name, values in columns.items()}
        for firm, where in positions.items()
    }


# --------------------------------------------------------------------------- low-level scanning


def _scan(
    table: TableFile, columns: Iterable[str], row_groups: list[int] | None
) -> Iterator[tuple[_Segment, int, pa.RecordBatch]]:
    """Yield ``(segment, 0-based row offset, batch)`` for the requested columns that the file has."""
    if table.path.stat().st_size == 0:
        raise InputDataError(f"{table.name}: the file is empty")
    if table.kind == "parquet":
        yield from _scan_parquet(table, list(columns), row_groups)
    else:
        yield from _scan_csv(table, list(columns))


def _scan_parquet(
    table: TableFile, columns: list[str], row_groups: list[int] | None
) -> Iterator[tuple[_Segment, int, pa.RecordBatch]]:
    try:
        parquet = pq.ParquetFile(table.path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputDataError(f"{table.name}: not a readable Parquet file ({exc})") from exc
    with parquet:
        _require_columns(table, parquet.schema_arrow.names)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        starts = [0]
        for i in range(parquet.num_row_groups):
            starts.append(starts[-1] + parquet.metadata.row_group(i).num_rows)
        for group in range(parquet.num_row_groups) if row_groups is None else row_groups:
            segment = _Segment(table, group)
            offset = starts[group]
            try:
                for batch in parquet.iter_batches(
                    batch_size=_BATCH_ROWS, row_groups=[group], columns=present
                ):
                    yield segment, offset, batch
                    offset += batch.num_rows
            except (pa.ArrowException, OSError) as exc:
                raise InputDataError(f"{table.name}: cannot read row group {group} ({exc})") from exc


def _scan_csv(table: TableFile, columns: list[str]) -> Iterator[tuple[_Segment, int, pa.RecordBatch]]:
    read_options = pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    try:
        header = pa_csv.open_csv(table.path, read_options=read_options).schema.names
    except pa.ArrowInvalid as exc:
        raise _csv_error(table, exc) from exc
    _require_columns(table, header)
    present = [c for c in columns if c in header]
    convert = pa_csv.ConvertOptions(include_columns=present, column_types={c: pa.string() for c in present})
    segment = _Segment(table, None)
    offset = 0
    try:
        reader = pa_csv.open_csv(table.path, read_options=read_options, convert_options=convert)
        for batch in reader:
            yield segment, offset, batch
            offset += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _csv_error(table, exc) from exc


def _csv_error(table: TableFile, exc: Exception) -> InputDataError:
    if "UTF8" in str(exc) or "utf-8" in str(exc).lower():
        line = _first_undecodable_line(table.path)
        where = f" on line {line}" if line else ""
        return InputDataError(f"{table.name}: bytes that are not UTF-8{where}; save the CSV as UTF-8 ({exc})")
    if "Empty CSV file" in str(exc):
        return InputDataError(f"{table.name}: the file is empty")
    return InputDataError(f"{table.name}: not a readable CSV file ({exc})")


def _first_undecodable_line(path: Path) -> int | None:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _require_columns(table: TableFile, names: Sequence[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise InputDataError(
            f"{table.name}: missing required column(s) {', '.join(missing)} "
            f"(found: {', '.join(names) or 'none'}; required: {', '.join(REQUIRED_COLUMNS)})"
        )


def _canonical(label: pa.Array) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(label, r"^\d{4}Q[1-4]$"), False)


def _text_column(batch: pa.RecordBatch, name: str, table: TableFile) -> pa.Array:
    """Column ``name`` as stripped text (null stays null)."""
    column = batch.column(batch.schema.get_field_index(name))
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    try:
        as_text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputDataError(f"{table.name}: column {name} cannot be read as text ({exc})") from exc
    return pc.utf8_trim_whitespace(as_text)


def _sentence_index_text(column: pa.Array) -> pa.Array:
    """Integral floats (pandas writes ints with gaps as floats) become ``"3"``, not ``"3.0"``."""
    if pa.types.is_floating(column.type):
        values = column.to_pylist()
        return pa.array(
            [
                None if v is None else (str(int(v)) if v == v and float(v).is_integer() else repr(v))
                for v in values
            ],
            pa.string(),
        )
    return pc.cast(column, pa.string())


def _normalise(batch: pa.RecordBatch, table: TableFile, offset: int) -> pa.Table:
    """Bring a batch to ``_NORMALISED_SCHEMA``: text columns, missing optional columns as nulls,
    plus the file name and 1-based row numbers."""
    n = batch.num_rows
    arrays: list[pa.Array] = []
    for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        if name not in batch.schema.names:
            arrays.append(pa.nulls(n, pa.string()))
        elif name in ("firm_id", "quarter"):
            arrays.append(_text_column(batch, name, table))
        elif name == "sentence_index":
            column = batch.column(batch.schema.get_field_index(name))
            arrays.append(_sentence_index_text(column))
        else:
            column = batch.column(batch.schema.get_field_index(name))
            if pa.types.is_dictionary(column.type):
                column = column.dictionary_decode()
            try:
                arrays.append(pc.cast(column, pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputDataError(f"{table.name}: column {name} cannot be read as text ({exc})") from exc
    arrays.append(pa.array([table.name] * n, pa.string()))
    arrays.append(pa.array(range(offset + 1, offset + n + 1), pa.int64()))
    return pa.Table.from_arrays(arrays, schema=_NORMALISED_SCHEMA)
