"""Each classifier of a model with the n-gram classifier, scored alone and in the model's mean.

Usage: python benchmarks/parts.py RUN_DIR [RUN_DIR ...] [--data-dir DIR] [--splits val tweeteval-test ...]

A model with ``ngram_buckets`` averages two classifiers' probabilities: the stack's and the linear
n-gram classifier's (hbilstm/model/ngram_head.py). This prints the macro-recall of each alone and
of their mean on TweetEval val and test (and, with ``--splits``, the out-of-domain sets of
benchmarks/baselines.py), per run and as mean ± sd over the runs: what each half brings, and
whether a change of recipe helped one half or the other (docs/journal/accuracy.md, fourth round).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import LABELS, evaluation_sets, scores  # noqa: E402

PARTS = ("stack", "n-gram classifier", "mean (the model)")


def part_probabilities(loaded, texts: list[str]) -> list[np.ndarray]:
    """The stack's and the n-gram classifier's probabilities for ``texts`` (each at its
    temperature, for a calibrated model), rows in input order, columns in :data:`LABELS` order."""
    from hbilstm.data.batching import bucket_order, iter_batches
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer

    model = loaded.model.eval()
    encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts,
                           loaded.ngram_buckets)
    stack, head = (np.zeros((len(texts), len(LABELS)), dtype=np.float32) for _ in range(2))
    columns = [loaded.label_names.index(label) for label in LABELS]
    order = bucket_order([len(ids) for ids in encoded.ids], 256)
    with torch.inference_mode():
        for batch in iter_batches(encoded.ids, None, order, ngrams=encoded.ngrams):
            tokens, lengths, ngrams = batch.inputs
            rows = np.asarray(batch.index)
            logits = model.tempered(model.part_logits(tokens, lengths, ngrams))  # as the model uses them
            stack[rows] = torch.softmax(logits[0], -1)[:, columns].numpy()
            head[rows] = torch.softmax(logits[1], -1)[:, columns].numpy()
    return [stack, head, (stack + head) / 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HBILSTM_DATA_DIR", "../shared/data")))
    parser.add_argument("--splits", nargs="+", default=["val", "tweeteval-test"])
    args = parser.parse_args()
    from hbilstm.checkpoint import load_model
    from hbilstm.data.corpora import load_corpus

    sets = evaluation_sets(args.data_dir)
    val = load_corpus("tweeteval-sentiment", args.data_dir).split("val")
    sets["val"] = (list(val.texts), [LABELS.index(label) for label in val.labels])
    unknown = [s for s in args.splits if s not in sets]
    if unknown:
        sys.exit(f"error: no split {', '.join(unknown)}; choose from {', '.join(sets)}")
    found: dict[tuple[str, str], list[float]] = {}
    print("| run | " + " | ".join(f"{split}: {part}" for split in args.splits for part in PARTS) + " |")
    print("| --- |" + " ---: |" * (len(args.splits) * len(PARTS)))
    for run in args.runs:
        loaded = load_model(run, "cpu")
        if not loaded.ngram_buckets:
            sys.exit(f"error: {run}: the model has no n-gram classifier")
        cells = []
        for split in args.splits:
            texts, truth = sets[split]
            for part, probs in zip(PARTS, part_probabilities(loaded, texts)):
                recall = 100 * scores(truth, list(probs.argmax(1)))["macro_recall"]
                found.setdefault((split, part), []).append(recall)
                cells.append(f"{recall:.2f}")
        print(f"| {run} | " + " | ".join(cells) + " |", flush=True)
    if len(args.runs) > 1:
        print(f"| mean ± sd (n = {len(args.runs)}) | " + " | ".join(
            f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}" for v in found.values()) + " |")


if __name__ == "__main__":
    main()
