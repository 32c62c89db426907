"""Where the time of labelling a file goes on the quickest path: an exported model folder scored
with ONNX Runtime (``hbilstm predict FOLDER --backend onnx``), one phase at a time.

Usage: python benchmarks/predict_phases.py MODEL_FOLDER TWEETS.txt [--batch-size 512]

Prints seconds for: imports (hbilstm's prediction code, numpy, onnxruntime), loading the folder
(config, vocabulary, weights digest, ONNX session), tokenizing, vocabulary ids, n-gram ids,
scoring, and writing a CSV; and whether torch or spaCy got imported. Run it in a fresh process
with the tokenizer's rules already saved (any earlier hbilstm command saves them).
"""

from __future__ import annotations

import argparse
import time

start = time.perf_counter()
import csv  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

from hbilstm.data.ngrams import ngram_ids  # noqa: E402
from hbilstm.data.pipeline import encode  # noqa: E402
from hbilstm.data.tokenizer import TweetTokenizer  # noqa: E402
from hbilstm.export.onnx_runtime import load_onnx_folder, require  # noqa: E402

require("onnxruntime")
imported = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("tweets")
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    phases = {"imports": imported - start}

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        return now

    t = time.perf_counter()
    model = load_onnx_folder(args.folder)
    tokenizer = TweetTokenizer(model.tokenizer)
    t = phase("load folder", t)
    with open(args.tweets, encoding="utf-8") as handle:
        texts = handle.read().splitlines()
    tokens = [tokenizer.tokenize(text) for text in texts]
    t = phase("tokenize", t)
    ids = encode(tokens, model.vocab, model.max_tokens)
    t = phase("vocabulary ids", t)
    grams = [ngram_ids(tok[: model.max_tokens], model.ngram_buckets) for tok in tokens] if model.ngram_buckets else None
    t = phase("n-gram ids", t)
    probs = model.graph.predict_probs(ids, args.batch_size, grams)
    t = phase("score", t)
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "out.csv"), "w", newline="") as out:
        writer = csv.writer(out)
        for i, (text, p) in enumerate(zip(texts, probs.tolist()), 1):
            writer.writerow(
                [i, text, model.label_names[max(range(len(p)), key=p.__getitem__)], *(f"{x:.6f}" for x in p)]
            )
    phase("write CSV", t)
    total = sum(phases.values())
    print(f"{len(texts):,} tweets from {args.tweets}, model {args.folder}")
    for name, seconds in phases.items():
        print(f"  {name:<15} {seconds:6.3f} s")
    print(f"  {'total':<15} {total:6.3f} s   ({len(texts) / total:,.0f} tweets/s)")
    print(f"  torch imported: {'torch' in sys.modules}; spaCy imported: {'spacy' in sys.modules}")


if __name__ == "__main__":
    main()
