"""FileTranscriptSource on small tables written to tmp_path: good input, and every kind of bad input."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ftm_assets.modeling.types import FirmCall, InputDataError
from ftm_assets.sources.files import FileTranscriptSource
from ftm_assets.sources.open import TranscriptSource, open_source
from ftm_assets_tests.sources.helpers import call_rows, split_results, write_table

# --------------------------------------------------------------------------- good input


def test_reads_calls_in_firm_order_with_sentences_in_index_order(tmp_path):
    rows = call_rows("BBB", "2021Q1", 4) + call_rows("AAA", "2021Q1", 3) + call_rows("CCC", "2021Q2", 2)
    rows = rows[::-1]  # file order must not matter
    source = FileTranscriptSource(write_table(tmp_path / "calls.parquet", rows))

    results = list(source.iter_calls("2021Q1"))

    assert [r.firm_id for r in results] == ["AAA", "BBB"]
    assert all(isinstance(r, FirmCall) for r in results)
    assert [s.sentence_index for s in results[1].sentences] == [0, 1, 2, 3]
    assert results[1].texts[0] == "BBB sentence 0 about margins and demand."
    assert isinstance(source, TranscriptSource)


def test_strips_whitespace_and_maps_missing_optionals_to_none(tmp_path):
    rows = [
        {"firm_id": " ACME ", "quarter": " 2022Q3", "sentence_index": 1, "text": "  Second.  ",
         "firm_name": np.nan, "call_date": None, "section": "qa", "speaker": np.nan, "extra": "ignored"},
        {"firm_id": "ACME", "quarter": "2022Q3 ", "sentence_index": 0, "text": "First.",
         "firm_name": "Acme Corp", "call_date": "2022-10-27", "section": None, "speaker": " Jane Roe "},
    ]  # fmt: skip
    call = next(FileTranscriptSource(write_table(tmp_path / "c.parquet", rows)).iter_calls("2022Q3"))

    assert isinstance(call, FirmCall)
    assert (call.firm_id, call.quarter, call.firm_name) == ("ACME", "2022Q3", "Acme Corp")
    assert call.call_date.isoformat() == "2022-10-27"
    first, second = call.sentences
    assert (first.text, first.section, first.speaker) == ("First.", None, "Jane Roe")
    assert (second.text, second.section, second.speaker) == ("Second.", "qa", None)


def test_only_required_columns_is_enough(tmp_path):
    path = write_table(tmp_path / "min.csv", call_rows("M1", "2020Q1", 3))
    (call,) = FileTranscriptSource(path).iter_calls("2020Q1")
    assert (call.firm_name, call.call_date, call.sentences[0].speaker) == (None, None, None)


def test_date_typed_call_date_and_string_sentence_index(tmp_path):
    frame = pd.DataFrame(call_rows("D1", "2020Q1", 3))
    frame["call_date"] = pd.to_datetime("2020-04-30")
    frame["sentence_index"] = frame["sentence_index"].astype(str)
    path = tmp_path / "typed.parquet"
    frame.to_parquet(path, index=False)
    (call,) = FileTranscriptSource(path).iter_calls("2020Q1")
    assert call.call_date.isoformat() == "2020-04-30"
    assert [s.sentence_index for s in call.sentences] == [0, 1, 2]


def test_numeric_firm_ids(tmp_path):
    """Integer ids in Parquet become text; CSV ids are read as text, so leading zeros survive."""
    write_table(tmp_path / "ints.parquet", call_rows(320193, "2020Q1", 2))
    (tmp_path / "ciks.csv").write_text("firm_id,quarter,sentence_index,text\n0000789019,2020Q1,0,Hello.\n")
    source = FileTranscriptSource(tmp_path)
    assert source.list_calls() == [("0000789019", "2020Q1"), ("320193", "2020Q1")]
    with pytest.raises(TypeError, match="collection of firm ids"):
        list(source.iter_calls("2020Q1", firm_ids="320193"))


def test_directory_of_mixed_csv_and_parquet_merges_a_call_split_across_files(tmp_path):
    write_table(
        tmp_path / "a" / "part1.parquet", call_rows("SPLIT", "2020Q2", 5) + call_rows("P", "2020Q2", 2)
    )
    write_table(tmp_path / "b" / "deep" / "part2.CSV", call_rows("SPLIT", "2020Q2", 3, start=5))
    write_table(tmp_path / "c.csv", call_rows("C", "2020Q2", 4) + call_rows("C", "2020Q3", 1))
    (tmp_path / "notes.txt").write_text("not a table, ignored")
    write_table(tmp_path / ".hidden" / "old.csv", call_rows("GHOST", "2020Q2", 1))

    source = FileTranscriptSource(tmp_path)
    calls, errors = split_results(source.iter_calls("2020Q2"))

    assert not errors
    assert sorted(calls) == ["C", "P", "SPLIT"]
    assert [s.sentence_index for s in calls["SPLIT"].sentences] == list(range(8))
    assert source.list_calls() == [("C", "2020Q2"), ("C", "2020Q3"), ("P", "2020Q2"), ("SPLIT", "2020Q2")]
    assert "directory" in source.describe()


def test_firm_ids_filter_and_missing_firm(tmp_path):
    rows = [r for firm in ("A", "B", "C") for r in call_rows(firm, "2020Q2", 2)] + call_rows("D", "2020Q3", 2)
    source = FileTranscriptSource(write_table(tmp_path / "f.parquet", rows))

    results = list(source.iter_calls("2020Q2", firm_ids=["C", " A", "D", "NOPE"]))

    assert [r.firm_id for r in results] == ["A", "C", "D", "NOPE"]
    assert [type(r).__name__ for r in results] == ["FirmCall", "FirmCall", "FirmInputError", "FirmInputError"]
    assert "no sentences for this firm in quarter 2020Q2" in results[2].reason
    assert str(tmp_path / "f.parquet") in results[3].message()
    assert list(source.iter_calls("2020Q2", firm_ids=[])) == []
    assert list(source.iter_calls("2019Q4")) == []


def test_chunking_does_not_change_results(tmp_path):
    rows = [r for i in range(23) for r in call_rows(f"F{i:02d}", "2020Q2", 3 + i % 4)]
    path = tmp_path / "many.parquet"
    pd.DataFrame(rows).sample(frac=1.0, random_state=1).to_parquet(path, index=False, row_group_size=7)
    source = FileTranscriptSource(path)
    assert list(source.iter_calls("2020Q2", chunk_firms=1)) == list(
        source.iter_calls("2020Q2", chunk_firms=256)
    )
    assert len(list(source.iter_calls("2020Q2", chunk_firms=5))) == 23
    with pytest.raises(ValueError, match="chunk_firms"):
        list(source.iter_calls("2020Q2", chunk_firms=0))


def test_a_firm_with_20000_sentences_streams(tmp_path):
    big = call_rows("BIG", "2020Q2", 20_000)
    rows = call_rows("AAA", "2020Q2", 5) + big[::-1] + call_rows("ZZZ", "2020Q2", 5)
    path = tmp_path / "big.parquet"
    pd.DataFrame(rows).to_parquet(path, index=False, row_group_size=3_000)

    results = list(FileTranscriptSource(path).iter_calls("2020Q2", chunk_firms=1))

    assert [(r.firm_id, len(r)) for r in results] == [("AAA", 5), ("BIG", 20_000), ("ZZZ", 5)]
    assert [s.sentence_index for s in results[1].sentences] == list(range(20_000))


def test_memory_holds_one_chunk_of_firms_not_the_quarter(tmp_path):
    """Peak Python memory while streaming 500 firms 25 at a time stays well under the size of the
    quarter's rows (holding the whole quarter as Python objects takes about 3x its Arrow size)."""
    rng = np.random.default_rng(0)
    firms = [f"F{i:04d}" for i in range(500)]
    frame = pd.DataFrame(
        {
            "firm_id": np.repeat(firms, 40),
            "quarter": "2020Q2",
            "sentence_index": np.tile(np.arange(40), len(firms)),
            "text": [f"sentence {n} " + "x" * int(rng.integers(150, 250)) for n in range(20_000)],
        }
    )
    path = tmp_path / "quarter.parquet"
    frame.to_parquet(path, index=False, row_group_size=2_000)
    quarter_bytes = pa.Table.from_pandas(frame).nbytes
    del frame

    tracemalloc.start()
    try:
        n_calls = sum(
            isinstance(r, FirmCall) for r in FileTranscriptSource(path).iter_calls("2020Q2", chunk_firms=25)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n_calls == 500
    assert peak < quarter_bytes, (peak, quarter_bytes)


def test_open_source_dispatches_on_the_uri(tmp_path):
    path = write_table(tmp_path / "x.csv", call_rows("A", "2020Q1", 1))
    assert isinstance(open_source(str(path)), FileTranscriptSource)
    assert isinstance(open_source(f"file://{path}"), FileTranscriptSource)
    with pytest.raises(InputDataError, match="unsupported transcript source"):
        open_source("gs://bucket/prefix")


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    write_table(tmp_path / "a.csv", call_rows("A", "2020Q1", 1))
    source = FileTranscriptSource(tmp_path)
    before = source.fingerprint()
    assert source.fingerprint() == before
    write_table(tmp_path / "b.csv", call_rows("B", "2020Q1", 1))
    assert source.fingerprint() != before


# --------------------------------------------------------------------------- file-level errors


def _error(source: FileTranscriptSource, quarter: str = "2020Q1") -> str:
    with pytest.raises(InputDataError) as info:
        list(source.iter_calls(quarter))
    return str(info.value)


def test_missing_required_columns_are_listed(tmp_path):
    path = write_table(tmp_path / "cols.parquet", [{"firm_id": "A", "text": "Hi there."}])
    message = _error(FileTranscriptSource(path))
    assert str(path) in message and "quarter, sentence_index" in message
    with pytest.raises(InputDataError, match="quarter, sentence_index"):
        FileTranscriptSource(path).list_calls()


def test_empty_and_row_less_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in _error(FileTranscriptSource(empty)) and str(empty) in _error(
        FileTranscriptSource(empty)
    )

    header_only = tmp_path / "header.csv"
    header_only.write_text("firm_id,quarter,sentence_index,text\n")
    assert "no rows" in _error(FileTranscriptSource(header_only))

    no_rows = tmp_path / "none.parquet"
    pd.DataFrame(
        {c: pd.Series([], dtype=str) for c in ("firm_id", "quarter", "sentence_index", "text")}
    ).to_parquet(no_rows)
    assert "no rows" in _error(FileTranscriptSource(no_rows))


def test_undecodable_csv_names_file_and_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"firm_id,quarter,sentence_index,text\nA,2020Q1,0,Fine.\nA,2020Q1,1,Caf\xe9 sales rose.\nA,2020Q1,2,Ok.\n"
    )
    message = _error(FileTranscriptSource(path))
    assert str(path) in message and "not UTF-8" in message and "line 3" in message


