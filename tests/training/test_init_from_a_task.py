"""train --init from a model that hbilstm train trained on another task: the stack, the attention
and the vocabulary carry over, the classifiers start fresh, and word vectors that were the source's
embeddings are this run's embeddings too (not joined beside them a second time)."""

import pytest
import torch
from conftest import SHARED, make_tweeteval_slice
from typer.testing import CliRunner

from hbilstm.checkpoint import load_checkpoint
from hbilstm.cli import app
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError

WORDS = ["the", "to", "i", "a", "and", "you", "@user", "of", "is", "it"]
SMALL = dict(hidden=8, layers=2, min_freq=1, ngram_buckets=0, threads=1, batch_size=32, freeze_embeddings=True)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory, data_dir):
    """A data folder with the sentiment slice and an irony slice, a vectors file, and a small
    sentiment model trained with those vectors as its (frozen) embeddings."""
    folder = tmp_path_factory.mktemp("transfer")
    for name in ("tweeteval-sentiment", "tweeteval-irony"):
        source = data_dir / name if name == "tweeteval-sentiment" else SHARED / name
        make_tweeteval_slice(folder / "data" / name, 300, 100, 100, source=source)
    generator = torch.Generator().manual_seed(4)
    vectors = folder / "vectors.txt"
    vectors.write_text("".join(w + " " + " ".join(f"{v:.4f}" for v in torch.randn(7, generator=generator).tolist())
                               + "\n" for w in WORDS), encoding="utf-8")
    from hbilstm.training import train

    run = folder / "sentiment"
    train(TrainConfig(data_dir=str(folder / "data"), embeddings=str(vectors), epochs=1, seed=1, **SMALL), run)
    return folder, vectors, run


def _parts(config):
    from hbilstm.data.corpora import load_corpus
    from hbilstm.training.parts import build

    return build(config, load_corpus(config.data, config.data_dir), torch.device("cpu"), None, lambda message: None)


def test_a_model_of_another_task_starts_the_stack_and_keeps_its_vectors_as_embeddings(tasks):
    folder, vectors, run = tasks
    source = load_checkpoint(run / "model.pt")
    assert source["model_config"]["embedding_dim"] == 7 and source["labels"] == ["negative", "neutral", "positive"]
    config = TrainConfig(data="tweeteval-irony", data_dir=str(folder / "data"), embeddings=str(vectors),
                         init=str(run), seed=2, **SMALL)
    parts = _parts(config)
    model, tokens = parts.model, parts.data.vocab.tokens
    # the vectors are the embeddings, as in the source, not joined beside them a second time
    assert model.config.embedding_dim == 7 and model.config.vector_features == 0
    assert tokens[:len(source["vocab"])] == source["vocab"] and len(tokens) > len(source["vocab"])
    rows = source["state_dict"]["embedding.weight"]
    for word in ("the", "@user", source["vocab"][-1]):  # with a vector, and one without (a row the source kept)
        assert torch.equal(model.embedding.weight[tokens.index(word)], rows[source["vocab"].index(word)])
    for name in ("layers.0.lstm.weight_ih_l0", "layers.1.gate.weight", "attention.0.weight"):
        assert torch.equal(model.state_dict()[name], source["state_dict"][name])
    assert model.classifier.weight.shape[0] == 2  # irony's own classifier, fresh
    assert not model.embedding.weight.requires_grad  # freeze_embeddings still holds the table fixed


def test_without_the_vectors_the_width_must_be_the_sources(tasks):
    folder, _, run = tasks
    with pytest.raises(ConfigError, match="the encoder has embedding_dim 7, this run 100"):
        _parts(TrainConfig(data="tweeteval-irony", data_dir=str(folder / "data"), init=str(run), **SMALL))


def test_a_folder_to_start_from_is_found_or_refused_in_one_line(tasks, tmp_path):
    from hbilstm.training.warm_start import encoder_path

    _, _, run = tasks
    assert encoder_path(run).name == "model.pt"
    both = tmp_path / "both"
    both.mkdir()
    (both / "model.pt").write_bytes(b"")
    (both / "encoder.pt").write_bytes(b"")
    assert encoder_path(both).name == "encoder.pt"  # a pretraining run's encoder first
    with pytest.raises(ConfigError, match="holds no encoder.pt or model.pt"):
        encoder_path(tmp_path)


def test_train_init_from_another_tasks_run_on_the_command_line(tasks, tmp_path):
    folder, vectors, run = tasks
    out = tmp_path / "irony"
    result = CliRunner().invoke(app, [
        "train", "--data", "tweeteval-irony", "--data-dir", str(folder / "data"), "--init", str(run),
        "--embeddings", str(vectors), "--epochs", "1", "--hidden", "8", "--threads", "1",
        "--set", "ngram_buckets=0", "--set", "min_freq=1", "--no-export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"weights from {run / 'model.pt'}" in result.output
    saved = load_checkpoint(out / "model.pt")
    assert saved["labels"] == ["non_irony", "irony"] and saved["model_config"]["vector_features"] == 0


def test_an_ensemble_is_refused_in_one_line(tasks, tmp_path):
    from hbilstm.checkpoint import save_checkpoint
    from hbilstm.data.tokenizer import TokenizerConfig
    from hbilstm.training.warm_start import load_encoder

    folder, vectors, run = tasks
    payload = load_checkpoint(run / "model.pt")
    payload = {k: v for k, v in payload.items() if k not in ("format", "format_version")}
    save_checkpoint(tmp_path / "model.pt", {**payload, "member_configs": [payload["model_config"]] * 2})
    config = TrainConfig(data="tweeteval-irony", data_dir=str(folder / "data"), embeddings=str(vectors),
                         init=str(tmp_path), **SMALL)
    with pytest.raises(ConfigError, match="is an ensemble of several models; start from one of them"):
        load_encoder(config, TokenizerConfig.of(config))


def test_a_model_of_the_same_labels_gives_its_classifiers_too(tasks, tmp_path):
    from hbilstm.training import train

    folder, vectors, _ = tasks
    common = dict(SMALL, ngram_buckets=64, data_dir=str(folder / "data"), embeddings=str(vectors), epochs=1)
    train(TrainConfig(**common, seed=1), tmp_path / "source")
    source = load_checkpoint(tmp_path / "source" / "model.pt")["state_dict"]
    # more sentiment-labelled tweets (here the same slice): the model goes on from where it was
    model = _parts(TrainConfig(**common, init=str(tmp_path / "source"), seed=2)).model
    for name in ("classifier.weight", "classifier.bias", "ngram_head.weight.weight", "ngram_head.bias"):
        assert torch.equal(model.state_dict()[name], source[name]), name
    # runs of words the source did not read: its n-gram classifier stays behind, the stack's comes
    model = _parts(TrainConfig(**common, ngram_words=2, init=str(tmp_path / "source"), seed=2)).model
    assert torch.equal(model.state_dict()["classifier.weight"], source["classifier.weight"])
    assert source["ngram_head.weight.weight"].any() and not model.state_dict()["ngram_head.weight.weight"].any()
    # another task's labels: both start fresh
    model = _parts(TrainConfig(**common, data="tweeteval-irony", init=str(tmp_path / "source"), seed=2)).model
    assert model.state_dict()["classifier.weight"].shape[0] == 2
