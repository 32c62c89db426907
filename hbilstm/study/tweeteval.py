"""``hbilstm benchmark tweeteval``: TweetEval's tasks trained with one recipe and a leaderboard.

Every (task, seed) is an ordinary run directory under ``OUT/runs/``, planned and trained by the
sweep machinery of ``hbilstm compare`` (:mod:`hbilstm.study.sweep`): the same recipe for every
task, resumable, ``--jobs``. Each run's test split is scored once, when its training ends, with
the task's official metric (:data:`hbilstm.data.corpora.TWEETEVAL_TASKS`). The leaderboard puts
the mean ± sd over seeds of each task beside the rows TweetEval published, with ALL(TE), the mean
of the seven task scores, once all seven are there. It also writes each task's test predictions
(the first seed's model) in the layout TweetEval's scorer reads: ``predictions/<task>.txt`` and
``predictions/stance/<target>.txt``, one label id per line, in the order of the task's test file.
"""

from __future__ import annotations

import csv
import html
import io
import json
import platform
import statistics
import time
from pathlib import Path

from ..config import TrainConfig
from ..data.corpora import STANCE_TARGETS, TWEETEVAL_TASKS, load_corpus
from ..errors import ConfigError
from ..evaluation.metrics import METRIC_NAMES
from ..fileio import write_json_atomic, write_text_atomic
from .collect import collect
from .sweep import RUNS_DIR, PlannedRun, plan

TASKS = ("emoji", "emotion", "hate", "irony", "offensive", "sentiment", "stance")
BENCHMARK_FILE = "benchmark.json"
OURS = "hbilstm"
WITHOUT_OFFSETS = "hbilstm without its decision offsets"  # the same models (decision_offsets: training/offsets.py)
# TweetEval's leaderboard, test split, official metrics (Barbieri et al., 2020; ../shared/data/README.md):
# emoji, emotion, hate, irony, offensive, sentiment, stance, ALL(TE).
PUBLISHED = {
    "SVM": (29.3, 64.7, 36.7, 61.7, 52.3, 62.9, 67.3, 53.5),
    "LSTM": (24.7, 66.0, 52.6, 62.8, 71.7, 58.3, 59.4, 56.5),
    "FastText": (25.8, 65.2, 50.6, 63.1, 73.4, 62.9, 65.4, 58.1),
    "RoBERTa-base": (30.9, 76.1, 46.6, 59.7, 79.5, 71.3, 68.0, 61.3),
    "BERTweet": (33.4, 79.3, 56.4, 82.1, 79.5, 73.4, 71.2, 67.9),
}


