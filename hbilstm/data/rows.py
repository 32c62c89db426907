"""Streaming the rows of a file of texts: plain text, CSV, TSV and JSON Lines.

:func:`iter_records` reads a byte stream as UTF-8 and yields one :class:`Record` per row, in
order, never holding more than a bounded line (:mod:`hbilstm.data.limits`); prediction reads
files of any size through it, and :func:`hbilstm.data.readers.read_table` labelled tables.
:class:`ReplacementCounter` counts the undecodable bytes replaced on the way. A missing column
or a malformed row raises :class:`~hbilstm.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from ..errors import DataError, MissingColumn
from .limits import MAX_LINE_CHARS, MAX_TEXT_CHARS

TABLE_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}

# Some tweets are longer than the csv module's default field limit allows; no field is longer
# than a line may be.
csv.field_size_limit(min(sys.maxsize, MAX_LINE_CHARS))


class ReplacementCounter:
    """Decode undecodable bytes as U+FFFD and count them.

    Use as ``with ReplacementCounter() as counter:`` and pass ``errors=counter.handler`` to the
    decoder; ``counter.count`` is then the number of bytes replaced. One registered codec error
    handler serves every counter: it charges the counter that is active at the time.
    """

    handler = "hbilstm-count-replace"
    _active: "ReplacementCounter | None" = None

    def __init__(self) -> None:
        self.count = 0

    @classmethod
    def _handle(cls, error: UnicodeDecodeError):
        if cls._active is not None:
            cls._active.count += error.end - error.start
        return ("\ufffd", error.end)

    def __enter__(self) -> "ReplacementCounter":
        ReplacementCounter._active = self
        return self

    def __exit__(self, *exc) -> None:
        ReplacementCounter._active = None


codecs.register_error(ReplacementCounter.handler, ReplacementCounter._handle)


def table_format(path: Path | str) -> str:
    """The table format of a file from its extension (``.csv``, ``.tsv``, ``.jsonl``, ``.txt``)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    for suffix in reversed(suffixes):
        if suffix in TABLE_FORMATS:
            return TABLE_FORMATS[suffix]
    raise DataError(
        f"{path}: unknown file type; use one of {', '.join(sorted(TABLE_FORMATS))}"
    )


@dataclass
class Record:
    """One input row: its 1-based line (or row) number, its fields, or why it could not be read."""

    line: int
    fields: dict
    error: str | None = None


def iter_records(
    stream: IO[bytes],
    fmt: str,
    name: str,
    required: Sequence[str] = ("text",),
    skip_bad_lines: bool = False,
    errors: str = "strict",
    optional: Sequence[str] = (),
    columns: list[str] | None = None,
) -> Iterator[Record]:
    """Stream the rows of a text/CSV/TSV/JSONL byte stream in order, one :class:`Record` each.

    The bytes are read as UTF-8 (a BOM is skipped; ``errors`` is the codec error handler).
    Lines end in LF, CRLF or a lone CR; for ``txt`` every line is a row, blank ones included,
    and its number is the line number. For CSV/TSV the number counts data rows (quoted fields
    may span lines); blank lines between CSV/TSV rows or JSON lines are not rows. ``required``
    names the columns (fields) that must exist: a table without one raises DataError before any
    row is yielded, and so does a header naming a required or ``optional`` column twice. A
    malformed row raises DataError naming its line, or, with ``skip_bad_lines``, comes back as a
    Record with ``error`` set.
    ``name`` is how the source is named in messages. For CSV/TSV, a ``columns`` list is filled
    with the header's names as soon as the header is read.

    Lines are read with a bound (:mod:`hbilstm.data.limits`): a text file's line is cut to one
    character more than the tokenizer reads (the rest is read and dropped, so a long line costs
    no memory), and any line longer than ``MAX_LINE_CHARS`` raises DataError naming it, so that
    an input without line ends (``/dev/zero``) is an error, not an endless read.
    """
    text = io.TextIOWrapper(
        stream, encoding="utf-8-sig", errors=errors, newline="" if fmt in ("csv", "tsv") else None
    )
    try:
        if fmt == "txt":
            column = required[0] if required else "text"
            for number, line in enumerate(bounded_lines(text, name, keep=MAX_TEXT_CHARS + 1), 1):
                yield Record(number, {column: line.rstrip("\n")})
        elif fmt in ("csv", "tsv"):
            yield from _iter_table(bounded_lines(text, name), "," if fmt == "csv" else "\t", name, required, optional,
                                   skip_bad_lines, columns)
        elif fmt == "jsonl":
            yield from _iter_jsonl(bounded_lines(text, name), name, required, skip_bad_lines)
        else:
            raise ValueError(f"unknown table format {fmt!r}")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not valid UTF-8 ({exc.reason} near byte {exc.start})") from None
    finally:
        # Hand the byte stream back to its owner (who closes it) instead of closing it here.
        with contextlib.suppress(ValueError):
            text.detach()


