"""Progress on the terminal: a bar per training epoch, and one overview of a sweep."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..callbacks import TrainCallback


class TrainProgress(TrainCallback):
    """Epoch lines on ``console``, and on a terminal a live bar with the running loss and speed."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None

    def log(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def epoch_start(self, epoch: int, epochs: int, batches: int, done: int) -> None:
        self.close()
        # The text columns take about 76 characters: on a terminal narrower than 100 the bar is left
        # out, so that nothing (the elapsed and remaining time) is cut off at 80 columns.
        bar = [BarColumn(bar_width=min(40, self.console.width - 80))] if self.console.width >= 100 else []
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), *bar, MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]} tweets/s"),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=self.console, transient=True, disable=not self.console.is_terminal,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=batches, completed=done, epoch=f"{epoch}/{epochs}",
                                           loss="-", speed="-")

    def batch_end(self, step: int, loss: float, tokens_per_s: float, tweets_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.4f}", speed=f"{tweets_per_s:,.0f}")

    def epoch_end(self, record: dict) -> None:
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


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
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
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
            state = (info or {}).get("state", "finished")
            if state == "failed":
                self.failed += 1
            why = "failed before; --retry-failed runs it again" if state == "failed" else "finished already"
            self.console.print(f"{run.name}: skipped ({why})", highlight=False)
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
                metric = info["metric"].replace("_", "-")
                line = f"{run.name}: {info['split']} {metric} {100 * info['score']:.2f} ({info['seconds']:.0f}s)"
            else:
                self.failed += 1
                line = f"{run.name}: {info['status']}: {info['message']}"
            self.console.print(line, highlight=False)
        self._refresh()