def parse_tasks(raw: str | None) -> list[str]:
    """``"irony,stance"`` -> ``["irony", "stance"]`` (all seven for None); ConfigError, one line
    naming the known tasks, for any other name."""
    if raw is None:
        return list(TASKS)
    tasks = [t.strip().removeprefix("tweeteval-") for t in raw.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ConfigError(f"unknown TweetEval task {unknown[0] if unknown else raw!r}; "
                          f"the tasks are {', '.join(TASKS)}")
    return list(dict.fromkeys(tasks))


def plan_benchmark(base: TrainConfig, tasks: list[str], seeds: int, out: Path,
                   init_from: str | None = None) -> list[PlannedRun]:
    """One run per task and seed (seeds 1..``seeds``), each on ``tweeteval-<task>`` with
    ``base``'s recipe; its metric is the task's official one unless ``base`` names another.
    Seed by seed: every task's first seed is trained before any task's second.

    With ``init_from`` (a task), every other task's run starts from the model of that task's run of
    the same seed (``init``, as ``hbilstm train --init``) and waits for it to finish; that task is
    trained too, first in each seed, whether or not ``tasks`` names it, without the train tweets
    found in another task's val or test split (``exclude_held_out``)."""
    if init_from is None:
        return plan(base, axes(tasks, seeds), out)
    if base.init:
        raise ConfigError("--init-from starts each task from this benchmark's own runs; "
                          "--set init names another model: give one or the other")
    first = f"tweeteval-{init_from}"
    runs = plan(base, axes(with_init_task(tasks, init_from), seeds), out)
    sources = {run.config.seed: run for run in runs if run.config.data == first}
    for run in runs:
        if run.config.data == first:  # what the other tasks score on must not be in what they start from
            run.config = run.config.replace(exclude_held_out=True)
        else:
            start = sources[run.config.seed]
            run.config = run.config.replace(init=str(start.run_dir.resolve()))
            run.after = start
    return runs


def parse_init_from(raw: str | None) -> str | None:
    """``--init-from``'s task (None for None); ConfigError, one line, unless it names one task."""
    if raw is None:
        return None
    tasks = parse_tasks(raw)
    if len(tasks) != 1:
        raise ConfigError(f"--init-from takes one task, not {raw!r}")
    return tasks[0]


def with_init_task(tasks: list[str], init_from: str | None) -> list[str]:
    """``tasks`` with ``init_from`` first (added where missing)."""
    return tasks if init_from is None else [init_from, *(t for t in tasks if t != init_from)]


def axes(tasks: list[str], seeds: int) -> dict[str, list]:
    return {"seed": list(range(1, seeds + 1)), "data": [f"tweeteval-{t}" for t in tasks]}


def record_session(out: Path, seconds: float) -> dict:
    """Add this invocation's time and machine to ``benchmark.json``; return the record."""
    path = out / BENCHMARK_FILE
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"sessions": []}
    record["sessions"].append({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(seconds, 1),
                               "machine": f"{platform.node() or 'unknown'} ({platform.machine()}, "
                                          f"{_cores()} cores, {platform.python_implementation()} "
                                          f"{platform.python_version()})"})
    write_json_atomic(path, record)
    return record


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def task_scores(out: Path) -> dict[str, dict]:
    """``{task: {"metric", "scores": [per seed], "seeds": [...], "runs": [run dirs], "without":
    [per seed], "val": [per seed]}}`` over the finished runs, seeds in order; ``without`` holds
    what test scored without the decision offsets, for the runs trained with ``decision_offsets``;
    ``val`` the official metric on val, without the offsets where a run has them (they were fitted
    there), so that recipes can be chosen on it."""
    found: dict[str, dict] = {}
    for run in sorted(collect(out), key=lambda r: r.config.get("seed", 0)):
        task = str(run.config.get("data", "")).removeprefix("tweeteval-")
        if run.status != "finished" or task not in TASKS or not (run.results or {}).get("test"):
            continue
        metric = run.results["metric"]
        entry = found.setdefault(task, {"metric": metric, "scores": [], "seeds": [], "runs": [], "without": [],
                                        "val": []})
        entry["scores"].append(100 * run.results["test"][metric])
        offsets = run.results.get("decision_offsets", {})
        if "test_without" in offsets:
            entry["without"].append(100 * offsets["test_without"])
        val = offsets.get("val_without", (run.results.get("val") or {}).get(metric))
        if val is not None:
            entry["val"].append(100 * val)
        entry["seeds"].append(run.config.get("seed"))
        entry["runs"].append(out / RUNS_DIR / run.name)
    return found


def leaderboard_rows(scores: dict[str, dict]) -> list[dict]:
    """The published rows and ours: ``{"system", "cells": {task: (mean, sd or None)}, "all"}``,
    ours last; ALL(TE) only when every task is scored. Where every run was trained with decision
    offsets, the same models without them come just before ours (:data:`WITHOUT_OFFSETS`)."""
    rows = [{"system": name, "cells": {t: (v, None) for t, v in zip(TASKS, values)}, "all": values[-1]}
            for name, values in PUBLISHED.items()]
    if scores and all(entry.get("without") and len(entry["without"]) == len(entry["scores"])
                      for entry in scores.values()):
        rows.append(_our_row(WITHOUT_OFFSETS, {task: entry["without"] for task, entry in scores.items()}))
    rows.append(_our_row(OURS, {task: entry["scores"] for task, entry in scores.items()}))
    return rows