def bounded_lines(text: IO[str], name: str, keep: int | None = None) -> Iterator[str]:
    """The lines of ``text`` (each with its line end, as iterating the stream gives them), never
    holding more than ``MAX_LINE_CHARS`` characters: DataError naming a line that is longer.
    ``keep``: cut each line to ``keep`` characters, reading and dropping the rest (up to that
    bound) without holding it."""
    number = 0
    whole = MAX_LINE_CHARS + 1
    while line := text.readline(keep or whole):
        number += 1
        if not line.endswith(("\n", "\r")) and len(line) == (keep or whole):
            length = len(line) if keep else whole
            while keep and (rest := text.readline(1 << 16)):
                length += len(rest)
                if rest.endswith(("\n", "\r")) or length > MAX_LINE_CHARS:
                    break
            if length > MAX_LINE_CHARS:
                raise DataError(f"{name}:{number}: a line of more than {MAX_LINE_CHARS:,} characters; a file of "
                                "tweets has one text per line (is this the right file?)")
        yield line


def _bad(message: str, skip: bool) -> str:
    if not skip:
        raise DataError(message)
    return message.split(": ", 1)[1]


def _iter_table(lines, delimiter, name, required, optional, skip_bad_lines, columns) -> Iterator[Record]:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        if columns is not None:
            columns[:] = header
        missing = [c for c in required if c not in header]
        if missing:
            raise MissingColumn(f"{name}: no column {missing[0]!r} (columns: {', '.join(header) or 'none'})",
                                missing[0])
        duplicated = sorted({c for c in (*required, *optional) if header.count(c) > 1})
        if duplicated:
            raise DataError(f"{name}: column {duplicated[0]!r} appears more than once in the header")
        needed = max(header.index(c) for c in required) + 1 if required else 0
        number = 0
        for row in reader:
            if not row:
                continue  # a blank line between rows is not a row
            number += 1
            extra = row[len(header):]
            if any(cell.strip() for cell in extra) or len(row) < needed:
                reason = _bad(
                    f"{name}:{reader.line_num}: {len(row)} fields but the header has {len(header)}",
                    skip_bad_lines,
                )
                yield Record(number, dict(zip(header, row)), error=reason)
                continue
            yield Record(number, dict(zip(header, row)))
    except csv.Error as exc:
        raise DataError(f"{name}:{reader.line_num}: {exc}") from None


def _iter_jsonl(lines, name, required, skip_bad_lines) -> Iterator[Record]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            reason = _bad(f"{name}:{number}: malformed JSON", skip_bad_lines)
            yield Record(number, {}, error=reason)
            continue
        if not isinstance(obj, dict):
            reason = _bad(f"{name}:{number}: expected a JSON object", skip_bad_lines)
            yield Record(number, {}, error=reason)
            continue
        missing = [c for c in required if c not in obj]
        if missing:
            message = f"{name}:{number}: no field {missing[0]!r}"
            if not skip_bad_lines:
                raise MissingColumn(message, missing[0])
            yield Record(number, obj, error=_bad(message, skip_bad_lines))
            continue
        yield Record(number, obj)
