"""Benchmark: ONNX Runtime against PyTorch for scoring tweets on the CPU (issue 9).

Exports MODEL (a run directory or model.pt) to a temporary folder (model.pt copied, model.onnx
written beside it), then, in this one process and with the same number of threads for both:

* scoring only: the file's tweets tokenized and encoded once, then scored by
  ``hbilstm.inference.predict_probs`` (torch) and by ``OnnxScorer.predict_probs`` (onnx);
* end to end: ``hbilstm.predict.predict`` on the file with ``workers=0`` and each backend
  (model loading, reading, tokenizing, scoring and writing the CSV).

After one untimed run of each, each is timed ``--repeats`` times, interleaved (torch, onnx,
onnx, torch, ...); the median is reported as tweets/s. Also prints how far the two backends'
probabilities and labels differ.

    python benchmarks/onnx_vs_torch.py /tmp/readme/runs/first --threads 2
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TWEETS = REPO.parent / "shared" / "data" / "tweeteval-sentiment" / "test_text.txt"


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", default="/tmp/readme/runs/first", help="run directory or model.pt")
    parser.add_argument("--input", default=str(DEFAULT_TWEETS), help="text file, one tweet per line")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512, help="as hbilstm predict's default")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from hbilstm.checkpoint import load_model, resolve_checkpoint
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer
    from hbilstm.export.onnx import OnnxScorer, export_onnx
    from hbilstm.inference import predict_probs
    from hbilstm.predict import predict

    texts = Path(args.input).read_text(encoding="utf-8").splitlines()
    n = len(texts)
    with tempfile.TemporaryDirectory(prefix="onnx-bench-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        shutil.copy(resolve_checkpoint(args.model), folder / "model.pt")
        loaded = load_model(folder)
        export_seconds = timed(lambda: export_onnx(loaded.model, folder / "model.onnx"))
        onnx_mib = (folder / "model.onnx").stat().st_size / 2**20
        scorer = OnnxScorer(folder / "model.onnx", threads=args.threads)

        encoded = encode_texts(
            TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts, loaded.ngram_buckets
        )
        sequences = encoded.ids
        tokens = sum(map(len, sequences))
        device = torch.device("cpu")
        results: dict[str, dict[str, list[float]]] = {"scoring": {"torch": [], "onnx": []},
                                                      "end to end": {"torch": [], "onnx": []}}
        probs: dict[str, np.ndarray] = {}

        def score(backend: str) -> None:
            if backend == "torch":
                probs[backend] = predict_probs(
                    loaded.model, sequences, args.batch_size, device, ngrams=encoded.ngrams
                ).numpy()
            else:
                probs[backend] = scorer.predict_probs(sequences, args.batch_size, encoded.ngrams)

        outputs = {backend: Path(tmp) / f"{backend}.csv" for backend in ("torch", "onnx")}

        def end_to_end(backend: str) -> None:
            predict(folder, args.input, str(outputs[backend]), workers=0, overwrite=True, backend=backend,
                    batch_size=args.batch_size)

        # Warm-up, untimed: first-call allocations, ONNX Runtime's graph set-up, and the imports
        # and spaCy set-up the first predict() pays once per process.
        for backend in ("torch", "onnx"):
            score(backend)
            end_to_end(backend)
        for measure, run in (("scoring", score), ("end to end", end_to_end)):
            for repeat in range(args.repeats):
                # the order alternates, so that neither backend always runs right after the other
                for backend in ("torch", "onnx")[:: 1 if repeat % 2 == 0 else -1]:
                    results[measure][backend].append(timed(lambda b=backend, f=run: f(b)))

        diff = float(np.abs(probs["torch"] - probs["onnx"]).max())
        same = int((probs["torch"].argmax(1) == probs["onnx"].argmax(1)).sum())
        rows = {b: list(csv.DictReader(open(outputs[b], newline="", encoding="utf-8"))) for b in outputs}
        same_csv = sum(a["label"] == b["label"] for a, b in zip(rows["torch"], rows["onnx"]))

    config = loaded.model.config
    print(f"date {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}, threads {args.threads}, "
          f"load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(f"model {args.model}: {config.layers} layers, hidden {config.hidden}, embedding {config.embedding_dim}, "
          f"{config.carry}, {config.pooling} pooling; export {export_seconds:.2f} s, model.onnx {onnx_mib:.1f} MiB")
    print(f"input {args.input}: {n:,} tweets, {tokens:,} tokens; batch size {args.batch_size}; "
          f"median of {args.repeats}")
    print()
    print("| measure | torch tweets/s | onnx tweets/s | onnx / torch | torch runs (s) | onnx runs (s) |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for measure, by_backend in results.items():
        rate = {b: n / statistics.median(times) for b, times in by_backend.items()}
        runs = {b: ", ".join(f"{t:.2f}" for t in times) for b, times in by_backend.items()}
        print(f"| {measure} | {rate['torch']:,.0f} | {rate['onnx']:,.0f} | {rate['onnx'] / rate['torch']:.2f}x "
              f"| {runs['torch']} | {runs['onnx']} |")
    print()
    print(f"agreement: max |p_torch - p_onnx| = {diff:.2e}; same label for {same:,} of {n:,} tweets "
          f"(output files: {same_csv:,} of {len(rows['torch']):,} rows)")


if __name__ == "__main__":
    main()
