"""Dynamic int8 quantization against the full model: scoring speed and test scores.

Usage: python benchmarks/int8_quantization.py RUN_DIR [RUN_DIR ...] [--data-dir DIR] [--passes 2]
       [--backend torch|onnx]

For each model: encodes TweetEval sentiment's test split once, then scores it with the full model
and with the quantized one (alternating, ``--passes`` times each), and prints tweets/s of each
pass, the test macro-recall and accuracy of each, and how many labels agree (all tweets and the
first 2,000). ``--backend torch``: the model and ``quantize_int8(model)``; ``onnx``: the run
exported to a temporary folder, its graph scored by ONNX Runtime as it is and quantized
(``load_onnx_folder(..., int8=True)``). Results go into docs/journal/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from hbilstm.checkpoint import load_model
from hbilstm.data.corpora import load_corpus
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.evaluation.metrics import classification_metrics
from hbilstm.export.exporter import export_model
from hbilstm.export.onnx_runtime import load_onnx_folder
from hbilstm.inference import predict_probs, quantize_int8


def scorers(run: Path, loaded, backend: str, tmp: str, batch_size: int) -> dict:
    """``{"fp32": score, "int8": score}``, each taking (ids, ngrams) to class probabilities."""
    if backend == "torch":
        cpu = torch.device("cpu")
        models = {"fp32": loaded.model.eval(), "int8": quantize_int8(loaded.model)}
        return {name: (lambda ids, grams, m=model: predict_probs(m, ids, batch_size, cpu, ngrams=grams).numpy())
                for name, model in models.items()}
    folder = export_model(run, Path(tmp) / run.name, onnx=True)
    graphs = {"fp32": load_onnx_folder(folder).graph, "int8": load_onnx_folder(folder, int8=True).graph}
    return {name: (lambda ids, grams, g=graph: g.predict_probs(ids, batch_size, grams))
            for name, graph in graphs.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data-dir", default=os.environ.get("HBILSTM_DATA_DIR", "../shared/data"))
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    args = parser.parse_args()
    test = load_corpus("tweeteval-sentiment", args.data_dir).split("test")
    print(f"{args.backend}; torch {torch.__version__}, {torch.get_num_threads()} threads, {len(test):,} test tweets")
    tmp = tempfile.mkdtemp(prefix="int8-")
    for run in args.runs:
        loaded = load_model(run)
        encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, test.texts,
                               loaded.ngram_buckets)
        ids = encoded.ids
        gold = [loaded.label_names.index(label) for label in test.labels]
        models = scorers(run, loaded, args.backend, tmp, args.batch_size)
        speeds: dict[str, list[float]] = {"fp32": [], "int8": []}
        predictions: dict[str, list[int]] = {}
        for _ in range(args.passes):
            for name, score in models.items():
                started = time.perf_counter()
                probs = score(ids, encoded.ngrams)
                speeds[name].append(len(ids) / (time.perf_counter() - started))
                predictions[name] = probs.argmax(-1).tolist()
        print(f"\n{run}: {loaded.model.config.layers} layers")
        for name in models:
            scores = classification_metrics(gold, predictions[name], loaded.label_names)
            print(f"  {name}: tweets/s {', '.join(f'{s:,.0f}' for s in speeds[name])}; "
                  f"macro-recall {100 * scores['macro_recall']:.2f}, accuracy {100 * scores['accuracy']:.2f}")
        same = [a == b for a, b in zip(predictions["fp32"], predictions["int8"])]
        print(f"  same label: {100 * sum(same) / len(same):.2f}% of all, {100 * sum(same[:2000]) / 2000:.2f}% of the "
              "first 2,000")


if __name__ == "__main__":
    main()
