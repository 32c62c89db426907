"""Readers for the sentiment file formats hbilstm understands.

Each reader returns :class:`Examples` (texts, label names, optional ids) and raises
:class:`~hbilstm.errors.DataError` with a one-line message naming the file (and line) when
the file is missing or malformed.

Formats
-------
* TweetEval folder: ``{split}_text.txt`` and ``{split}_labels.txt`` (one per line, aligned) and
  ``mapping.txt`` (``0<TAB>negative`` ...).
* SemEval-2017 Task 4A: ``id<TAB>label<TAB>text`` (the SMS and LiveJournal files carry a second
  id column); fields may be double-quoted with doubled quotes inside, text holds ``\\uXXXX``
  escapes, which are decoded.
* SST: ``tokenized sentence ||| label`` with labels 0-4; binary drops 2 and maps 0-1 to negative,
  3-4 to positive.
* Tables: CSV, TSV (with a header row) and JSON Lines, with configurable text, label and id
  column names, read through :func:`hbilstm.data.rows.iter_records`, which streams them
  (prediction uses it on files of any size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Sequence

from ..errors import DataError, MissingColumn
from .rows import iter_records, table_format

SEMEVAL_LABELS = ("negative", "neutral", "positive")
SST5_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
SST2_LABELS = ("negative", "positive")


@dataclass
class Examples:
    """Parallel lists: ``texts[i]`` has label name ``labels[i]`` and id ``ids[i]``."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def extend(self, other: "Examples") -> None:
        self.texts += other.texts
        self.labels += other.labels
        self.ids += other.ids

    def select(self, keep: Sequence[int]) -> "Examples":
        return Examples(
            [self.texts[i] for i in keep], [self.labels[i] for i in keep], [self.ids[i] for i in keep]
        )


def open_text(path: Path, errors: str = "strict") -> IO[str]:
    """Open a UTF-8 file (a BOM is skipped) as text; DataError if it cannot be opened."""
    try:
        return open(path, "r", encoding="utf-8-sig", errors=errors, newline="")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file, split on newlines only (a tweet may hold U+2028)."""
    with open_text(path) as handle:
        try:
            text = handle.read()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------- TweetEval


def read_tweeteval_mapping(folder: Path) -> list[str]:
    path = folder / "mapping.txt"
    names: dict[int, str] = {}
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split(None, 1)
        try:
            names[int(parts[0])] = parts[1].strip()
        except (ValueError, IndexError):
            raise DataError(f"{path}:{number}: expected '<id><TAB><label name>'") from None
    if sorted(names) != list(range(len(names))) or not names:
        raise DataError(f"{path}: label ids must be 0..N-1")
    return [names[i] for i in range(len(names))]


def read_tweeteval(folder: Path, split: str, label_names: Sequence[str] | None = None) -> Examples:
    """One split of a TweetEval task folder."""
    label_names = list(label_names or read_tweeteval_mapping(folder))
    text_path, label_path = folder / f"{split}_text.txt", folder / f"{split}_labels.txt"
    texts, raw_labels = read_lines(text_path), read_lines(label_path)
    if len(texts) != len(raw_labels):
        raise DataError(
            f"{text_path} has {len(texts)} lines but {label_path} has {len(raw_labels)}"
        )
    labels = []
    for number, raw in enumerate(raw_labels, 1):
        try:
            labels.append(label_names[int(raw)])
        except (ValueError, IndexError):
            raise DataError(
                f"{label_path}:{number}: label {raw!r} is not one of 0..{len(label_names) - 1}"
            ) from None
    ids = [f"{split}-{i}" for i in range(1, len(texts) + 1)]
    return Examples(texts, labels, ids)


# --------------------------------------------------------------------------- SemEval

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def decode_semeval_text(text: str) -> str:
    """Undo SemEval's escaping: ``\\u2019`` -> ’ (surrogate pairs joined), ``\\"`` -> "."""
    text = text.replace('\\""', '"').replace('\\"', '"')
    if "\\u" in text:
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        # Pairs of escaped surrogates (emoji) become one character.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.strip()


_SEMEVAL_ROW = re.compile(r"^([^\t]+)\t(?:[^\t]+\t)?(negative|neutral|positive)\t(.*)$", re.S)


def _unquote_csv_field(text: str) -> str:
    """Some SemEval files quote a field CSV-style (``"a ""b"" c"``), others hold raw quotes
    (``"83 Minutes", a book``). Unquote only what is quoted whole with every inner quote doubled."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '"' not in text[1:-1].replace('""', ""):
        return text[1:-1].replace('""', '"')
    return text


def read_semeval(path: Path) -> Examples:
    """A SemEval-2017 Task 4A gold file (``id<TAB>label<TAB>text``, or with a second id column).

    A line that does not start a record continues the previous tweet's text (a quoted tweet
    holding a newline spans two lines in the 2016 test file).
    """
    out = Examples()
    for number, line in enumerate(read_lines(path), 1):
        match = _SEMEVAL_ROW.match(line)
        if match is None:
            if not out.texts:
                if not line.strip():
                    continue
                raise DataError(
                    f"{path}:{number}: expected 'id<TAB>label<TAB>text' with a label in "
                    f"{', '.join(SEMEVAL_LABELS)}"
                )
            out.texts[-1] += "\n" + line
            continue
        out.ids.append(match.group(1))
        out.labels.append(match.group(2))
        out.texts.append(match.group(3))
    out.texts = [decode_semeval_text(_unquote_csv_field(t.rstrip("\t"))) for t in out.texts]
    return out


# --------------------------------------------------------------------------- SST


def read_sst(path: Path, binary: bool = False) -> Examples:
    """Stanford Sentiment Treebank sentences, ``sentence ||| label`` per line."""
    out = Examples()
    for number, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        text, sep, raw = line.rpartition("|||")
        try:
            label = int(raw)
            if not sep or not 0 <= label <= 4:
                raise ValueError
        except ValueError:
            raise DataError(f"{path}:{number}: expected 'sentence ||| label' with a label 0-4") from None
        if binary:
            if label == 2:
                continue
            name = SST2_LABELS[label > 2]
        else:
            name = SST5_LABELS[label]
        out.texts.append(text.strip())
        out.labels.append(name)
        out.ids.append(str(number))
    return out


# --------------------------------------------------------------------------- labelled tables


def read_table(
    path: Path, text_column: str = "text", label_column: str = "label", id_column: str = "id"
) -> Examples:
    """A labelled CSV, TSV or JSONL file; ids come from ``id_column`` where it exists."""
    fmt = table_format(path)
    if fmt == "txt":
        raise DataError(f"{path}: a plain text file has no labels; use CSV, TSV or JSONL")
    out = Examples()
    try:
        stream = open(path, "rb")
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    with stream:
        try:
            for record in iter_records(stream, fmt, str(path), required=(text_column, label_column),
                                       optional=(id_column,)):
                label = record.fields[label_column]
                if label is None or str(label).strip() == "":
                    raise DataError(f"{path}: row {record.line} has no label")
                out.texts.append(str(record.fields[text_column] or ""))
                out.labels.append(str(label).strip())
                out.ids.append(str(record.fields.get(id_column, record.line)))
        except MissingColumn as exc:
            option = "text_column" if exc.column == text_column else "label_column"
            raise DataError(f"{exc}; the option {option} names the column to read (--set {option}=NAME)") from None
    return out
