"""What keeps ``hbilstm serve`` reachable when clients are slow, greedy or too many.

* :func:`guarded_protocol` wraps uvicorn's HTTP protocol: a connection beyond ``max_connections``
  is answered ``503`` with ``Retry-After`` and closed at once (it never holds a file descriptor
  for long), and a connection that has not sent a whole request head within
  ``header_timeout_s`` (a slow or silent client, "slowloris") gets ``408`` and is closed.
* :class:`BodyBudget` caps the request-body bytes held across all connections at once: past it a
  request is answered ``503`` with ``Retry-After`` instead of taking more memory. Once a burst of
  large bodies is over, :func:`release_memory` hands the freed memory back to the system.
* :class:`OncePerInterval` lets one log record of each kind through per interval and counts the
  rest, so that a flood (say, of refused connections) cannot fill the disk with tracebacks.
* :func:`raise_open_file_limit` lifts the process's soft limit on open files towards the hard one,
  so that ``max_connections`` connections fit.

Nothing here imports FastAPI; uvicorn is imported by :func:`guarded_protocol`'s caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from typing import Any

_BUSY = b'{"error": "busy", "message": "the server has too many open connections; retry shortly"}'
_SLOW = b'{"error": "request_timeout", "message": "the request head did not arrive in time"}'


def _raw_response(status: bytes, body: bytes, retry_after: int | None = None) -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: application/json", b"content-length: %d" % len(body),
            b"connection: close"]
    if retry_after is not None:
        head.append(b"retry-after: %d" % retry_after)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def guarded_protocol(base: type, max_connections: int, header_timeout_s: float) -> type:
    """A subclass of uvicorn's HTTP protocol class ``base`` (h11 or httptools) with the connection
    cap and the request-head timeout of the module's docstring. It relies on two attributes both
    of uvicorn's protocols have: ``connections`` (the server's open connections) and ``cycle`` (the
    request being answered, None before the first), and on ``on_response_complete``."""

    class Guarded(base):  # type: ignore[misc, valid-type]
        _refused = False
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            if len(self.connections) >= max_connections:
                self._refused = True
                transport.write(_raw_response(b"503 Service Unavailable", _BUSY, retry_after=1))
                transport.close()
                return
            super().connection_made(transport)
            self._start_head_timer()

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            if not self._refused:
                super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_head_timer()  # the next request's head, on a kept-alive connection

        def _start_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = asyncio.get_running_loop().call_later(header_timeout_s, self._head_overdue)

        def _head_overdue(self) -> None:
            self._head_timer = None
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.write(_raw_response(b"408 Request Timeout", _SLOW))
                self.transport.close()

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


class BodyBudget:
    """Request-body bytes held by the service at once, over all connections, at most ``limit``;
    and, once every request of a burst that held large bodies is answered, the freed memory handed
    back to the system (:func:`release_memory`)."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most held at once since the memory was last handed back
        self.active = 0  # requests being answered
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Reserve ``n`` more bytes; False (nothing reserved) when that would pass the limit."""
        with self._lock:
            if self.held + n > self.limit:
                return False
            self.held += n
            self.peak = max(self.peak, self.held)
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.held = max(0, self.held - n)

    @contextlib.asynccontextmanager
    async def answering(self):
        """Wrap the answer to one request: when the last request in flight is done, and the bodies
        held at once since the last release reached ``RELEASE_AFTER`` bytes, release the memory
        (in a thread: it takes a few milliseconds)."""
        with self._lock:
            self.active += 1
        try:
            yield
        finally:
            with self._lock:
                self.active -= 1
                burst_over = self.active == 0 and self.peak >= RELEASE_AFTER
                if burst_over:
                    self.peak = 0
            if burst_over:
                await asyncio.get_running_loop().run_in_executor(None, release_memory)


RELEASE_AFTER = 8 << 20  # bytes of bodies held at once after which freed memory is handed back


def release_memory() -> None:
    """Hand memory the allocator keeps after large frees back to the system (glibc's
    ``malloc_trim``; elsewhere nothing): parsed bodies leave many freed blocks that the allocator
    would otherwise keep, so the process would stay at its peak after a burst."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        if name:
            return ctypes.CDLL(name).malloc_trim
    return None


class OncePerInterval(logging.Filter):
    """Let the first record of each kind (logger and message template) through per ``interval``
    seconds; the first one after a quiet spell says how many like it were held back."""

    def __init__(self, name: str = "", interval: float = 60.0):
        super().__init__(name)
        self.interval = float(interval)
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return False
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held:,} more like this in the last {self.interval:g} s were not logged)"
        return True


def raise_open_file_limit(wanted: int) -> int:
    """Lift this process's soft limit on open files to ``wanted`` (at most the hard limit);
    returns the soft limit now in force (``wanted`` where the system has no such limits)."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def server_config(app: Any, settings: Any, host: str = "127.0.0.1", port: int = 8000, **options: Any):
    """A ``uvicorn.Config`` serving ``app`` with the guards of ``settings`` (a
    :class:`~hbilstm.serving.settings.ServeSettings`): the guarded protocol, and as many open files
    allowed as the connections need. ``options`` go to ``uvicorn.Config`` as they are."""
    import uvicorn
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    wanted = settings.max_connections + FILE_HEADROOM
    allowed = raise_open_file_limit(wanted)
    connections = settings.max_connections
    if allowed < wanted:
        connections = max(16, allowed - FILE_HEADROOM)
        logging.getLogger("hbilstm.serving").warning(
            "this process may open only %d files: serving at most %d connections at once, not %d",
            allowed, connections, settings.max_connections)
    protocol = guarded_protocol(import_from_string(HTTP_PROTOCOLS["auto"]), connections, settings.header_timeout_s)
    return uvicorn.Config(app, host=host, port=port, http=protocol, **options)


FILE_HEADROOM = 256  # open files the process needs besides its connections (the model, logs, pipes)
