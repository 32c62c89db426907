"""Seed ensembles (issue 13, item 7): what averaging the class probabilities of several models gives.

Usage: python benchmarks/ensemble.py RUN_DIR RUN_DIR ... [--data-dir DIR]

Scores every model alone, and the mean of their probabilities, on TweetEval test and on SemEval's
SMS-2013 and LiveJournal-2014 test files (out of domain; see benchmarks/baselines.py). Prints
macro-recall, accuracy and macro-F1 per row, and the members' mean ± sd for comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import LABELS, evaluation_sets, scores  # noqa: E402

SETS = ("tweeteval-test", "sms-2013", "livejournal-2014")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    from hbilstm.api import load

    sets = {k: v for k, v in evaluation_sets(args.data_dir).items() if k in SETS}
    probs: dict[str, list[np.ndarray]] = {k: [] for k in sets}
    for run in args.runs:
        classifier = load(run, device="cpu")
        order = [classifier.labels.index(label) for label in LABELS]
        for name, (texts, _) in sets.items():
            probs[name].append(classifier.predict_proba(texts)[:, order])
    rows = {}
    for i, run in enumerate(args.runs):
        rows[run] = {name: scores(truth, list(probs[name][i].argmax(1))) for name, (_, truth) in sets.items()}
    ensemble = {name: scores(truth, list(np.mean(probs[name], axis=0).argmax(1))) for name, (_, truth) in sets.items()}
    print("| model | " + " | ".join(f"{s} macro-recall" for s in SETS) + " | test accuracy | test macro-F1 |")
    print("| --- | " + " | ".join("---:" for _ in range(len(SETS) + 2)) + " |")
    for name, row in {**rows, f"mean of {len(args.runs)} models' probabilities": ensemble}.items():
        test = row["tweeteval-test"]
        print(f"| {name} | " + " | ".join(f"{100 * row[s]['macro_recall']:.2f}" for s in SETS)
              + f" | {100 * test['accuracy']:.2f} | {100 * test['macro_f1']:.2f} |")
    members = [rows[r]["tweeteval-test"]["macro_recall"] for r in args.runs]
    spread = f" ± {100 * statistics.stdev(members):.2f}" if len(members) > 1 else ""
    print(f"members on test: {100 * statistics.mean(members):.2f}{spread} (n = {len(members)}); "
          f"ensemble {100 * ensemble['tweeteval-test']['macro_recall']:.2f}")


if __name__ == "__main__":
    main()
