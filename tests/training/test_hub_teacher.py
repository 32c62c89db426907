"""A transformers classifier as a distillation teacher (hbilstm distill -t hf:MODEL), tested offline
with a tiny randomly initialised BERT built from a config and saved to a folder: nothing is downloaded."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hbilstm.cli import app
from hbilstm.errors import ConfigError
from hbilstm.training.distillation import softened, teacher_targets
from hbilstm.training.hub_teacher import class_order

transformers = pytest.importorskip("transformers")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "day", "the", "i", "love", "hate", "@user"]
TASK = ["negative", "neutral", "positive"]


def tiny_model(folder, id2label, **tokenizer_options):
    """A one-layer, 8-wide BERT sequence classifier with its tokenizer, saved to ``folder``."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=64, id2label=dict(enumerate(id2label)),
                        label2id={n: i for i, n in enumerate(id2label)})
    model = BertForSequenceClassification(config)
    # a strong bias per class, so that the columns are easy to tell apart whatever the text
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([3.0, 0.0, -3.0]))
    model.save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), **tokenizer_options).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def shuffled_teacher(tmp_path_factory):
    # the teacher's classes in another order than the task's, with other capitals
    return tiny_model(tmp_path_factory.mktemp("hf") / "bert", ["Positive", "NEGATIVE", "neutral"])


def direct_probs(folder, texts):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForSequenceClassification.from_pretrained(folder)
    model.eval()
    with torch.no_grad():
        return np.stack([torch.softmax(model(**tokenizer(t, return_tensors="pt")).logits[0], -1).numpy()
                         for t in texts])


def test_class_order_by_name_generic_names_and_mismatch():
    logged = []
    assert class_order(["Positive", "NEGATIVE", "neutral"], TASK, "t", logged.append) == [1, 2, 0]
    assert not logged
    assert class_order(["LABEL_2", "LABEL_0", "LABEL_1"], TASK, "t", logged.append) == [1, 2, 0]
    assert "read in the task's order" in logged[0]
    with pytest.raises(ConfigError, match="predicts joy, anger, sadness"):
        class_order(["joy", "anger", "sadness"], TASK, "t", logged.append)
    with pytest.raises(ConfigError, match="has 2 classes"):
        class_order(["negative", "positive"], TASK, "t", logged.append)


def test_hub_teacher_targets_are_its_softened_probabilities_in_the_task_order(shuffled_teacher):
    texts = ["i love the day", "bad bad day @user", "good", "the unknown words here are many more than the others"]
    expected = direct_probs(shuffled_teacher, texts)[:, [1, 2, 0]]  # teacher columns -> negative, neutral, positive
    got = teacher_targets([f"hf:{shuffled_teacher}"], texts, TASK, 2.0, "cpu", lambda _: None)
    assert np.allclose(got, softened(expected, 2.0), atol=1e-5)
    # the bias makes the teacher's "Positive" (its column 0) the most likely: the task's column 2
    assert (got.argmax(1) == 2).all()


def test_distill_from_a_transformers_teacher(shuffled_teacher, data_dir, tmp_path):
    run = tmp_path / "student"
    result = CliRunner().invoke(app, [
        "distill", "-t", f"hf:{shuffled_teacher}", "--data-dir", str(data_dir), "--epochs", "1",
        "--set", "hidden=8", "--set", "embedding_dim=12", "--set", "min_freq=1", "--set", "ngram_buckets=0",
        "--threads", "1", "--no-export", "-o", str(run)])
    assert result.exit_code == 0, result.output
    assert f"teacher hf:{shuffled_teacher}: scored 400 tweets" in result.output
    assert (run / "model.pt").is_file()


def test_bad_transformers_teachers_are_one_line(tmp_path, data_dir, monkeypatch):
    not_a_model = tmp_path / "folder"
    not_a_model.mkdir()
    for spec, message in [(f"hf:{not_a_model}", "not a saved transformers model (no config.json)"),
                          ("hf:", "names no model")]:
        result = CliRunner().invoke(app, ["distill", "-t", spec, "--data-dir", str(data_dir),
                                          "-o", str(tmp_path / "s")])
        assert result.exit_code == 2 and message in result.output, result.output
        assert not (tmp_path / "s").exists()
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "transformers" else object())
    result = CliRunner().invoke(app, ["distill", "-t", "hf:someone/model", "--data-dir", str(data_dir),
                                      "-o", str(tmp_path / "s")])
    assert result.exit_code == 2 and "pip install \"hbilstm[teacher]\"" in result.output, result.output


def test_a_tokenizer_without_a_padding_token_pads_with_its_end_token(tmp_path):
    from hbilstm.training.hub_teacher import HubTeacher

    texts = ["i love the day", "bad day", "good good good good the day i love"]
    gpt_like = tiny_model(tmp_path / "no-pad", TASK, pad_token=None, eos_token="[SEP]")
    teacher = HubTeacher(f"hf:{gpt_like}", "cpu")
    assert teacher.tokenizer.pad_token == "[SEP]"
    # the rows of one padded batch score as each tweet alone does
    assert np.allclose(teacher.predict_probs(texts), direct_probs(gpt_like, texts), atol=1e-5)
    neither = tiny_model(tmp_path / "neither", TASK, pad_token=None)
    with pytest.raises(ConfigError, match="neither a padding nor an end token"):
        HubTeacher(f"hf:{neither}", "cpu")
