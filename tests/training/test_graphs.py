"""The pieces of training steps replayed from CUDA graphs that a CPU can check: the loss without a
host sync equals torch's, padding up to the recorded shapes changes nothing, and when graphs are
used. The recording and replay themselves are in tests/test_gpu.py."""

import pytest
import torch

from hbilstm.config import TrainConfig, from_dict
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training.graphs import ROUND_NGRAMS, ROUND_TOKENS, SmoothedCrossEntropy, padded_inputs, uses_cuda_graphs


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_the_loss_without_a_host_sync_equals_torchs_cross_entropy(weighted, smoothing):
    generator = torch.Generator().manual_seed(int(weighted) + int(10 * smoothing))
    logits = torch.randn(37, 3, generator=generator, requires_grad=True)
    labels = torch.randint(0, 3, (37,), generator=generator)
    weight = torch.tensor([1.7, 0.4, 1.1]) if weighted else None
    ours = SmoothedCrossEntropy(weight, smoothing)(logits, labels)
    (grad,) = torch.autograd.grad(ours, logits)
    theirs = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)(logits, labels)
    (expected,) = torch.autograd.grad(theirs, logits)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    assert torch.allclose(grad, expected, atol=1e-7)


def test_padding_a_batch_to_the_recorded_shape_changes_no_logit():
    torch.manual_seed(0)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=50, num_classes=3, embedding_dim=8, hidden=4, layers=2,
                                                pooling="attention", ngram_buckets=64)).eval()
    lengths = torch.tensor([5, 1, 3])
    tokens = torch.randint(2, 50, (3, 5)).masked_fill(torch.arange(5)[None, :] >= lengths[:, None], 0)
    ngrams = torch.randint(1, 65, (3, 9)).masked_fill(torch.arange(9)[None, :] >= (2 * lengths)[:, None], 0)
    labels = torch.tensor([0, 2, 1])
    padded_tokens, device_lengths, same_labels, padded_ngrams = padded_inputs(tokens, lengths, labels, ngrams)
    assert padded_tokens.shape == (3, ROUND_TOKENS) and padded_ngrams.shape == (3, ROUND_NGRAMS)
    assert torch.equal(padded_tokens[:, :5], tokens) and not padded_tokens[:, 5:].any()
    assert torch.equal(padded_ngrams[:, :9], ngrams) and not padded_ngrams[:, 9:].any()
    assert same_labels is labels and torch.equal(device_lengths, lengths)
    with torch.no_grad():
        assert torch.allclose(model(padded_tokens, device_lengths, padded_ngrams), model(tokens, lengths, ngrams),
                              atol=1e-6)
    assert len(padded_inputs(tokens, lengths, labels, None)) == 3
    wide = torch.zeros(3, ROUND_TOKENS, dtype=torch.long)
    assert padded_inputs(wide, lengths, labels, None)[0].shape == (3, ROUND_TOKENS)  # already a multiple


def test_graphs_are_used_on_one_cuda_device_only_and_can_be_turned_off():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert TrainConfig().cuda_graphs is False  # until measured in training on a GPU
    config = TrainConfig(cuda_graphs=True)
    assert uses_cuda_graphs(config, cuda)
    assert not uses_cuda_graphs(config, cpu)
    assert not uses_cuda_graphs(config, cuda, world_size=2)
    assert not uses_cuda_graphs(TrainConfig(cuda_graphs=False), cuda)
    assert not uses_cuda_graphs(TrainConfig(cuda_graphs=True, char_features=16), cuda)
    assert from_dict({"cuda_graphs": False}).cuda_graphs is False
