"""Attention pooling, Gaussian noise on the embeddings and word dropout (issue 13, items 5 and 6)."""

import pytest
import torch

from hbilstm.checkpoint import load_checkpoint, load_model
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig


def model(**kw) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    settings = dict(vocab_size=50, num_classes=3, embedding_dim=8, hidden=6, layers=2, dropout=0.0)
    settings.update(kw)
    return HighwayBiLSTMClassifier(ModelConfig(**settings))


def test_attention_weights_are_zero_on_padding_and_sum_to_one():
    net = model(pooling="attention").eval()
    features = torch.randn(4, 7, 12) * 5
    lengths = torch.tensor([7, 3, 1, 5])
    real = torch.arange(7)[None, :] < lengths[:, None]
    weights = net.attention_weights(features, real)
    assert torch.all(weights[~real] == 0)
    assert torch.allclose(weights.sum(dim=1), torch.ones(4))
    assert torch.all(weights[real] > 0)
    assert weights[2, 0] == 1  # a one-token tweet puts all its weight on that token


def test_attention_pooling_learns_and_ignores_padding():
    net = model(pooling="attention").eval()
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    lengths = torch.tensor([3, 2])
    wider = torch.cat([tokens, torch.full((2, 4), 0)], dim=1)
    assert torch.allclose(net(tokens, lengths), net(wider, lengths), atol=1e-6)
    assert sum(p.numel() for p in net.attention.parameters()) == 12 * 12 + 12 + 12
    assert not hasattr(model(pooling="max"), "attention")  # other poolings keep their parameters


def test_embedding_noise_acts_while_training_only():
    tokens, lengths = torch.tensor([[5, 6, 7, 8]]), torch.tensor([4])
    noisy = model(embedding_noise=0.5)
    noisy.train()
    assert not torch.allclose(noisy(tokens, lengths), noisy(tokens, lengths))
    noisy.eval()
    assert torch.equal(noisy(tokens, lengths), noisy(tokens, lengths))
    quiet = model(embedding_noise=0.0).train()
    assert torch.equal(quiet(tokens, lengths), quiet(tokens, lengths))
    with pytest.raises(ValueError, match="embedding_noise"):
        model(embedding_noise=-0.1)


def test_word_dropout_replaces_real_words_by_unk_while_training_only_and_never_padding():
    from hbilstm.data.vocab import PAD_ID, UNK_ID

    net = model(word_dropout=0.5)
    assert (net.config.padding_idx, net.config.unknown_idx) == (PAD_ID, UNK_ID)  # the vocabulary's ids
    tokens = torch.randint(2, 50, (64, 40))
    tokens[:, 30:] = PAD_ID
    table = net.embedding.weight.detach()
    net.train()
    embedded = net.embed(tokens).detach()
    unk = torch.all(embedded == table[UNK_ID], dim=-1)
    own = torch.all(embedded == table[tokens], dim=-1)
    assert torch.all(unk | own)  # each position is its own word or <unk>
    assert torch.all(own[:, 30:]) and not torch.any(unk[:, 30:])  # padding stays padding
    share = unk[:, :30].float().mean().item()
    assert 0.45 < share < 0.55
    net.eval()
    assert torch.equal(net.embed(tokens), table[tokens])
    with pytest.raises(ValueError, match="word_dropout"):
        model(word_dropout=1.0)


def test_a_trained_attention_model_round_trips_and_older_checkpoints_still_load(data_dir, tmp_path):
    from hbilstm.config import TrainConfig
    from hbilstm.inference import predict_probs
    from hbilstm.training import train

    run = tmp_path / "att"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                      pooling="attention", embedding_noise=0.1, ngram_buckets=0), run)
    saved = load_checkpoint(run / "model.pt")
    assert saved["model_config"]["pooling"] == "attention" and saved["model_config"]["embedding_noise"] == 0.1
    loaded = load_model(run)
    ids = [[5, 6, 7], [8, 9]]
    first = predict_probs(loaded.model, ids, 8, torch.device("cpu"))
    again = predict_probs(load_model(run).model, ids, 8, torch.device("cpu"))
    assert torch.equal(first, again)
    # A checkpoint written before these options existed has no embedding_noise: it loads as 0.
    del saved["model_config"]["embedding_noise"]
    torch.save(saved, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").model.config.embedding_noise == 0.0


def test_vader_ratings_become_two_features_per_token():
    pytest.importorskip("vaderSentiment")
    from hbilstm.data.lexicon import lexicon_features

    rows, found = lexicon_features("vader", ["<pad>", "good", "hate", "#happy", "table", ":)"])
    assert found == 4
    assert rows[0] == [0.0, 0.0] and rows[4] == [0.0, 0.0]  # padding and an unrated word
    assert rows[1][1] == 1.0 and 0 < rows[1][0] <= 1 and -1 <= rows[2][0] < 0
    assert rows[3][0] > 0 and rows[5][0] > 0  # a hashtag by its word; an emoticon


def test_lexicon_features_join_the_embeddings_and_are_not_trained():
    net = model(lexicon_features=2).eval()
    assert net.layers[0].lstm.input_size == 8 + 2
    tokens, lengths = torch.tensor([[5, 6, 7]]), torch.tensor([3])
    before = net(tokens, lengths)
    with torch.no_grad():
        net.lexicon[6] = torch.tensor([1.0, 1.0])
    assert not torch.allclose(before, net(tokens, lengths))
    assert "lexicon" in net.state_dict() and all(p is not net.lexicon for p in net.parameters())


def test_a_model_trained_with_vader_keeps_its_ratings_in_the_checkpoint(data_dir, tmp_path, monkeypatch):
    pytest.importorskip("vaderSentiment")
    from hbilstm.config import TrainConfig
    from hbilstm.errors import ConfigError
    from hbilstm.training import train

    run = tmp_path / "lex"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                      lexicon="vader"), run)
    loaded = load_model(run)
    vocab = loaded.vocab.tokens
    assert loaded.model.config.lexicon_features == 2
    assert loaded.model.lexicon[vocab.index("good")][1] == 1.0
    # Prediction needs no lexicon package: the ratings travel in the weights.
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vaderSentiment" else None)
    assert load_model(run).model.lexicon.sum() != 0
    with pytest.raises(ConfigError, match="pip install"):
        train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                          lexicon="vader"), tmp_path / "again")


def test_the_packed_reference_and_the_model_agree_with_the_lexicon_too():
    from packed_reference import packed_logits

    net = model(lexicon_features=2, pooling="attention").eval()
    with torch.no_grad():
        net.lexicon.normal_()
    tokens, lengths = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]]), torch.tensor([3, 2])
    with torch.no_grad():
        assert torch.allclose(net(tokens, lengths), packed_logits(net, tokens, lengths), atol=1e-5)