def test_wrong_file_types(tmp_path):
    text = tmp_path / "calls.txt"
    text.write_text("firm_id,quarter\n")
    assert "expected a .parquet or .csv" in _error(FileTranscriptSource(text))

    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"firm_id,quarter,sentence_index,text\n")
    message = _error(FileTranscriptSource(fake))
    assert str(fake) in message and "not a readable Parquet file" in message


def test_missing_path_and_empty_directory(tmp_path):
    assert "does not exist" in _error(FileTranscriptSource(tmp_path / "nowhere"))
    (tmp_path / "empty_dir").mkdir()
    assert "no *.parquet or *.csv" in _error(FileTranscriptSource(tmp_path / "empty_dir"))


def test_one_bad_file_in_a_directory_stops_the_source_and_is_named(tmp_path):
    write_table(tmp_path / "good.parquet", call_rows("A", "2020Q1", 3))
    bad = write_table(
        tmp_path / "bad.csv", [{"firm_id": "B", "quarter": "2020Q1", "text": "No index column."}]
    )
    message = _error(FileTranscriptSource(tmp_path))
    assert str(bad) in message and "sentence_index" in message


def test_rows_without_a_firm_id_stop_the_source(tmp_path):
    rows = call_rows("A", "2020Q1", 2) + [
        {"firm_id": " ", "quarter": "2020Q1", "sentence_index": 0, "text": "Who?"}
    ]
    path = write_table(tmp_path / "blank.csv", rows)
    message = _error(FileTranscriptSource(path))
    assert str(path) in message and "rows 3" in message and "empty firm_id" in message


