"""Discriminative learning rates and gradual unfreezing, by level."""

import pytest
import torch

from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training.layerwise import apply_thaw, layer_groups, level_of, thawed_from
from hbilstm.training.parts import make_optimizer


def _model():
    return HighwayBiLSTMClassifier(ModelConfig(vocab_size=20, num_classes=3, embedding_dim=6, hidden=4, layers=3,
                                               pooling="attention", ngram_buckets=64))


def test_levels_run_from_the_embeddings_to_the_top():
    assert level_of("embedding.weight", 3) == 0
    assert level_of("layers.0.lstm.weight_ih_l0", 3) == 1
    assert level_of("layers.2.gate.bias", 3) == 3
    assert [level_of(n, 3) for n in ("attention.0.weight", "classifier.bias", "ngram_head.weights.weight")] == [4] * 3


def test_each_level_down_learns_at_decay_times_the_rate_above():
    groups = layer_groups(_model(), lr=0.01, decay=0.5)
    assert [(level, lr) for level, _, lr in groups] == [(0, 0.01 / 16), (1, 0.01 / 8), (2, 0.01 / 4), (3, 0.01 / 2),
                                                        (4, 0.01)]
    optimizer = make_optimizer(_model(), TrainConfig(lr=0.01, lr_layer_decay=0.5), torch.device("cpu"))
    assert sorted({g["lr"] for g in optimizer.param_groups}) == [0.01 / 16, 0.01 / 8, 0.01 / 4, 0.01 / 2, 0.01]
    assert len(layer_groups(_model(), 0.01, 1.0)) == 1  # one rate: one group


def test_gradual_unfreezing_thaws_one_level_from_the_top_every_k_epochs():
    assert [thawed_from(e, 1, 3) for e in range(1, 7)] == [4, 3, 2, 1, 0, 0]
    assert [thawed_from(e, 2, 3) for e in range(1, 6)] == [4, 4, 3, 3, 2]
    assert thawed_from(1, 0, 3) == 0
    model = _model()
    frozen_before = {id(model.embedding.weight)}
    may_train = {id(p) for p in model.parameters()} - frozen_before
    apply_thaw(model, 3, may_train)
    trains = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "layers.2.lstm.weight_hh_l0" in trains and "classifier.weight" in trains
    assert "layers.1.lstm.weight_hh_l0" not in trains
    apply_thaw(model, 0, may_train)
    assert not model.embedding.weight.requires_grad  # frozen by the run: thawing never unfreezes it


def test_options_are_checked():
    with pytest.raises(ConfigError, match="lr_layer_decay"):
        TrainConfig(lr_layer_decay=0.0)
    with pytest.raises(ConfigError, match="CUDA graph"):
        TrainConfig(gradual_unfreeze=1, cuda_graphs=True)
    with pytest.raises(ConfigError, match="leave out train_missing_vectors"):  # vectors beside an encoder stay fixed
        TrainConfig(init="runs/x", embeddings="vectors.txt", freeze_embeddings=True, train_missing_vectors=True)
    TrainConfig(init="runs/x", embeddings="vectors.txt")  # joined beside the encoder's embeddings
    with pytest.raises(ConfigError, match="teachers"):
        TrainConfig(unlabelled="more.txt")
