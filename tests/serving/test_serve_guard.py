"""``hbilstm serve`` against slow, greedy and too many clients: real uvicorn on 127.0.0.1, raw sockets.

Every test here stops by itself within a few seconds: the timeouts are set short.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from serve_helpers import free_port, running

import hbilstm
from hbilstm.serving.app import create_app
from hbilstm.serving.guard import OncePerInterval
from hbilstm.serving.settings import ServeSettings

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def clf(trained_run):
    return hbilstm.load(trained_run, device="cpu", batch_size=64)


def open_socket(url: str) -> socket.socket:
    host, port = url.rsplit("/", 1)[-1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_health_answers_while_1000_slow_clients_hold_connections_then_they_get_408(clf):
    settings = ServeSettings(header_timeout_s=2.0)
    with running(create_app(clf, settings)) as url:
        slow = []
        for _ in range(1000):  # each sends part of a request head, then nothing
            sock = open_socket(url)
            sock.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        health = httpx.get(f"{url}/health", timeout=5)
        assert health.status_code == 200 and time.monotonic() - started < 1.0
        answers = [read_answer(sock) for sock in slow]  # the server closes each after its timeout
        for sock in slow:
            sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers)
    assert b'"request_timeout"' in answers[0]


def test_connections_past_the_cap_get_503_with_retry_after_and_the_slots_come_back(clf):
    settings = ServeSettings(max_connections=20, header_timeout_s=5.0)
    with running(create_app(clf, settings)) as url:
        held = [open_socket(url) for _ in range(20)]
        time.sleep(0.3)  # the server has taken them all
        extra = open_socket(url)
        answer = read_answer(extra, timeout=5)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503 ")
        head, body = answer.split(b"\r\n\r\n", 1)
        assert b"retry-after: 1" in head.lower() and json.loads(body)["error"] == "busy"
        for sock in held:
            sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_bodies_past_the_budget_get_503_and_a_slow_body_gets_408(clf):
    # at most 5 texts of 50 characters (7,176 bytes a body); 16,000 bytes of bodies at once
    settings = ServeSettings(max_texts=5, max_chars=50, max_body_bytes_in_flight=16_000, body_timeout_s=2.0)
    app = create_app(clf, settings)
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7000\r\n\r\n"
    with running(app) as url:
        holding = []
        for _ in range(2):  # two bodies, 6,000 of their 7,000 bytes sent: 12,000 bytes held
            sock = open_socket(url)
            sock.sendall(head + b" " * 6000)
            holding.append(sock)
        time.sleep(0.5)
        third = open_socket(url)
        third.sendall(head + b" " * 6000)
        refused = read_answer(third, timeout=5)
        third.close()
        slow = [read_answer(sock, timeout=10) for sock in holding]  # the rest never comes
        for sock in holding:
            sock.close()
        assert app.state.body_budget.held == 0  # everything given back
        fine = httpx.post(f"{url}/predict", json={"texts": ["good game"]}, timeout=10)
    assert refused.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in refused.lower()
    assert b'"busy"' in refused
    assert all(answer.startswith(b"HTTP/1.1 408 ") and b"did not arrive within 2 seconds" in answer for answer in slow)
    assert fine.status_code == 200


def test_a_flood_of_one_error_is_logged_once_per_interval_with_a_count():
    logger = logging.getLogger("hbilstm.test.flood")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    handler.addFilter(OncePerInterval(interval=0.5))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for _ in range(10_000):
            logger.error("socket.accept() out of system resource")
        logger.error("another kind")
        time.sleep(0.6)
        logger.error("socket.accept() out of system resource")
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert messages == ["socket.accept() out of system resource", "another kind",
                        "socket.accept() out of system resource (9,999 more like this in the last 0.5 s were "
                        "not logged)"]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory from /proc")
def test_memory_returns_to_its_level_after_a_burst_of_large_bodies(trained_run):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "hbilstm", "serve", str(trained_run), "--port", str(port), "--device", "cpu",
               "--no-access-log"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        warm = httpx.post(f"{url}/predict", json={"texts": ["good game", "bad day"] * 10}, timeout=30)
        assert warm.status_code == 200
        before = rss_mb(process.pid)
        # 30 bodies of 1,000 texts, each 2,000 escaped characters (12 MB a body), all at once
        body = ('{"texts": [' + ",".join(['"' + "\\u00e9" * 2000 + '"'] * 1000) + "]}").encode()
        statuses: list[int] = []

        def send() -> None:
            try:
                statuses.append(httpx.post(f"{url}/predict", content=body, timeout=120).status_code)
            except httpx.TransportError:
                statuses.append(0)

        threads = [threading.Thread(target=send) for _ in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        time.sleep(1.0)
        after = rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
    assert after - before < 100, f"RSS {before:.0f} MB before the burst, {after:.0f} MB after"
