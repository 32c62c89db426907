"""What a run trains: the optimizer's weight decay, class weights."""

import pytest
import torch

from hbilstm.config import TrainConfig
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training.parts import class_weights, make_optimizer


def test_balanced_class_weights():
    weights = class_weights([0, 0, 0, 1], 3)
    assert weights.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])


@pytest.mark.parametrize("carry", ["highway", "gated-residual"])
def test_weight_decay_shrinks_weight_matrices_only_never_biases_gates_or_k(carry):
    torch.manual_seed(0)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=30, num_classes=3, embedding_dim=8, hidden=4,
                                                layers=2, carry=carry))
    lr, decay = 0.1, 0.5
    optimizer = make_optimizer(model, TrainConfig(lr=lr, weight_decay=decay), torch.device("cpu"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: AdamW's step is its decay alone
    optimizer.step()
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            assert torch.allclose(p, before[name] * (1 - lr * decay)), name
        else:  # biases (the gate's b_T = -2 among them) and the residual gate k keep their start
            assert torch.equal(p, before[name]), name
    assert torch.all(model.embedding.weight[0] == 0)  # the padding row stays zero
    if carry == "highway":
        assert torch.all(model.layers[0].gate.bias == -2.0)
    else:
        assert all(layer.k.item() == 1.0 for layer in model.layers)
