"""The Parquet copy of a run's records (``records.parquet``), for DuckDB and pandas users."""

from __future__ import annotations

from pathlib import Path

from ..schemas import RequestRecord
from .files import PARQUET, replacing
from .runs import read_records


def write_parquet(run_dir: Path, records: list[RequestRecord] | None = None) -> Path:
    """Columnar copy of the records for DuckDB/pandas users."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.model_dump() for r in (records if records is not None else read_records(run_dir))]
    table = pa.Table.from_pylist(rows, schema=_arrow_schema()) if rows else _arrow_schema().empty_table()
    with replacing(run_dir / PARQUET) as tmp:
        pq.write_table(table, tmp)
    return run_dir / PARQUET


def _arrow_type(annotation):
    """The Arrow type of one record field's annotation (``X | None`` is a nullable X; a Literal of
    strings is a string)."""
    import types
    import typing

    import pyarrow as pa

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _arrow_type(inner)
    if origin is typing.Literal:
        return _arrow_type(type(args[0]))
    if origin is list:
        return pa.list_(_arrow_type(args[0]))
    scalars = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    if annotation not in scalars:
        raise TypeError(f"RequestRecord field of type {annotation!r} has no Arrow type here; add it to _arrow_type")
    return scalars[annotation]


def _arrow_schema():
    """The Parquet columns: RequestRecord's fields, in its order, typed from its annotations."""
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(f.annotation)) for name, f in RequestRecord.model_fields.items()])
