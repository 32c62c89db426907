"""The Highway BiLSTM layer and classifier: shapes, gradients, initialisation, hand-checked values."""

import math

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from hbilstm.model import (
    CARRIES,
    POOLINGS,
    HighwayBiLSTMClassifier,
    HighwayBiLSTMLayer,
    ModelConfig,
)
from hbilstm.model.layers import reverse_index


def batch(vocab=40, lengths=(7, 3, 1, 5), seed=0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(2, vocab, (len(lengths), int(lengths.max())), generator=generator)
    tokens[torch.arange(tokens.size(1))[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


def small(carry="highway", **kw):
    torch.manual_seed(0)
    settings = {"vocab_size": 40, "num_classes": 3, "embedding_dim": 10, "hidden": 6, "layers": 3, **kw}
    config = ModelConfig(carry=carry, **settings)
    return HighwayBiLSTMClassifier(config)


@pytest.mark.parametrize("carry", CARRIES)
def test_every_carry_gives_logits_and_gradients_reach_the_embedding(carry):
    model = small(carry)
    tokens, lengths = batch()
    logits = model(tokens, lengths)
    assert logits.shape == (4, 3)
    logits.sum().backward()
    grad = model.embedding.weight.grad
    assert grad[tokens[0, :7]].abs().sum() > 0
    assert grad[0].abs().sum() == 0  # padding row gets nothing


@pytest.mark.parametrize("carry", CARRIES)
def test_layers_are_a_module_list_with_the_right_widths(carry):
    model = small(carry)
    assert isinstance(model.layers, torch.nn.ModuleList) and len(model.layers) == 3
    first, second = model.layers[0], model.layers[1]
    assert (first.input_size, first.output_size, second.input_size) == (10, 12, 12)
    if carry in ("highway", "residual", "gated-residual"):
        assert isinstance(first.project, torch.nn.Linear)  # 10 -> 12 needs a projection
        assert isinstance(second.project, torch.nn.Identity)  # 12 -> 12 does not


@pytest.mark.parametrize("bias", [-2.0, -1.0, -3.5])
def test_transform_gate_equals_sigmoid_of_its_bias_at_initialisation(bias):
    model = small("highway", gate_bias=bias)
    for layer in model.layers:
        assert torch.all(layer.gate.bias == bias)
        torch.nn.init.zeros_(layer.gate.weight)  # without the input's share, T is exactly sigmoid(b_T)
    report = model.layer_report(*batch())
    for entry in report:
        assert entry["gate_mean"] == pytest.approx(1 / (1 + math.exp(-bias)), abs=1e-6)
        assert entry["gate_std"] == pytest.approx(0.0, abs=1e-6)


def run(layer, x, lengths):
    """The layer's output and its bidirectional LSTM's own output on packed sequences (the
    reference: padding never enters it), each at the real positions only, row by row."""
    real = torch.arange(x.size(1))[None, :] < lengths[:, None]
    out = layer(x, reverse_index(lengths, x.size(1)))
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    h = pad_packed_sequence(layer.lstm(packed)[0], batch_first=True, total_length=x.size(1))[0]
    return out[real], h[real], x[real]


def test_very_negative_gate_bias_carries_the_input_and_open_gate_returns_h():
    torch.manual_seed(1)
    layer = HighwayBiLSTMLayer(6, 3, "highway", gate_bias=-40.0)  # widths match: P is identity
    x, lengths = torch.randn(2, 4, 6), torch.tensor([4, 2])
    out, _, real_x = run(layer, x, lengths)
    assert torch.allclose(out, real_x, atol=1e-6)  # T ~ 0: y = x
    with torch.no_grad():
        layer.gate.bias.fill_(40.0)  # T ~ 1: y = H(x)
    out, h, _ = run(layer, x, lengths)
    assert torch.allclose(out, h, atol=1e-6)


def test_highway_mixes_h_and_carry_by_the_gate_exactly():
    torch.manual_seed(2)
    layer = HighwayBiLSTMLayer(5, 2, "highway")  # 5 -> 4: P is a projection
    out, h, x = run(layer, torch.randn(3, 5, 5), torch.tensor([5, 4, 1]))
    t = torch.sigmoid(x @ layer.gate.weight.T + layer.gate.bias)
    p = x @ layer.project.weight.T
    assert torch.allclose(out, h * t + p * (1 - t), atol=1e-6)


def test_residual_gated_residual_and_plain_formulas():
    torch.manual_seed(3)
    x, lengths = torch.randn(2, 3, 4), torch.tensor([3, 2])
    out, h, real_x = run(HighwayBiLSTMLayer(4, 2, "plain"), x, lengths)
    assert torch.allclose(out, h, atol=1e-6)
    out, h, real_x = run(HighwayBiLSTMLayer(4, 2, "residual"), x, lengths)
    assert torch.allclose(out, h + real_x, atol=1e-6)
    gated = HighwayBiLSTMLayer(4, 2, "gated-residual")
    assert gated.k.item() == 1.0
    with torch.no_grad():
        gated.k.fill_(0.25)
    out, h, real_x = run(gated, x, lengths)
    assert torch.allclose(out, 0.25 * h + real_x, atol=1e-6)
    with torch.no_grad():
        gated.k.fill_(-1.0)  # g(k) = ReLU(k) = 0: the layer is the identity
    assert torch.allclose(run(gated, x, lengths)[0], real_x)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_never_changes_a_sequence_s_output(pooling):
    model = small(pooling=pooling).eval()
    tokens, lengths = batch(lengths=(5, 2))
    alone = model(tokens[1:, :2], lengths[1:])
    padded = model(tokens, lengths)[1:]
    longer = torch.cat([tokens, torch.zeros(2, 6, dtype=torch.long)], dim=1)  # more padding
    assert torch.allclose(alone, padded, atol=1e-6)
    assert torch.allclose(model(longer, lengths)[1:], alone, atol=1e-6)


def test_layer_report_has_one_entry_per_layer_and_k_for_gated_residual():
    report = small("gated-residual", layers=4).layer_report(*batch())
    assert [e["layer"] for e in report] == [1, 2, 3, 4]
    assert all(e["k"] == 1.0 and e["g"] == 1.0 for e in report)
    assert "gate_mean" in small("highway").layer_report(*batch())[0]


def test_invalid_configs_list_the_valid_choices():
    with pytest.raises(ValueError, match="highway, plain, residual, gated-residual"):
        ModelConfig(vocab_size=5, num_classes=2, carry="skip")
    with pytest.raises(ValueError, match="layers must be at least 1"):
        ModelConfig(vocab_size=5, num_classes=2, layers=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(vocab_size=5, num_classes=2, dropout=1.0)


def test_layer_dropout_drops_the_lstm_input_only_never_the_carry_path():
    tokens, lengths = batch()
    # T ~ 0: every layer carries its input (y = P(x)), so dropout on the carry path would show
    # in training mode; dropout on the LSTM input alone cannot.
    closed = small("highway", layers=4, layer_dropout=0.5, gate_bias=-40.0, dropout=0.0)
    assert torch.allclose(closed.train().encode(tokens, lengths), closed.eval().encode(tokens, lengths), atol=1e-6)
    # T ~ 1: y = H(x), and the dropout on the LSTMs' input changes what they compute.
    opened = small("highway", layers=4, layer_dropout=0.5, gate_bias=40.0, dropout=0.0)
    torch.manual_seed(0)
    assert not torch.allclose(opened.train().encode(tokens, lengths), opened.eval().encode(tokens, lengths), atol=1e-3)
    # the first layer's LSTM reads the (embedding-dropped) embeddings, not a second dropout
    assert closed.layers[0].input_dropout.p == 0.0 and closed.layers[1].input_dropout.p == 0.5


def test_highway_layer_output_matches_numbers_worked_out_by_hand():
    """One layer, 2 inputs, 1 unit per direction (so P is the identity), weights pinned so that
    every LSTM gate but g is sigmoid(0) = 0.5 and g_t = tanh(x1_t + 0.5 h_{t-1}):
    c_t = 0.5 c_{t-1} + 0.5 g_t and h_t = 0.5 tanh(c_t), in each direction; T = sigmoid(-2).

    Sequence A = [(1, -1), (0.5, 2)]:
      forward  t1: g = tanh(1) = 0.761594, c = 0.380797, h = 0.5 tanh(c) = 0.181700
               t2: g = tanh(0.5 + 0.5 * 0.181700) = 0.530709, c = 0.455753, h = 0.213267
      backward t2: g = tanh(0.5) = 0.462117, c = 0.231059, h = 0.113516
               t1: g = tanh(1 + 0.5 * 0.113516) = 0.784491, c = 0.507775, h = 0.234091
      y = H * 0.119203 + x * 0.880797
    Sequence B = [(-1, 0)] (one token, padded in the batch): h = -0.181700 both ways.
    """
    layer = HighwayBiLSTMLayer(2, 1, "highway", gate_bias=-2.0)
    with torch.no_grad():
        for name, p in layer.lstm.named_parameters():
            p.zero_()
            if name.startswith("weight_ih"):
                p[2, 0] = 1.0  # rows are the gates i, f, g, o; g reads x1
            if name.startswith("weight_hh"):
                p[2, 0] = 0.5  # and half of the previous h
        layer.gate.weight.zero_()
    x = torch.tensor([[[1.0, -1.0], [0.5, 2.0]], [[-1.0, 0.0], [0.0, 0.0]]])
    out = layer(x, reverse_index(torch.tensor([2, 1]), 2))
    expected = torch.tensor([[0.902456, -0.852893], [0.465821, 1.775126], [-0.902456, -0.021659]])
    assert torch.allclose(out[[0, 0, 1], [0, 1, 0]], expected, atol=1e-5)  # the real positions
