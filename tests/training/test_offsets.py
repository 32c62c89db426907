"""Decision offsets (docs/journal/accuracy.md, fourteenth round): the fit on a hand-worked case,
the model's use of them at prediction, and what a run with ``decision_offsets`` keeps."""

import json
import math

import numpy as np
import pytest
import torch

from hbilstm.checkpoint import load_checkpoint, load_model
from hbilstm.config import TrainConfig
from hbilstm.data.corpora import load_corpus
from hbilstm.data.pipeline import encode_texts
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.evaluation.evaluate import evaluate
from hbilstm.inference import predict_part_logits
from hbilstm.model import HighwayBiLSTMClassifier, ModelConfig
from hbilstm.training import train
from hbilstm.training.offsets import MARGIN, cross_fitted, fit_offsets, nested


def test_a_rare_class_the_model_never_calls_gets_the_smallest_offset_that_calls_it_right():
    # irony's tweets get p(irony) = 0.4, the others 0.2: the argmax never says irony (F1 0). An
    # offset b calls every irony tweet right and no other once log 0.4 + b > log 0.6 (b > 0.405)
    # and log 0.2 + b < log 0.8 (b < 1.386): of the grid, 0.5 is the value nearest 0.
    p_irony = np.array([0.4] * 10 + [0.2] * 30)
    log_probs = np.log(np.stack([1 - p_irony, p_irony], axis=1))
    labels = [1] * 10 + [0] * 30
    offsets, before, after = fit_offsets(log_probs, labels, "irony_f1", ["non_irony", "irony"])
    assert offsets == (0.0, 0.5)
    assert (before, after) == (0.0, 1.0)


def test_a_model_already_right_on_val_keeps_zero_offsets():
    log_probs = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]] * 5))
    offsets, before, after = fit_offsets(log_probs, [0, 1, 2] * 5, "macro_f1", ["a", "b", "c"])
    assert offsets == (0.0, 0.0, 0.0) and before == after == 1.0


def test_the_fit_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="log-probabilities"):
        fit_offsets(np.zeros((4, 2)), [0, 1, 0], "macro_f1", ["a", "b"])  # 4 rows, 3 labels
    with pytest.raises(ValueError, match="log-probabilities"):
        fit_offsets(np.zeros((4, 3)), [0, 1, 0, 1], "macro_f1", ["a", "b"])  # 3 classes, 2 names


def test_offsets_move_the_models_logits_at_prediction_and_are_checked():
    torch.manual_seed(0)
    net = HighwayBiLSTMClassifier(ModelConfig(vocab_size=40, num_classes=3, embedding_dim=8, hidden=6, layers=1,
                                              dropout=0.0)).eval()
    tokens, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    plain = net(tokens, lengths)
    net.config.offsets = (0.0, 0.5, -20.0)
    moved = net(tokens, lengths)
    assert torch.allclose(moved, plain + torch.tensor([0.0, 0.5, -20.0]))
    assert (moved.argmax(-1) != 2).all()  # the third class is never called now
    net.train()
    assert torch.equal(net(tokens, lengths), plain)  # training sees the logits without them
    with pytest.raises(ValueError, match="offsets"):
        ModelConfig(vocab_size=9, num_classes=3, offsets=(0.0, 1.0))
    with pytest.raises(ValueError, match="offsets"):
        ModelConfig(vocab_size=9, num_classes=2, offsets=(0.0, math.inf))
    config = ModelConfig(vocab_size=9, num_classes=2, offsets=[0, 0.3])
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert "offsets" not in ModelConfig(vocab_size=9, num_classes=2).to_dict()  # older models' digests hold


def test_cross_fitting_finds_the_gain_of_offsets_that_hold_beyond_the_rows_they_were_fitted_on():
    # the irony case above, 200 rows: every fold's offset is fitted on the other four and still
    # calls each held-out irony tweet right, so out of fold the offsets gain all they gain in fold
    p_irony = np.array([0.4] * 50 + [0.2] * 150)
    log_probs = np.log(np.stack([1 - p_irony, p_irony], axis=1))
    labels = [1] * 50 + [0] * 150
    without, out_of_fold = cross_fitted(log_probs, labels, "irony_f1", ["non_irony", "irony"], seed=3)
    assert (without, out_of_fold) == (0.0, 1.0)


