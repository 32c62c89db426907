"""Prediction input and output: opening the input, checking the output path, writing rows."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

from ..errors import DataError
from ..fileio import json_line, unwritable_file

OUTPUT_FORMATS = ("csv", "jsonl", "parquet")


def output_format(path: str | None, explicit: str | None) -> str:
    if explicit:
        if explicit not in OUTPUT_FORMATS:
            raise DataError(f"--format must be one of {', '.join(OUTPUT_FORMATS)}, not {explicit!r}")
        return explicit
    if path is None or path == "-":
        return "csv"
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".jsonl", ".ndjson", ".parquet"):
        return {".csv": "csv", ".parquet": "parquet"}.get(suffix, "jsonl")
    raise DataError(f"{path}: output must end in .csv, .jsonl, .ndjson or .parquet (or pass --format)")


def check_input(source: str) -> None:
    """DataError, saying what was given and what is expected, unless ``source`` is a readable
    file (or ``-``)."""
    if source == "-":
        return
    path = Path(source)
    if path.is_dir():
        raise DataError(
            f"{source}: is a directory; give one file of tweets (.txt, .csv, .tsv, .jsonl, .ndjson or .parquet), "
            "or - to read standard input"
        )
    if not path.exists():
        raise DataError(f"{source}: no such file")


def open_input(source: str) -> IO[bytes]:
    if source == "-":
        return sys.stdin.buffer
    path = Path(source)  # checked by check_input before the model was loaded
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file") from None
    except OSError as exc:
        raise DataError(f"{source}: cannot read ({exc.strerror})") from None


def check_output(source: str, output: str | None, overwrite: bool) -> None:
    if output is None or output == "-":
        return
    out = Path(output)
    if source != "-" and out.exists() and out.resolve() == Path(source).resolve():
        raise DataError(f"{output}: the output would overwrite the input; choose another path")
    reason = unwritable_file(out)
    if reason:
        raise DataError(f"{output}: {reason}")
    if out.exists() and not overwrite:
        raise DataError(f"{output}: already exists; pass --overwrite to replace it")


class Writer:
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
            cells += (
                [f"{max(probs):.6f}", *(f"{p:.6f}" for p in probs)] if probs else [""] * (1 + len(self.prob_columns))
            )
            self.csv.writerow([*cells, error])
            return
        record = {self.id_name: row_id, "text": text, "label": label or None,
                  "confidence": round(max(probs), 6) if probs else None}
        for column, p in zip(self.prob_columns, probs or [None] * len(self.prob_columns)):
            record[column] = round(p, 6) if p is not None else None
        record["error"] = error or None
        self.stream.write(json_line(record))

    def end_chunk(self) -> None:
        """Nothing to do between chunks for CSV or JSONL (Parquet writes a row group)."""

    def close(self) -> None:
        self.stream.flush()

    def abort(self) -> None:
        """Nothing to undo: the caller drops the temporary file."""


def jsonl_has_field(path: Path, key: str) -> bool:
    """Whether any JSON object in the JSON Lines file ``path`` has ``key``: a byte search for the
    quoted key, then a parse of the lines that hold it."""
    needle = json.dumps(key, ensure_ascii=False).encode("utf-8")
    with open(path, "rb") as handle:
        for line in handle:
            if needle in line:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and key in obj:
                    return True
    return False