def val_mean(scores: dict[str, dict]) -> float | None:
    """The mean over the tasks of each task's mean val score (official metric, without decision
    offsets); None unless every task scored has val scores for all its runs."""
    if not scores or any(len(entry.get("val") or []) != len(entry["scores"]) for entry in scores.values()):
        return None
    return statistics.fmean(statistics.fmean(entry["val"]) for entry in scores.values())


def _our_row(system: str, scores: dict[str, list[float]]) -> dict:
    cells = {task: (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None)
             for task, values in scores.items()}
    complete = all(t in cells for t in TASKS)
    return {"system": system, "cells": cells, "all": statistics.fmean(cells[t][0] for t in TASKS) if complete else None}


def _cell(value: tuple[float, float | None] | None) -> str:
    if value is None:
        return "–"
    mean, sd = value
    return f"{mean:.1f}" if sd is None else f"{mean:.1f} ± {sd:.1f}"


def render_markdown(rows: list[dict], scores: dict[str, dict], record: dict, command: str) -> str:
    seconds = sum(s["seconds"] for s in record["sessions"])
    header = "| system | " + " | ".join(TASKS) + " | ALL(TE) |"
    lines = ["# TweetEval leaderboard", "",
             f"Test scores, each task's official metric (%); ours: mean ± sd over seeds. Command: `{command}`.", "",
             header, "| --- | " + " | ".join("---:" for _ in TASKS) + " | ---: |"]
    for row in rows:
        name = f"**{row['system']}**" if row["system"] == OURS else row["system"]
        everything = "–" if row["all"] is None else f"{row['all']:.1f}"
        lines.append(f"| {name} | " + " | ".join(_cell(row["cells"].get(t)) for t in TASKS) + f" | {everything} |")
    lines += ["", "| task | official metric | seeds | per seed | val, mean |", "| --- | --- | --- | --- | ---: |"]
    for task in TASKS:
        entry = scores.get(task)
        if entry:
            val = entry.get("val") or []
            lines.append(f"| {task} | {METRIC_NAMES.get(entry['metric'], entry['metric'])} | "
                         f"{', '.join(map(str, entry['seeds']))} | {', '.join(f'{s:.2f}' for s in entry['scores'])} | "
                         f"{f'{statistics.fmean(val):.2f}' if val else '–'} |")
        else:
            lines.append(f"| {task} | {METRIC_NAMES[TWEETEVAL_TASKS[task]]} | – | not run | – |")
    chosen_on = val_mean(scores)
    if chosen_on is not None:
        lines += ["", f"Val, the mean over the {len(scores)} task(s) of each task's mean (official metric, without "
                      f"decision offsets): **{chosen_on:.2f}**. Compare recipes by it, over the same tasks and seeds; "
                      "test is for reporting the one chosen."]
    machines = sorted({s["machine"] for s in record["sessions"]})
    lines += ["", f"Time on the machine: {seconds / 60:.1f} min over {len(record['sessions'])} invocation(s), "
                  f"last {record['sessions'][-1]['date']}; machine: {'; '.join(machines)}.",
              "Published rows: TweetEval (Barbieri et al., 2020) and its leaderboard. Predictions for TweetEval's "
              "scorer (the first seed's model of each task): predictions/.", ""]
    return "\n".join(lines)


def render_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["system", *TASKS, "all_te", *(f"{t}_sd" for t in TASKS)])
    for row in rows:
        cells = [row["cells"].get(t) for t in TASKS]
        writer.writerow([row["system"], *("" if c is None else f"{c[0]:.4f}" for c in cells),
                         "" if row["all"] is None else f"{row['all']:.4f}",
                         *("" if c is None or c[1] is None else f"{c[1]:.4f}" for c in cells)])
    return buffer.getvalue()


