"""Parquet input and output for ``hbilstm predict`` (needs pyarrow, imported only when used).

Input is read one record batch at a time, and only the text and id columns, so memory stays
flat however many rows the file holds. Output is written one row group per chunk of
predictions.
"""

from __future__ import annotations

import contextlib
from typing import IO, Iterator, Sequence

from ..data.rows import Record
from ..errors import DataError

# Rows per record batch read from a Parquet input.
READ_BATCH_ROWS = 4096


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("Parquet input and output need pyarrow: pip install pyarrow") from None
    return pa, pq


def open_parquet(stream: IO[bytes], name: str):
    """A ``pyarrow.parquet.ParquetFile`` over ``stream``; DataError if it is not Parquet."""
    pa, pq = _pyarrow()
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
    pa, _ = _pyarrow()
    parquet = open_parquet(stream, name)
    names = list(parquet.schema_arrow.names)
    if columns is not None:
        columns[:] = names
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(f"{name}: no column {missing[0]!r} (columns: {', '.join(names) or 'none'})")
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
    pa, _ = _pyarrow()
    schema = open_parquet(stream, name).schema_arrow
    return id_column in schema.names and pa.types.is_integer(schema.field(id_column).type)


class ParquetWriter:
    """Writes prediction rows to a binary stream as Parquet, one row group per chunk.

    Columns: the id (``id_name``; int64 when ``integer_ids``, else string), ``text``, ``label``,
    ``confidence``, one float32 ``prob_<label>`` per class and ``error``. A row without a
    prediction has nulls for label, confidence and probabilities; ``error`` is null where there
    is no error. Call :meth:`end_chunk` after each chunk and :meth:`close` at the end (or
    :meth:`abort` on failure)."""

    def __init__(self, stream: IO[bytes], id_name: str, labels: list[str], integer_ids: bool = False):
        pa, pq = _pyarrow()
        self._pa = pa
        self.id_name, self.integer_ids = id_name, integer_ids
        self.prob_columns = [f"prob_{label}" for label in labels]
        self.schema = pa.schema([
            (id_name, pa.int64() if integer_ids else pa.string()),
            ("text", pa.string()), ("label", pa.string()), ("confidence", pa.float32()),
            *((column, pa.float32()) for column in self.prob_columns),
            ("error", pa.string()),
        ])
        self._writer = pq.ParquetWriter(stream, self.schema)
        self._reset()

    def _reset(self) -> None:
        self._rows: dict[str, list] = {name: [] for name in self.schema.names}

    def write(self, row_id, text: str, label: str, probs: list[float] | None, error: str) -> None:
        rows = self._rows
        rows[self.id_name].append(None if row_id is None else int(row_id) if self.integer_ids else str(row_id))
        rows["text"].append(text)
        rows["label"].append(label or None)
        rows["confidence"].append(max(probs) if probs else None)
        for column, p in zip(self.prob_columns, probs or [None] * len(self.prob_columns)):
            rows[column].append(p)
        rows["error"].append(error or None)

    def end_chunk(self) -> None:
        """Write the rows since the last call as one row group."""
        if self._rows["text"]:
            self._writer.write_table(self._pa.table(self._rows, schema=self.schema))
            self._reset()

    def close(self) -> None:
        self.end_chunk()
        self._writer.close()

    def abort(self) -> None:
        """Close after a failure: the (temporary) file is about to be removed anyway."""
        with contextlib.suppress(Exception):
            self._writer.close()
