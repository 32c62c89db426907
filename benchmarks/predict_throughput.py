"""Benchmark 3: end-to-end prediction throughput (tweets/s) and peak memory of ``hbilstm predict``.

Makes text files of N lines by repeating TweetEval's test tweets, runs the real command on each
(`hbilstm predict CHECKPOINT FILE -o OUT.csv`, startup and model loading included), and reports
wall time, tweets per second and the peak resident memory of the whole process tree (the
command and its tokenizing workers), sampled from /proc every 20 ms.

    python benchmarks/predict_throughput.py runs/default --lines 10000,1000000
    python benchmarks/predict_throughput.py runs/default --lines 200000 --extra=--workers=0
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TWEETS = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test_text.txt"


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run(command: list[str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.exit(f"command failed ({process.returncode}): {' '.join(command)}\n{stderr}")
    return seconds, peak, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--lines", default="10000,1000000")
    parser.add_argument("--tweets", default=str(DEFAULT_TWEETS))
    parser.add_argument("--extra", default="", help="more predict options, e.g. --extra=--workers=0,--device=cuda")
    args = parser.parse_args()
    tweets = Path(args.tweets).read_text(encoding="utf-8").rstrip("\n").split("\n")
    extra = [a for a in args.extra.split(",") if a]
    print(f"cpus {os.cpu_count()}, checkpoint {args.checkpoint}, options {' '.join(extra) or '(defaults)'}")
    print("| lines | wall time (s) | tweets/s | peak RSS of the process tree (MiB) |")
    print("| ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(x) for x in args.lines.split(",")):
            source = Path(folder) / f"tweets-{n}.txt"
            with open(source, "w", encoding="utf-8") as handle:
                for i in range(n):
                    handle.write(tweets[i % len(tweets)] + "\n")
            out = Path(folder) / "out.csv"
            command = [sys.executable, "-m", "hbilstm", "predict", args.checkpoint, str(source), "-o", str(out),
                       "--overwrite", *extra]
            seconds, peak, _ = run(command)
            rows = sum(1 for _ in open(out, encoding="utf-8", newline="")) - 1
            assert rows >= n, (rows, n)  # quoted newlines could only add physical lines
            print(f"| {n:,} | {seconds:.1f} | {n / seconds:,.0f} | {peak / 1024:,.0f} |", flush=True)
            source.unlink()


if __name__ == "__main__":
    main()
