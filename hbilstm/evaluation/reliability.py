"""The reliability diagram that ``hbilstm evaluate --plot FILE`` draws (matplotlib, no screen needed).

For each of the 15 confidence bins of :func:`~hbilstm.evaluation.metrics.calibration`: how often
the model was right (bars) against how sure it was (the diagonal is perfect calibration), with
the model's temperatures and, where it has them, without (so the change they make is seen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..fileio import atomic_open


def plot_reliability(report: dict[str, Any], path: str | Path) -> Path:
    """Write the reliability diagram of an :func:`~hbilstm.evaluation.evaluate.evaluate` report
    to ``path`` (PNG), through a temporary file renamed into place."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibration = report["calibration"]
    width = 1.0 / calibration["bins"]
    fig, ax = plt.subplots(figsize=(5.2, 5.2))
    ax.plot([0, 1], [0, 1], linestyle="--", color="black", linewidth=1, label="perfect calibration")
    series = [("after", f"with its temperatures (ECE {100 * report['ece']:.2f}%)", "#0072b2")]
    if calibration.get("before") is not None:
        series.insert(0, ("before", f"without (ECE {100 * report['ece_before_temperatures']:.2f}%)", "#e69f00"))
    share = width / len(series)  # the series side by side within each bin
    for i, (key, label, colour) in enumerate(series):
        bins = [b for b in calibration[key] if b["count"]]
        ax.bar([b["low"] + i * share for b in bins], [b["accuracy"] for b in bins], width=share, align="edge",
               color=colour, edgecolor="white", linewidth=0.5, label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{report['dataset']} / {report['split']}: {report['n']:,} examples, "
                 f"{calibration['bins']} bins", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return path