def test_unreadable_quarter_of_a_firm_with_no_other_rows_stops_the_source(tmp_path):
    rows = call_rows("A", "2020Q1", 2) + call_rows("LOST", "second quarter", 2)
    path = write_table(tmp_path / "q.csv", rows)
    message = _error(FileTranscriptSource(path))
    assert "'LOST'" in message and "'second quarter'" in message and f"{path} row 3" in message


def test_bad_quarter_argument_is_rejected(tmp_path):
    source = FileTranscriptSource(write_table(tmp_path / "a.csv", call_rows("A", "2020Q1", 1)))
    assert "malformed quarter" in _error(source, quarter="2020-1")


# --------------------------------------------------------------------------- per-firm errors


def _one_quarter(tmp_path, rows: list[dict], suffix: str = ".csv", quarter: str = "2020Q2"):
    path = write_table(tmp_path / f"calls{suffix}", rows)
    calls, errors = split_results(FileTranscriptSource(path).iter_calls(quarter))
    return path, calls, errors


def test_firm_ids_dagster_cannot_carry_fail_that_firm_only(tmp_path):
    rows = (
        call_rows("Apple, Inc.", "2020Q2", 2) + call_rows("X|Y", "2020Q2", 2) + call_rows("OK", "2020Q2", 2)
    )
    path, calls, errors = _one_quarter(tmp_path, rows)
    assert list(calls) == ["OK"]
    assert set(errors) == {"Apple, Inc.", "X|Y"}
    message = errors["Apple, Inc."].message()
    assert str(path) in message and "2020Q2" in message and "','" in message and "CIK" in message
    assert ("X|Y", "2020Q2") in FileTranscriptSource(path).list_calls()


