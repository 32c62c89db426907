"""``hbilstm predict``: batch prediction over a file of tweets, streamed in chunks.

Input: ``.txt`` (one tweet per line), ``.csv``/``.tsv`` (a text column), ``.jsonl`` (a text
field), or ``-`` for standard input. Output: CSV or JSONL, one row per input row in input
order, with the input's id (or its line number), the text, the predicted label, its confidence
and one probability per class. An empty tweet keeps its row, with an empty label and an
``error`` value. Output goes to a temporary file renamed into place at the end, so an
interrupted or failed run leaves no output file behind.
"""

from __future__ import annotations

import contextlib
import csv
import multiprocessing
import os
import sys
import tempfile
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Callable, Iterator

import numpy as np
import torch

from .checkpoint import LoadedModel, build_model, load_model
from .errors import DataError
from .fileio import atomic_open, json_line
from .inference import predict_probs, resolve_device
from .readers import Record, ReplacementCounter, iter_records, table_format
from .tokenizer import TokenizerConfig, TweetTokenizer
from .vocab import UNK_ID, Vocabulary

OUTPUT_FORMATS = ("csv", "jsonl")
# Texts are cut to max_tokens * CHARS_PER_TOKEN characters before tokenizing (a cut text counts
# as truncated): tokens beyond max_tokens are never used, and a 5 MB line tokenizes in no time.
CHARS_PER_TOKEN = 32


@dataclass
class PredictStats:
    rows: int = 0
    predicted: int = 0
    errors: int = 0
    truncated: int = 0
    replaced_bytes: int = 0
    output: str = "-"


