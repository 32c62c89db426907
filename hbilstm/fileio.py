"""Small file helpers: atomic writes, content hashes and the cache folder.

Every file the tool produces (checkpoints, metrics, predictions, reports) is written to a
temporary file in the destination folder and renamed into place, so an interrupted write
never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


def default_cache_dir() -> Path:
    """``$HBILSTM_CACHE_DIR``, else ``$XDG_CACHE_HOME/hbilstm``, else ``~/.cache/hbilstm``."""
    if os.environ.get("HBILSTM_CACHE_DIR"):
        return Path(os.environ["HBILSTM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hbilstm"


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it onto ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``path``
    is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


# Characters that JSON leaves raw inside strings but that ``str.splitlines`` (and
# some JavaScript parsers) treat as line breaks; escaping them keeps one record per line.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(obj: Any) -> str:
    """One JSON record as one line of UTF-8 text, safe for any line splitter."""
    return json.dumps(obj, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_json_if_any(path: str | os.PathLike) -> Any:
    """The JSON in ``path``, or None when it is missing or not readable JSON (for files that a
    run may or may not have, such as ``results.json``)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def refuse_file_as_folder(path: str | os.PathLike, what: str) -> None:
    """ConfigError when ``path`` exists as a file where ``what`` (a folder) is to be written."""
    from .errors import ConfigError

    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{path}: is a file; {what}")
