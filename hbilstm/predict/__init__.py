"""Batch prediction over files of tweets, streamed in chunks.

* ``stream``    ``predict()``: read, score and write chunk by chunk, in input order (or one shard);
* ``io``        opening the input, checking the output path, writing CSV or JSONL rows;
* ``parquet``   reading Parquet in record batches, writing it in row groups;
* ``workers``   scoring chunks here or in worker processes;
* ``predictor`` ``Predictor``: batch in, batch out, for Ray Data and Spark;
* ``ray_engine`` ``--engine ray``: many files, cut into parts, labelled by Ray Data actors.
"""

from .predictor import Predictor
from .stream import PredictStats, parse_shard, predict

__all__ = ["PredictStats", "Predictor", "parse_shard", "predict"]