def test_cross_fitting_sees_no_gain_in_offsets_fitted_to_noise():
    # labels drawn without regard to the probabilities: the offsets fitted on val gain there (they
    # fit its noise), and out of fold they gain less than the margin auto asks for
    rng = np.random.default_rng(0)
    log_probs = np.log(rng.dirichlet([1.0] * 4, size=400))
    labels = rng.integers(0, 4, size=400).tolist()
    names = ["a", "b", "c", "d"]
    _, before, after = fit_offsets(log_probs, labels, "macro_f1", names)
    without, out_of_fold = cross_fitted(log_probs, labels, "macro_f1", names, seed=1)
    assert without == pytest.approx(before)
    assert after > before  # in fold the noise pays
    assert out_of_fold - without < MARGIN
    # the cuts come from the seed: the same seed, the same number
    assert cross_fitted(log_probs, labels, "macro_f1", names, seed=1) == (without, out_of_fold)


def test_cross_fitting_with_fewer_rows_than_folds_gains_nothing():
    log_probs = np.log(np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]]))
    assert cross_fitted(log_probs, [1, 1, 0], "macro_f1", ["a", "b"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    with pytest.raises(ValueError, match="log-probabilities"):
        cross_fitted(log_probs, [1, 1], "macro_f1", ["a", "b"])


def test_the_nested_estimate_credits_auto_with_offsets_that_hold_and_with_nothing_for_noise():
    # offsets that hold (the irony case): every outer fold's inner folds keep them, so auto labels
    # every held-out tweet right; noise: offsets fitted to it lose out of fold, and inside each
    # outer fold auto sees that and drops them, so auto scores what the model scores without them
    p_irony = np.array([0.4] * 50 + [0.2] * 150)
    log_probs = np.log(np.stack([1 - p_irony, p_irony], axis=1))
    labels = [1] * 50 + [0] * 150
    assert nested(log_probs, labels, "irony_f1", ["non_irony", "irony"], seed=3) == (0.0, 1.0)
    rng = np.random.default_rng(0)
    log_probs = np.log(rng.dirichlet([1.0] * 4, size=400))
    labels = rng.integers(0, 4, size=400).tolist()
    names = ["a", "b", "c", "d"]
    without, auto = nested(log_probs, labels, "macro_f1", names, seed=1)
    plain, always = cross_fitted(log_probs, labels, "macro_f1", names, seed=1)
    assert auto == without == pytest.approx(plain) and plain > always
    assert nested(log_probs, labels, "macro_f1", names, seed=1) == (without, auto)  # from the seed
    few = nested(log_probs[:3], labels[:3], "macro_f1", names)  # fewer rows than folds: no offsets
    assert few[0] == few[1] == pytest.approx(cross_fitted(log_probs[:3], labels[:3], "macro_f1", names)[0])


def test_decision_offsets_takes_true_false_or_auto():
    from hbilstm.config import load_config
    from hbilstm.errors import ConfigError

    assert load_config(None, {"decision_offsets": "auto"}).decision_offsets == "auto"
    assert TrainConfig(decision_offsets=True).decision_offsets is True
    with pytest.raises(ConfigError, match="decision_offsets must be one of false, true, auto, not 'sometimes'"):
        TrainConfig(decision_offsets="sometimes")
    with pytest.raises(ConfigError, match="decision_offsets must be true or false, or a word, not 1"):
        TrainConfig(decision_offsets=1)


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("offsets-auto") / "run"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=2, batch_size=32,
                      min_freq=1, seed=5, ngram_buckets=1024, decision_offsets="auto"), run)
    return run


def test_a_run_with_auto_records_the_cross_fitted_score_and_keeps_the_offsets_only_if_it_clears_the_margin(
        auto_run, offsets_run):
    record = json.loads((auto_run / "results.json").read_text())["decision_offsets"]
    fitted = json.loads((offsets_run / "results.json").read_text())["decision_offsets"]
    assert record["by_class"] == fitted["by_class"]  # the same model and fit as the run with true
    assert record["kept"] == (record["cross_fitted"] - record["val_without"] >= MARGIN)
    saved = load_checkpoint(auto_run / "model.pt")["model_config"]
    assert tuple(saved.get("offsets", ())) == (tuple(record["by_class"].values()) if record["kept"] else ())
    assert record["test_without"] == pytest.approx(fitted["test_without"])


