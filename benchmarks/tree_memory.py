"""Peak memory of a command together with its child processes (worker processes included).

Usage: python benchmarks/tree_memory.py -- COMMAND ARGS...

GNU time reports the largest single process; prediction with workers runs several. This samples
the resident memory (VmRSS) of the command and all its descendants every 0.1 s from /proc and
prints the wall time, the peak of the sum, and the peak of the largest process. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def tree_rss(root: int) -> tuple[int, int]:
    """(sum, largest) resident KiB over ``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            status = (proc / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(proc.name)] = int(line.split()[1])
    total = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        todo += children.get(pid, [])
    return total, largest


def main() -> None:
    if "--" not in sys.argv:
        raise SystemExit(__doc__)
    command = sys.argv[sys.argv.index("--") + 1:]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak_total = peak_one = 0
    while process.poll() is None:
        total, one = tree_rss(process.pid)
        peak_total, peak_one = max(peak_total, total), max(peak_one, one)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    print(f"exit {process.returncode}, {wall:.2f} s wall, peak RSS of the process tree {peak_total / 1024:.0f} MiB, "
          f"of its largest process {peak_one / 1024:.0f} MiB", file=sys.stderr)
    os._exit(process.returncode)


if __name__ == "__main__":
    main()
