"""Batch prediction over files of tweets, streamed in chunks.

* ``stream``  ``predict()``: read, score and write chunk by chunk, in input order;
* ``io``      opening the input, checking the output path, writing CSV or JSONL rows;
* ``workers`` scoring chunks here or in worker processes.
"""

from .stream import PredictStats, predict

__all__ = ["PredictStats", "predict"]
