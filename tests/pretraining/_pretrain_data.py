"""A small data directory for pretraining: slices of the real sentiment and emoji tasks, and one
small pretrained encoder shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED, make_tweeteval_slice

EMOJI = SHARED / "tweeteval-emoji"


@pytest.fixture(scope="session")
def pretrain_data(tmp_path_factory) -> Path:
    """tweeteval-sentiment (400 train, 150 val, 150 test) and tweeteval-emoji (400, 100, 100)."""
    root = tmp_path_factory.mktemp("pretrain-data")
    make_tweeteval_slice(root / "tweeteval-sentiment", 400, 150, 150)
    make_tweeteval_slice(root / "tweeteval-emoji", 400, 100, 100, source=EMOJI)
    return root


def tiny(**changes):
    from hbilstm.pretraining import PretrainConfig

    options = dict(hidden=8, embedding_dim=12, layers=2, epochs=1, batch_size=32, min_freq=1, threads=1,
                   device="cpu")
    return PretrainConfig(**{**options, **changes})


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory, pretrain_data) -> Path:
    from hbilstm.pretraining import pretrain

    run = tmp_path_factory.mktemp("pretrained") / "enc"
    pretrain(tiny(data_dir=str(pretrain_data)), run)
    return run
