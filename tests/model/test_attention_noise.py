"""Attention pooling and Gaussian noise on the embeddings (issue 13, items 5 and 6)."""

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


def test_a_trained_attention_model_round_trips_and_older_checkpoints_still_load(data_dir, tmp_path):
    from hbilstm.config import TrainConfig
    from hbilstm.inference import predict_probs
    from hbilstm.training import train

    run = tmp_path / "att"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                      pooling="attention", embedding_noise=0.1), run)
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
