"""Parquet files as rows of tweets (needs pyarrow, imported only when used): what
:mod:`hbilstm.data.rows` does for CSV and JSON lines.

A file is read one record batch at a time, and only the columns asked for, so memory stays flat
however many rows it holds. Writing Parquet (prediction output) is :mod:`hbilstm.predict.parquet`.
"""

from __future__ import annotations

from typing import IO, Iterator, Sequence

from ..errors import DataError, MissingColumn
from .rows import Record

# Rows per record batch read from a Parquet input.
READ_BATCH_ROWS = 4096


def pyarrow_modules():
    """``pyarrow`` and ``pyarrow.parquet``; DataError naming the install command if missing."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("Parquet input and output need pyarrow: pip install pyarrow") from None
    return pa, pq


def open_parquet(stream: IO[bytes], name: str):
    """A ``pyarrow.parquet.ParquetFile`` over ``stream``; DataError if it is not Parquet."""
    pa, pq = pyarrow_modules()
    try:
        return pq.ParquetFile(stream)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: not a readable Parquet file ({reason})") from None


def iter_parquet_records(
    stream: IO[bytes],
    name: str,
    required: Sequence[str] = ("text",),
    optional: Sequence[str] = (),
    columns: list[str] | None = None,
    batch_rows: int = READ_BATCH_ROWS,
) -> Iterator[Record]:
    """The rows of a Parquet file as :class:`Record` objects numbered from 1, like
    :func:`~hbilstm.data.rows.iter_records` does for CSV: a missing ``required`` column raises
    DataError before any row; ``columns`` is filled with the file's column names. Only the
    ``required`` and present ``optional`` columns are read. A null value stays None (a null text
    becomes an error row downstream, as an empty text does)."""
    pa, _ = pyarrow_modules()
    parquet = open_parquet(stream, name)
    names = list(parquet.schema_arrow.names)
    if columns is not None:
        columns[:] = names
    missing = [c for c in required if c not in names]
    if missing:
        raise MissingColumn(f"{name}: no column {missing[0]!r} (columns: {', '.join(names) or 'none'})", missing[0])
    duplicated = sorted({c for c in (*required, *optional) if names.count(c) > 1})
    if duplicated:
        raise DataError(f"{name}: column {duplicated[0]!r} appears more than once")
    wanted = list(dict.fromkeys([*required, *(c for c in optional if c in names)]))
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
            values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for row in zip(*values):
                number += 1
                yield Record(number, dict(zip(wanted, row)))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{name}: cannot read row {number + 1} ({exc})") from None


def parquet_id_is_integer(stream: IO[bytes], name: str, id_column: str) -> bool:
    """Whether a Parquet input's ``id_column`` holds integers (then the output keeps them so)."""
    pa, _ = pyarrow_modules()
    schema = open_parquet(stream, name).schema_arrow
    return id_column in schema.names and pa.types.is_integer(schema.field(id_column).type)
