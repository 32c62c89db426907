"""Temperature scaling after training (issue 13, fifth round): the fit, the model's use of the
temperatures, and what a run keeps."""

import json

import pytest
import torch

from hbilstm.callbacks import TrainCallback
from hbilstm.checkpoint import load_checkpoint, load_model
from hbilstm.config import TrainConfig
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.evaluation.evaluate import evaluate
from hbilstm.inference import predict_part_logits
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training import train
from hbilstm.training.calibration import fit_temperatures


def sampled(scale: float, n: int = 20_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(z), and the logits z * scale of a classifier whose confidence is
    off by that factor: the temperature that calibrates it is ``scale``."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(n, 3, generator=generator) * 1.5
    labels = torch.multinomial(torch.softmax(z, -1), 1, generator=generator).squeeze(1)
    return z * scale, labels


def test_the_fitted_temperature_undoes_over_and_under_confidence_for_each_classifier():
    over, labels = sampled(2.5)
    under = over / 2.5 * 0.5
    fitted = fit_temperatures(torch.stack([over, under]), labels)
    assert fitted[0] == pytest.approx(2.5, rel=0.06)
    assert fitted[1] == pytest.approx(0.5, rel=0.06)
    calibrated, _ = sampled(1.0)
    assert fit_temperatures(calibrated[None], labels) == (pytest.approx(1.0, rel=0.06),)
    with pytest.raises(ValueError, match="logits"):
        fit_temperatures(over, labels)  # not (parts, n, classes)


def model(**kw) -> HighwayBiLSTMClassifier:
    torch.manual_seed(0)
    settings = dict(vocab_size=40, num_classes=3, embedding_dim=8, hidden=6, layers=1, dropout=0.0)
    return HighwayBiLSTMClassifier(ModelConfig(**{**settings, **kw}))


def test_temperatures_divide_each_classifiers_logits_at_prediction_only():
    net = model(ngram_buckets=64)
    with torch.no_grad():
        net.ngram_head.weight.weight.normal_()  # a head with opinions (it starts at zero)
    tokens, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    ngrams = torch.tensor([[3, 4, 5], [6, 0, 0]])
    net.eval()
    parts = net.part_logits(tokens, lengths, ngrams)
    untempered = net(tokens, lengths, ngrams)
    net.config.temperatures = (2.0, 0.5)
    expected = torch.log(torch.softmax(parts[0] / 2.0, -1) / 2 + torch.softmax(parts[1] / 0.5, -1) / 2)
    assert torch.allclose(net(tokens, lengths, ngrams), expected, atol=1e-6)
    assert not torch.allclose(net(tokens, lengths, ngrams), untempered, atol=1e-3)
    net.train()
    assert torch.equal(net(tokens, lengths, ngrams), parts)  # training sees the raw logits

    alone = model().eval()
    logits = alone(tokens, lengths)
    alone.config.temperatures = (4.0,)
    assert torch.allclose(alone(tokens, lengths), logits / 4.0)  # less confident, same choice


def test_temperatures_are_checked_and_survive_the_config_round_trip():
    with pytest.raises(ValueError, match="temperatures"):
        ModelConfig(vocab_size=9, num_classes=3, ngram_buckets=8, temperatures=(1.5,))  # two classifiers
    with pytest.raises(ValueError, match="temperatures"):
        ModelConfig(vocab_size=9, num_classes=3, temperatures=(0.0,))
    config = ModelConfig(vocab_size=9, num_classes=3, ngram_buckets=8, temperatures=[1.25, 0.8])
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again.temperatures == (1.25, 0.8) and again == config
    older = config.to_dict()
    del older["temperatures"]  # a model saved before calibration existed
    assert ModelConfig.from_dict(older).temperatures == ()


def test_a_calibrated_run_keeps_the_temperatures_fitted_on_val_and_scores_with_them(ngram_run, data_dir):
    saved = load_checkpoint(ngram_run / "model.pt")
    temperatures = tuple(saved["model_config"]["temperatures"])
    assert len(temperatures) == 2 and all(t > 0 for t in temperatures)
    loaded = load_model(ngram_run)
    assert loaded.model.config.temperatures == temperatures
    # the same fit, redone from the saved model on val, gives the same temperatures
    from hbilstm.data.corpora import load_corpus

    val = load_corpus("tweeteval-sentiment", data_dir).split("val")
    encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, list(val.texts),
                           loaded.ngram_buckets, loaded.ngram_words)
    labels = torch.tensor([loaded.label_names.index(label) for label in val.labels])
    logits = predict_part_logits(loaded.model, encoded.ids, ngrams=encoded.ngrams)
    assert fit_temperatures(logits, labels) == temperatures
    # results.json and model.pt hold the calibrated model's val scores, as evaluate finds them
    results = json.loads((ngram_run / "results.json").read_text())
    assert results["val"] == saved["val"]
    assert evaluate(ngram_run, split="val")["macro_recall"] == pytest.approx(results["val"]["macro_recall"])


class Lines(TrainCallback):
    def __init__(self):
        self.lines = []

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.parametrize("calibrate", [False, True])
def test_the_run_says_its_temperatures_and_without_calibrate_keeps_the_validated_model(tmp_path, data_dir,
                                                                                          calibrate):
    run, heard = tmp_path / "run", Lines()
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=2, batch_size=32,
                      min_freq=1, seed=5, ngram_buckets=1024, calibrate=calibrate), run, callback=heard)
    temperatures = tuple(load_checkpoint(run / "model.pt")["model_config"]["temperatures"])
    said = [line for line in heard.lines if line.startswith("calibrated")]
    if calibrate:
        assert said == [f"calibrated on val: temperature {temperatures[0]:.2f} for the stack, "
                        f"{temperatures[1]:.2f} for the n-gram classifier"]
        return
    assert temperatures == () and said == []
    val_scores = [json.loads(line)["val_macro_recall"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert json.loads((run / "results.json").read_text())["val"]["macro_recall"] == max(val_scores)
