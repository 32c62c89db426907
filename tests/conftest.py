"""Shared fixtures: real data slices from ../shared/data and one tiny trained model.

The real corpora live beside the checkout in ``../shared/data`` (CI has them there too);
``HBILSTM_DATA_DIR``, the same variable the tool reads, points elsewhere. Tests take small
slices so the suite stays fast.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The suite runs on every core (pytest-xdist; pyproject's addopts). Each worker keeps to one thread,
# and so do the processes its tests start: on two cores, two workers of two OpenMP threads each wait
# on each other's spinning threads many times over. Set before any test module imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HBILSTM_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
TWEETEVAL = SHARED / "tweeteval-sentiment"
SEMEVAL = SHARED / "semeval2017-task4a"
SST = SHARED / "sst"


def pytest_sessionstart(session):
    if not (TWEETEVAL / "train_text.txt").is_file():
        raise pytest.UsageError(
            f"the real data is not at {SHARED}; set HBILSTM_DATA_DIR to the folder holding "
            "tweeteval-sentiment/, semeval2017-task4a/ and sst/"
        )


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Token caches go to a temporary folder, never the user's ~/.cache."""
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("HBILSTM_CACHE_DIR")
    os.environ["HBILSTM_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("HBILSTM_CACHE_DIR", None)
    else:
        os.environ["HBILSTM_CACHE_DIR"] = old


def make_tweeteval_slice(folder: Path, train: int, val: int, test: int, source: Path = TWEETEVAL) -> Path:
    """The first lines of each split of a real TweetEval task (sentiment unless ``source`` names
    another task's folder), in TweetEval's layout."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("val", val), ("test", test)):
        for kind in ("text", "labels"):
            lines = (source / f"{split}_{kind}.txt").read_text(encoding="utf-8").split("\n")[:n]
            (folder / f"{split}_{kind}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(source / "mapping.txt", folder / "mapping.txt")
    return folder


def tiny_model_both_ways(run: Path, data_dir: Path, **options):
    """A one-layer model trained for one epoch on the slice with ``options``, exported, and loaded
    twice: scored by PyTorch on the CPU and by ONNX Runtime (its export). ``(eager, graph)``."""
    import hbilstm
    from hbilstm.config import TrainConfig
    from hbilstm.export.run_export import export_run
    from hbilstm.training import train

    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, batch_size=32,
                      min_freq=1, seed=5, ngram_buckets=0, **options), run)
    export_run(run)
    return hbilstm.load(run, backend="torch", device="cpu"), hbilstm.load(run, backend="onnx")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data directory whose ``tweeteval-sentiment`` holds 400 train, 150 val, 150 test tweets."""
    root = tmp_path_factory.mktemp("data")
    make_tweeteval_slice(root / "tweeteval-sentiment", 400, 150, 150)
    return root


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, data_dir) -> Path:
    """One small highway model trained for two epochs on the real slice; shared read-only."""
    from hbilstm.config import TrainConfig
    from hbilstm.training import train

    run = tmp_path_factory.mktemp("runs") / "tiny"
    config = TrainConfig(data_dir=str(data_dir), layers=2, hidden=16, embedding_dim=24,
                         epochs=2, batch_size=32, min_freq=1, seed=3)
    train(config, run)
    return run


@pytest.fixture(scope="session")
def ngram_run(tmp_path_factory, data_dir) -> Path:
    """Like ``trained_run``, with a linear classifier over character n-grams and runs of one and two
    words beside the stack (ngram_buckets, ngram_words)."""
    from hbilstm.config import TrainConfig
    from hbilstm.training import train

    run = tmp_path_factory.mktemp("runs") / "ngrams"
    config = TrainConfig(data_dir=str(data_dir), layers=2, hidden=16, embedding_dim=24, ngram_buckets=4096,
                         ngram_words=2, epochs=2, batch_size=32, min_freq=1, seed=3)
    train(config, run)
    return run


REAL_TWEETS = 2000  # lines in real_tweets_file


@pytest.fixture(scope="session")
def real_tweets_file(tmp_path_factory) -> Path:
    """The first REAL_TWEETS lines of TweetEval test as a .txt file, one tweet per line."""
    path = tmp_path_factory.mktemp("tweets") / "tweets.txt"
    lines = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:REAL_TWEETS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
