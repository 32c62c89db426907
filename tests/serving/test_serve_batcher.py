"""The micro-batcher alone, with a scoring function that records its calls."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from hbilstm.serving.batcher import BatcherStopped, MicroBatcher


class Recorder:
    """Scores text ``"t<k>"`` as the row ``[k, -k]``; remembers each call's texts and thread."""

    def __init__(self, fail_on: str | None = None, delay: float = 0.0):
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self.delay = delay

    def __call__(self, texts):
        self.calls.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on in texts:
            raise ValueError(f"cannot score {self.fail_on}")
        k = np.array([float(t[1:]) for t in texts])
        return np.stack([k, -k], axis=1)


def texts(*ks: int) -> list[str]:
    return [f"t{k}" for k in ks]


def run(coro):
    return asyncio.run(coro)


def test_requests_arriving_together_share_one_call_and_get_their_own_rows():
    score = Recorder()

    async def main():
        batcher = MicroBatcher(score, window_ms=50, max_batch_texts=100)
        batcher.start()
        asks = [texts(1, 2, 3), texts(4), texts(5, 6)]
        results = await asyncio.gather(*(batcher.score(a) for a in asks))
        await batcher.stop()
        return batcher, results

    batcher, results = run(main())
    assert score.calls == [texts(1, 2, 3, 4, 5, 6)]
    assert [r[:, 0].tolist() for r in results] == [[1, 2, 3], [4], [5, 6]]
    assert batcher.snapshot() == {"requests": 3, "texts": 6, "model_calls": 1, "largest_batch": 6, "mean_batch": 6.0}
    assert score.threads and all(name.startswith("hbilstm-model") for name in score.threads)  # off the loop


def test_a_batch_takes_whole_requests_up_to_its_size():
    score = Recorder()

    async def main():
        batcher = MicroBatcher(score, window_ms=50, max_batch_texts=4)
        asks = [texts(1, 2), texts(3, 4, 5), texts(6), texts(*range(7, 13))]
        results = await asyncio.gather(*(batcher.score(a) for a in asks))
        await batcher.stop()
        return asks, results

    asks, results = run(main())
    # [1,2] + [3,4,5] would be 5 > 4 texts; a 6-text request runs alone, whole
    assert score.calls == [texts(1, 2), texts(3, 4, 5, 6), texts(*range(7, 13))]
    for ask, result in zip(asks, results):
        assert result[:, 0].tolist() == [float(t[1:]) for t in ask]


def test_requests_queued_while_the_model_is_busy_form_the_next_batch_without_waiting():
    score = Recorder(delay=0.2)

    async def main():
        batcher = MicroBatcher(score, window_ms=0, max_batch_texts=100)
        first = asyncio.ensure_future(batcher.score(texts(1)))
        await asyncio.sleep(0.05)  # the model is busy with the first request now
        rest = [asyncio.ensure_future(batcher.score(texts(k))) for k in (2, 3, 4)]
        await asyncio.gather(first, *rest)
        await batcher.stop()

    run(main())
    assert score.calls == [texts(1), texts(2, 3, 4)]


def test_a_failing_call_fails_only_its_own_requests():
    score = Recorder(fail_on="t2", delay=0.1)

    async def main():
        batcher = MicroBatcher(score, window_ms=20, max_batch_texts=100)
        together = [asyncio.ensure_future(batcher.score(texts(k))) for k in (1, 2)]
        await asyncio.sleep(0.05)
        later = asyncio.ensure_future(batcher.score(texts(3)))
        done = await asyncio.gather(*together, later, return_exceptions=True)
        await batcher.stop()
        return batcher, done

    batcher, (one, two, three) = run(main())
    assert isinstance(one, ValueError) and isinstance(two, ValueError) and "t2" in str(two)
    assert three[:, 0].tolist() == [3.0]
    assert batcher.snapshot()["model_calls"] == 1  # only calls that succeeded are counted


def test_stopping_answers_waiting_requests():
    score = Recorder()

    async def main():
        batcher = MicroBatcher(score, window_ms=1000, max_batch_texts=100)
        waiting = asyncio.ensure_future(batcher.score(texts(1)))
        await asyncio.sleep(0.05)
        await batcher.stop()
        with pytest.raises(BatcherStopped):
            await waiting

    run(main())
    assert score.calls == []
