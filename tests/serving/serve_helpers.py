"""Running the service for real in tests: uvicorn on 127.0.0.1 in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

from conftest import TWEETEVAL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tweets(n: int, start: int = 0) -> list[str]:
    """Real TweetEval test tweets (non-empty lines), in file order."""
    lines = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()][start:start + n]


@contextlib.contextmanager
def running(app, timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port, guarded as ``hbilstm serve`` guards it
    (the settings in ``app.state.settings``); yields its base URL, then stops it."""
    import uvicorn

    from hbilstm.serving.guard import server_config

    port = free_port()
    server = uvicorn.Server(server_config(app, app.state.settings, "127.0.0.1", port, log_config=None,
                                          access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
