"""Relaying the epochs that sweep workers report (a process pool's or Ray's queue) as progress events."""

from __future__ import annotations

from typing import Callable


class EpochRelay:
    """Turns ``(run name, epoch)`` pairs from a queue into ``notify`` events: ``"start"`` the first
    time a run is heard from, then ``"epoch"`` (info ``{"epoch": n}``) for each pair."""

    def __init__(self, todo: list, notify: Callable) -> None:
        self.by_name = {run.name: run for run in todo}
        self.notify = notify
        self.started: set[str] = set()

    def drain(self, queue) -> None:
        """Pass on every pair waiting in ``queue`` (without blocking)."""
        while not queue.empty():
            name, epoch = queue.get()
            run = self.by_name[name]
            if name not in self.started:
                self.started.add(name)
                self.notify("start", run, None)
            self.notify("epoch", run, {"epoch": epoch})
