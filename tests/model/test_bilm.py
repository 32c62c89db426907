"""The bidirectional language model: what each position predicts, that no direction sees its
target, the block-diagonal start, and the weight transfer of --init."""

import pytest
import torch

from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.model.bilm import BiLMHead, block_diagonal_start, directional_states, neighbour_targets, transfer
from hbilstm.model.layers import reverse_index


def _model(carry="highway", layers=3, vocab=30, **extra):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=vocab, num_classes=4, embedding_dim=6, hidden=5, layers=layers, carry=carry,
                         pooling="attention", dropout=0.0, **extra)
    return HighwayBiLSTMClassifier(config).eval()


def test_neighbour_targets_hand_checked():
    # row 0: tokens 5 6 7 (length 3, then padding); row 1: 8 1 9 10 (<unk> at position 1)
    tokens = torch.tensor([[5, 6, 7, 0], [8, 1, 9, 10]])
    lengths = torch.tensor([3, 4])
    next_ids, next_ok, previous_ids, previous_ok = neighbour_targets(tokens, lengths, unknown_idx=1)
    forward = [[(t, int(next_ids[b, t])) for t in range(4) if next_ok[b, t]] for b in range(2)]
    backward = [[(t, int(previous_ids[b, t])) for t in range(4) if previous_ok[b, t]] for b in range(2)]
    # forward: position t predicts token t + 1, never past the row's end, never <unk>
    assert forward == [[(0, 6), (1, 7)], [(1, 9), (2, 10)]]
    # backward: position t predicts token t - 1, only at real positions, never <unk>
    assert backward == [[(1, 5), (2, 6)], [(1, 8), (3, 9)]]


@pytest.mark.parametrize("carry", ["highway", "plain", "residual", "gated-residual"])
def test_no_direction_sees_its_target(carry):
    # Whatever the weights (here, random ones crossing the halves), the forward state at t depends
    # on tokens up to t only and the backward state on tokens from t on.
    model = _model(carry)
    tokens = torch.tensor([[3, 4, 5, 6, 7, 8]])
    lengths = torch.tensor([6])
    ahead, back = directional_states(model, tokens, lengths)
    changed = tokens.clone()
    changed[0, 3] = 20  # change token 3
    ahead2, back2 = directional_states(model, changed, lengths)
    same_ahead = [torch.allclose(ahead[0, t], ahead2[0, t]) for t in range(6)]
    same_back = [torch.allclose(back[0, t], back2[0, t]) for t in range(6)]
    assert same_ahead == [True, True, True, False, False, False]
    assert same_back == [False, False, False, False, True, True]


def test_padding_never_reaches_real_positions():
    model = _model()
    tokens = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 5, 9, 9]])
    lengths = torch.tensor([3, 3])  # row 1 holds other ids past its end
    ahead, back = directional_states(model, tokens, lengths)
    assert torch.allclose(ahead[0, :3], ahead[1, :3]) and torch.allclose(back[0, :3], back[1, :3])


def test_block_diagonal_start_makes_the_ordinary_pass_the_two_language_models():
    model = _model()
    block_diagonal_start(model)
    tokens = torch.tensor([[3, 4, 5, 6, 0], [7, 8, 9, 10, 11]])
    lengths = torch.tensor([4, 5])
    ahead, back = directional_states(model, tokens, lengths)
    x = model.embed(tokens)
    real = torch.arange(5)[None, :] < lengths[:, None]
    reverse = reverse_index(lengths, 5)
    for layer in model.layers:
        x = layer(x, reverse, real)
    assert torch.allclose(x[..., :5][real], ahead[real], atol=1e-6)
    assert torch.allclose(x[..., 5:][real], back[real], atol=1e-6)


def test_bilm_head_counts_every_neighbour_once_and_learns():
    model = _model(layers=2)
    head = BiLMHead(5, 30)
    tokens = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    lengths = torch.tensor([3, 4])
    loss_sum, count = head(model, tokens, lengths)
    assert int(count) == (2 + 2) + (3 + 3)
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=0.05)
    model.train()
    for _ in range(60):
        loss_sum, count = head(model, tokens, lengths)
        optimizer.zero_grad()
        (loss_sum / count).backward()
        optimizer.step()
    assert float(loss_sum.detach() / count) < 0.5  # it can learn a sequence's neighbours by heart


def test_transfer_keeps_the_vector_of_a_word_in_both_vocabularies():
    source = _model(layers=2, vocab=6)
    target = _model(layers=2, vocab=8)
    before = target.embedding.weight.detach().clone()
    rows = [0, 1, 5, -1, 2, -1, -1, 3]  # target row i is source row rows[i]; -1: a new word
    taken = transfer(source.state_dict(), target, rows)
    weight = target.embedding.weight.detach()
    for i, r in enumerate(rows):
        expected = source.embedding.weight[r] if r >= 0 else before[i]
        assert torch.equal(weight[i], expected.detach())
    assert "classifier.weight" not in taken and "layers.1.lstm.weight_hh_l0" in taken
    assert torch.equal(target.layers[1].lstm.weight_hh_l0, source.layers[1].lstm.weight_hh_l0)