@pytest.fixture(scope="module")
def offsets_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("offsets") / "run"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, embedding_dim=12, epochs=2, batch_size=32,
                      min_freq=1, seed=5, ngram_buckets=1024, decision_offsets=True), run)
    return run


def test_a_run_keeps_the_offsets_fitted_on_val_and_every_score_uses_them(offsets_run, data_dir):
    saved = load_checkpoint(offsets_run / "model.pt")
    offsets = tuple(saved["model_config"]["offsets"])
    results = json.loads((offsets_run / "results.json").read_text())
    record = results["decision_offsets"]
    assert len(offsets) == 3 and offsets[0] == 0.0
    assert tuple(record["by_class"].values()) == offsets and list(record["by_class"]) == results["val"]["labels"]
    assert results["val"]["macro_recall"] >= record["val_without"]  # fitted on val: never worse there
    assert 0.0 <= record["test_without"] <= 1.0
    # the same fit, redone from the saved model (temperatures applied, offsets not), gives the same offsets
    loaded = load_model(offsets_run)
    val = load_corpus("tweeteval-sentiment", data_dir).split("val")
    encoded = encode_texts(TweetTokenizer(loaded.tokenizer), loaded.vocab, loaded.max_tokens, list(val.texts),
                           loaded.ngram_buckets, loaded.ngram_words)
    logits = predict_part_logits(loaded.model, encoded.ids, ngrams=encoded.ngrams)
    log_probs = torch.log_softmax(loaded.model.combine(logits, offsets=False), -1).numpy()
    labels = [loaded.label_names.index(label) for label in val.labels]
    assert fit_offsets(log_probs, labels, "macro_recall", loaded.label_names)[0] == offsets
    # hbilstm evaluate and the saved val scores agree (both with the offsets)
    assert evaluate(offsets_run, split="val")["macro_recall"] == pytest.approx(results["val"]["macro_recall"])
    probs = loaded.predict_probs(list(val.texts))
    assert np.array_equal(probs.argmax(-1), (log_probs + np.array(offsets)).argmax(-1))


def test_the_onnx_export_of_a_model_with_offsets_scores_as_torch_does(offsets_run, tmp_path, data_dir):
    pytest.importorskip("onnxruntime")
    import shutil

    import hbilstm
    from hbilstm.export.run_export import export_run

    run = tmp_path / "run"
    shutil.copytree(offsets_run, run)
    export_run(run)
    texts = list(load_corpus("tweeteval-sentiment", data_dir).split("test").texts)
    graph, eager = hbilstm.load(run, backend="onnx"), hbilstm.load(run, backend="torch", device="cpu")
    assert graph.backend == "onnx"
    assert np.allclose(graph.predict_proba(texts), eager.predict_proba(texts), atol=1e-4)


def test_evaluate_names_the_offsets_it_scored_with(offsets_run, trained_run):
    from typer.testing import CliRunner

    from hbilstm.cli import app

    report = evaluate(offsets_run, split="val")
    saved = load_checkpoint(offsets_run / "model.pt")["model_config"]["offsets"]
    assert tuple(report["offsets"].values()) == tuple(saved)
    assert evaluate(trained_run, split="val")["offsets"] == {}
    printed = CliRunner().invoke(app, ["evaluate", str(offsets_run), "--split", "val"])
    assert printed.exit_code == 0, printed.output
    assert "decision offsets fitted on val (added to the log-probabilities): negative +0.0, " in printed.output


def test_an_ensemble_of_models_with_offsets_averages_their_shifted_probabilities_and_adds_none(offsets_run,
                                                                                               tmp_path, data_dir):
    from hbilstm.export.ensemble import make_ensemble

    made = make_ensemble([offsets_run, offsets_run], tmp_path / "ensemble")
    assert "offsets" not in load_checkpoint(made)["model_config"]
    assert evaluate(tmp_path / "ensemble", split="val")["offsets"] == {}  # each member's are its own
    texts = list(load_corpus("tweeteval-sentiment", data_dir).split("val").texts)
    assert np.allclose(load_model(tmp_path / "ensemble").predict_probs(texts),
                       load_model(offsets_run).predict_probs(texts), atol=1e-5)
