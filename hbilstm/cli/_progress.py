"""One rich overview of a sweep: done / running / left, with an ETA weighted by run cost."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SweepProgress:
    """Callable as ``progress(event, run, info)`` for :func:`hbilstm.sweep.run_sweep`."""

    def __init__(self, console: Console, runs):
        self.console = console
        self.total = len(runs)
        self.done = 0
        self.skipped = 0
        self.failed = 0
        self.running: dict[str, int] = {}
        self.epochs_seen: dict[str, int] = {}
        self.progress = Progress(
            TextColumn("[bold]sweep"), BarColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not console.is_terminal,
        )
        # Progress counts cost units (epochs x layers), so one 16-layer run weighs 16 1-layer runs.
        self.task = self.progress.add_task("sweep", total=sum(r.cost for r in runs), status="")
        self.layers = {r.name: r.config.layers for r in runs}

    def __enter__(self):
        self.progress.__enter__()
        self._refresh()
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def _refresh(self) -> None:
        left = self.total - self.done - self.skipped - len(self.running)
        status = f"done {self.done + self.skipped}/{self.total} · running {len(self.running)} · left {left}"
        if self.failed:
            status += f" · failed {self.failed}"
        if self.running:
            status += " · " + ", ".join(sorted(self.running))
        self.progress.update(self.task, status=status)

    def __call__(self, event: str, run, info) -> None:
        if event == "skip":
            self.skipped += 1
            self.progress.advance(self.task, run.cost)
            if info and info.get("state") == "failed":
                self.failed += 1
        elif event == "start":
            self.running[run.name] = 0
        elif event == "epoch":
            previous = self.epochs_seen.get(run.name, 0)
            self.epochs_seen[run.name] = info["epoch"]
            self.progress.advance(self.task, (info["epoch"] - previous) * run.config.layers)
        elif event == "done":
            self.running.pop(run.name, None)
            self.done += 1
            # early stopping: count the epochs the run did not need
            remaining = (run.config.epochs - self.epochs_seen.get(run.name, 0)) * run.config.layers
            self.progress.advance(self.task, max(0, remaining))
            if info["status"] == "finished":
                line = f"{run.name}: test {info['metric'].replace('_', '-')} {100 * info['test']:.2f} ({info['seconds']:.0f}s)"
            else:
                self.failed += 1
                line = f"{run.name}: {info['status']}: {info['message']}"
            self.console.print(line, highlight=False)
        self._refresh()
