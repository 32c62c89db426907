"""Do decision offsets fitted on val raise test scores? (docs/journal/accuracy.md, fourteenth round)

For each run directory: the model's probabilities on its dataset's val and test splits, the
offsets fitted on val to the run's official metric (hbilstm.training.offsets), and test scored
without and with them; then val cross-fitted (5 folds, 3 cuts, from the run's seed) and what
``decision_offsets: auto`` would keep (the thirty-fifth round), and the nested estimate of what
auto gains on val (its whole decision made inside 5 outer folds, hbilstm.training.offsets.nested:
the cross-fitted score flatters auto, which keeps exactly the offsets that cleared its bar).
Prints one row per run and the mean per dataset: the val changes, and test without offsets, with
them always, and with them where auto keeps them.

    python benchmarks/decision_offsets.py /work/runs/te-vectors/runs/* /work/runs/dh/DH-s6?
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (each with results.json)")
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = parser.parse_args()

    rows, by_data = [], defaultdict(list)
    print("| run | metric | val | val, offsets | val, cross-fitted | auto keeps | val, auto nested | test "
          "| test, offsets | offsets |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |")
    for run in args.runs:
        row = score_run(run)
        rows.append(row)
        by_data[row["data"]].append(row)
        shown = ", ".join(f"{name} {value:+.1f}" for name, value in row["offsets"].items() if value)
        print(f"| {run.parent.name}/{run.name} | {row['metric']} | {100 * row['val']:.2f} "
              f"| {100 * row['val_offsets']:.2f} "
              f"| {100 * row['val_cross_fitted']:.2f} | {'yes' if row['auto_keeps'] else 'no'} "
              f"| {100 * row['val_auto_nested']:.2f} | {100 * row['test']:.2f} "
              f"| {100 * row['test_offsets']:.2f} | {shown or 'none'} |", flush=True)
    print()
    print("| dataset | n | val cross-fitted, change | val auto nested, change | test | test, offsets | test, auto "
          "| auto keeps |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for data, group in by_data.items():
        plain, moved, auto = ([100 * r[key] for r in group] for key in ("test", "test_offsets", "test_auto"))
        crossed, inside = (statistics.mean(100 * (r[key] - r["val"]) for r in group)
                           for key in ("val_cross_fitted", "val_auto_nested"))
        print(f"| {data} | {len(group)} | {crossed:+.2f} | {inside:+.2f} "
              f"| {statistics.mean(plain):.2f} ± {_sd(plain):.2f} | "
              f"{statistics.mean(moved):.2f} ± {_sd(moved):.2f} | {statistics.mean(auto):.2f} ± {_sd(auto):.2f} | "
              f"{sum(r['auto_keeps'] for r in group)} of {len(group)} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def score_run(run: Path) -> dict:
    """One run's val and test scores without and with the offsets fitted on val."""
    from hbilstm.data.corpora import load_corpus
    from hbilstm.evaluation.metrics import classification_metrics
    from hbilstm.loading import load
    from hbilstm.training.offsets import auto, nested

    results = json.loads((run / "results.json").read_text())
    data, metric = results["dataset"], results["metric"]
    corpus = load_corpus(data, None, download=False)
    model = load(run, backend="torch", device="cpu")
    to_model = [model.label_names.index(name) for name in corpus.label_names]
    ids = {name: i for i, name in enumerate(corpus.label_names)}
    log_probs, labels = {}, {}
    for split in ("val", "test"):
        probs = model.predict_probs(corpus.splits[split].texts)[:, to_model]
        log_probs[split] = np.log(np.clip(probs, 1e-12, None))
        labels[split] = [ids[label] for label in corpus.splits[split].labels]
    seed = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))["seed"]
    offsets, val_before, val_after, val_crossed, keeps = auto(log_probs["val"], labels["val"], metric,
                                                              corpus.label_names, seed=seed)
    _, val_nested = nested(log_probs["val"], labels["val"], metric, corpus.label_names, seed=seed)
    test = [classification_metrics(labels["test"], (log_probs["test"] + np.array(shift)).argmax(axis=1).tolist(),
                                   corpus.label_names)[metric] for shift in (np.zeros(len(offsets)), offsets)]
    return {"run": str(run), "data": data, "metric": metric, "val": val_before, "val_offsets": val_after,
            "val_cross_fitted": val_crossed, "auto_keeps": keeps, "val_auto_nested": val_nested,
            "test": test[0], "test_offsets": test[1],
            "test_auto": test[1] if keeps else test[0], "offsets": dict(zip(corpus.label_names, offsets))}


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    sys.exit(main())
