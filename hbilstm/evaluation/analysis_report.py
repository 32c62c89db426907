"""Writing an :class:`~hbilstm.evaluation.analyze.Analysis` to a folder: ``analysis.json``,
``lesions.csv``, ``tokens.csv``, ``lesions.png`` and ``analysis.md`` (each written atomically)."""

from __future__ import annotations

import csv
from pathlib import Path

from ..errors import ConfigError
from ..fileio import atomic_open, refuse_file_as_folder, write_json_atomic, write_text_atomic
from .analyze import CATEGORIES, Analysis
from .metrics import METRIC_NAMES


def check_output_dir(out: Path) -> None:
    """ConfigError, before any work, when ``out`` cannot be the report's folder (nothing is created
    until the report is written, so that a failed analysis leaves no empty folder)."""
    refuse_file_as_folder(out, "--output takes a folder for the analysis")


def write_analysis(analysis: Analysis, out: Path) -> dict[str, Path]:
    check_output_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create this folder ({exc.strerror or exc})") from None
    paths = {name: out / name for name in ("analysis.json", "lesions.csv", "tokens.csv", "lesions.png", "analysis.md")}
    write_json_atomic(paths["analysis.json"], analysis.to_dict())
    with atomic_open(paths["lesions.csv"], "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layer", "gate_mean", "g", f"{analysis.metric}_lesioned", "cost_points", "removable"])
        for e in analysis.layers:
            writer.writerow([e["layer"], _num(e.get("gate_mean")), _num(e.get("g")), f"{e['lesioned']:.6f}",
                             f"{100 * e['cost']:.3f}", e["removable"]])
    with atomic_open(paths["tokens.csv"], "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layer", "end", "rank", "token", "gate_mean", "count"])
        for entry in analysis.tokens:
            for end in ("most", "least"):
                for rank, t in enumerate(entry[end], 1):
                    writer.writerow([entry["layer"], end, rank, t["token"], f"{t['gate']:.4f}", t["count"]])
    _plot(analysis, paths["lesions.png"])
    write_text_atomic(paths["analysis.md"], render_markdown(analysis))
    return paths


def _num(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _plot(analysis: Analysis, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [e["layer"] for e in analysis.layers]
    name = METRIC_NAMES.get(analysis.metric, analysis.metric)
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(layers, [100 * e["lesioned"] for e in analysis.layers], "o-", color="tab:red", label="layer lesioned")
    left.axhline(100 * analysis.baseline, color="black", linestyle="--", linewidth=1, label="intact model")
    left.set_xlabel("layer")
    left.set_ylabel(f"{analysis.split} {name} (%)")
    left.set_xticks(layers)
    gate = "gate_mean" if analysis.carry == "highway" else "g" if analysis.carry == "gated-residual" else None
    if gate:
        right = left.twinx()
        right.plot(layers, [e.get(gate) for e in analysis.layers], "s:", color="tab:blue",
                   label="mean transform gate T" if gate == "gate_mean" else "residual gate g")
        right.set_ylabel("mean T" if gate == "gate_mean" else "g = ReLU(k)")
        right.set_ylim(bottom=0)
        right.legend(loc="lower right", fontsize=8)
    left.legend(loc="lower left", fontsize=8)
    left.set_title(f"Lesioning each layer of a {len(layers)}-layer {analysis.carry} stack")
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)


def render_markdown(analysis: Analysis) -> str:
    name = METRIC_NAMES.get(analysis.metric, analysis.metric)
    lines = [
        f"# Layer analysis: {analysis.checkpoint}",
        "",
        f"{len(analysis.layers)}-layer {analysis.carry} stack, {analysis.dataset} / {analysis.split}; "
        f"{name} of the intact model: {100 * analysis.baseline:.2f}.",
        "",
        "A lesioned layer passes on only its carry path, y = P(x) (highway: T = 0; gated-residual: g = 0; "
        "residual: H dropped), without retraining. Cost: the intact model's score minus the lesioned one, "
        "in points.",
        "",
        "![lesions](lesions.png)",
        "",
        f"| layer | mean T | g | {name} lesioned | cost (points) | removable |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for e in analysis.layers:
        gate = f"{e['gate_mean']:.3f}" if e.get("gate_mean") is not None else "–"
        g = f"{e['g']:.3f}" if e.get("g") is not None else "–"
        lines.append(f"| {e['layer']} | {gate} | {g} | {100 * e['lesioned']:.2f} | {100 * e['cost']:+.2f} | "
                     f"{'yes' if e['removable'] else 'no (projects its input)'} |")
    if analysis.tokens:
        lines += ["", "## Which tokens open the transform gate", "",
                  "Mean T of each token type over the split (types seen at least the minimum number of times).", "",
                  "| layer | opens most | opens least |", "| ---: | --- | --- |"]
        for entry in analysis.tokens:
            most = ", ".join(f"{t['token']} ({t['gate']:.2f})" for t in entry["most"])
            least = ", ".join(f"{t['token']} ({t['gate']:.2f})" for t in entry["least"])
            lines.append(f"| {entry['layer']} | {most} | {least} |")
    if analysis.categories:
        kinds = [k for k in CATEGORIES if any(k in entry for entry in analysis.categories)]
        counts = {k: next(e[k]["count"] for e in analysis.categories if k in e) for k in kinds}
        lines += ["", "## Mean T by kind of token", "",
                  "Over every occurrence in the split (occurrences in brackets): do the layers react to "
                  "hashtags, emoji or punctuation differently from words?", "",
                  "| layer | " + " | ".join(f"{k} ({counts[k]:,})" for k in kinds) + " |",
                  "| ---: | " + " | ".join("---:" for _ in kinds) + " |"]
        for entry in analysis.categories:
            lines.append(f"| {entry['layer']} | " + " | ".join(
                f"{entry[k]['gate']:.3f}" if k in entry else "–" for k in kinds) + " |")
    p = analysis.pruning
    chosen_on = p.get("chosen_on", analysis.split)
    lines += ["", "## Pruning by lesion", ""]
    if p.get("dropped"):
        lines.append(
            f"Chosen on the {chosen_on} split: removing layers {', '.join(map(str, p['dropped']))} (tried one at a "
            f"time, cheapest {chosen_on} lesion first, kept while the {chosen_on} score stayed within "
            f"{p['threshold_points']} points: {100 * p.get('chosen_score_before', p['score_before']):.2f} → "
            f"{100 * p.get('chosen_score_after', p['score_after']):.2f}) leaves {p['layers_after']} of "
            f"{p['layers_before']} layers and {p['parameters_after']:,} of {p['parameters_before']:,} parameters. "
            f"Scored once on the {analysis.split} split: {name} {100 * p['score_before']:.2f} → "
            f"{100 * p['score_after']:.2f}, without retraining.")
    else:
        lines.append(f"No layer could be removed within {p.get('threshold_points')} points of the {chosen_on} score.")
    if p.get("same_split"):
        lines.append("")
        lines.append(f"The layers were chosen on the same split they are scored on ({analysis.split}; the data has no "
                     "other), so the pruned score is optimistic.")
    return "\n".join(lines) + "\n"
