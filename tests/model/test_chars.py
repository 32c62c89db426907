"""Character-aware word vectors (issue 13, item 4) and label smoothing (item 6)."""

import numpy as np
import pytest
import torch

from hbilstm.checkpoint import load_model
from hbilstm.config import TrainConfig
from hbilstm.errors import ConfigError
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.model.chars import END, MAX_BYTES, PAD, SPELLING_LENGTH, START, CharWordEncoder, spell

WORDS = ["<pad>", "<unk>", "good", "goood", "#happy", "happy", "😂", "x", "a" * 30 + "ness", "@user"]


def model(**kw) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    settings = dict(vocab_size=len(WORDS), num_classes=3, embedding_dim=8, hidden=6, layers=2, dropout=0.0,
                    char_features=15)
    settings.update(kw)
    net = HighwayBiLSTMClassifier(ModelConfig(**settings))
    with torch.no_grad():
        net.spellings.copy_(torch.tensor(spell(WORDS), dtype=torch.int16))
    return net.eval()


def test_a_spelling_is_its_utf8_bytes_between_marks_with_long_words_keeping_both_ends():
    rows = spell(WORDS)
    assert all(len(r) == SPELLING_LENGTH for r in rows)
    assert rows[0][:3] == [START, END, PAD] and rows[1] == rows[0]  # special tokens are spelt empty
    assert rows[2][:6] == [START, *(b + 1 for b in b"good"), END] and set(rows[2][6:]) == {PAD}
    assert rows[6][1:5] == [b + 1 for b in "😂".encode()]  # an emoji is its four bytes
    long = rows[8]
    assert PAD not in long and long[1:1 + MAX_BYTES // 2] == [ord("a") + 1] * (MAX_BYTES // 2)
    assert long[-5:-1] == [b + 1 for b in b"ness"] and long[-1] == END  # the suffix survives the cut


def test_the_encoder_gives_one_vector_per_word_whatever_the_padding():
    torch.manual_seed(0)
    encoder = CharWordEncoder(25).eval()
    assert [c.out_channels for c in encoder.convs] == [1, 3, 5, 6, 10]  # wider windows get more filters
    spellings = torch.tensor(spell(WORDS))
    vectors = encoder(spellings)
    assert vectors.shape == (len(WORDS), 25)
    wider = torch.cat([spellings, torch.zeros(len(WORDS), 9, dtype=torch.long)], dim=1)
    assert torch.allclose(encoder(wider), vectors, atol=1e-6)  # padding never wins a maximum
    assert not torch.allclose(vectors[2], vectors[3]) and not torch.allclose(vectors[4], vectors[5])
    # A one-byte word is shorter than most windows: each width still sees it once, not its padding.
    assert torch.isfinite(vectors[7]).all()
    with pytest.raises(ValueError, match="at least 5"):
        CharWordEncoder(4)


def test_the_classifier_joins_the_char_vector_to_each_tokens_embedding():
    net = model()
    assert net.layers[0].lstm.input_size == 8 + 15
    assert "spellings" in net.state_dict() and all(p is not net.spellings for p in net.parameters())
    tokens = torch.tensor([[2, 3, 4, 2], [6, 9, 0, 0]])
    # each distinct word encoded once gives what encoding every position does
    every = net.chars(net.spellings[tokens.reshape(-1)].long()).reshape(2, 4, 15)
    assert torch.allclose(net.spelt(tokens), every, atol=1e-6)
    lengths = torch.tensor([4, 2])
    before = net(tokens, lengths)
    with torch.no_grad():
        net.spellings[3] = torch.tensor(spell(["bad"])[0], dtype=torch.int16)
    after = net(tokens, lengths)
    assert not torch.allclose(before[0], after[0]) and torch.allclose(before[1], after[1])
    wider = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(net(wider, lengths), after, atol=1e-6)


def test_the_packed_reference_and_onnx_give_the_char_models_numbers(tmp_path):
    from packed_reference import packed_logits

    net = model(pooling="attention")
    generator = torch.Generator().manual_seed(1)
    lengths = torch.randperm(12, generator=generator) + 1
    tokens = torch.randint(1, len(WORDS), (12, 12), generator=generator).masked_fill(
        torch.arange(12)[None, :] >= lengths[:, None], 0)
    with torch.no_grad():
        expected = torch.softmax(packed_logits(net, tokens, lengths), dim=-1)
        assert torch.allclose(torch.softmax(net(tokens, lengths), -1), expected, atol=1e-6)
    pytest.importorskip("onnxruntime")
    from hbilstm.export.onnx import OnnxScorer, export_onnx

    session = OnnxScorer(export_onnx(net, tmp_path / "m.onnx")).session
    probs = session.run(["probs"], {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
    assert np.abs(probs - expected.numpy()).max() < 1e-5


def test_a_model_trained_with_char_vectors_and_label_smoothing_keeps_its_spellings(data_dir, tmp_path):
    from hbilstm.training import train
    from hbilstm.training.parts import build

    config = TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=1, min_freq=1,
                         char_features=10, label_smoothing=0.1)
    train(config, tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    vocab = loaded.vocab.tokens
    assert loaded.model.config.char_features == 10
    assert loaded.model.spellings[vocab.index("good")].tolist() == spell(["good"])[0]
    assert any("chars." in name for name, _ in loaded.model.named_parameters())

    from hbilstm.data.corpora import load_corpus

    corpus = load_corpus(config.data, config.data_dir)
    parts = build(config, corpus, torch.device("cpu"), None, lambda _: None)
    assert parts.criterion.label_smoothing == 0.1
    with pytest.raises(ConfigError, match="label_smoothing"):
        TrainConfig(label_smoothing=1.0)
    with pytest.raises(ConfigError, match="char_features"):
        TrainConfig(char_features=3)
