"""Parquet output for ``hbilstm predict``: one row group per chunk of predictions (needs
pyarrow, imported only when used). Reading Parquet is :mod:`hbilstm.data.parquet`."""

from __future__ import annotations

import contextlib
from typing import IO

from ..data.parquet import pyarrow_modules


class ParquetWriter:
    """Writes prediction rows to a binary stream as Parquet, one row group per chunk.

    Columns: the id (``id_name``; int64 when ``integer_ids``, else string), ``text``, ``label``,
    ``confidence``, one float32 ``prob_<label>`` per class and ``error``. A row without a
    prediction has nulls for label, confidence and probabilities; ``error`` is null where there
    is no error. Call :meth:`end_chunk` after each chunk and :meth:`close` at the end (or
    :meth:`abort` on failure)."""

    def __init__(self, stream: IO[bytes], id_name: str, labels: list[str], integer_ids: bool = False):
        pa, pq = pyarrow_modules()
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
