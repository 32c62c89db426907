"""Small file helpers: atomic writes, content hashes and the cache folder.

Every file the tool produces (checkpoints, metrics, predictions, reports) is written to a
temporary file in the destination folder and renamed into place, so an interrupted write
never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import socket
import sys
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
    is left as it was. Where the system allows (Linux: ``O_TMPFILE``), the temporary file has no
    name until it is complete, so even a process killed outright (``kill -9``) leaves nothing
    behind; elsewhere it is named after this host and process, and removed by the next write into
    the same folder once that process is gone.
    """
    path = Path(path)
    sweep_stale(path.parent, f".{path.name}.")
    fd, named = _unnamed_file(path.parent), None
    if fd is None:
        named = temp_name(path.parent, f".{path.name}.")
        fd = os.open(named, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to open()
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            if named is None:  # give the finished file a name, then move it onto path
                named = temp_name(path.parent, f".{path.name}.")
                _link(handle.fileno(), named)
        os.replace(named, path)
    except BaseException:
        if named is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(named)
        raise


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def temp_name(folder: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> Path:
    """A fresh temporary file name in ``folder`` that says which host and process made it, so
    that :func:`sweep_stale` can tell a leftover of a dead process from a file still being written."""
    return Path(folder) / f"{prefix}{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"


def sweep_stale(folder: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> int:
    """Remove the files of :func:`temp_name` (same ``prefix`` and ``suffix``) in ``folder`` that a
    process of this host left when it was killed; returns how many went. Files of live processes
    and of other hosts (a shared folder) are left alone."""
    pattern = re.compile(re.escape(prefix) + re.escape(_HOST) + r"\.(\d+)\.[0-9a-f]{8}" + re.escape(suffix) + "$")
    removed = 0
    try:
        entries = [entry.name for entry in os.scandir(folder) if entry.name.startswith(prefix)]
    except OSError:
        return 0
    for name in entries:
        match = pattern.match(name)
        if match is None or _alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _unnamed_file(folder: Path) -> int | None:
    """A file descriptor of a new file with no name in ``folder`` (O_TMPFILE), or None where the
    system or the file system has no such files, or no way to name one later."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or _linkat() is None:
        return None
    try:
        fd = os.open(folder, flag | os.O_WRONLY, 0o666)
    except OSError:
        return None
    if _can_link(os.fstat(fd).st_dev, str(folder)):
        return fd
    os.close(fd)
    return None


_LINKABLE: dict[int, bool] = {}


def _can_link(device: int, folder: str) -> bool:
    """Whether an unnamed file on ``device`` can be given a name (tried once per file system:
    some sandboxes refuse the /proc link)."""
    if device not in _LINKABLE:
        probe = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        name = temp_name(folder, ".hbilstm-probe.")
        try:
            _link(probe, name)
            os.unlink(name)
            _LINKABLE[device] = True
        except OSError:
            _LINKABLE[device] = False
        finally:
            os.close(probe)
    return _LINKABLE[device]


@functools.lru_cache(maxsize=1)
def _linkat():
    """libc's ``linkat`` (os.link cannot follow /proc/self/fd links on every Python), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.linkat
    except (OSError, AttributeError):
        return None


def _link(fd: int, name: Path) -> None:
    """Give the unnamed file ``fd`` the name ``name`` (linkat of /proc/self/fd/N, following it)."""
    import ctypes

    at_fdcwd, at_symlink_follow = -100, 0x400
    if _linkat()(at_fdcwd, f"/proc/self/fd/{fd}".encode(), at_fdcwd, os.fsencode(name), at_symlink_follow) != 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error), str(name))


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
    """The SHA-256 of a regular file (FileRefused for a FIFO or a device, which may never end)."""
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise FileRefused("not a regular file")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FileRefused(ValueError):
    """A file that is not read: not a regular file (a FIFO, a device, a folder), larger than the
    cap for its kind, or a link out of the folder it must stay in. The message names no path;
    the caller says which file it was."""


def size_of(b: int) -> str:
    """A byte count for a message: ``12 MiB``, ``3 KiB``, ``17 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{b} bytes"


def check_regular(path: str | os.PathLike, cap: int, inside: str | os.PathLike | None = None) -> int:
    """The size of ``path``, a regular file of at most ``cap`` bytes; FileRefused otherwise.
    Links are followed; with ``inside``, the file they reach must lie in that folder."""
    import stat

    path = Path(path)
    if inside is not None and path.is_symlink():
        target, root = path.resolve(), Path(inside).resolve()
        if target != root and root not in target.parents:
            raise FileRefused(f"a link to {target}, outside {root}")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileRefused("no such file") from None
    except OSError as exc:
        raise FileRefused(f"cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket")
        raise FileRefused(f"{kind}, not a regular file")
    if info.st_size > cap:
        raise FileRefused(f"{size_of(info.st_size)}, more than the {size_of(cap)} such a file may hold")
    return info.st_size


def read_capped(path: str | os.PathLike, cap: int, inside: str | os.PathLike | None = None) -> bytes:
    """The bytes of ``path`` (see :func:`check_regular`), read without ever blocking on a FIFO or
    reading past ``cap`` bytes, even if the file is swapped or grows meanwhile."""
    import stat

    check_regular(path, cap, inside)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise FileRefused(f"cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRefused("not a regular file")
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise FileRefused(f"more than the {size_of(cap)} such a file may hold")
    return data


def read_json_if_any(path: str | os.PathLike, cap: int = 64 << 20) -> Any:
    """The JSON in ``path``, or None when it is missing, not a regular file, over ``cap`` bytes or
    not readable JSON (for files that a run may or may not have, such as ``results.json``)."""
    try:
        return json.loads(read_capped(path, cap).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def refuse_file_as_folder(path: str | os.PathLike, what: str) -> None:
    """ConfigError when ``path`` cannot be the folder ``what`` asks for: it exists as a file, a
    file stands where one of its parent folders would be, or the folder that holds it (or would)
    cannot be written."""
    from .errors import ConfigError

    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{path}: is a file; {what}")
    nearest = next(p for p in (Path(path).absolute(), *Path(path).absolute().parents) if os.path.exists(p))
    if not os.path.isdir(nearest):
        raise ConfigError(f"{path}: {nearest} is a file; {what}")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot write into {nearest} (permission denied)")


def unwritable_file(path: str | os.PathLike) -> str | None:
    """Why a file cannot be written at ``path`` (its folder is missing or a file, it is itself a
    folder, or its folder cannot be written), or None when it can."""
    path = Path(path)
    if not path.parent.is_dir():
        return f"{path.parent} is a file, not a folder" if path.parent.exists() else \
            f"folder {path.parent} does not exist"
    if path.is_dir():
        return "is a folder, expected a file name"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"cannot write into {path.parent} (permission denied)"
    return None
