"""The report's text: results.csv, report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path

from ..data.corpora import CLASS_METRICS
from ..evaluation.metrics import METRIC_NAMES
from ..fileio import atomic_open
from .analyses import plots as lesion_plots
from .analyses import table as lesion_table
from .collect import METRICS, Run, carry_rank, swept_keys
from .stats import format_p, format_score
from .sweep import EXECUTION_OPTIONS

# Options every run has but that are not settings of the experiment, left out of the "fixed"
# line: where and how fast a run trained (device, threads: the device line says what was used),
# where the data was read from (data_dir: the data line names the dataset and its files' hashes)
# and where progress was logged (log_to). None of them changes what a run learns.
NOT_SETTINGS = tuple(dict.fromkeys((*EXECUTION_OPTIONS, "device", "threads", "data_dir", "log_to")))


def _cell(row: dict, key: str, scale: float = 100.0, digits: int = 1) -> str:
    """mean ± sd, where the table's n column gives the count; a single value as ``x (n = 1)``,
    and the count beside any value that fewer runs than the row's n have."""
    n = row.get(f"{key}_n", row["finished"])
    return format_score(row[f"{key}_mean"], row[f"{key}_std"], n, scale, digits, show_n=n != row["finished"])


def _spread_words(summary: dict) -> str:
    counts = {row["finished"] for row in summary["rows"] if row["finished"]}
    if counts == {1}:
        return "one seed per configuration, n = 1: single scores, no spread"
    if len(counts) == 1:
        return f"mean ± sd over n = {counts.pop()} seeds"
    return "mean ± sd over the n seeds of each row; n = 1 is a single score, no spread"


def _table(summary: dict) -> tuple[list[str], list[list[str]]]:
    extra = summary["swept"]
    split = summary["split"]
    header = ["carry", "depth", *extra, "n", f"{split} accuracy", f"{split} macro-F1", f"{split} macro-recall",
              f"{split} ECE (%)", "last-epoch train loss", "parameters", "train time (s)", "runs"]
    body = []
    for row in summary["rows"]:
        body.append([
            row["carry"], str(row["depth"]), *(str(row[k]) for k in extra), str(row["finished"]),
            _cell(row, "accuracy"), _cell(row, "macro_f1"), _cell(row, "macro_recall"), _cell(row, "ece", digits=2),
            _cell(row, "final_train_loss", 1.0, 3),
            f"{row['parameters']:,}" if row["parameters"] else "–",
            f"{row['seconds_mean']:.0f}" if row["seconds_mean"] is not None else "–",
            f"{row['finished']}/{row['runs']}" + (" (" + "; ".join(row["failed"]) + ")" if row["failed"] else ""),
        ])
    return header, body


def provenance_of(runs: list[Run], sweep: dict) -> dict:
    manifest = next((r.manifest for r in runs if r.manifest), None) or {}
    # The fixed settings are read off the runs themselves (options every run shares), so they
    # describe what was trained whatever sweep.json says; with no run yet, sweep.json's base.
    axes = sweep.get("axes", {})
    configs = [r.config for r in runs] or [sweep.get("base", {})]
    fixed = {k: v for k, v in configs[0].items()
             if k not in axes and k not in NOT_SETTINGS and all(c.get(k) == v for c in configs)}
    return {
        "commands": [" ".join(c) for c in sweep.get("commands", [sweep["command"]] if "command" in sweep else [])],
        "axes": sweep.get("axes", {}),
        "fixed": fixed,
        "data": manifest.get("data", {}),
        "packages": manifest.get("packages", {}),
        "device": manifest.get("device", {}),
        "git": manifest.get("git"),
    }


def write_results_csv(runs: list[Run], path: Path) -> None:
    extra = swept_keys(runs)
    # a task's class-wise official metric (irony_f1, stance_f1) gets a column where the runs have it
    official = [m for m in CLASS_METRICS if any(r.score(m) is not None for r in runs)]
    header = ["run", "carry", "depth", "seed", *extra, "status", "test_accuracy", "test_macro_f1",
              "test_macro_recall", *(f"test_{m}" for m in official), "test_ece", "val_metric", "best_epoch",
              "epochs_run", "final_train_loss", "parameters", "seconds", "message"]
    with atomic_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in sorted(runs, key=lambda r: (carry_rank(r.carry), r.depth, r.seed, r.name)):
            res = r.results or {}
            val_metric = (res.get("val") or {}).get(res.get("metric", ""), "")
            writer.writerow([
                r.name, r.carry, r.depth, r.seed, *(r.config.get(k) for k in extra), r.status,
                *(("" if r.score(m) is None else f"{r.score(m):.6f}") for m in (*METRICS, *official, "ece")),
                f"{val_metric:.6f}" if val_metric != "" else "", res.get("best_epoch", ""), len(r.history),
                "" if r.final_train_loss is None else f"{r.final_train_loss:.6f}",
                res.get("parameters", ""), "" if r.seconds is None else f"{r.seconds:.1f}", r.message,
            ])