def test_malformed_quarter_is_attributed_to_the_firm(tmp_path):
    rows = call_rows("GOOD", "2020Q2", 3) + call_rows("DASH", "2020-Q2", 3) + call_rows("MIX", "2020Q2", 2)
    rows += [{"firm_id": "MIX", "quarter": "Q2 2020", "sentence_index": 2, "text": "Late row."}]
    path, calls, errors = _one_quarter(tmp_path, rows)
    assert list(calls) == ["GOOD"]
    assert (
        "malformed quarter '2020-Q2'" in errors["DASH"].reason
        and f"{path} rows 4, 5, 6" in errors["DASH"].reason
    )
    assert "'Q2 2020'" in errors["MIX"].reason and "rows 9" in errors["MIX"].reason
    assert ("DASH", "2020Q2") in FileTranscriptSource(path).list_calls()


def test_unreadable_quarter_fails_the_firms_calls(tmp_path):
    rows = call_rows("A", "2020Q2", 3) + [
        {"firm_id": "A", "quarter": "", "sentence_index": 3, "text": "Which?"}
    ]
    rows += call_rows("B", "2020Q2", 2)
    _, calls, errors = _one_quarter(tmp_path, rows)
    assert list(calls) == ["B"]
    assert "malformed quarter missing" in errors["A"].reason and "rows 4" in errors["A"].reason


