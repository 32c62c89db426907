"""``hbilstm predict --engine ray``: many files of tweets labelled on Ray, into Parquet shards.

The driver expands the inputs (paths, folders, globs), opens each file to check it (a missing
column or an unreadable file is reported by its name before any work starts) and cuts it into
*parts*: contiguous ranges of its rows, about ``rows_per_part`` each, from the file's size. A
Ray Data pipeline then hands the parts to a pool of actors, each holding one copy of the model
(loaded once), which read their part with the same readers as ``hbilstm predict`` and yield
labelled rows chunk by chunk; Ray Data writes them as Parquet files into the output folder.

Every row keeps where it came from: ``source`` (its file), ``line`` (its line or row number in
that file, as ``hbilstm predict`` counts it) and the id column (the input's id where the file
has one, else null). Together the parts cover each file's rows once: the last part of a file
reads to its end, whatever the estimate said, and a part past the end is empty.

A local output folder is written as a temporary sibling and renamed into place when complete;
a URI (``s3://...``) is written in place by Ray.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterator

from ..data.rows import ReplacementCounter
from ..errors import ConfigError, DataError
from ..ray_cluster import connected, import_ray
from .io import check_input
from .stream import INPUT_FORMATS, _input_format, labelled_rows, open_rows, scored_chunks

ROWS_PER_PART = 100_000
CHUNK_SIZE = 8192
SUPPORTED = {".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".parquet"}


@dataclass(frozen=True)
class Part:
    """Rows ``start`` to ``stop`` (None: the end) of one input file, in the file's row order."""

    path: str
    fmt: str
    start: int
    stop: int | None


@dataclass(frozen=True)
class RaySettings:
    """What every actor needs to read and score its parts."""

    model: str
    text_column: str = "text"
    id_column: str = "id"
    batch_size: int | None = None  # None: 512 on a CPU, 2048 on a GPU
    device: str = "auto"  # auto: CUDA when the Ray cluster has GPUs
    threads: int = 1
    skip_bad_lines: bool = False
    chunk_size: int = CHUNK_SIZE
    min_confidence: float | None = None  # rows below it are labelled uncertain (hbilstm.confidence)


@dataclass
class RayStats:
    files: int
    parts: int
    rows: int
    errors: int
    output: str
    actors: int


def expand_inputs(patterns: list[str]) -> list[str]:
    """Files named by ``patterns`` (files, folders of input files, or globs), in the order
    given, each once; DataError for a pattern that names nothing."""
    found: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            matches = sorted(str(p) for p in Path(pattern).iterdir() if p.is_file() and p.suffix.lower() in SUPPORTED)
        elif glob.has_magic(pattern):
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        else:
            matches = [pattern]
        if not matches:
            raise DataError(f"{pattern}: no input files match")
        found += [m for m in matches if m not in found]
    return found