def _tests_table(tests: list[dict], extra: list[str] | tuple[str, ...] = ()) -> tuple[list[str], list[list[str]]]:
    k = tests[0]["tests"] if tests else 0
    header = ["depth", *extra, "seed pairs", "highway − plain "
                                             "(points)", "95% CI (points)", "t (df)", "p (paired t-test)",
              f"p, Holm over {k}" if k else "p, Holm-adjusted", "beyond seed noise?"]
    body = []
    for t in tests:
        tested = t["p_value"] is not None
        body.append([
            str(t["depth"]), *(str(t.get(key)) for key in extra), str(t["pairs"]), f"{100 * t['mean_difference']:+.2f}",
            f"{100 * t['ci_low']:+.2f} to {100 * t['ci_high']:+.2f}" if tested else "–",
            f"{t['t']:.2f} ({t['df']})" if tested else "–",
            format_p(t["p_value"]) if tested else t["note"], format_p(t["p_holm"]),
            "yes" if t["significant"] else "no",
        ])
    return header, body


def _split_words(split: str) -> str:
    if split == "test":
        return "test split"
    return "validation split: the runs' data has no test split"


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def _settings_lines(provenance: dict) -> list[str]:
    packages = provenance.get("packages", {})
    device = provenance.get("device", {})
    data = provenance.get("data", {})
    fixed = provenance.get("fixed", {})
    return [
        "command"
        + ("s" if len(provenance["commands"]) > 1 else "")
        + ": "
        + "; then ".join(f"`{c}`" for c in provenance["commands"]),
        "swept: " + ", ".join(f"{k} = {v}" for k, v in provenance.get("axes", {}).items()),
        "fixed: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()),
        f"data: {data.get('dataset', '?')} ("
        + ", ".join(f"{Path(f['path']).name} {f['sha256'][:12]}" for f in data.get("files", [])[:7])
        + ")",
        "software: " + ", ".join(f"{k} {v}" for k, v in packages.items() if v),
        f"device: {device.get('type', '?')} {device.get('name', '')}, {device.get('torch_threads', '?')} torch threads"
        + (
            f", git {provenance['git']['commit'][:10]}" + (" (dirty)" if provenance["git"].get("dirty") else "")
            if provenance.get("git")
            else ""
        ),
    ]


LESION_WORDS = ("Each row is one trained model: its score with nothing lesioned, the layer whose lesion "
                "(a pure carry: T = 0 for highway, g = 0 for gated-residual, H dropped for residual) costs "
                "most, the layers whose lesion alone costs less than the threshold, and the stack that "
                "pruning by lesion leaves, with its score (no retraining). Details: each run's analysis.md.")


def markdown(summary, tests, facts, provenance, plots, out: Path, runs, analyses: list[dict] = ()) -> str:
    metric = METRIC_NAMES.get(summary["metric"], summary["metric"])
    parts = [f"# Depth study: {summary['split']} {metric} against depth", "", "## Findings", ""]
    parts += [f"- {line}" for line in facts]
    parts += ["", f"## Results ({_spread_words(summary)}; "
                  f"{_split_words(summary['split'])})", "", _md_table(*_table(summary)), ""]
    if tests:
        parts += ["## Highway against plain, paired over "
                  "seeds", "", _md_table(*_tests_table(tests, summary["swept"])), ""]
    for path, caption in plots.values():
        parts += [f"### {caption}", "", f"![{caption}]({path.relative_to(out).as_posix()})", ""]
    if analyses:
        parts += ["## Layer lesioning (hbilstm "
                  "analyze)", "", LESION_WORDS, "", _md_table(*lesion_table(analyses, out)), ""]
        for path, caption in lesion_plots(analyses):
            parts += [f"### {caption}", "", f"![{caption}]({path.relative_to(out).as_posix()})", ""]
    parts += ["## Settings", ""] + [f"- {line}" for line in _settings_lines(provenance)] + [""]
    return "\n".join(parts)


def _html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _figure(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def html_page(
    summary, tests, facts, provenance, plots, runs, analyses: list[dict] = (), out: Path | None = None
) -> str:
    metric = METRIC_NAMES.get(summary["metric"], summary["metric"])
    figures = [_figure(path, caption) for path, caption in plots.values()]
    if analyses and out is not None:
        figures += ["<h2>Layer lesioning (hbilstm analyze)</h2>", f"<p>{html.escape(LESION_WORDS)}</p>",
                    _html_table(*lesion_table(analyses, out))]
        figures += [_figure(path, caption) for path, caption in lesion_plots(analyses)]
    style = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}td,th{border:1px solid #8884;padding:.25rem "
             ".5rem;text-align:right}"
             "td:first-child,th:first-child{text-align:left}figure{margin:1.5rem "
             "0}img{max-width:100%;background:#fff;border-radius:4px}"
             "@media (prefers-color-scheme: dark){body{background:#111;color:#ddd}a{color:#8bf}}")
    body = [f"<h1>Depth study: {summary['split']} {html.escape(metric)} against depth</h1>", "<h2>Findings</h2><ul>"]
    body += [f"<li>{html.escape(line)}</li>" for line in facts] + ["</ul>"]
    body += [f"<h2>Results ({html.escape(_spread_words(summary))}; {html.escape(_split_words(summary['split']))})</h2>",
             _html_table(*_table(summary))]
    if tests:
        body += ["<h2>Highway against plain, paired over "
                 "seeds</h2>", _html_table(*_tests_table(tests, summary["swept"]))]
    body += figures
    body += (
        ["<h2>Settings</h2><ul>"]
        + [f"<li>{html.escape(line)}</li>" for line in _settings_lines(provenance)]
        + ["</ul>"]
    )
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>hbilstm depth "
            f"study</title><style>{style}</style></head><body>" + "".join(body) + "</body></html>\n")
