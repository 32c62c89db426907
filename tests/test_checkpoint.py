"""Checkpoints: a round trip gives identical predictions; damaged or unsafe files are refused."""

import pickle

import pytest
import torch

from hbilstm.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.errors import CheckpointError
from hbilstm.inference import predict_probs

TWEETS = ["I love this so much :)", "worst day ever #fail", "the meeting is at 5pm @user", ""]


def scores(loaded):
    encoded = encode_texts(
        TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, TWEETS, loaded.ngram_buckets
    )
    return predict_probs(loaded.model, encoded.ids, ngrams=encoded.ngrams)


def test_round_trip_gives_identical_predictions(trained_run, tmp_path):
    first = load_model(trained_run)
    copy = tmp_path / "copy.pt"
    save_checkpoint(copy, {k: v for k, v in first.payload.items() if k not in ("format", "format_version")})
    second = load_model(copy)
    a, b = scores(first), scores(second)
    assert torch.equal(a, b)
    assert second.label_names == first.label_names and second.vocab.tokens == first.vocab.tokens


def test_run_directory_and_file_both_load(trained_run):
    assert load_model(trained_run).path == load_model(trained_run / "model.pt").path


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 50])
def test_empty_and_random_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(trained_run, tmp_path):
    data = (trained_run / "model.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or not a checkpoint"):
        load_checkpoint(path)


def test_other_format_version_is_refused(trained_run, tmp_path):
    payload = torch.load(trained_run / "model.pt", weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=f"format version {FORMAT_VERSION + 1}"):
        load_checkpoint(path)


class Payload:
    """Unpickling this calls touch(marker): it would create the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_carrying_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": "hbilstm-checkpoint", "format_version": 1, "x": Payload(str(marker))}, path)
    with open(path, "rb") as handle:  # sanity: a plain unpickler would run it
        assert handle.read(2) == b"PK"
    with pytest.raises(CheckpointError, match="not a safe hbilstm checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(Payload(str(marker))))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)
    assert not marker.exists()
