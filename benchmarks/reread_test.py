"""Score trained runs on TweetEval test as they were saved and with tokenizer options changed.

Usage: python benchmarks/reread_test.py [--set OPTION=true ...] --group NAME RUN [RUN ...] [--group ...]

Meant for options that change nothing a run saw while training: TweetEval's train and val splits
hold no emoji, so a model trained with ``emoji_names`` or ``emoji_sentiment`` on has the weights
of one trained with them off, and only how test's emoji are read differs. For each group: test
macro-recall, accuracy and macro-F1 (mean ± sd over its runs) read the saved way and the changed
way, each run's two macro-recalls, and the macro-recall of the group's runs averaged (the mean of
their probabilities, as ``hbilstm ensemble`` averages them).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import cell  # noqa: E402
from baselines import LABELS, evaluation_sets  # noqa: E402

METRICS = ("macro_recall", "accuracy", "macro_f1")


@functools.lru_cache(maxsize=None)  # a run in several groups is scored once
def test_scores(run: str, data_dir: Path, changes: tuple[tuple[str, bool], ...]) -> tuple[tuple, tuple]:
    """The run's test scores and probabilities with its saved tokenizer, and with ``changes`` applied to it."""
    from hbilstm.checkpoint import load_model
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer
    from hbilstm.evaluation.metrics import classification_metrics
    from hbilstm.inference import predict_probs

    texts, gold = evaluation_sets(data_dir)["tweeteval-test"]
    loaded = load_model(run)
    out = []
    for config in (loaded.tokenizer, dataclasses.replace(loaded.tokenizer, **dict(changes))):
        encoded = encode_texts(TweetTokenizer(config), loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets)
        probs = predict_probs(loaded.model, encoded.ids, 512, ngrams=encoded.ngrams).numpy()
        out.append((classification_metrics(gold, np.argmax(probs, axis=1).tolist(), loaded.label_names), probs))
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=true|false", dest="sets")
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar="NAME RUN")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    args = parser.parse_args()
    changes = {}
    for pair in args.sets:
        key, _, value = pair.partition("=")
        if value not in ("true", "false"):
            parser.error(f"--set {pair}: expected OPTION=true or OPTION=false")
        changes[key] = value == "true"
    from hbilstm.evaluation.metrics import classification_metrics

    gold = evaluation_sets(args.data_dir)["tweeteval-test"][1]
    print("| recipe | n | test read as | macro-recall | accuracy | macro-F1 | per run (macro-recall) | averaged |")
    print("| --- | ---: | --- | ---: | ---: | ---: | --- | ---: |")
    for name, *runs in args.group:
        saved, changed = zip(*(test_scores(run, args.data_dir, tuple(changes.items())) for run in runs))
        for label, results in (("saved", saved), (", ".join(args.sets) or "saved", changed)):
            scores = [r[0] for r in results]
            cells = [cell([s[m] for s in scores]) for m in METRICS]
            each = " ".join(f"{100 * s['macro_recall']:.2f}" for s in scores)
            mean = np.mean([r[1] for r in results], axis=0)
            averaged = classification_metrics(gold, np.argmax(mean, axis=1).tolist(), LABELS)["macro_recall"]
            print(f"| {name} | {len(runs)} | {label} | {' | '.join(cells)} | {each} | {100 * averaged:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
