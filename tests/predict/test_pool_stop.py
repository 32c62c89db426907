"""Stopping predict's worker processes when one of them died: Pool.terminate alone waits forever."""

import multiprocessing
import os
import signal
import threading
import time

from hbilstm.predict.workers import stop_pool


def test_stopping_the_workers_returns_though_a_dead_worker_kept_the_queue_locked():
    context = multiprocessing.get_context("spawn")
    pool = context.Pool(2)
    assert pool.map(abs, [-1, -2, 3]) == [1, 2, 3]
    time.sleep(1.0)  # both idle: one holds the task queue's lock while it waits for a task
    workers = list(pool._pool)
    for worker in workers:  # killed from outside, as the kernel or a user may
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
    result = []
    stopper = threading.Thread(target=lambda: result.append(stop_pool(pool, wait=2.0)), daemon=True)
    stopper.start()
    stopper.join(120)
    assert result == [False]  # it returned, where terminate() was still waiting for the lock
    assert not any(worker.is_alive() for worker in workers)

    healthy = context.Pool(1)
    assert healthy.map(abs, [-4]) == [4]
    assert stop_pool(healthy) is True and not any(w.is_alive() for w in healthy._pool)
