"""Calibrate runs trained before ``calibrate`` existed, into copies, as training now does.

Usage: python benchmarks/calibrate_runs.py RUN_DIR [RUN_DIR ...] --out DIR [--data-dir DIR]

For each run: the temperatures that training now fits at its end (hbilstm/training/calibration.py)
are fitted on the run's validation split with the same function, and DIR/<run name>/ receives
the run's config.yaml, metrics.jsonl and manifest.json, its model.pt with the temperatures, and
a results.json whose val and test scores are those of the calibrated model. benchmarks/ablation.py,
ensemble.py and parts.py then read the copies as they read runs. It prints each run's
temperatures and test macro-recall before and after (docs/journal/accuracy.md, fifth round).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    from hbilstm.checkpoint import load_checkpoint, load_model, save_checkpoint
    from hbilstm.data.corpora import load_corpus
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer
    from hbilstm.evaluation.evaluate import evaluate
    from hbilstm.inference import predict_part_logits
    from hbilstm.training.calibration import fit_temperatures

    print("| run | temperatures | test macro-recall before | after |")
    print("| --- | --- | ---: | ---: |")
    for run in args.runs:
        target = args.out / run.name
        if target.exists():
            sys.exit(f"error: {target} exists")
        payload = load_checkpoint(run / "model.pt")
        loaded = load_model(run)
        val = load_corpus(payload["dataset"], str(args.data_dir)).split("val")
        encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, list(val.texts),
                               loaded.ngram_buckets)
        labels = torch.tensor([loaded.label_names.index(label) for label in val.labels])
        temperatures = fit_temperatures(predict_part_logits(loaded.model, encoded.ids, ngrams=encoded.ngrams), labels)
        target.mkdir(parents=True)
        for name in ("config.yaml", "metrics.jsonl", "manifest.json"):
            shutil.copy2(run / name, target / name)
        save_checkpoint(target / "model.pt", {**payload, "model_config": {**payload["model_config"],
                                                                          "temperatures": list(temperatures)}})
        results = json.loads((run / "results.json").read_text(encoding="utf-8"))
        before = results["test"]["macro_recall"]
        for split in ("val", "test"):
            results[split] = evaluate(target, split=split, data_dir=str(args.data_dir))
        results["calibrated_from"] = str(run)
        (target / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"| {run} | {', '.join(f'{t:.3f}' for t in temperatures)} | {100 * before:.2f} | "
              f"{100 * results['test']['macro_recall']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