def render_html(markdown_rows: list[dict], command: str, footer: str) -> str:
    head = "".join(f"<th>{html.escape(t)}</th>" for t in (*TASKS, "ALL(TE)"))
    body = ""
    for row in markdown_rows:
        everything = "–" if row["all"] is None else f"{row['all']:.1f}"
        cells = "".join(f"<td>{html.escape(_cell(row['cells'].get(t)))}</td>" for t in TASKS)
        style = ' style="font-weight:bold"' if row["system"] == OURS else ""
        body += f"<tr{style}><td>{html.escape(row['system'])}</td>{cells}<td>{everything}</td></tr>\n"
    return ("<!doctype html><meta charset=utf-8><title>TweetEval leaderboard</title>"
            "<style>body{font-family:sans-serif}td,th{padding:4px 8px;text-align:right}"
            "td:first-child{text-align:left}</style><h1>TweetEval leaderboard</h1>"
            f"<p>Test scores, official metrics (%). Command: <code>{html.escape(command)}</code></p>"
            f"<table><tr><th>system</th>{head}</tr>\n{body}</table>"
            f"<p>{html.escape(footer)}</p><img src=leaderboard.png alt='bar chart'>\n")


def plot_leaderboard(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [*TASKS, "ALL(TE)"]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        values = [row["cells"].get(t, (float("nan"), None))[0] for t in TASKS]
        values.append(row["all"] if row["all"] is not None else float("nan"))
        errors = [(row["cells"].get(t) or (0, None))[1] or 0 for t in TASKS] + [0]
        ax.bar([x + (i - len(rows) / 2 + 0.5) * width for x in range(len(columns))], values, width,
               yerr=errors if row["system"] == OURS else None, label=row["system"],
               color="black" if row["system"] == OURS else None, capsize=2)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_ylabel("test score, official metric (%)")
    ax.legend(ncol=len(rows), fontsize=8, loc="upper left")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def write_predictions(out: Path, scores: dict[str, dict], data_dir: str | None) -> list[Path]:
    """Each task's test predictions from its first seed's model, as TweetEval's scorer reads them."""
    from ..loading import load

    written = []
    folder = out / "predictions"
    for task, entry in scores.items():
        corpus = load_corpus(f"tweeteval-{task}", data_dir, download=False)
        test = corpus.splits["test"]
        model = load(entry["runs"][0])
        ids = {name: i for i, name in enumerate(corpus.label_names)}
        labels = [ids[model.label_names[i]] for i in model.predict_probs(test.texts).argmax(-1)]
        if task == "stance":
            start = 0
            for target in STANCE_TARGETS:
                size = sum(1 for i in test.ids if i.startswith(f"{target}/"))
                written.append(_write_ids(folder / "stance" / f"{target}.txt", labels[start:start + size]))
                start += size
        else:
            written.append(_write_ids(folder / f"{task}.txt", labels))
    return written


def _write_ids(path: Path, labels: list[int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(f"{label}\n" for label in labels))
    return path


def write_leaderboard(out: Path, command: str, data_dir: str | None) -> dict[str, Path]:
    """(Re)write the leaderboard files and the prediction files from the finished runs."""
    scores = task_scores(out)
    rows = leaderboard_rows(scores)
    record = json.loads((out / BENCHMARK_FILE).read_text(encoding="utf-8"))
    markdown = render_markdown(rows, scores, record, command)
    paths = {"markdown": out / "leaderboard.md", "csv": out / "leaderboard.csv",
             "html": out / "leaderboard.html", "plot": out / "leaderboard.png"}
    write_text_atomic(paths["markdown"], markdown)
    write_text_atomic(paths["csv"], render_csv(rows))
    footer = markdown.strip().splitlines()[-2]
    write_text_atomic(paths["html"], render_html(rows, command, footer))
    plot_leaderboard(rows, paths["plot"])
    write_predictions(out, scores, data_dir)
    return paths
