"""Load test of ``hbilstm serve``: throughput and latency under concurrent clients.

Starts the real command (``hbilstm serve MODEL --port P --no-access-log``) on 127.0.0.1, waits
for ``/health``, then for each scenario sends ``--requests`` POST /predict requests from
``--clients`` concurrent clients (threads, one keep-alive connection each), every request
holding ``--tweets`` real TweetEval test tweets. It prints requests/s, tweets/s, latency
percentiles and how the server batched the requests (model calls, mean texts per call), then
stops the server. For reference it first times ``Classifier.predict_proba`` on the same tweets
in this process (the batch path, no HTTP), before the server starts.

    python benchmarks/serve_load.py                      # /tmp/readme/runs/first, 1 and 32 tweets
    python benchmarks/serve_load.py runs/first --tweets 1 --requests 500 --extra=--batch-window-ms=2
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = "/tmp/readme/runs/first"
DEFAULT_TWEETS = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test_text.txt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def batch_path(model: str, tweets: list[str], n: int) -> float:
    """Tweets per second of ``predict_proba`` on ``n`` tweets at once (the best of 3 runs)."""
    import hbilstm

    clf = hbilstm.load(model, device="cpu")
    texts = [tweets[i % len(tweets)] for i in range(n)]
    clf.predict_proba(texts[:256])  # warm-up
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        clf.predict_proba(texts)
        best = min(best, time.perf_counter() - start)
    return n / best


def start_server(model: str, port: int, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "hbilstm", "serve", model, "--port", str(port), "--no-access-log", *extra]
    print("server:", shlex.join(command), flush=True)
    log = tempfile.TemporaryFile("w+")  # not a pipe: a chatty server must never block on it
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"hbilstm serve exited with {process.returncode}: {log.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("hbilstm serve did not answer /health within 120 s")


def scenario(url: str, tweets: list[str], per_request: int, requests: int, clients: int) -> dict:
    """Send ``requests`` requests of ``per_request`` tweets from ``clients`` threads."""
    bodies = [{"texts": [tweets[(i * per_request + j) % len(tweets)] for j in range(per_request)]}
              for i in range(requests)]
    latencies = np.zeros(requests)
    failures: list[str] = []
    next_index = iter(range(requests))
    lock = threading.Lock()
    gate = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get("/health")  # open the connection before the clock starts
            gate.wait()
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                start = time.perf_counter()
                answer = http.post("/predict", json=bodies[i])
                latencies[i] = time.perf_counter() - start
                if answer.status_code != 200 or len(answer.json()["predictions"]) != per_request:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    before = httpx.get(f"{url}/health").json()["batching"]
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = httpx.get(f"{url}/health").json()["batching"]
    calls = after["model_calls"] - before["model_calls"]
    texts = after["texts"] - before["texts"]
    return {
        "tweets_per_request": per_request, "requests": requests, "clients": clients, "seconds": seconds,
        "requests_per_s": requests / seconds, "tweets_per_s": requests * per_request / seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000), "p90_ms": float(np.percentile(latencies, 90) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000), "max_ms": float(latencies.max() * 1000),
        "model_calls": calls, "mean_batch": texts / calls if calls else 0.0, "failures": len(failures),
        "first_failure": failures[0] if failures else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL)
    parser.add_argument("--tweets", default="1,32", help="tweets per request, one scenario each (comma-separated)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=50, help="requests sent first, not counted")
    parser.add_argument("--tweet-file", default=str(DEFAULT_TWEETS))
    parser.add_argument("--no-baseline", action="store_true", help="skip timing predict_proba without HTTP")
    parser.add_argument("--extra", action="append", default=[], help="more options for hbilstm serve")
    args = parser.parse_args()

    tweets = [line for line in Path(args.tweet_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    sizes = [int(x) for x in args.tweets.split(",")]
    print(f"{platform.node()}: {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    if not args.no_baseline:
        print(f"batch path (predict_proba on 2,000 tweets, no HTTP): {batch_path(args.model, tweets, 2000):,.0f} "
              "tweets/s", flush=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra = [part for item in args.extra for part in shlex.split(item)]
    server = start_server(args.model, port, extra)
    try:
        print("| tweets/request | requests | clients | wall s | requests/s | tweets/s | p50 ms | p90 ms | p99 ms "
              "| max ms | model calls | texts/call | failures |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for size in sizes:
            scenario(url, tweets, size, args.warmup, args.clients)
            r = scenario(url, tweets, size, args.requests, args.clients)
            print(f"| {size} | {r['requests']:,} | {r['clients']} | {r['seconds']:.1f} | {r['requests_per_s']:,.0f} "
                  f"| {r['tweets_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} "
                  f"| {r['max_ms']:.0f} | {r['model_calls']:,} | {r['mean_batch']:.1f} | {r['failures']} |", flush=True)
            if r["failures"]:
                print(f"  first failure: {r['first_failure']}", flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
