"""Export a quarter's research tables to Parquet or CSV files, in a folder or under an S3 prefix.

Layout (one file per table and quarter, so re-exporting a quarter overwrites exactly its files and
a folder of one table reads as one dataset, e.g. ``pd.read_parquet("out/themes")``)::

    OUT/firms/2020Q2.parquet
    OUT/themes/2020Q2.parquet
    OUT/topics/2020Q2.parquet
    OUT/sentence_topics/2020Q2.parquet
    OUT/firm_theme_exposures/2020Q2.parquet
    OUT/firm_topic_exposures/2020Q2.parquet
    OUT/manifest/2020Q2.json          row counts, format, export version

Every table carries ``quarter`` and the ids that join them (``firm_id``, ``topic_id``,
``theme_id``, ``sentence_id``, ``lineage_id``); the firm-level tables carry ``firm_name`` and
``call_date``. Column types are fixed (:data:`TABLES`), whatever a quarter holds. In CSV files
list columns (keywords, evidence ids) are JSON arrays. The data dictionary is docs/export.md.

Rows are streamed from PostgreSQL in batches (server-side cursor) into the writer, so a quarter of
millions of sentences is never held in memory at once. S3 objects are written from a local
temporary file with the client's managed upload (multipart for large files).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from ftm_assets.modeling.types import parse_quarter

EXPORT_VERSION = 1
FORMATS = ("parquet", "csv")
BATCH_ROWS = 50_000

_str, _i64, _i32, _f64 = pa.string(), pa.int64(), pa.int32(), pa.float64()


class ExportError(ValueError):
    """The destination cannot be written (named in the message, never with credentials)."""


@dataclass(frozen=True)
class ExportTable:
    name: str
    schema: pa.Schema
    sql: str  # one parameter: %(quarter)s; columns in schema order


_FIRM_COLS = [("quarter", _str), ("firm_id", _str), ("firm_name", _str), ("call_date", pa.date32())]

TABLES: tuple[ExportTable, ...] = (
    ExportTable("firms", pa.schema(_FIRM_COLS + [
        ("n_sentences", _i32), ("n_substantive_sentences", _i32), ("n_topics", _i32), ("outlier_share", _f64),
        ("topic_outcome", _str), ("summary_source", _str)]),
        "SELECT f.quarter, f.firm_id, f.firm_name, f.call_date, f.n_sentences, e.n_substantive, f.n_topics,"
        " f.outlier_share, f.topic_outcome, f.summary_source FROM firms f"
        " LEFT JOIN (SELECT DISTINCT firm_id, n_substantive_sentences AS n_substantive FROM firm_topic_exposures"
        "  WHERE quarter = %(quarter)s) e ON e.firm_id = f.firm_id"
        " WHERE f.quarter = %(quarter)s ORDER BY f.firm_id"),
    ExportTable("themes", pa.schema([
        ("quarter", _str), ("theme_id", _i64), ("theme_local_id", _i32), ("name", _str), ("description", _str),
        ("keywords", pa.list_(_str)), ("n_firms", _i32), ("n_topics", _i32), ("source", _str),
        ("lineage_id", _i64), ("prev_quarter", _str), ("prev_theme_id", _i64), ("prev_similarity", _f64),
        ("prev_firm_overlap", _f64)]),
        "SELECT th.quarter, th.theme_id, th.theme_local_id, th.name, th.description, th.keywords, th.n_firms,"
        " th.n_topics, th.source, l.lineage_id, l.prev_quarter, l.prev_theme_id, l.similarity, l.firm_overlap"
        " FROM themes th LEFT JOIN theme_links l ON l.theme_id = th.theme_id AND l.quarter = th.quarter"
        " WHERE th.quarter = %(quarter)s ORDER BY th.theme_local_id"),
    ExportTable("topics", pa.schema(_FIRM_COLS + [
        ("topic_id", _i64), ("local_topic_id", _i32), ("label", _str), ("keywords", pa.list_(_str)),
        ("size", _i32), ("summary", _str), ("summary_source", _str), ("theme_id", _i64), ("rank_in_theme", _i32)]),
        "SELECT t.quarter, t.firm_id, f.firm_name, f.call_date, t.topic_id, t.local_topic_id, t.label, t.keywords,"
        " t.size, t.summary, t.summary_source, th.theme_id, CASE WHEN th.theme_id IS NULL THEN NULL"
        " ELSE tt.rank_in_theme END"
        " FROM topics t JOIN firms f ON f.firm_id = t.firm_id AND f.quarter = t.quarter"
        " LEFT JOIN topic_themes tt ON tt.topic_id = t.topic_id"
        " LEFT JOIN themes th ON th.theme_id = tt.theme_id AND th.quarter = t.quarter"
        " WHERE t.quarter = %(quarter)s ORDER BY t.firm_id, t.local_topic_id"),
    ExportTable("sentence_topics", pa.schema(_FIRM_COLS + [
        ("sentence_id", _i64), ("sentence_index", _i32), ("section", _str), ("speaker", _str), ("text", _str),
        ("topic_id", _i64), ("theme_id", _i64)]),
        "SELECT s.quarter, s.firm_id, f.firm_name, f.call_date, s.sentence_id, s.sentence_index, s.section,"
        " s.speaker, s.text, s.topic_id, th.theme_id"
        " FROM sentences s JOIN firms f ON f.firm_id = s.firm_id AND f.quarter = s.quarter"
        " LEFT JOIN topic_themes tt ON tt.topic_id = s.topic_id"
        " LEFT JOIN themes th ON th.theme_id = tt.theme_id AND th.quarter = s.quarter"
        " WHERE s.quarter = %(quarter)s ORDER BY s.firm_id, s.sentence_index"),
    ExportTable("firm_theme_exposures", pa.schema(_FIRM_COLS + [
        ("theme_id", _i64), ("theme_name", _str), ("lineage_id", _i64), ("exposure", _f64), ("n_topics", _i32),
        ("n_sentences", _i32), ("n_substantive_sentences", _i32), ("evidence_sentence_ids", pa.list_(_i64))]),
        "SELECT quarter, firm_id, firm_name, call_date, theme_id, theme_name, lineage_id, exposure, n_topics,"
        " n_sentences, n_substantive_sentences, evidence_sentence_ids FROM theme_exposure_panel"
        " WHERE quarter = %(quarter)s ORDER BY firm_id, exposure DESC, theme_id"),
    ExportTable("firm_topic_exposures", pa.schema(_FIRM_COLS + [
        ("topic_id", _i64), ("topic_label", _str), ("theme_id", _i64), ("theme_name", _str), ("exposure", _f64),
        ("n_sentences", _i32), ("n_substantive_sentences", _i32), ("evidence_sentence_ids", pa.list_(_i64))]),
        "SELECT quarter, firm_id, firm_name, call_date, topic_id, topic_label, theme_id, theme_name, exposure,"
        " n_sentences, n_substantive_sentences, evidence_sentence_ids FROM topic_exposure_panel"
        " WHERE quarter = %(quarter)s ORDER BY firm_id, exposure DESC, topic_id"),
)
TABLE_NAMES = tuple(t.name for t in TABLES)


@dataclass
class QuarterExport:
    quarter: str
    rows: dict[str, int]
    files: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass
class ExportReport:
    out: str
    format: str
    quarters: list[QuarterExport]

    def as_dict(self) -> dict[str, Any]:
        return {"out": self.out, "format": self.format,
                "quarters": [{"quarter": q.quarter, "rows": q.rows, "files": q.files, "warnings": q.warnings}
                             for q in self.quarters]}


def stored_quarters(conn: psycopg.Connection) -> list[str]:
    """Quarters with at least one stored firm, oldest first."""
    return [r[0] for r in conn.execute("SELECT DISTINCT quarter FROM firms ORDER BY quarter").fetchall()]


class _Destination:
    """A local folder, or ``s3://bucket/prefix`` staged through a local temporary folder."""

    def __init__(self, out: str, s3_client: Any | None = None) -> None:
        self.out = out.rstrip("/") if out.startswith("s3://") else out
        self.s3 = out.startswith("s3://")
        if self.s3:
            from ftm_assets.sources.s3 import parse_s3_uri

            self.bucket, prefix = parse_s3_uri(self.out)
            self.prefix = prefix.strip("/")
            if s3_client is None:
                import boto3

                s3_client = boto3.client("s3")  # honours AWS_ENDPOINT_URL / AWS_PROFILE like the readers
            self.client = s3_client
            self.root = Path(tempfile.mkdtemp(prefix="ftm-export-"))
        else:
            self.root = Path(out).expanduser()
            if self.root.exists() and not self.root.is_dir():
                raise ExportError(f"export destination {out} exists and is not a folder")

    def path(self, relative: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def publish(self, relative: str, staged: Path) -> str:
        """Move a finished file into place (atomic rename locally; one upload on S3); its final name."""
        if not self.s3:
            final = self.root / relative
            staged.replace(final)
            return str(final)
        key = f"{self.prefix}/{relative}" if self.prefix else relative
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(staged), self.bucket, key)
        except S3UploadFailedError as exc:  # the service's error code and message, no request
            raise ExportError(f"cannot write s3://{self.bucket}/{key}: {exc}") from exc
        except (ClientError, BotoCoreError) as exc:
            from ftm_assets.sources.s3 import _describe

            raise ExportError(f"cannot write s3://{self.bucket}/{key}: {_describe(exc)}") from exc
        finally:
            staged.unlink(missing_ok=True)
        return f"s3://{self.bucket}/{key}"

    def close(self) -> None:
        if self.s3:
            shutil.rmtree(self.root, ignore_errors=True)


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """List columns as JSON text (CSV has no list type)."""
    columns, fields = [], []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_list(column.type):
            column = pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()], pa.string())
        columns.append(column)
        fields.append(pa.field(name, column.type))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))


