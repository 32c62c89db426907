"""``hbilstm predict``: batch prediction over a file of tweets, streamed in chunks.

Input: ``.txt`` (one tweet per line), ``.csv``/``.tsv`` (a text column), ``.jsonl`` (a text
field), ``.parquet`` (a text column), or ``-`` for standard input. Output: CSV, JSONL or Parquet,
one row per input row in input order, with the input's id (or its line number), the text, the
predicted label, its confidence and one probability per class. An empty tweet keeps its row, with an empty label and an
``error`` value. Output goes to a temporary file renamed into place at the end, so an
interrupted or failed run leaves no output file behind.

``shard=(k, n)`` predicts only the rows whose position p (1, 2, ... over the whole input) has
``(p - 1) % n == k - 1``: the n shards together hold every row once, each row keeping its id or
its line number in the whole input. Every shard reads (and parses) the whole input but tokenizes
and scores only its own rows, so n jobs of a scheduler's array split the work without counting
or splitting the file first.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

from ..confidence import UNCERTAIN, check_min_confidence, label_of
from ..data.limits import MAX_TEXT_CHARS
from ..data.rows import Record, ReplacementCounter, iter_records, table_format
from ..errors import ConfigError, DataError, MissingColumn
from ..fileio import atomic_open
from ..loading import load
from .io import Writer, check_input, check_output, jsonl_has_field, open_input, output_format
from .workers import ChunkScorer, ScoredChunk, auto_workers, default_batch_size

INPUT_FORMATS = ("txt", "csv", "tsv", "jsonl", "parquet")


@dataclass
class PredictStats:
    """What a prediction run did: rows written, rows predicted, rows without a prediction (empty
    or unreadable), tweets cut to the model's length, undecodable bytes replaced, and where the
    output went."""

    rows: int = 0
    predicted: int = 0
    errors: int = 0
    truncated: int = 0
    truncated_chars: int = 0  # of them, cut at MAX_TEXT_CHARS characters
    uncertain: int = 0  # predicted rows labelled uncertain (below min_confidence)
    replaced_bytes: int = 0
    output: str = "-"


def predict(
    checkpoint: str | Path,
    source: str,
    output: str | None = None,
    *,
    text_column: str = "text",
    id_column: str = "id",
    input_format: str | None = None,
    fmt: str | None = None,
    batch_size: int | None = None,
    chunk_size: int = 8192,
    device: str = "auto",
    skip_bad_lines: bool = False,
    overwrite: bool = False,
    workers: int = -1,
    backend: str = "auto",
    int8: bool = False,
    shard: tuple[int, int] | str | None = None,
    min_confidence: float | None = None,
    threads: int = 0,
    warn: Callable[[str], None] = lambda message: None,
) -> PredictStats:
    """Predict every row of ``source`` (a path or ``-``) into ``output`` (a path, or None/``-``
    for standard output). Raises DataError, before writing anything, for an unreadable input,
    a missing column, or an output that would overwrite the input or an existing file.

    ``workers`` processes tokenize and, on a CPU, score (0: none, all in this process; -1: as
    many as :func:`auto_workers` says, only for inputs estimated from the file's size at
    :data:`~hbilstm.predict.workers.AUTO_MIN_ROWS` rows or more), started only for inputs longer
    than ``ChunkScorer.LOCAL_CHUNKS`` chunks of ``chunk_size`` rows.

    ``batch_size``: tweets per batch; None: 512 on a CPU, 2048 on a GPU (:func:`default_batch_size`).

    ``int8``: score with the model's weights quantized to int8 (CPU only): ONNX Runtime's graph
    (:func:`~hbilstm.export.onnx_runtime.quantized_graph`) or the torch model's LSTM and linear
    layers (:func:`~hbilstm.inference.quantize_int8`), whichever backend scores.

    ``backend``: ``torch`` scores with the checkpoint's model; ``onnx`` with ONNX Runtime (on the
    CPU) from the ``model.onnx`` in or beside ``checkpoint`` (see
    :func:`~hbilstm.export.onnx_runtime.find_onnx_model`); the tokenizer and vocabulary come from
    the checkpoint either way. With ``onnx`` and an exported model folder (no ``model.pt`` in
    it), or a run directory whose ``export`` folder is current
    (:func:`~hbilstm.export.run_export.current_export`), torch is never imported
    (:func:`~hbilstm.export.onnx_runtime.load_onnx_folder`): the quickest start. ``auto`` is that
    when it can be (see :func:`hbilstm.export.backend.choose_backend`), else ``torch``.

    ``shard``: ``(k, n)`` or ``"k/n"`` (1 <= k <= n) predicts only shard k of n of the rows, by
    row position round-robin (see the module's docstring); None predicts them all.

    ``min_confidence``: label a row whose top probability is below it ``uncertain``, keeping its
    probabilities (see :mod:`hbilstm.confidence`). ``threads``: CPU threads for the model in this
    process (torch's, or ONNX Runtime's; 0: their default); workers use one each.

    Parquet input is read in record batches of the text and id columns; Parquet output (needs a
    file, not standard output) is written one row group per chunk."""
    shard_k, shard_n = parse_shard(shard) if shard is not None else (1, 1)
    check_min_confidence(min_confidence, ())
    check_input(source)
    in_format = input_format or ("txt" if source == "-" else _input_format(source))
    if in_format not in INPUT_FORMATS:
        raise DataError(f"--input-format must be one of {', '.join(INPUT_FORMATS)}, not {in_format!r}")
    if in_format == "parquet" and source == "-":
        raise DataError("Parquet input must be a file: standard input cannot be read that way")
    out_format = output_format(output, fmt)
    if out_format == "parquet" and (output is None or output == "-"):
        raise DataError("Parquet output needs a file: pass -o FILE.parquet")
    check_output(source, output, overwrite)
    auto = workers < 0
    loaded = load(checkpoint, backend, device, int8=int8, threads=threads)  # checks backend, device and int8
    where = "cpu" if loaded.graph is not None else loaded.device  # what scores here: ONNX Runtime, or torch's device
    scorer = ChunkScorer(loaded, batch_size or default_batch_size(where), auto_workers(where) if auto else workers,
                         int8=int8, threads=threads)
    check_min_confidence(min_confidence, loaded.label_names)
    stats = PredictStats(output=output or "-")

    try:
        with ReplacementCounter() as counter, open_rows(source, in_format, text_column, id_column, skip_bad_lines,
                                                        counter.handler, chunk_size) as rows_in:
            if auto:
                estimate = rows_in.estimate
                scorer.plan(None if estimate is None else -(-estimate // shard_n), chunk_size)
            has_ids = rows_in.has_ids
            rows = rows_in.rows
            if shard_n > 1:
                rows = islice(rows, shard_k - 1, None, shard_n)

            def run(writer) -> None:
                try:
                    for i, chunk in enumerate(scored_chunks(rows, chunk_size, text_column, scorer)):
                        if i:
                            writer.end_chunk()
                        for row in labelled_rows(chunk, loaded, id_column if has_ids else None, stats, min_confidence):
                            writer.write(*row[1:])
                except BaseException:
                    writer.abort()
                    raise
                writer.close()

            id_name = id_column if has_ids else "line"
            if output is None or output == "-":
                run(Writer(sys.stdout, out_format, id_name, loaded.label_names))
            elif out_format == "parquet":
                from .parquet import ParquetWriter

                with atomic_open(output, "wb") as handle:
                    run(ParquetWriter(handle, id_name, loaded.label_names, integer_ids=rows_in.integer_ids))
            else:
                with atomic_open(output, "w", encoding="utf-8", newline="") as handle:
                    run(Writer(handle, out_format, id_name, loaded.label_names))
    finally:
        scorer.close()
    name = rows_in.name
    stats.replaced_bytes = counter.count
    if stats.replaced_bytes:
        warn(f"{stats.replaced_bytes:,} undecodable byte(s) in {name} were replaced with U+FFFD")
    if stats.truncated:
        warn(f"{stats.truncated:,} tweet(s) longer than {loaded.max_tokens} tokens were cut to {loaded.max_tokens}"
             + (f" (or to their first {MAX_TEXT_CHARS:,} characters)" if stats.truncated_chars else ""))
    if stats.errors:
        warn(f"{stats.errors:,} row(s) got no prediction (empty or unreadable); see their 'error' column")
    if min_confidence is not None:
        warn(f"{stats.uncertain:,} of {stats.predicted:,} row(s) had a top probability below {min_confidence:g} and "
             f"are labelled {UNCERTAIN!r}")
    return stats


@dataclass
class InputRows:
    """An opened input: its rows in order, and what was learnt from its first chunk."""

    rows: Iterator[Record]
    name: str  # the path, or "standard input"
    has_ids: bool  # decided once for the whole input (see _has_ids)
    integer_ids: bool  # the ids are whole numbers (line numbers, or a Parquet integer column)
    estimate: int | None  # rows in the whole input, estimated from its size (None: unknown)


@contextlib.contextmanager
def open_rows(source: str, in_format: str, text_column: str, id_column: str, skip_bad_lines: bool,
              errors: Callable, chunk_size: int) -> Iterator[InputRows]:
    """Open ``source`` and read its first chunk, which raises DataError for a missing column
    before any output; closed on leaving."""
    stream = open_input(source)
    name = "standard input" if source == "-" else source
    columns: list[str] = []
    if in_format == "parquet":
        from ..data.parquet import iter_parquet_records

        records = iter_parquet_records(stream, name, required=(text_column,), optional=(id_column,), columns=columns)
    else:
        records = iter_records(stream, in_format, name, required=(text_column,), optional=(id_column,),
                               skip_bad_lines=skip_bad_lines, errors=errors, columns=columns)
    try:
        # The first chunk of the whole input (not of a shard): every shard decides from the same
        # rows whether there are ids.
        try:
            head = list(islice(records, chunk_size))
        except MissingColumn as exc:
            raise DataError(f"{exc}; --text-column names the column that holds the tweets") from None
        parquet_rows, parquet_int_ids = _parquet_facts(source, id_column) if in_format == "parquet" else (0, False)
        estimate = parquet_rows if in_format == "parquet" else _estimated_rows(stream, len(head), chunk_size)
        has_ids = _has_ids(in_format, id_column, columns, head, None if source == "-" else Path(source),
                           more=len(head) == chunk_size)
        yield InputRows(itertools.chain(head, records), name, has_ids, not has_ids or parquet_int_ids, estimate)
    finally:
        records.close()
        if stream is not sys.stdin.buffer:
            stream.close()


def scored_chunks(rows: Iterator[Record], chunk_size: int, text_column: str, scorer: ChunkScorer
                  ) -> Iterator["_Chunk"]:
    """The rows in chunks, each handed out once scored, with one chunk ahead: while the caller
    writes chunk n, worker processes (if any) already work on chunk n + 1."""
    pending = None
    for records in _chunked(rows, chunk_size):
        chunk = _prepare(records, text_column, scorer)
        if pending is not None:
            yield pending
        pending = chunk
    if pending is not None:
        yield pending


_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(value: tuple[int, int] | str) -> tuple[int, int]:
    """``"k/n"`` (or a ``(k, n)`` pair) as ``(k, n)``; ConfigError unless 1 <= k <= n."""
    if isinstance(value, str):
        match = _SHARD.match(value)
        if match is None:
            raise ConfigError(f"--shard must be K/N, shard K of N counted from 1 (e.g. 2/8), not {value!r}")
        k, n = int(match.group(1)), int(match.group(2))
    else:
        try:
            k, n = (int(part) for part in value)
        except (TypeError, ValueError):
            raise ConfigError(f"shard must be a pair (k, n) or a string 'k/n', not {value!r}") from None
    if n < 1:
        raise ConfigError(f"--shard {k}/{n}: N, the number of shards, must be at least 1")
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {k}/{n}: K must be between 1 and N ({n}); shards are counted from 1")
    return k, n


def _input_format(source: str) -> str:
    if Path(source).suffix.lower() == ".parquet":
        return "parquet"
    return table_format(source)


def _parquet_facts(source: str, id_column: str) -> tuple[int, bool]:
    """A Parquet input's row count (from its footer) and whether its id column holds integers."""
    from ..data.parquet import open_parquet, parquet_id_is_integer

    with open(source, "rb") as stream:
        rows = open_parquet(stream, source).metadata.num_rows
        stream.seek(0)
        return rows, parquet_id_is_integer(stream, source, id_column)


def _chunked(rows: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _has_ids(in_format: str, id_column: str, columns: list[str], head: list[Record], path: Path | None,
             more: bool) -> bool:
    """Whether the input carries row ids, decided once for the whole input: a CSV/TSV by its
    header; JSONL by whether any record has the field (the first chunk, then a scan of the rest
    of the file; from standard input, the first chunk alone); plain text never."""
    if in_format in ("csv", "tsv", "parquet"):
        return id_column in columns
    if in_format != "jsonl":
        return False
    if any(id_column in record.fields for record in head):
        return True
    return more and path is not None and jsonl_has_field(path, id_column)


@dataclass
class _Chunk:
    records: list[Record]
    texts: list[str]
    todo: list[int]  # rows with text to predict
    long: set[int]  # rows whose text is longer than the tokenizer reads (MAX_TEXT_CHARS)
    scored: ScoredChunk  # gives (probabilities, cut flags) for the rows in todo


def _prepare(records: list[Record], text_column: str, scorer: ChunkScorer) -> _Chunk:
    texts: list[str] = []
    for record in records:
        value = record.fields.get(text_column) if record.error is None else None
        texts.append("" if value is None else str(value))
    todo = [i for i, (r, t) in enumerate(zip(records, texts)) if r.error is None and t.strip()]
    long = {i for i in todo if len(texts[i]) > MAX_TEXT_CHARS}
    # The tokenizer reads no more than MAX_TEXT_CHARS characters, and cuts to max_tokens tokens, as
    # every other way of scoring does; one character more is enough for it to count a text as cut.
    return _Chunk(records, texts, todo, long, scorer.submit([texts[i][:MAX_TEXT_CHARS + 1] for i in todo]))


def labelled_rows(
    chunk: _Chunk, loaded, id_column: str | None, stats: PredictStats, min_confidence: float | None = None
) -> Iterator[tuple[Record, Any, str, str, list[float] | None, str]]:
    """``(record, row_id, text, label, probabilities, error)`` for every row of a scored chunk;
    a row without a prediction has an empty label, None and its error. The text is the row's own,
    up to the MAX_TEXT_CHARS characters the tokenizer reads."""
    probs, cut = chunk.scored.get()
    stats.truncated += sum(1 for flag in cut if flag)
    stats.truncated_chars += len(chunk.long)
    by_row = dict(zip(chunk.todo, probs.tolist()))
    for i, record in enumerate(chunk.records):
        row_id = record.fields.get(id_column) if id_column else None
        if row_id is None or row_id == "":
            row_id = record.line  # every row gets an id: its line (row) number where it has none
        stats.rows += 1
        if i in by_row:
            p = by_row[i]
            label = label_of(p, loaded.label_names, min_confidence)
            stats.uncertain += label == UNCERTAIN and min_confidence is not None
            stats.predicted += 1
            yield record, row_id, chunk.texts[i][:MAX_TEXT_CHARS], label, p, ""
        else:
            stats.errors += 1
            yield record, row_id, chunk.texts[i][:MAX_TEXT_CHARS], "", None, record.error or "empty text"


def _estimated_rows(stream, head_rows: int, chunk_size: int) -> int | None:
    """Rows in the whole input, from the bytes the first ``head_rows`` took and the file's size;
    None when the size is unknown (a pipe)."""
    if head_rows < chunk_size:
        return head_rows  # the first chunk was the whole input
    try:
        size = os.fstat(stream.fileno()).st_size
        position = stream.tell()
    except (OSError, ValueError, AttributeError):
        return None
    if not size or position <= 0:
        return None
    return int(head_rows * size / position)
