"""The ablation table of issue 13: one row per recipe, mean ± sd over its seeds.

Usage: python benchmarks/ablation.py --group NAME RUN RUN RUN [--group NAME RUN ...] [--data-dir DIR]

For each group of run directories (one recipe, several seeds): TweetEval test macro-recall,
accuracy and macro-F1 and validation macro-recall (from each run's results.json), macro-recall on
SemEval's SMS-2013 and LiveJournal-2014 test files (scored here, no retraining) and the training
time; every cell is mean ± sd over the group's runs (n given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import LABELS, evaluation_sets, scores  # noqa: E402

OUT_OF_DOMAIN = ("sms-2013", "livejournal-2014")


def cell(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    if len(values) == 1:
        return f"{scale * values[0]:.{digits}f}"
    return f"{scale * statistics.mean(values):.{digits}f} ± {scale * statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar="NAME RUN")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    from hbilstm.api import load

    sets = {k: v for k, v in evaluation_sets(args.data_dir).items() if k in OUT_OF_DOMAIN}
    print("| recipe | n | test macro-recall | test accuracy | test macro-F1 | val macro-recall | "
          + " | ".join(f"{s} macro-recall" for s in OUT_OF_DOMAIN) + " | train (s) |")
    print("| --- | ---: | " + " | ".join("---:" for _ in range(5 + len(OUT_OF_DOMAIN))) + " |")
    for name, *runs in args.group:
        rows = []
        for run in runs:
            results = json.loads((Path(run) / "results.json").read_text(encoding="utf-8"))
            classifier = load(run, device="cpu")
            ood = {}
            for set_name, (texts, truth) in sets.items():
                probs = classifier.predict_proba(texts)
                predicted = [LABELS.index(classifier.labels[i]) for i in probs.argmax(axis=1)]
                ood[set_name] = scores(truth, predicted)["macro_recall"]
            rows.append({"test_mr": results["test"]["macro_recall"], "test_acc": results["test"]["accuracy"],
                         "test_f1": results["test"]["macro_f1"], "val_mr": results["val"]["macro_recall"],
                         "seconds": results["train_seconds"], **ood})
        columns = {key: [r[key] for r in rows] for key in rows[0]}
        print(f"| {name} | {len(rows)} | "
              "" + " | ".join(cell(columns[k]) for k in ("test_mr", "test_acc", "test_f1", "val_mr"))
              + " | " + " | ".join(cell(columns[s]) for s in OUT_OF_DOMAIN)
              + f" | {cell(columns['seconds'], 1.0, 0)} |")


if __name__ == "__main__":
    main()
