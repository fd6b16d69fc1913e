import json

from deploybench import storage
from deploybench.schemas import RequestRecord, RunMeta


def _rec(i):
    return RequestRecord(index=i, scheduled_ns=i, sent_ns=i, chunk_ns=[i + 1], chunk_tokens=[1], done_ns=i + 2,
                         output_tokens=1, token_source="usage")


def test_append_is_visible_before_close(tmp_path):
    w = storage.RunWriter(tmp_path / "r", RunMeta(run_id="r", concurrency=1))
    for i in range(3):
        w.append(_rec(i))
    w.flush()  # the writer thread has written them (no close, no fsync)
    # another reader (e.g. after a kill -9 of the writer) sees every appended record
    assert [r.index for r in storage.read_records(tmp_path / "r")] == [0, 1, 2]
    assert storage.read_meta(tmp_path / "r").status == "running"
    w.close("complete")
    assert storage.read_meta(tmp_path / "r").status == "complete"


def test_torn_last_line_is_skipped(tmp_path):
    w = storage.RunWriter(tmp_path / "r", RunMeta(run_id="r", concurrency=1))
    w.append(_rec(0))
    w.close()
    with open(tmp_path / "r" / storage.RECORDS, "a") as f:
        f.write(_rec(1).model_dump_json()[:25])  # crash mid-write
    assert [r.index for r in storage.read_records(tmp_path / "r")] == [0]


def test_parquet_round_trip(tmp_path):
    import duckdb

    w = storage.RunWriter(tmp_path / "r", RunMeta(run_id="r", concurrency=1))
    for i in range(5):
        w.append(_rec(i))
    w.close("complete")
    p = storage.write_parquet(tmp_path / "r")
    n, tok = duckdb.connect().execute(f"select count(*), sum(output_tokens) from '{p}'").fetchall()[0]
    assert (n, tok) == (5, 5)
    assert json.loads((tmp_path / "r" / "meta.json").read_text())["run_id"] == "r"


def test_run_dirs_finds_runs(tmp_path):
    for name in ("a__c1", "a__c2"):
        storage.RunWriter(tmp_path / name, RunMeta(run_id=name, concurrency=1)).close()
    assert [p.name for p in storage.run_dirs(tmp_path)] == ["a__c1", "a__c2"]
    assert storage.run_dirs(tmp_path / "a__c1") == [tmp_path / "a__c1"]


def test_set_aside_tries_are_not_cells(tmp_path):
    from deploybench import storage
    from deploybench.schemas import RunMeta

    for name in ("d__c1", "d__c1.contended-20260101-000000-1", "d__c1.incomplete-20260101-000000"):
        storage.atomic_write(tmp_path / name / storage.META, RunMeta(run_id="d__c1", concurrency=1).model_dump_json())
    assert [p.name for p in storage.run_dirs(tmp_path)] == ["d__c1"]


def test_parquet_columns_are_the_record_fields(tmp_path):
    """The Arrow schema is derived from RequestRecord: a field added to the model is a column, typed."""
    import pyarrow.parquet as pq

    w = storage.RunWriter(tmp_path / "r", RunMeta(run_id="r", concurrency=1))
    recs = [_rec(i) for i in range(3)]
    recs[1].error, recs[1].http_status, recs[2].warmup = "HTTP 500", 500, True
    for r in recs:
        w.append(r)
    w.close("complete")
    table = pq.read_table(storage.write_parquet(tmp_path / "r"))
    assert table.column_names == list(RequestRecord.model_fields)
    assert [RequestRecord.model_validate(row) for row in table.to_pylist()] == recs
