"""The padded forward pass (training, prediction, ONNX export) gives the logits and gradients of the
same model run on packed sequences (packed_reference.py), where padding never enters an LSTM."""

import itertools

import pytest
import torch
from conftest import TWEETEVAL
from packed_reference import packed_logits

from hbilstm.model import CARRIES, POOLINGS, HighwayBiLSTMClassifier, ModelConfig
from hbilstm.model.layers import reverse_index

TOLERANCE = 1e-5


def mixed_batch(vocab, lengths, seed=0, pad_id=0):
    """Rows of random ids with the given lengths, in the order given, padded with ``pad_id``."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(1, vocab, (len(lengths), int(lengths.max())), generator=generator)
    tokens[torch.arange(tokens.size(1))[None, :] >= lengths[:, None]] = pad_id
    return tokens, lengths


def all_lengths_shuffled(seed=0, longest=40):
    return torch.randperm(longest, generator=torch.Generator().manual_seed(seed)).add(1).tolist()


def random_model(carry, pooling, layers, seed=0):
    torch.manual_seed(seed)
    model = HighwayBiLSTMClassifier(ModelConfig(vocab_size=60, num_classes=3, embedding_dim=12, hidden=8,
                                                layers=layers, carry=carry, pooling=pooling, gate_bias=-1.0))
    with torch.no_grad():
        for layer in model.layers:
            if carry == "gated-residual":
                layer.k.fill_(0.7)  # away from its initial 1, so that g(k) is really applied
    return model.eval()


def max_diff(model, tokens, lengths, *ngrams):
    """The largest difference between the packed reference's logits and the model's own."""
    with torch.no_grad():
        return (packed_logits(model, tokens, lengths, *ngrams) - model(tokens, lengths, *ngrams)).abs().max().item()


@pytest.mark.parametrize("carry, pooling", list(itertools.product(CARRIES, POOLINGS)))
@pytest.mark.parametrize("layers", [1, 3])
def test_same_logits_as_the_packed_model_on_lengths_1_to_40_in_one_batch(carry, pooling, layers):
    model = random_model(carry, pooling, layers)
    tokens, lengths = mixed_batch(60, all_lengths_shuffled(seed=layers))
    assert max_diff(model, tokens, lengths) < TOLERANCE


@pytest.mark.parametrize("lengths", [[1], [6, 6, 6], [1, 1, 2], [2, 40]])
def test_same_logits_for_single_rows_equal_lengths_and_extremes(lengths):
    for carry, pooling in (("highway", "last"), ("residual", "max"), ("plain", "mean")):
        model = random_model(carry, pooling, layers=2, seed=len(lengths))
        assert max_diff(model, *mixed_batch(60, lengths, seed=3)) < TOLERANCE


@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_ids_and_extra_padding_columns_change_nothing(pooling):
    """Whatever sits past a row's length (any id, any number of extra columns) never reaches
    its logits."""
    model = random_model("highway", pooling, layers=2)
    tokens, lengths = mixed_batch(60, all_lengths_shuffled(seed=5))
    garbage, _ = mixed_batch(60, all_lengths_shuffled(seed=5), seed=9, pad_id=17)
    padding = torch.arange(tokens.size(1))[None, :] >= lengths[:, None]
    noisy = torch.where(padding, garbage, tokens)
    wider = torch.cat([noisy, torch.full((tokens.size(0), 7), 23)], dim=1)
    with torch.no_grad():
        clean = model(tokens, lengths)
        assert (model(noisy, lengths) - clean).abs().max().item() < TOLERANCE
        assert (model(wider, lengths) - clean).abs().max().item() < TOLERANCE


def test_reverse_index_reverses_within_the_length_and_leaves_padding_in_place():
    index = reverse_index(torch.tensor([3, 1, 5]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]


def test_same_logits_with_trained_weights_on_real_tweets(trained_run):
    from hbilstm.checkpoint import load_model
    from hbilstm.data.batching import collate
    from hbilstm.data.pipeline import encode_texts
    from hbilstm.data.tokenizer import TweetTokenizer

    loaded = load_model(trained_run)
    texts = (TWEETEVAL / "test_text.txt").read_text(encoding="utf-8").splitlines()[:300]
    sequences, _, ngrams = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, texts,
                                        loaded.ngram_buckets, loaded.ngram_words)
    assert min(map(len, sequences)) <= 5 and max(map(len, sequences)) >= 30  # really mixed lengths
    batch = collate(sequences, None, list(range(len(sequences))), ngrams=ngrams)
    assert max_diff(loaded.model, *batch.inputs) < TOLERANCE


def recipe_model(carry, pooling, seed=0):
    """A model with the default recipe's training-time noise: dropout on the embeddings and the
    pooled features, embedding noise and word dropout (all drawn before the stack, so both ways
    draw the same)."""
    torch.manual_seed(seed)
    return HighwayBiLSTMClassifier(ModelConfig(vocab_size=60, num_classes=3, embedding_dim=12, hidden=8, layers=3,
                                               carry=carry, pooling=pooling, dropout=0.3, embedding_noise=0.2,
                                               word_dropout=0.1))


@pytest.mark.parametrize("carry, pooling", [("highway", "attention"), ("highway", "last"), ("residual", "max"),
                                            ("gated-residual", "mean"), ("plain", "attention")])
def test_training_gives_the_packed_logits_and_gradients(carry, pooling):
    """In training mode, with the same random state, the padded way draws the same noise and gives
    the packed reference's logits and every parameter's gradient: training follows the same path."""
    model = recipe_model(carry, pooling).train()
    tokens, lengths = mixed_batch(60, all_lengths_shuffled(seed=4, longest=30))
    labels = torch.arange(len(lengths)) % 3
    results = []
    for forward in (packed_logits, HighwayBiLSTMClassifier.__call__):
        model.zero_grad()
        torch.manual_seed(7)
        logits = forward(model, tokens, lengths)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        results.append((logits.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}))
    (reference, packed_grads), (padded, padded_grads) = results
    assert (reference - padded).abs().max().item() < TOLERANCE
    assert packed_grads.keys() == padded_grads.keys()
    for name, grad in packed_grads.items():
        assert torch.allclose(grad, padded_grads[name], atol=1e-6), name
    assert packed_grads["layers.0.lstm.weight_hh_l0_reverse"].abs().sum() > 0  # the backward direction learns


def test_no_sequence_is_packed_anywhere_not_for_statistics_nor_int8(monkeypatch):
    import torch.nn.utils.rnn as rnn

    from hbilstm.inference import quantize_int8

    def refuse(*args, **kwargs):
        raise AssertionError("a sequence was packed")

    monkeypatch.setattr(rnn, "pack_padded_sequence", refuse)
    model = random_model("highway", "attention", layers=2)
    tokens, lengths = mixed_batch(60, all_lengths_shuffled(seed=1))
    with torch.no_grad():
        model.train()(tokens, lengths)
        full = model.eval()(tokens, lengths)
        assert len(model.layer_report(tokens, lengths)) == 2
        quantized = quantize_int8(model)
        int8 = quantized(tokens, lengths)
    assert all(layer.directions is not None and "quantized" in type(layer.directions[0]).__module__
               for layer in quantized.layers)  # each direction an int8 LSTM of its own
    assert (int8.softmax(-1) - full.softmax(-1)).abs().max() < 0.05
    assert model.layers[0].directions is None and hasattr(model.layers[0], "lstm")  # the model is not touched


def test_layer_statistics_count_real_tokens_only():
    """Extra padding columns, and whatever ids sit in them, change no statistic; the first layer's
    mean gate is the mean over the real tokens alone, worked out from its input."""
    model = random_model("highway", "attention", layers=2)
    tokens, lengths = mixed_batch(60, all_lengths_shuffled(seed=8, longest=20))
    wider = torch.cat([tokens, torch.full((tokens.size(0), 5), 7)], dim=1)
    report, padded_more = model.layer_report(tokens, lengths), model.layer_report(wider, lengths)
    for a, b in zip(report, padded_more, strict=True):
        assert a["gate_mean"] == pytest.approx(b["gate_mean"], abs=1e-6)
        assert a["output_norm"] == pytest.approx(b["output_norm"], abs=1e-5)
    real = torch.arange(tokens.size(1))[None, :] < lengths[:, None]
    with torch.no_grad():
        x = model.eval().embed(tokens)[real]
        gate = torch.sigmoid(model.layers[0].gate(x))
    assert report[0]["gate_mean"] == pytest.approx(gate.mean().item(), abs=1e-6)


def test_a_lesioned_layer_carries_its_input_the_same_both_ways():
    model = random_model("highway", "max", layers=3)
    model.layers[1].lesioned = True
    assert max_diff(model, *mixed_batch(60, all_lengths_shuffled(seed=6))) < TOLERANCE


def test_a_row_of_length_zero_is_refused():
    model = random_model("highway", "attention", layers=1)
    tokens, lengths = mixed_batch(60, [3, 2])
    with pytest.raises(ValueError, match="length"):
        model(tokens, torch.tensor([3, 0]))
