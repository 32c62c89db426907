"""hbilstm pretrain end to end on small real slices, and train --init from what it writes."""

import json
import threading

import pytest
import torch
from _pretrain_data import pretrain_data, pretrained, tiny  # noqa: F401  (fixtures)
from typer.testing import CliRunner

from hbilstm.checkpoint import load_checkpoint
from hbilstm.cli import app
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError, TrainingInterrupted
from hbilstm.pretraining import pretrain


def test_pretraining_writes_an_encoder_that_loads_as_an_emoji_model(pretrained):  # noqa: F811
    from hbilstm.loading import load

    payload = load_checkpoint(pretrained / "encoder.pt", kind="model")
    assert len(payload["labels"]) == 20 and payload["pretraining"]["objectives"] == ["lm", "emoji"]
    record = json.loads((pretrained / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["perplexity"] > 1 and 0 <= record["emoji_macro_f1"] <= 1
    model = load(pretrained, backend="torch") if (pretrained / "model.pt").exists() else None
    assert model is None  # a pretraining run is not a trained classifier's run directory
    model = load(pretrained / "encoder.pt", backend="torch")
    assert model.predict_probs(["so happy today", "christmas tree"]).shape == (2, 20)


def test_an_interrupted_pretraining_resumes_to_the_end(pretrain_data, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    stop = threading.Event()
    stop.set()  # stop at the first batch
    with pytest.raises(TrainingInterrupted, match="--resume"):
        pretrain(tiny(data_dir=str(pretrain_data)), run, stop=stop)
    saved = load_checkpoint(run / "last.pt", kind="resume")
    assert (saved["epoch"], saved["step"]) == (1, 1)
    result = pretrain(tiny(data_dir=str(pretrain_data)), run, resume=True, stop=threading.Event())
    assert result.stopped == "completed" and result.epochs_run == 1  # the part epoch was trained again, whole
    assert not result.part_epoch
    assert load_checkpoint(run / "last.pt", kind="resume")["epoch"] == 2
    with pytest.raises(ConfigError, match="already holds"):
        pretrain(tiny(data_dir=str(pretrain_data)), run)


def test_lm_alone_needs_no_emoji_task(tmp_path):
    (tmp_path / "tweets.txt").write_text("\n".join(f"tweet number {i} is here" for i in range(100)), encoding="utf-8")
    result = pretrain(tiny(tasks="none", objectives="lm", data_dir=str(tmp_path)), tmp_path / "run",
                      files=(str(tmp_path / "tweets.txt"),))
    assert result.emoji_f1 is None and result.perplexity is not None
    assert load_checkpoint(tmp_path / "run" / "encoder.pt")["labels"] == ["unused-0", "unused-1"]


def _parts(config):
    from hbilstm.data.corpora import load_corpus
    from hbilstm.training.parts import build

    corpus = load_corpus(config.data, config.data_dir)
    return build(config, corpus, torch.device("cpu"), None, lambda message: None)


def test_init_keeps_every_pretrained_word_and_its_vector(pretrained, pretrain_data):  # noqa: F811
    payload = load_checkpoint(pretrained / "encoder.pt")
    config = TrainConfig(data_dir=str(pretrain_data), hidden=8, embedding_dim=12, layers=2, min_freq=1,
                         init=str(pretrained), ngram_buckets=0, threads=1)
    parts = _parts(config)
    tokens = parts.data.vocab.tokens
    # the rule: the encoder's vocabulary first, in its order, then the task's words it lacks
    assert tokens[:len(payload["vocab"])] == payload["vocab"]
    pretrained_rows = payload["state_dict"]["embedding.weight"]
    weight = parts.model.embedding.weight.detach()
    word = payload["vocab"][5]
    assert torch.equal(weight[tokens.index(word)], pretrained_rows[payload["vocab"].index(word)])
    for name in ("layers.1.lstm.weight_ih_l0", "layers.0.gate.weight", "attention.0.weight"):
        assert torch.equal(parts.model.state_dict()[name], payload["state_dict"][name])
    assert parts.model.classifier.weight.shape[0] == 3  # the task's own classifier, fresh


def _vectors_file(path, words, dim=7):
    generator = torch.Generator().manual_seed(2)
    rows = {w: torch.randn(dim, generator=generator) for w in words}
    path.write_text("".join(w + " " + " ".join(f"{v:.5f}" for v in rows[w].tolist()) + "\n" for w in words))
    return {w: torch.tensor([float(f"{v:.5f}") for v in rows[w].tolist()]) for w in words}


def test_vectors_join_a_pretrained_encoder_whose_first_layer_starts_out_computing_what_it_did(
        pretrained, pretrain_data, tmp_path):  # noqa: F811
    words = ["the", "to", "i", "a", "and", "you", "@user", "of"]
    rows = _vectors_file(tmp_path / "vectors.txt", words)
    base = dict(data_dir=str(pretrain_data), hidden=8, embedding_dim=12, layers=2, min_freq=1,
                init=str(pretrained), ngram_buckets=0, threads=1)
    plain, beside = _parts(TrainConfig(**base)), _parts(TrainConfig(**base, embeddings=str(tmp_path / "vectors.txt")))
    assert beside.model.config.vector_features == 7 and beside.model.config.embedding_dim == 12
    vocab, table = beside.data.vocab, beside.model.word_vectors
    assert vocab.tokens == plain.data.vocab.tokens  # the vocabulary rule is unchanged
    for word in words:
        assert torch.allclose(table[vocab.id(word)], rows[word])
    others = [i for i, t in enumerate(vocab.tokens) if t not in words]
    assert torch.all(table[others] == 0)  # words without a vector read zeros; <pad> too
    encoder = load_checkpoint(pretrained / "encoder.pt")["state_dict"]
    for name in ("layers.0.lstm.weight_ih_l0", "layers.0.lstm.weight_ih_l0_reverse", "layers.0.gate.weight",
                 "layers.0.project.weight"):
        weight = beside.model.state_dict()[name]
        assert weight.shape[-1] == 12 + 7
        assert torch.equal(weight[..., :12], encoder[name]) and torch.all(weight[..., 12:] == 0)
    # so the stack, fed the same tweets, gives the encoder's features, whatever the vectors say
    tokens = torch.tensor([[vocab.id(w) for w in ("the", "i", "you", "of")], [vocab.id("a"), vocab.id("to"), 0, 0]])
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        assert torch.allclose(beside.model.eval().encode(tokens, lengths), plain.model.eval().encode(tokens, lengths),
                              atol=1e-6)
    assert beside.embedding_info["vectors_beside"]["found"] == len(words)
    with pytest.raises(ConfigError, match="leave out train_missing_vectors"):
        TrainConfig(**base, embeddings=str(tmp_path / "vectors.txt"), freeze_embeddings=True,
                    train_missing_vectors=True)


def test_train_init_with_vectors_beside_from_the_command_line_then_predict_with_the_graph(
        pretrained, pretrain_data, tmp_path):  # noqa: F811
    from hbilstm.loading import load

    _vectors_file(tmp_path / "vectors.txt", ["the", "to", "i", "a", "and", "you"])
    run = tmp_path / "tuned"
    result = CliRunner().invoke(app, [
        "train", "--init", str(pretrained), "--data-dir", str(pretrain_data), "--hidden", "8", "--epochs", "1",
        "--set", "embedding_dim=12", "--set", "min_freq=1", "--set", f"embeddings={tmp_path / 'vectors.txt'}",
        "--threads", "1", "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "beside the encoder's embeddings" in result.output
    texts = ["the game was great", "i do not like you", "and so it goes"]
    by_torch = load(run, backend="torch").predict_probs(texts)
    by_graph = load(run, backend="onnx").predict_probs(texts)  # the run's export: the vectors travel in the graph
    assert abs(by_torch - by_graph).max() < 1e-5


def test_init_refuses_an_encoder_of_another_shape_or_tokenizer(pretrained, pretrain_data):  # noqa: F811
    base = dict(data_dir=str(pretrain_data), hidden=8, embedding_dim=12, min_freq=1, init=str(pretrained))
    with pytest.raises(ConfigError, match="layers 2, this run 3"):
        _parts(TrainConfig(**base, layers=3))
    with pytest.raises(ConfigError, match="lowercase"):
        _parts(TrainConfig(**base, layers=2, lowercase=False))
    with pytest.raises(ConfigError, match="no such run directory or checkpoint file"):
        _parts(TrainConfig(**{**base, "init": str(pretrained / "nothing")}))


def test_train_init_with_gradual_unfreezing_from_the_command_line(pretrained, pretrain_data, tmp_path):  # noqa: F811
    run = tmp_path / "tuned"
    result = CliRunner().invoke(app, [
        "train", "--init", str(pretrained), "--data-dir", str(pretrain_data), "--hidden", "8", "--epochs", "2",
        "--set", "embedding_dim=12", "--set", "min_freq=1", "--set", "gradual_unfreeze=1",
        "--set", "lr_layer_decay=0.5", "--threads", "1", "--no-export", "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert "init: " in result.output and "epoch 1 trains the top only" in result.output
    tuned = load_checkpoint(run / "model.pt")["state_dict"]
    encoder = load_checkpoint(pretrained / "encoder.pt")["state_dict"]
    # in epoch 1 only the top trained, in epoch 2 layer 2 too: layer 1 is still the encoder's
    # (the best epoch's weights are kept, whichever it was)
    assert torch.equal(tuned["layers.0.lstm.weight_hh_l0"], encoder["layers.0.lstm.weight_hh_l0"])


@pytest.mark.parametrize("args, message", [
    (["--objectives", "words"], "objectives must be"),
    (["nothing.txt"], "nothing.txt: no such file"),
    (["--set", "epochs=0"], "epochs must be at least 1"),
    (["--resume", "--overwrite"], "--resume continues the run in --output and --overwrite starts it again"),
    (["--tasks", "tweeteval-sentiment,tweeteval-sentimnt", "--objectives", "lm"],  # the typo was left out unsaid
     "--tasks: tweeteval-sentimnt has no train split in"),
])
def test_pretrain_refuses_bad_input_in_one_line(args, message, tmp_path, pretrain_data):  # noqa: F811
    result = CliRunner().invoke(app, ["pretrain", *args, "--data-dir", str(pretrain_data), "-o", str(tmp_path / "r")])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_bad_input_leaves_an_existing_run_untouched(pretrain_data, tmp_path):  # noqa: F811
    from hbilstm.errors import DataError

    run = tmp_path / "run"
    pretrain(tiny(data_dir=str(pretrain_data), objectives="emoji"), run)
    before = (run / "encoder.pt").read_bytes()
    with pytest.raises(DataError, match="missing.txt: no such file"):
        pretrain(tiny(data_dir=str(pretrain_data)), run, files=(str(tmp_path / "missing.txt"),), overwrite=True)
    assert (run / "encoder.pt").read_bytes() == before


def test_a_time_limit_stops_in_the_epoch_and_says_so(pretrain_data, tmp_path):  # noqa: F811
    result = pretrain(tiny(data_dir=str(pretrain_data), epochs=3, max_minutes=1e-6), tmp_path / "run")
    assert result.stopped == "time limit" and result.epochs_run == 0 and result.part_epoch
    assert (tmp_path / "run" / "encoder.pt").is_file()
