"""The decision rule for macro-recall (issue 13, item 1): argmax p(y|x) against argmax p(y|x) / prior(y).

Usage: python benchmarks/decision_rule.py STUDY_DIR [--data-dir DIR]

STUDY_DIR is an ``hbilstm compare`` folder whose runs differ in ``class_weights`` (balanced, none)
and seed. For every finished run it scores the validation and test splits twice: with the
model's own argmax, and with each class's probability divided by its share of the training
split (the rule that maximises expected macro-recall when the model's probabilities are
calibrated to the training distribution). Prints one row per run and the mean ± sd per variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import torch
import yaml

from hbilstm.data.corpora import load_corpus
from hbilstm.evaluation.evaluate import scoring_data
from hbilstm.evaluation.metrics import classification_metrics
from hbilstm.inference import predict_probs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("study", type=Path)
    parser.add_argument("--data-dir", default=os.environ.get("HBILSTM_DATA_DIR", "../shared/data"))
    args = parser.parse_args()
    rows = []
    for run in sorted((args.study / "runs").iterdir()):
        if not (run / "results.json").is_file():
            continue
        config = yaml.safe_load((run / "config.yaml").read_text())
        train = load_corpus(config["data"], args.data_dir).split("train")
        counts = Counter(train.labels)
        row = {"run": run.name, "class_weights": config["class_weights"], "seed": config["seed"]}
        for split in ("val", "test"):
            scoring = scoring_data(run, split=split, data_dir=args.data_dir, device="cpu")
            labels = scoring.loaded.label_names
            prior = torch.tensor([counts[name] / len(train.labels) for name in labels])
            probs = predict_probs(scoring.loaded.model, scoring.encoded.ids, 512, torch.device("cpu"),
                                  ngrams=scoring.encoded.ngrams)
            for rule, predicted in (("argmax", probs.argmax(-1)), ("prior", (probs / prior).argmax(-1))):
                scores = classification_metrics(scoring.encoded.labels, predicted.tolist(), labels)
                row[f"{split}_{rule}"] = 100 * scores["macro_recall"]
        rows.append(row)
        print(f"{row['run']:<40} val {row['val_argmax']:.2f} / {row['val_prior']:.2f}   "
              f"test {row['test_argmax']:.2f} / {row['test_prior']:.2f}   (argmax / prior-corrected)")
    groups = defaultdict(list)
    for row in rows:
        groups[row["class_weights"]].append(row)
    print("\n| class_weights | n | val argmax | val ÷ prior | test argmax | test ÷ prior |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for weights, group in groups.items():
        cells = []
        for key in ("val_argmax", "val_prior", "test_argmax", "test_prior"):
            values = [r[key] for r in group]
            sd = statistics.stdev(values) if len(values) > 1 else float("nan")
            cells.append(f"{statistics.mean(values):.2f} ± {sd:.2f}")
        print(f"| {weights} | {len(group)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
