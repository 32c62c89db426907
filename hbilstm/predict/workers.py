"""Scoring chunks of texts in this process or in worker processes.

On a CPU each worker tokenizes, encodes and scores its share with its own copy of the model (one
thread each); on a GPU the workers only tokenize and encode (without importing torch), send the
ids back as flat arrays (:class:`~hbilstm.data.padding.Ragged`), and the model runs here. With an
ONNX graph (``--backend onnx``) the scoring is done by ONNX Runtime on the CPU, each worker
loading the graph itself. With an exported model folder and ONNX Runtime
(a :class:`~hbilstm.inference.model.Model` read from a folder) neither this process nor the workers import
torch.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import tempfile
import threading
import time
from typing import Union

import numpy as np

from ..data.padding import Ragged
from ..data.pipeline import EncodedTexts, TextEncoder
from ..data.tokenizer import TokenizerConfig
from ..fileio import sweep_stale, temp_name
from ..inference.model import Model

# --workers -1 starts workers only for inputs of at least this many rows. Starting them
# costs a few seconds (each imports torch and loads the model); measured on 2 cores (docs/journal/benchmarks.md),
# they lost to one process at 12,284, 49,136 and 100,000 rows and won at 150,000 and 200,000. With
# ONNX Runtime from a model folder (no torch to import) they lost at 49,136 and tied at 150,000.
AUTO_MIN_ROWS = 150_000


# Tweets per batch unless --batch-size says: on a GPU a batch costs about the same launches at
# any size (the LSTM runs one step at a time), so larger batches pay there; measured on an H200,
# 1,000,000 lines took 40.5 s at 512 and 32.3 s at 2048 (docs/journal/benchmarks.md).
CPU_BATCH_SIZE, GPU_BATCH_SIZE = 512, 2048


def default_batch_size(device) -> int:
    """The batch size for ``device`` (a ``torch.device``, its type, or None for the CPU)."""
    return GPU_BATCH_SIZE if getattr(device, "type", device) == "cuda" else CPU_BATCH_SIZE


def auto_workers(device) -> int:
    """Worker processes for ``--workers -1``: on a CPU one per core (the workers run the model;
    this process only reads and writes), on a GPU one per core but one (this process feeds the
    device). A single core gets none. ``device``: a ``torch.device`` or its type (``"cpu"``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cores < 2:
        return 0
    return min(8, cores if getattr(device, "type", device) == "cpu" else cores - 1)


_WORKER: dict = {}
ENCODE_ONLY = ".encode.pkl"  # the suffix of the file for workers that only encode
_QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"
SHIPPED = "hbilstm-workers-"  # the prefix of the files that workers start from, in the temporary folder


def _die_with_parent(parent: int) -> None:
    """End this worker, quietly, as soon as the process that started it is gone (killed with
    ``kill -9``, say), instead of failing to send it results and printing tracebacks: on Linux the
    kernel sends SIGKILL (PR_SET_PDEATHSIG); elsewhere a thread watches the parent's pid."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="hbilstm-parent-watch", daemon=True).start()


def stop_pool(pool, wait: float = 10.0) -> bool:
    """Stop a ``multiprocessing`` pool's workers; True when it stopped as ``Pool.terminate`` stops it.

    ``Pool.terminate`` first takes the lock of the pool's task queue, which an idle worker holds
    while it waits for a task: if that worker died (killed from outside, say), the lock is never
    given back and ``terminate`` waits forever. So it runs in a thread of its own here; should it
    not return within ``wait`` seconds, the workers are killed and the thread is left behind
    (blocked on that lock, a daemon, harmless: the pool's own exit handler was used by it)."""
    workers = list(getattr(pool, "_pool", []))
    stopper = threading.Thread(target=pool.terminate, name="hbilstm-pool-stop", daemon=True)
    stopper.start()
    stopper.join(wait)
    if not stopper.is_alive():
        pool.join()
        return True
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.kill()
            worker.join(1.0)
    return False


def _start_worker(shipped: str, batch_size: int, parent: int | None = None, int8: bool = False) -> None:
    """Set up a worker from the file the parent wrote for it, or from the model folder it names
    (see ``ChunkScorer._start_pool``); ``int8``: quantize the folder's graph, as the parent did."""
    if parent is not None:
        _die_with_parent(parent)
    if os.path.isdir(shipped):  # an exported model folder scored by ONNX Runtime: no torch
        from ..export.onnx_runtime import load_onnx_folder

        loaded = load_onnx_folder(shipped, threads=1, verify=False, int8=int8)  # the parent checked its graph
        _WORKER.update(encoder=loaded.encoder, batch_size=batch_size, model=None, onnx=loaded.graph)
        return
    if shipped.endswith(ENCODE_ONLY):  # the parent scores on its GPU: tokenize and encode, no torch
        with open(shipped, "rb") as handle:
            encoder = pickle.load(handle)  # the parent's TextEncoder, written a moment ago
        _WORKER.update(encoder=encoder, batch_size=batch_size, model=None)
        return
    import torch

    from ..checkpoint import build_model, vocabulary_from_payload
    from ..inference import quantize_int8

    torch.set_num_threads(1)  # one process per core: threads would only compete
    payload = torch.load(shipped, weights_only=True)
    encoder = TextEncoder(TokenizerConfig.from_dict(payload["tokenizer"]), vocabulary_from_payload(payload),
                          payload["max_tokens"], payload.get("ngram_buckets", 0), payload.get("ngram_words", 0))
    _WORKER.update(encoder=encoder, batch_size=batch_size,
                   model=build_model(payload).eval() if "state_dict" in payload else None)
    if payload.get("int8") and _WORKER["model"] is not None:
        _WORKER["model"] = quantize_int8(_WORKER["model"])
    if "onnx" in payload:
        from ..export.onnx_runtime import OnnxScorer

        _WORKER["onnx"] = OnnxScorer(payload["onnx"], threads=1, int8=payload.get("onnx_int8", False))


def _worker_run(texts: list[str]):
    """Encode a piece of texts and, where the worker holds the model, score it too."""
    encoded = _WORKER["encoder"].encode(texts)
    if _WORKER.get("onnx") is not None:
        return _WORKER["onnx"].predict_probs(encoded.ids, _WORKER["batch_size"], encoded.ngrams), encoded.cut
    if _WORKER["model"] is None:  # the parent scores on its GPU: send the ids as flat arrays
        ngrams = Ragged.from_lists(encoded.ngrams) if encoded.ngrams is not None else None
        return EncodedTexts(Ragged.from_lists(encoded.ids), encoded.cut, ngrams), encoded.cut
    import torch

    from ..inference import predict_probs

    probs = predict_probs(
        _WORKER["model"], encoded.ids, _WORKER["batch_size"], torch.device("cpu"), ngrams=encoded.ngrams
    )
    return probs.numpy(), encoded.cut


def _shipped_name(suffix: str):
    """A new file name for what workers start from, in the temporary folder; files of this kind
    left by a process that was killed are removed first."""
    folder = tempfile.gettempdir()
    sweep_stale(folder, SHIPPED, suffix)
    return temp_name(folder, SHIPPED, suffix)


def _private(path: str):
    """A new file that only this user can read (it holds the model), open for writing."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def _ship_encoder(loaded) -> str:
    """A file with what workers that only encode need (the model's TextEncoder: tokenizer
    settings, vocabulary, limits), pickled so that they read it without torch; its path."""
    path = str(_shipped_name(ENCODE_ONLY))
    with _private(path) as handle:
        pickle.dump(loaded.encoder, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


class _Local:
    """A chunk done in this process: encoded at once, scored when its result is asked for."""

    def __init__(self, scorer: "ChunkScorer", texts: list[str]):
        self.scorer = scorer
        self.encoded = scorer.loaded.encoder.encode(texts)

    def get(self) -> tuple[np.ndarray, list[bool]]:
        return self.scorer.score(self.encoded), self.encoded.cut


class _Pooled:
    """A chunk sent to the workers in pieces of texts of similar length (so that their batches
    waste little on uneven lengths); put back in order, and scored here if they only encode."""

    def __init__(self, scorer: "ChunkScorer", texts: list[str]):
        self.scorer = scorer
        self.order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = scorer.PIECE
        pieces = [[texts[j] for j in self.order[i : i + step]] for i in range(0, len(texts), step)]
        self.pending = scorer.pool.map_async(_worker_run, pieces)

    def get(self) -> tuple[np.ndarray, list[bool]]:
        results = self.pending.get()
        cut = _unsort(self.order, [flag for _, part_cut in results for flag in part_cut])
        if not self.scorer.workers_score:  # the workers encoded; the model runs here, on the rows as sorted
            ids = Ragged.concat([part.ids for part, _ in results])
            ngrams = None
            if results and results[0][0].ngrams is not None:
                ngrams = Ragged.concat([part.ngrams for part, _ in results])
            scored = self.scorer.score(EncodedTexts(ids, cut, ngrams))
            probs = np.empty_like(scored)
            probs[self.order] = scored
            return probs, cut
        if not results:
            return np.empty(0, dtype=np.float32), cut
        probs = np.empty((len(self.order), results[0][0].shape[1]), dtype=np.float32)
        probs[self.order] = np.concatenate([part for part, _ in results])
        return probs, cut


def _unsort(order: list[int], items: list) -> list:
    """Put ``items``, given in the sequence of positions ``order``, back in position order."""
    out: list = [None] * len(order)
    for position, item in zip(order, items):
        out[position] = item
    return out


ScoredChunk = Union[_Local, _Pooled]


class ChunkScorer:
    """Turns chunks of texts into class probabilities, in this process or with ``workers``
    processes that work on the next chunk while this process writes out the current one.

    On a CPU each worker tokenizes, encodes and runs its own copy of the model on one thread, so
    every core does the whole job; on a GPU the workers only tokenize and encode, and the model
    runs here, on the device.

    The first ``LOCAL_CHUNKS`` chunks are done here, so that an input of one chunk never pays
    for starting workers (each imports torch and loads the model: a few seconds); the last of them is
    scored here while the workers start.
    """

    PIECE = 1024  # texts per task sent to a worker
    LOCAL_CHUNKS = 1

    def __init__(self, loaded: Model, batch_size: int, workers: int, int8: bool = False, threads: int = 0):
        """``loaded``: the model (:class:`~hbilstm.inference.model.Model`), scored by its ONNX graph
        where it has one (on the CPU; from an exported folder, which workers read themselves, or
        beside a checkpoint; quantized to int8 when it was loaded so), else by its torch model on its
        device; ``int8``: score with the torch model quantized by
        :func:`~hbilstm.inference.quantize_int8`; ``threads``: torch's CPU threads
        while this process scores (0: torch's default; each worker uses one)."""
        self.loaded, self.batch_size, self.workers = loaded, batch_size, workers
        self.threads, self.int8 = threads, int8
        self.onnx = loaded.graph
        self.folder = loaded.graph is not None and loaded.source is not None  # workers load the folder themselves
        self.device = loaded.device
        self.model = None
        if self.onnx is None:
            from ..inference import quantize_int8

            self.model = quantize_int8(loaded.model) if int8 else loaded.model
        # on a CPU the workers score too; on a GPU they only encode
        self.workers_score = self.onnx is not None or self.device.type == "cpu"
        self.pool = None
        self.shipped: str | None = None
        self.chunks = 0
        self.local_chunks = self.LOCAL_CHUNKS

    def plan(self, estimated_rows: int | None, chunk_size: int) -> None:
        """With workers chosen automatically: none for an input estimated at fewer than
        :data:`AUTO_MIN_ROWS` rows; for one of unknown size (a pipe), start them only once that
        many rows have been done here. On a GPU too: there they only tokenize, which this process
        does for a small input sooner than they start."""
        if self.workers <= 0:
            return
        if estimated_rows is None:
            self.local_chunks = max(self.LOCAL_CHUNKS, -(-AUTO_MIN_ROWS // chunk_size))
        elif estimated_rows < AUTO_MIN_ROWS:
            self.workers = 0

    def score(self, encoded: EncodedTexts) -> np.ndarray:
        """Class probabilities ``(rows, classes)``, float32."""
        if len(encoded.ids) == 0:
            return np.empty(0, dtype=np.float32)
        if self.onnx is not None:
            return self.onnx.predict_probs(encoded.ids, self.batch_size, encoded.ngrams)
        from ..inference import cpu_settings, predict_probs

        with cpu_settings(self.threads):
            return predict_probs(self.model, encoded.ids, self.batch_size, self.device, ngrams=encoded.ngrams).numpy()

    def submit(self, texts: list[str]):
        self.chunks += 1
        if self.workers <= 0 or self.chunks <= self.local_chunks:
            return _Local(self, texts)
        if self.pool is None:
            self.pool = self._start_pool()
        return _Pooled(self, texts)

    def _start_pool(self):
        # What the workers need goes through a temporary file, not through the pipe that starts
        # them: a large pickle there would block this process until each worker had imported
        # torch and read it. The file holds this process's model, so every worker scores with
        # exactly the weights loaded here; for workers that only encode (a GPU scores here), only
        # the tokenizer and vocabulary, readable without torch. An exported folder scored by ONNX
        # Runtime is loaded by each worker from the folder itself (as this process loaded it), without torch.
        context = multiprocessing.get_context("spawn")
        parent = os.getpid()
        # Should this process be killed, multiprocessing's resource tracker (a process started
        # with this interpreter's warning options) frees the pool's semaphores; it need not warn.
        if _QUIET_TRACKER not in sys.warnoptions:
            sys.warnoptions.append(_QUIET_TRACKER)
        if self.folder:
            return context.Pool(self.workers, initializer=_start_worker,
                                initargs=(str(self.loaded.path), self.batch_size, parent, self.onnx.int8))
        loaded = self.loaded
        if not self.workers_score:
            self.shipped = _ship_encoder(loaded)
            return context.Pool(self.workers, initializer=_start_worker,
                                initargs=(self.shipped, self.batch_size, parent))
        import torch

        from ..checkpoint import vocab_payload

        payload = {
            "tokenizer": loaded.tokenizer.to_dict(),
            **vocab_payload(loaded.vocab),
            "max_tokens": loaded.max_tokens,
            "ngram_buckets": loaded.ngram_buckets,
            "ngram_words": loaded.ngram_words,
        }
        if self.onnx is not None:
            payload.update(onnx=str(self.onnx.path), onnx_int8=self.onnx.int8)
        elif self.workers_score:
            # the full weights: each worker quantizes its own copy (quantized modules do not travel as tensors)
            payload.update(model_config=loaded.payload["model_config"], state_dict=loaded.model.state_dict(),
                           member_configs=loaded.payload.get("member_configs"), int8=self.int8)
        self.shipped = str(_shipped_name(".pt"))
        with _private(self.shipped) as handle:
            torch.save(payload, handle)
        return context.Pool(self.workers, initializer=_start_worker, initargs=(self.shipped, self.batch_size, parent))

    def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            stop_pool(pool)
        if self.shipped is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.shipped)
            self.shipped = None