def auto_workers(device: torch.device) -> int:
    """Worker processes for ``--workers -1``: on a CPU one per core (the workers run the model;
    this process only reads and writes), on a GPU one per core but one (this process feeds the
    device). A single core gets none."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return 0
    return min(8, cores if device.type == "cpu" else cores - 1)


def output_format(path: str | None, explicit: str | None) -> str:
    if explicit:
        if explicit not in OUTPUT_FORMATS:
            raise DataError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, not {explicit!r}")
        return explicit
    if path is None or path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".jsonl"):
        return suffix[1:]
    raise DataError(f"{path}: output must end in .csv or .jsonl (or pass --format)")


def _open_input(source: str) -> IO[bytes]:
    if source == "-":
        return sys.stdin.buffer
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{source}: is a folder, expected a file of tweets")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except OSError as exc:
        raise DataError(f"{source}: cannot read ({exc.strerror})") from None


def _check_output(source: str, output: str | None, overwrite: bool) -> None:
    if output is None or output == "-":
        return
    out = Path(output)
    if source != "-" and out.exists() and out.resolve() == Path(source).resolve():
        raise DataError(f"{output}: the output would overwrite the input; choose another path")
    if not out.parent.is_dir():
        raise DataError(f"{output}: folder {out.parent} does not exist")
    if out.is_dir():
        raise DataError(f"{output}: is a folder, expected a file name")
    if out.exists() and not overwrite:
        raise DataError(f"{output}: already exists; pass --overwrite to replace it")


class _Writer:
    """Writes prediction rows as CSV or JSONL to a text stream."""

    def __init__(self, stream: IO[str], fmt: str, id_name: str, labels: list[str]):
        self.stream, self.fmt, self.id_name = stream, fmt, id_name
        self.prob_columns = [f"prob_{name}" for name in labels]
        self.columns = [id_name, "text", "label", "confidence", *self.prob_columns, "error"]
        if fmt == "csv":
            # The default dialect ends rows in CRLF and so quotes any field holding CR or LF:
            # a tweet with a line break inside stays one row for every CSV reader.
            self.csv = csv.writer(stream)
            self.csv.writerow(self.columns)

    def write(self, row_id, text: str, label: str, probs: list[float] | None, error: str) -> None:
        if self.fmt == "csv":
            cells = [row_id, text, label]
            cells += [f"{max(probs):.6f}", *(f"{p:.6f}" for p in probs)] if probs else [""] * (1 + len(self.prob_columns))
            self.csv.writerow([*cells, error])
            return
        record = {self.id_name: row_id, "text": text, "label": label or None,
                  "confidence": round(max(probs), 6) if probs else None}
        for column, p in zip(self.prob_columns, probs or [None] * len(self.prob_columns)):
            record[column] = round(p, 6) if p is not None else None
        record["error"] = error or None
        self.stream.write(json_line(record))


def predict(
    checkpoint: str | Path,
    source: str,
    output: str | None = None,
    *,
    text_column: str = "text",
    id_column: str = "id",
    input_format: str | None = None,
    fmt: str | None = None,
    batch_size: int = 512,
    chunk_size: int = 8192,
    device: str = "auto",
    skip_bad_lines: bool = False,
    overwrite: bool = False,
    workers: int = -1,
    warn: Callable[[str], None] = lambda message: None,
) -> PredictStats:
    """Predict every row of ``source`` (a path or ``-``) into ``output`` (a path, or None/``-``
    for standard output). Raises DataError, before writing anything, for an unreadable input,
    a missing column, or an output that would overwrite the input or an existing file.

    ``workers`` processes tokenize and, on a CPU, score (0: none, all in this process; -1: as
    many as :func:`auto_workers` says), started only for inputs longer than
    ``ChunkScorer.LOCAL_CHUNKS`` chunks of ``chunk_size`` rows."""
    in_format = input_format or ("txt" if source == "-" else table_format(source))
    out_format = output_format(output, fmt)
    _check_output(source, output, overwrite)
    torch_device = resolve_device(device)
    loaded = load_model(checkpoint, torch_device)
    if workers < 0:
        workers = auto_workers(torch_device)
    scorer = ChunkScorer(loaded, torch_device, batch_size, workers)
    limit = loaded.max_tokens * CHARS_PER_TOKEN
    stats = PredictStats(output=output or "-")

    stream = _open_input(source)
    name = "standard input" if source == "-" else source
    with ReplacementCounter() as counter:
        records = iter_records(stream, in_format, name, required=(text_column,), optional=(id_column,),
                               skip_bad_lines=skip_bad_lines, errors=counter.handler)
        first = next(records, None)  # raises DataError for a missing column before any output
        has_ids = first is not None and in_format != "txt" and id_column in first.fields
        id_name = id_column if has_ids else "line"
        rows = _chain(first, records)

        def run(handle: IO[str]) -> None:
            writer = _Writer(handle, out_format, id_name, loaded.label_names)
            # One chunk ahead: while chunk n is scored (or written) here, workers work on chunk n + 1.
            pending = None
            for records_ in _chunked(rows, chunk_size):
                chunk = _prepare(records_, text_column, limit, scorer)
                if pending is not None:
                    _finish(pending, writer, loaded, id_column if has_ids else None, stats)
                pending = chunk
            if pending is not None:
                _finish(pending, writer, loaded, id_column if has_ids else None, stats)
            handle.flush()

        try:
            if output is None or output == "-":
                run(sys.stdout)
            else:
                with atomic_open(output, "w", encoding="utf-8", newline="") as handle:
                    run(handle)
        finally:
            scorer.close()
            records.close()
            if stream is not sys.stdin.buffer:
                stream.close()
    stats.replaced_bytes = counter.count
    if stats.replaced_bytes:
        warn(f"{stats.replaced_bytes:,} undecodable byte(s) in {name} were replaced with U+FFFD")
    if stats.truncated:
        warn(f"{stats.truncated:,} tweet(s) longer than {loaded.max_tokens} tokens were cut to {loaded.max_tokens}")
    if stats.errors:
        warn(f"{stats.errors:,} row(s) got no prediction (empty or unreadable); see their 'error' column")
    return stats


def _chunked(rows: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def _chain(first: Record | None, rest: Iterator[Record]) -> Iterator[Record]:
    if first is not None:
        yield first
        yield from rest


def encode_texts(tokenizer: TweetTokenizer, vocab: Vocabulary, max_tokens: int, texts: list[str]) -> tuple[list[list[int]], list[bool]]:
    """Id sequences (cut to ``max_tokens``; never empty) and whether each text was cut."""
    sequences, cut = [], []
    for tokens in tokenizer.tokenize_many(texts):
        cut.append(len(tokens) > max_tokens)
        sequences.append(vocab.encode(tokens[:max_tokens]) or [UNK_ID])
    return sequences, cut


# --------------------------------------------------------------------------- worker processes

_WORKER: dict = {}


def _start_worker(shipped: str, batch_size: int) -> None:
    """Set up a worker from the file the parent wrote for it (see ``ChunkScorer._start_pool``)."""
    torch.set_num_threads(1)  # one process per core: threads would only compete
    payload = torch.load(shipped, weights_only=True)
    _WORKER.update(tokenizer=TweetTokenizer(TokenizerConfig.from_dict(payload["tokenizer"])),
                   vocab=Vocabulary(payload["vocab"]), max_tokens=payload["max_tokens"], batch_size=batch_size,
                   model=build_model(payload).eval() if "state_dict" in payload else None)


def _worker_run(texts: list[str]):
    """Encode a piece of texts and, where the worker holds the model, score it too."""
    sequences, cut = encode_texts(_WORKER["tokenizer"], _WORKER["vocab"], _WORKER["max_tokens"], texts)
    if _WORKER["model"] is None:
        return sequences, cut
    return predict_probs(_WORKER["model"], sequences, _WORKER["batch_size"], torch.device("cpu")).numpy(), cut


class _Local:
    """A chunk done in this process: encoded at once, scored when its result is asked for."""

    def __init__(self, scorer: "ChunkScorer", texts: list[str]):
        self.scorer = scorer
        self.sequences, self.cut = encode_texts(scorer.local, scorer.loaded.vocab, scorer.loaded.max_tokens, texts)

    def get(self) -> tuple[torch.Tensor, list[bool]]:
        return self.scorer.score(self.sequences), self.cut


class _Pooled:
    """A chunk sent to the workers in pieces of texts of similar length (so that their batches
    waste little on uneven lengths); put back in order, and scored here if they only encode."""

    def __init__(self, scorer: "ChunkScorer", texts: list[str]):
        self.scorer = scorer
        self.order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = scorer.PIECE
        pieces = [[texts[j] for j in self.order[i : i + step]] for i in range(0, len(texts), step)]
        self.pending = scorer.pool.map_async(_worker_run, pieces)

    def get(self) -> tuple[torch.Tensor, list[bool]]:
        results = self.pending.get()
        cut = _unsort(self.order, [flag for _, part_cut in results for flag in part_cut])
        if not self.scorer.workers_score:
            return self.scorer.score(_unsort(self.order, [s for part, _ in results for s in part])), cut
        if not results:
            return torch.empty(0), cut
        probs = torch.empty(len(self.order), results[0][0].shape[1])
        probs[torch.tensor(self.order)] = torch.from_numpy(np.concatenate([part for part, _ in results]))
        return probs, cut


def _unsort(order: list[int], items: list) -> list:
    """Put ``items``, given in the sequence of positions ``order``, back in position order."""
    out: list = [None] * len(order)
    for position, item in zip(order, items):
        out[position] = item
    return out


class ChunkScorer:
    """Turns chunks of texts into class probabilities, in this process or with ``workers``
    processes that work on the next chunk while this process writes out the current one.

    On a CPU each worker tokenizes, encodes and runs its own copy of the model on one thread, so
    every core does the whole job; on a GPU the workers only tokenize and encode, and the model
    runs here, on the device.

    The first ``LOCAL_CHUNKS`` chunks are done here, so that an input of one chunk never pays
    for starting workers (each imports torch and spaCy: a few seconds); the last of them is
    scored here while the workers start.
    """

    PIECE = 1024  # texts per task sent to a worker
    LOCAL_CHUNKS = 1

    def __init__(self, loaded: LoadedModel, device: torch.device, batch_size: int, workers: int):
        self.loaded, self.device, self.batch_size, self.workers = loaded, device, batch_size, workers
        self.workers_score = device.type == "cpu"
        self.local = TweetTokenizer(loaded.tokenizer)
        self.pool = None
        self.shipped: str | None = None
        self.chunks = 0

    def score(self, sequences: list[list[int]]) -> torch.Tensor:
        if not sequences:
            return torch.empty(0)
        return predict_probs(self.loaded.model, sequences, self.batch_size, self.device)

    def submit(self, texts: list[str]):
        self.chunks += 1
        if self.workers <= 0 or self.chunks <= self.LOCAL_CHUNKS:
            return _Local(self, texts)
        if self.pool is None:
            self.pool = self._start_pool()
        return _Pooled(self, texts)

    def _start_pool(self):
        # What the workers need goes through a temporary file, not through the pipe that starts
        # them: a large pickle there would block this process until each worker had imported
        # torch and read it. The file holds this process's model, so every worker scores with
        # exactly the weights loaded here.
        loaded = self.loaded
        payload = {"tokenizer": loaded.tokenizer.to_dict(), "vocab": loaded.vocab.tokens, "max_tokens": loaded.max_tokens}
        if self.workers_score:
            payload.update(model_config=loaded.payload["model_config"], state_dict=loaded.model.state_dict())
        fd, self.shipped = tempfile.mkstemp(prefix="hbilstm-workers-", suffix=".pt")
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
        return multiprocessing.get_context("spawn").Pool(
            self.workers, initializer=_start_worker, initargs=(self.shipped, self.batch_size))

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
        if self.shipped is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.shipped)
            self.shipped = None


@dataclass
class _Chunk:
    records: list[Record]
    texts: list[str]
    todo: list[int]  # rows with text to predict
    cut: set[int]  # rows whose text was cut before tokenizing
    scored: _Local | _Pooled  # gives (probabilities, cut flags) for the rows in todo


def _prepare(records: list[Record], text_column: str, limit: int, scorer: ChunkScorer) -> _Chunk:
    texts: list[str] = []
    for record in records:
        value = record.fields.get(text_column) if record.error is None else None
        texts.append("" if value is None else str(value))
    todo = [i for i, (r, t) in enumerate(zip(records, texts)) if r.error is None and t.strip()]
    cut = {i for i in todo if len(texts[i]) > limit}
    return _Chunk(records, texts, todo, cut, scorer.submit([texts[i][:limit] for i in todo]))


def _finish(chunk: _Chunk, writer: _Writer, loaded: LoadedModel, id_column: str | None, stats: PredictStats) -> None:
    probs, cut_tokens = chunk.scored.get()
    stats.truncated += sum(1 for i, flag in zip(chunk.todo, cut_tokens) if flag or i in chunk.cut)
    by_row = dict(zip(chunk.todo, probs.tolist()))
    for i, record in enumerate(chunk.records):
        row_id = record.fields.get(id_column, "") if id_column else record.line
        stats.rows += 1
        if i in by_row:
            p = by_row[i]
            label = loaded.label_names[max(range(len(p)), key=p.__getitem__)]
            writer.write(row_id, chunk.texts[i], label, p, "")
            stats.predicted += 1
        else:
            stats.errors += 1
            writer.write(row_id, chunk.texts[i], "", None, record.error or "empty text")