def test_duplicate_sentence_index_names_the_indices(tmp_path):
    rows = (
        call_rows("DUP", "2020Q2", 5) + call_rows("DUP", "2020Q2", 2, start=3) + call_rows("OK", "2020Q2", 1)
    )
    path, calls, errors = _one_quarter(tmp_path, rows, suffix=".parquet")
    assert list(calls) == ["OK"]
    reason = errors["DUP"].reason
    assert "duplicate sentence_index 3, 4" in reason and f"{path} rows 4, 5, 6, 7" in reason


def test_empty_or_missing_text_names_the_sentence_index(tmp_path):
    rows = call_rows("E", "2020Q2", 5) + call_rows("OK", "2020Q2", 2)
    rows[1]["text"] = "   "
    rows[3]["text"] = None
    _, calls, errors = _one_quarter(tmp_path, rows, suffix=".parquet")
    assert list(calls) == ["OK"]
    assert "empty or missing text at sentence_index 1, 3" in errors["E"].reason


def test_empty_text_in_csv(tmp_path):
    rows = call_rows("E", "2020Q2", 3)
    rows[2]["text"] = ""
    _, _, errors = _one_quarter(tmp_path, rows)
    assert "empty or missing text at sentence_index 2" in errors["E"].reason


@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", ""])
def test_bad_sentence_index_values(tmp_path, bad):
    rows = call_rows("S", "2020Q2", 3) + call_rows("OK", "2020Q2", 1)
    rows[1]["sentence_index"] = bad
    path, calls, errors = _one_quarter(tmp_path, rows)
    assert list(calls) == ["OK"]
    reason = errors["S"].reason
    assert "sentence_index must be a non-negative integer" in reason and f"{path} row 2" in reason


def test_float_sentence_index_with_gap_in_parquet(tmp_path):
    frame = pd.DataFrame(call_rows("F", "2020Q2", 3) + call_rows("G", "2020Q2", 2))
    frame["sentence_index"] = frame["sentence_index"].astype(float)
    frame.loc[4, "sentence_index"] = np.nan
    path = tmp_path / "floats.parquet"
    frame.to_parquet(path, index=False)
    calls, errors = split_results(FileTranscriptSource(path).iter_calls("2020Q2"))
    assert [s.sentence_index for s in calls["F"].sentences] == [0, 1, 2]
    assert "missing" in errors["G"].reason and "row 5" in errors["G"].reason


def test_bad_call_date_fails_the_firm(tmp_path):
    rows = call_rows("D", "2020Q2", 2, call_date="next Tuesday") + call_rows(
        "OK", "2020Q2", 1, call_date="2020-07-30"
    )
    _, calls, errors = _one_quarter(tmp_path, rows)
    assert calls["OK"].call_date.isoformat() == "2020-07-30"
    assert "call_date 'next Tuesday' is not a date" in errors["D"].reason


def test_several_problems_of_one_firm_are_reported_together(tmp_path):
    rows = call_rows("A[1]", "2020Q2", 3)
    rows[0]["text"] = ""
    rows[2]["sentence_index"] = 1
    _, _, errors = _one_quarter(tmp_path, rows)
    reason = errors["A[1]"].reason
    assert "'['" in reason and "duplicate sentence_index 1" in reason and "empty or missing text" in reason


def test_parquet_with_many_row_groups_reports_file_rows(tmp_path):
    rows = [r for i in range(10) for r in call_rows(f"F{i}", "2020Q2", 10)]
    rows[57]["text"] = ""
    path = tmp_path / "rg.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=8)
    _, errors = split_results(FileTranscriptSource(path).iter_calls("2020Q2"))
    assert list(errors) == ["F5"]
    assert "sentence_index 7" in errors["F5"].reason and "rows 58" in errors["F5"].reason