def _write_table(conn: psycopg.Connection, table: ExportTable, quarter: str, staged: Path, fmt: str) -> int:
    """Stream the table's rows of ``quarter`` into ``staged``; returns the row count."""
    names = table.schema.names
    rows = 0
    writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None
    try:
        with conn.transaction(), conn.cursor(name=f"ftm_export_{table.name}") as cur:
            cur.execute(table.sql, {"quarter": quarter})
            while True:
                chunk = cur.fetchmany(BATCH_ROWS)
                if not chunk and writer is not None:
                    break
                columns = [list(col) for col in zip(*chunk, strict=True)] if chunk else [[] for _ in names]
                batch = pa.RecordBatch.from_arrays(
                    [pa.array(col, type=f.type) for col, f in zip(columns, table.schema, strict=True)],
                    schema=table.schema)
                if fmt == "csv":
                    batch = _csv_ready(batch)
                if writer is None:
                    writer = (pq.ParquetWriter(staged, table.schema) if fmt == "parquet"
                              else pa_csv.CSVWriter(staged, batch.schema))
                writer.write_batch(batch)
                rows += len(chunk)
                if not chunk:
                    break
    finally:
        if writer is not None:
            writer.close()
    return rows


def export_quarter(conn: psycopg.Connection, quarter: str, dest: _Destination, fmt: str) -> QuarterExport:
    parse_quarter(quarter)
    n_firms = conn.execute("SELECT count(*) FROM firms WHERE quarter = %s", (quarter,)).fetchone()[0]
    if n_firms == 0:
        raise ValueError(f"quarter {quarter} has no stored firms: nothing to export (run it first: ftm demo "
                         f"--transcripts PATH --quarter {quarter})")
    result = QuarterExport(quarter, {}, [])
    for table in TABLES:
        relative = f"{table.name}/{quarter}.{fmt}"
        try:
            staged = dest.path(f"{relative}.partial")
            try:
                result.rows[table.name] = _write_table(conn, table, quarter, staged, fmt)
            except BaseException:
                staged.unlink(missing_ok=True)
                raise
            result.files.append(dest.publish(relative, staged))
        except OSError as exc:
            raise ExportError(f"quarter {quarter}: cannot write {table.name} under {dest.out}: {exc}") from exc
    if result.rows["topics"] and not result.rows["firm_topic_exposures"]:
        result.warnings.append(f"quarter {quarter}: topics but no exposure panel: materialize `exposure_panel` "
                               "(or re-run the quarter's themes job) and export again")
    if result.rows["topics"] and not result.rows["themes"]:
        themes_run = conn.execute("SELECT 1 FROM quarter_runs WHERE quarter = %s", (quarter,)).fetchone()
        result.warnings.append(
            f"quarter {quarter}: no theme: its themes run found none among {result.rows['topics']} topics"
            if themes_run else f"quarter {quarter}: topics but no themes: materialize `themes` and export again")
    manifest = dest.path(f"manifest/{quarter}.json.partial")
    manifest.write_text(json.dumps({"quarter": quarter, "format": fmt, "export_version": EXPORT_VERSION,
                                    "rows": result.rows, "warnings": result.warnings}, indent=2) + "\n")
    result.files.append(dest.publish(f"manifest/{quarter}.json", manifest))
    return result


def export_quarters(conn: psycopg.Connection, quarters: Sequence[str], out: str, fmt: str = "parquet",
                    s3_client: Any | None = None,
                    progress: Callable[[QuarterExport], None] | None = None) -> ExportReport:
    """Write every table of each quarter under ``out`` (a folder or ``s3://bucket/prefix``).

    Idempotent: the same quarter and format always go to the same file names, which are replaced
    (a file is written aside and renamed, or uploaded, only once complete)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if not quarters:
        raise ValueError("no quarter to export: the database has no stored firms")
    dest = _Destination(out, s3_client)
    try:
        report = ExportReport(dest.out, fmt, [])
        for quarter in quarters:
            report.quarters.append(export_quarter(conn, quarter, dest, fmt))
            if progress is not None:
                progress(report.quarters[-1])
        return report
    finally:
        dest.close()