def plan_parts(paths: list[str], settings: RaySettings, rows_per_part: int = ROWS_PER_PART) -> list[Part]:
    """Check every input and cut it into parts of about ``rows_per_part`` rows."""
    if rows_per_part < 1:
        raise ConfigError("rows per part must be at least 1")
    parts = []
    for path in paths:
        if path == "-":
            raise DataError("--engine ray reads files; standard input cannot be shared between workers")
        check_input(path)
        fmt = _input_format(path)
        if fmt not in INPUT_FORMATS:
            raise DataError(f"{path}: unknown input format; expected one of {', '.join(sorted(SUPPORTED))}")
        with ReplacementCounter() as counter, open_rows(path, fmt, settings.text_column, settings.id_column,
                                                        settings.skip_bad_lines, counter.handler,
                                                        settings.chunk_size) as rows_in:
            estimate = rows_in.estimate or 0
        count = max(1, -(-estimate // rows_per_part))
        size = -(-max(estimate, 1) // count)
        parts += [Part(path, fmt, k * size, (k + 1) * size if k < count - 1 else None) for k in range(count)]
    return parts


def output_schema(labels: list[str], id_column: str):
    import pyarrow as pa

    return pa.schema([
        ("source", pa.string()), ("line", pa.int64()), (id_column, pa.string()), ("text", pa.string()),
        ("label", pa.string()), ("confidence", pa.float32()),
        *((f"prob_{label}", pa.float32()) for label in labels), ("error", pa.string()),
    ])


class PartLabeller:
    """A Ray Data actor: loads the model once, then labels whole parts, one table per chunk."""

    def __init__(self, settings: dict):
        import torch

        from ..loading import load
        from .stream import PredictStats
        from .workers import ChunkScorer, default_batch_size

        self.settings = RaySettings(**settings)
        torch.set_num_threads(max(1, self.settings.threads))
        self.loaded = load(self.settings.model, "torch", self.settings.device)
        self.scorer = ChunkScorer(self.loaded, self.settings.batch_size or default_batch_size(self.loaded.device),
                                  workers=0)
        self.schema = output_schema(self.loaded.label_names, self.settings.id_column)
        self.stats = PredictStats()

    def __call__(self, batch: dict) -> Iterator[Any]:
        for path, fmt, start, stop in zip(batch["path"], batch["fmt"], batch["start"], batch["stop"]):
            yield from self.label(Part(str(path), str(fmt), int(start), None if int(stop) < 0 else int(stop)))

    def label(self, part: Part) -> Iterator[Any]:
        import pyarrow as pa

        s = self.settings
        with ReplacementCounter() as counter, open_rows(part.path, part.fmt, s.text_column, s.id_column,
                                                        s.skip_bad_lines, counter.handler, s.chunk_size) as rows_in:
            rows = islice(rows_in.rows, part.start, part.stop)
            id_column = s.id_column if rows_in.has_ids else None
            for chunk in scored_chunks(rows, s.chunk_size, s.text_column, self.scorer):
                columns: dict[str, list] = {name: [] for name in self.schema.names}
                for record, _, text, label, probs, error in labelled_rows(
                    chunk, self.loaded, id_column, self.stats, s.min_confidence
                ):
                    own_id = record.fields.get(id_column) if id_column else None
                    columns["source"].append(part.path)
                    columns["line"].append(record.line)
                    columns[s.id_column].append(None if own_id in (None, "") else str(own_id))
                    columns["text"].append(text)
                    columns["label"].append(label or None)
                    columns["confidence"].append(max(probs) if probs else None)
                    for j, label_name in enumerate(self.loaded.label_names):
                        columns[f"prob_{label_name}"].append(probs[j] if probs else None)
                    columns["error"].append(error or None)
                yield pa.table(columns, schema=self.schema)


def predict_ray(
    inputs: list[str],
    output: str,
    settings: RaySettings,
    *,
    workers: int = -1,
    address: str | None = None,
    overwrite: bool = False,
    rows_per_part: int = ROWS_PER_PART,
    log: Callable[[str], None] = lambda message: None,
) -> RayStats:
    """Label every row of ``inputs`` into Parquet files in the folder (or URI) ``output``."""
    # Our one line says what runs; Ray's own messages go to its log files (set these to see them).
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    ray = import_ray("--engine ray")
    remote = "://" in output
    target = Path(output)
    if not remote:
        if target.exists() and not target.is_dir():
            raise DataError(f"{output}: is a file; --engine ray writes a folder of Parquet files")
        if target.is_dir() and any(target.iterdir()) and not overwrite:
            raise DataError(f"{output}: folder is not empty; pass --overwrite to replace it")
        if not target.parent.is_dir():
            raise DataError(f"{output}: folder {target.parent} does not exist")
    paths = expand_inputs(inputs)
    parts = plan_parts(paths, settings, rows_per_part)
    from ..checkpoint import load_model

    labels = load_model(settings.model, "cpu").label_names  # a bad model fails here, not in every actor

    with connected(ray, address, workers if workers > 0 else None):
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        available = ray.cluster_resources()
        gpu = settings.device.startswith("cuda") or (settings.device == "auto" and available.get("GPU", 0) > 0)
        if settings.device == "auto":  # what "auto" means on the cluster, not on this machine
            settings = replace(settings, device="cuda" if gpu else "cpu")
        actors = workers if workers > 0 else max(1, int(available.get("GPU" if gpu else "CPU", 1)))
        actors = min(actors, len(parts))
        log(f"ray: {len(paths)} file(s) in {len(parts)} part(s), {actors} actor(s) "
            f"on {int(available.get('CPU', 0))} CPU(s){' and %d GPU(s)' % available.get('GPU', 0) if gpu else ''}")
        items = [{**asdict(p), "stop": -1 if p.stop is None else p.stop} for p in parts]
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        labelled = dataset.map_batches(
            PartLabeller, fn_constructor_args=(asdict(settings),), batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=0 if gpu else settings.threads,
            num_gpus=1 if gpu else 0,
        )
        written = output if remote else str(target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            labelled.write_parquet(written)
        except Exception as error:  # a Ray task's error: say which of ours it was, in one line
            cause = getattr(error, "cause", None) or error.__cause__
            while cause is not None and not isinstance(cause, (DataError, ConfigError)) and cause.__cause__:
                cause = cause.__cause__
            if not remote:
                shutil.rmtree(written, ignore_errors=True)
            if isinstance(cause, (DataError, ConfigError)):
                raise type(cause)(str(cause)) from None
            raise
        if not remote:
            _move_into_place(Path(written), target)
    rows, errors = _count(target, labels) if not remote else (-1, -1)
    return RayStats(len(paths), len(parts), rows, errors, output, actors)


def _move_into_place(written: Path, target: Path) -> None:
    """Rename the finished folder to ``target``; an old ``target`` goes only once that is done."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
    written.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _count(folder: Path, labels: list[str]) -> tuple[int, int]:
    """Rows and rows without a prediction in the Parquet files of ``folder``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = errors = 0
    for file in sorted(folder.glob("*.parquet")):
        table = pq.read_table(file, columns=["error"])
        rows += table.num_rows
        errors += table.num_rows - int(pc.sum(pc.is_null(table["error"])).as_py() or 0)
    return rows, errors
