"""Virtual adversarial training (``virtual_adversarial``): the loss's three passes share their
noise, its step finds the direction the stack's answer moves most, the pool's batches, and a
training run that reads unlabelled tweets."""

import pytest
import torch

from hbilstm.callbacks import TrainCallback
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training import train, virtual_adversarial
from hbilstm.training.adversarial import EmbeddingAttack
from hbilstm.training.virtual_adversarial import (
    UnlabelledBatches,
    divergence,
    random_direction,
    virtual_adversarial_loss,
)

TOKENS = torch.tensor([[5, 6, 7, 8, 9], [9, 10, 0, 0, 0], [11, 12, 13, 0, 0]])
LENGTHS = torch.tensor([5, 2, 3])


class Logs(TrainCallback):
    def __init__(self):
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def model(dropout=0.0) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=20, num_classes=3, embedding_dim=8, hidden=6, layers=2, dropout=dropout,
                         embedding_noise=0.3 if dropout else 0.0)
    return HighwayBiLSTMClassifier(config).train()


def test_with_a_step_of_zero_the_three_passes_draw_the_same_noise():
    net = model(dropout=0.5)
    attack = EmbeddingAttack(net)
    assert virtual_adversarial_loss(net, attack, TOKENS, LENGTHS, 0.0).item() == pytest.approx(0.0, abs=1e-6)
    # two plain passes with their own dropout masks differ by far more
    with torch.no_grad():
        first = net.stack_logits(TOKENS, LENGTHS).log_softmax(-1)
        assert divergence(first, net.stack_logits(TOKENS, LENGTHS)).item() > 1e-4
    assert not net.embedding._forward_hooks or attack._mode is None  # the hook is idle again


def test_the_step_moves_the_answer_more_than_random_steps_of_the_same_size():
    net = model()
    attack = EmbeddingAttack(net)
    shifts = []
    original = attack.shift
    attack.shift = lambda delta: (shifts.append(delta.detach()), original(delta))[1]
    found = virtual_adversarial_loss(net, attack, TOKENS, LENGTHS, 0.05).item()
    step = shifts[-1]
    embedded = net.embedding(TOKENS).detach()
    assert torch.allclose(step.flatten(1).norm(dim=1), 0.05 * embedded.flatten(1).norm(dim=1), rtol=1e-4)
    assert torch.all(step[1, 2:] == 0) and torch.all(step[2, 3:] == 0)  # padding never moves
    with torch.no_grad():
        clean = net.stack_logits(TOKENS, LENGTHS).log_softmax(-1)
        generator = torch.Generator().manual_seed(3)
        randomly = []
        for _ in range(10):
            attack.shift(random_direction(TOKENS, embedded, 0.05, generator))
            randomly.append(divergence(clean, net.stack_logits(TOKENS, LENGTHS)).item())
        attack.clear()
    assert found > 0 and found > 2 * max(randomly)


def test_the_gradient_reaches_the_stack_and_not_a_frozen_table():
    net = model()
    net.embedding.weight.requires_grad_(False)
    virtual_adversarial_loss(net, EmbeddingAttack(net), TOKENS, LENGTHS, 0.05).backward()
    assert net.embedding.weight.grad is None
    assert net.layers[0].lstm.weight_ih_l0.grad.abs().sum() > 0


def test_random_directions_skip_padding_and_have_the_asked_size():
    embedded = torch.randn(3, 5, 8)
    direction = random_direction(TOKENS, embedded, 0.1)
    assert torch.all(direction[1, 2:] == 0) and torch.all(direction[2, 3:] == 0)
    assert torch.allclose(direction.flatten(1).norm(dim=1), 0.1 * embedded.flatten(1).norm(dim=1), rtol=1e-4)


def test_the_pool_comes_in_batches_of_like_length_shuffled_per_epoch_and_the_same_on_a_resume():
    pool = [[i + 2] * (1 + i % 4) for i in range(10)]  # tweet i: i + 2, written 1 + i % 4 times
    batches = UnlabelledBatches(pool, 4, torch.device("cpu"), seed=7)
    firsts = [batches.batch(1, step) for step in range(4)]  # batches of 4, 4 and 2, then round again
    seen = [int(t[0]) for tokens, _ in firsts[:3] for t in tokens]
    assert sorted(seen) == list(range(2, 12)) and torch.equal(firsts[3][0], firsts[0][0])
    for tokens, lengths in firsts:
        assert [int(n) for n in lengths] == [1 + (int(t[0]) - 2) % 4 for t in tokens]
        assert list(lengths) == sorted(lengths)  # sorted within the pool: little padding
    again = UnlabelledBatches(pool, 4, torch.device("cpu"), seed=7).batch(1, 2)  # a resumed run, mid-epoch
    assert torch.equal(again[0], firsts[2][0])
    assert [batches.batch(2, step)[0].tolist() for step in range(3)] != [f[0].tolist() for f in firsts[:3]]
    with pytest.raises(ValueError, match="empty"):
        UnlabelledBatches([], 4, torch.device("cpu"), seed=7)


def test_options_are_checked():
    with pytest.raises(ConfigError, match=r"virtual_adversarial must be in \[0, 1\]"):
        TrainConfig(virtual_adversarial=1.5)
    with pytest.raises(ConfigError, match="cuda_graphs false"):
        TrainConfig(virtual_adversarial=0.02, cuda_graphs=True)
    with pytest.raises(ConfigError, match="teachers .* or by virtual_adversarial"):
        TrainConfig(unlabelled="tweets.txt")
    assert TrainConfig(unlabelled="tweets.txt", virtual_adversarial=0.02).unlabelled == "tweets.txt"


def test_training_reads_the_unlabelled_tweets_every_step(tmp_path, data_dir, monkeypatch):
    calls = []
    original = virtual_adversarial.virtual_adversarial_loss

    def counted(net, attack, tokens, lengths, epsilon, probe=virtual_adversarial.PROBE):
        calls.append((tokens.shape[0], epsilon))
        return original(net, attack, tokens, lengths, epsilon, probe)

    monkeypatch.setattr("hbilstm.training.loop.virtual_adversarial_loss", counted)
    test_text = (data_dir / "tweeteval-sentiment" / "test_text.txt").read_text(encoding="utf-8").splitlines()[0]
    extra = tmp_path / "extra.txt"
    extra.write_text("\n".join([f"an unlabelled tweet number {i} #new" for i in range(150)] + [test_text]) + "\n")
    logs = Logs()
    settings = dict(data_dir=str(data_dir), layers=2, hidden=8, embedding_dim=12, epochs=1, batch_size=32,
                    min_freq=1, seed=5, calibrate=False)
    train(TrainConfig(**settings), tmp_path / "plain")
    assert calls == []
    train(TrainConfig(**settings, virtual_adversarial=0.05, unlabelled=str(extra)), tmp_path / "virtual",
          callback=logs)
    assert "virtual adversarial: 550 tweets, train and 150 unlabelled (1 dropped as val or test tweets)" in logs.lines
    assert len(calls) == 13  # 400 training tweets in batches of 32: one batch of the pool a step
    assert all(0 < size <= 32 and epsilon == 0.05 for size, epsilon in calls)
    weights = [torch.load(tmp_path / run / "last.pt", weights_only=True)["state_dict"] for run in ("plain", "virtual")]
    assert not all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
