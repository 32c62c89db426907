"""What hbilstm keeps in its cache folder, and clearing it (``hbilstm cache``).

The cache folder (:func:`~hbilstm.fileio.default_cache_dir`) holds three kinds of entry, each in
its own subfolder, and every one of them can be made again from its inputs, so removing one costs
the next command that needs it some time and nothing else:

* ``tokens/``: tokenized splits, one Arrow table (a folder) per list of texts and tokenizer settings;
* ``tokenizer/``: spaCy's tokenizer rules, one JSON snapshot per spaCy version;
* ``teachers/``: a distillation teacher's probabilities over a list of texts, one ``.npy`` each.

An entry's last use is its modification time: writing it sets it, and reading it back touches it
(:func:`touch`), so ``older_than`` selects what no command has needed for that long, and
:func:`beyond` the least recently used entries past a size the user will keep. With
``$HBILSTM_CACHE_LIMIT`` set (a size, ``2GB``), every new entry is followed by :func:`trim`,
which removes the least recently used others until the folder is within it, so the cache never
grows without bound. Names that start with a dot are temporaries of a write in progress; they
are left alone unless older than a day (then a killed process left them). Nothing outside the
three subfolders is ever touched.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

KINDS = {
    "tokens": "tokenized splits (Arrow tables)",
    "tokenizer": "spaCy's tokenizer rules",
    "teachers": "distillation teachers' probabilities",
}
TEMPORARY_AGE = 24 * 3600  # a temporary older than this was left by a killed write
LIMIT_VARIABLE = "HBILSTM_CACHE_LIMIT"


@dataclass(frozen=True)
class Entry:
    kind: str
    path: Path
    size: int  # bytes
    last_used: float  # seconds since the epoch


def touch(path: Path) -> None:
    """Mark a cache entry as used now; a cache that cannot be written is no error."""
    try:
        os.utime(path)
    except OSError:
        pass


def _size(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name), follow_symlinks=False).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def entries(root: Path, kinds: Sequence[str] = tuple(KINDS), older_than: float | None = None,
            now: float | None = None) -> list[Entry]:
    """The entries of ``kinds`` under ``root``, oldest use first; with ``older_than`` (seconds),
    only those last used longer ago than that."""
    now = time.time() if now is None else now
    found: list[Entry] = []
    for kind in kinds:
        folder = Path(root) / kind
        try:
            children = list(folder.iterdir())
        except OSError:  # no such folder yet, or not a folder
            continue
        for child in children:
            try:
                stat = child.lstat()
                size = _size(child) if not child.is_symlink() else stat.st_size
            except OSError:  # removed meanwhile
                continue
            if child.name.startswith(".") and now - stat.st_mtime < TEMPORARY_AGE:
                continue  # a write in progress
            if older_than is not None and now - stat.st_mtime <= older_than:
                continue
            found.append(Entry(kind, child, size, stat.st_mtime))
    return sorted(found, key=lambda e: e.last_used)


def remove(found: Iterable[Entry]) -> tuple[int, int, list[tuple[Path, str]]]:
    """Remove ``found`` entries: how many were removed, their bytes, and the ``(path, reason)`` of
    each that could not be (no permission, say). One another process removed first counts as
    neither."""
    count = size = 0
    failed: list[tuple[Path, str]] = []
    for entry in found:
        try:
            if entry.path.is_dir() and not entry.path.is_symlink():
                shutil.rmtree(entry.path)
            else:
                entry.path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append((entry.path, exc.strerror or str(exc)))
            continue
        count += 1
        size += entry.size
    return count, size, failed


def beyond(found: Sequence[Entry], keep: int) -> list[Entry]:
    """The entries to remove so that the rest of ``found`` take at most ``keep`` bytes: the least
    recently used first, as few as that needs."""
    total = sum(e.size for e in found)
    chosen = []
    for entry in sorted(found, key=lambda e: e.last_used):
        if total <= keep:
            break
        chosen.append(entry)
        total -= entry.size
    return chosen


_SIZE = re.compile(r"(?i)^\s*(\d+(?:\.\d+)?)\s*(b|kb?|mb?|gb?|tb?)?\s*$")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12}


def parse_size(text: str) -> int:
    """``"2GB"``, ``"500 MB"``, ``"1.5g"``, ``"0"`` -> bytes (decimal units, as :func:`human_size`
    prints them); ValueError for anything else."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size: give a number with B, kB, MB, GB or TB (2GB, 500MB)")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 kB``: decimal units, as ``du --si`` and pip's cache command print."""
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def limit() -> int | None:
    """The most bytes the cache may hold, from ``$HBILSTM_CACHE_LIMIT``; None when it is unset or
    empty. A value that is not a size is the user's error, reported in one line."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        from .errors import ConfigError

        raise ConfigError(f"{LIMIT_VARIABLE}: {exc}") from None


def trim(root: Path, written: Path) -> int:
    """After ``written`` (a new entry under ``root``) was stored: with a limit set (:func:`limit`),
    remove the least recently used other entries until the whole cache fits it. The new entry
    itself is kept even when it alone is larger. How many entries were removed; a cache that
    cannot be read or cleared is no error (it costs disk, never a run)."""
    most = limit()
    if most is None:
        return 0
    written = Path(written)
    found = entries(root)
    mine = [e for e in found if e.path == written]
    others = [e for e in found if e.path != written]
    room = max(0, most - sum(e.size for e in mine))
    count, _, _ = remove(beyond(others, room))
    return count
