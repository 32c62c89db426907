"""Layer analyses (``hbilstm analyze``) of a sweep's runs, as a section of its report.

``hbilstm analyze OUT/runs/<run>`` writes into ``OUT/analysis/<run>/`` by default; ``hbilstm
report OUT`` then lists every analysis found there, one row per run (the score with nothing
lesioned, the layer whose lesion costs most, how many layers pruning removes and the score
left), and links each run's own ``analysis.md`` and lesion plot.
"""

from __future__ import annotations

import json
from pathlib import Path

from .sweep import RUNS_DIR, SWEEP_FILE

ANALYSIS_DIR = "analysis"


def default_analysis_dir(run_dir: Path) -> Path | None:
    """``OUT/analysis/<run>`` for a run directory ``OUT/runs/<run>`` of a sweep folder; None for
    a run outside one."""
    run_dir = Path(run_dir)
    sweep = run_dir.parent.parent
    if run_dir.parent.name == RUNS_DIR and (sweep / SWEEP_FILE).is_file():
        return sweep / ANALYSIS_DIR / run_dir.name
    return None


def find_analyses(out: Path) -> list[dict]:
    """Every ``analysis.json`` under ``out/analysis/*/``, with its folder; by depth, then name."""
    root = Path(out) / ANALYSIS_DIR
    found = []
    for path in sorted(root.glob("*/analysis.json")) if root.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found.append({**data, "folder": path.parent, "run": path.parent.name})
    return sorted(found, key=lambda a: (len(a.get("layers", [])), a["run"]))


def table(analyses: list[dict], out: Path) -> tuple[list[str], list[list[str]]]:
    header = ["run", "layers", "score", "costliest lesion", "cost (points)", "removable alone",
              "pruned to", "pruned score", "details"]
    body = []
    for a in analyses:
        layers = a.get("layers", [])
        worst = max(layers, key=lambda e: e["cost"]) if layers else None
        pruning = a.get("pruning", {})
        body.append([
            a["run"], str(len(layers)), f"{100 * a['baseline']:.2f}",
            f"layer {worst['layer']}" if worst else "-", f"{100 * worst['cost']:+.2f}" if worst else "-",
            str(sum(1 for e in layers if e.get("removable"))),
            str(pruning.get("layers_after", "-")),
            f"{100 * pruning['score_after']:.2f}" if "score_after" in pruning else "-",
            (a["folder"] / "analysis.md").relative_to(out).as_posix(),
        ])
    return header, body


def plots(analyses: list[dict]) -> list[tuple[Path, str]]:
    """Each analysis's lesion plot, with a caption."""
    return [(a["folder"] / "lesions.png", f"Lesioning {a['run']}: {a['split']} score with each layer lesioned, "
                                          "beside its mean gate")
            for a in analyses if (a["folder"] / "lesions.png").is_file()]
