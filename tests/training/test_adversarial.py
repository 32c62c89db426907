"""Adversarial training on the embeddings (``adversarial``): the step's size and direction, the
hook's two passes, and a training run that takes both passes each step."""

import pytest
import torch
from torch import nn

from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training import adversarial, train
from hbilstm.training.adversarial import EmbeddingAttack, perturbation

TOKENS = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])
LENGTHS = torch.tensor([4, 2, 1])
LABELS = torch.tensor([0, 2, 1])


def model(**kw) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    settings = dict(vocab_size=20, num_classes=3, embedding_dim=8, hidden=6, layers=2, dropout=0.0)
    settings.update(kw)
    return HighwayBiLSTMClassifier(ModelConfig(**settings)).train()


def loss_of(net) -> torch.Tensor:
    return nn.functional.cross_entropy(net(TOKENS, LENGTHS), LABELS)


def test_each_row_moves_along_its_gradient_by_epsilon_times_its_norm():
    embedded = torch.zeros(2, 2, 2)
    embedded[0] = torch.tensor([[3.0, 0.0], [0.0, 4.0]])  # norm 5
    embedded[1, 0, 0] = 2.0                                # norm 2
    grad = torch.zeros(2, 2, 2)
    grad[0, 1, 0] = -0.5  # the loss rises as this entry falls
    step = perturbation(grad, embedded, 0.1)
    assert torch.allclose(step[0], torch.tensor([[0.0, 0.0], [-0.5, 0.0]]))  # 0.1 * 5, all on the one entry
    assert torch.equal(step[1], torch.zeros(2, 2))  # no gradient: not moved


def test_the_step_raises_the_loss_more_than_a_random_step_of_the_same_size():
    net = model()
    clean = loss_of(net).item()
    rows = net.embedding(TOKENS).detach()
    attack = EmbeddingAttack(net, 0.05)
    attack.record()
    loss_of(net).backward()
    attack.perturb()
    delta = attack._delta.clone()
    attacked = loss_of(net).item()
    attack.clear()
    assert loss_of(net).item() == pytest.approx(clean)  # cleared: the clean embeddings again
    torch.manual_seed(1)
    noise = torch.randn_like(delta)
    noise = noise * (delta.flatten(1).norm(dim=1) / noise.flatten(1).norm(dim=1))[:, None, None]
    attack.shift(noise)
    randomly = loss_of(net).item()
    assert attacked > clean and attacked - clean > abs(randomly - clean)
    # the step's size is epsilon times each row's embedding norm; padding never moves
    assert torch.allclose(delta.flatten(1).norm(dim=1), 0.05 * rows.flatten(1).norm(dim=1), rtol=1e-4)
    assert torch.all(delta[1, 2:] == 0) and torch.all(delta[2, 1:] == 0)


def test_a_frozen_table_still_gets_a_step_and_no_gradient():
    net = model()
    net.embedding.weight.requires_grad_(False)
    attack = EmbeddingAttack(net, 0.05)
    attack.record()
    loss_of(net).backward()
    attack.perturb()
    assert attack._delta.abs().sum() > 0 and net.embedding.weight.grad is None
    with pytest.raises(RuntimeError, match="no gradient recorded"):
        attack.perturb()  # the recorded pass is used up


def test_the_hook_does_nothing_between_steps_and_goes_when_removed():
    net = model()
    before = loss_of(net).item()
    attack = EmbeddingAttack(net, 0.5)
    assert loss_of(net).item() == before
    attack.remove()
    assert not net.embedding._forward_hooks
    with pytest.raises(ValueError, match="at least 0"):
        EmbeddingAttack(net, -0.1)


def test_options_are_checked():
    with pytest.raises(ConfigError, match=r"adversarial must be in \[0, 1\]"):
        TrainConfig(adversarial=-0.1)
    with pytest.raises(ConfigError, match="cuda_graphs false"):
        TrainConfig(adversarial=0.02, cuda_graphs=True)


def test_training_takes_an_adversarial_pass_every_step(tmp_path, data_dir, monkeypatch):
    passes = []
    original = adversarial.EmbeddingAttack.perturb

    def counted(self):
        passes.append(self._recorded.shape)
        original(self)

    monkeypatch.setattr(adversarial.EmbeddingAttack, "perturb", counted)
    settings = dict(data_dir=str(data_dir), layers=2, hidden=8, embedding_dim=12, epochs=1, batch_size=32,
                    min_freq=1, seed=5, calibrate=False)
    train(TrainConfig(**settings), tmp_path / "plain")
    assert passes == []
    train(TrainConfig(**settings, adversarial=0.05), tmp_path / "attacked")
    assert len(passes) == 13  # 400 training tweets in batches of 32: one adversarial pass a step
    assert all(len(shape) == 3 and shape[-1] == 12 for shape in passes)  # (batch, time, embedding width)
    weights = [torch.load(tmp_path / run / "last.pt", weights_only=True)["state_dict"] for run in ("plain", "attacked")]
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
