"""Micro-batching: requests that arrive close together are scored by one model call.

Scoring 32 tweets at once costs far less than 32 calls of one tweet each, so under load the
service waits a few milliseconds after a request arrives for others to join it, runs the model
once on all their texts in a single worker thread (the event loop keeps accepting connections
meanwhile) and hands each request back its own rows, in order. While the model is busy, new
requests queue up and form the next batch, so a loaded server batches without waiting at all.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

log = logging.getLogger("hbilstm.serving")

ScoreFn = Callable[[list[str]], np.ndarray]


class BatcherStopped(RuntimeError):
    """The service is shutting down; the request was not scored."""


@dataclass
class _Waiting:
    texts: Sequence[str]
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    """Counters since the start: requests answered, texts scored, model calls made, and the size
    (in texts) of the largest call. ``model_calls < requests`` means batching happened."""

    requests: int = 0
    texts: int = 0
    model_calls: int = 0
    largest_batch: int = 0

    def as_dict(self) -> dict[str, Any]:
        mean = self.texts / self.model_calls if self.model_calls else 0.0
        return {"requests": self.requests, "texts": self.texts, "model_calls": self.model_calls,
                "largest_batch": self.largest_batch, "mean_batch": round(mean, 2)}


class MicroBatcher:
    """Gathers :meth:`score` calls from many coroutines into few calls of ``score_fn``.

    ``score_fn(texts) -> array (len(texts), classes)`` runs in one dedicated thread, one call at
    a time. Requests are never split: a batch takes whole requests, oldest first, up to
    ``max_batch_texts`` texts (one larger request forms a batch alone). Call :meth:`start` and
    :meth:`stop` from the event loop that will call :meth:`score`.
    """

    def __init__(self, score_fn: ScoreFn, *, window_ms: float = 5.0, max_batch_texts: int = 1024):
        self._score_fn = score_fn
        self.window = max(0.0, window_ms) / 1000
        self.max_batch_texts = max(1, int(max_batch_texts))
        self.stats = BatchStats()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._queued_texts = 0
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # the stats are read from other threads (tests, /health)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hbilstm-model")
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="hbilstm-batcher")

    async def stop(self) -> None:
        """Stop taking batches; requests still waiting get :class:`BatcherStopped`."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        while self._waiting:
            item = self._waiting.popleft()
            if not item.future.done():
                item.future.set_exception(BatcherStopped("the server is shutting down"))
        self._queued_texts = 0
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self.stats.as_dict()

    async def score(self, texts: Sequence[str]) -> np.ndarray:
        """The rows of ``score_fn`` for ``texts``, once the batch holding them has run."""
        if not self.running:
            self.start()
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(texts, future))
        self._queued_texts += len(texts)
        self._arrived.set()
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            await self._collect()
            batch = self._take()
            if not batch:
                continue
            texts = [text for item in batch for text in item.texts]
            try:
                probs = await loop.run_in_executor(self._executor, self._score_fn, texts)
            except asyncio.CancelledError:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(BatcherStopped("the server is shutting down"))
                raise
            except Exception as exc:  # each waiting request gets the error, to answer it
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            with self._lock:
                self.stats.model_calls += 1
                self.stats.requests += len(batch)
                self.stats.texts += len(texts)
                self.stats.largest_batch = max(self.stats.largest_batch, len(texts))
            start = 0
            for item in batch:
                end = start + len(item.texts)
                if not item.future.done():  # the client may have gone away meanwhile
                    item.future.set_result(probs[start:end])
                start = end

    async def _collect(self) -> None:
        """Wait until the oldest request has waited ``window`` seconds or a full batch is queued.
        Requests that queued while the model was busy have waited long enough already."""
        deadline = self._waiting[0].arrived + self.window
        while self._queued_texts < self.max_batch_texts:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[_Waiting]:
        """Whole requests, oldest first, up to ``max_batch_texts`` texts (at least one request);
        requests whose client has already gone are dropped."""
        batch: list[_Waiting] = []
        size = 0
        while self._waiting:
            item = self._waiting[0]
            if item.future.done():
                self._waiting.popleft()
                self._queued_texts -= len(item.texts)
                continue
            if batch and size + len(item.texts) > self.max_batch_texts:
                break
            self._waiting.popleft()
            self._queued_texts -= len(item.texts)
            batch.append(item)
            size += len(item.texts)
        return batch
