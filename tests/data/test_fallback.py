"""vector_fallback: a word outside the vocabulary is read as the vocabulary word with the nearest vector."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_embeddings import spacy_vectors_folder

from hbilstm.checkpoint import load_model, vocab_payload, vocabulary_from_payload
from hbilstm.data.fallback import WordFallback, hash_key, nearest_known
from hbilstm.data.spacy_vectors import spacy_fallback
from hbilstm.data.vocab import UNK_ID, Vocabulary
from hbilstm.errors import CheckpointError, ConfigError, DataError

WORDS = {"good": [1.0, 0.0, 0.0], "great": [0.9, 0.2, 0.0], "bad": [-1.0, 0.0, 0.0], "awful": [-0.8, -0.1, 0.1],
         "the": [0.0, 0.0, 1.0], "a": [0.0, 0.1, 0.9]}


def test_each_key_goes_to_the_vocabulary_word_nearest_by_cosine():
    table = np.array([[1.0, 0.0], [0.0, 1.0], [10.0, 1.0], [0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    # vocabulary ids 5 and 7 have rows 0 and 1; id 9 shares row 0 with id 5 but is listed later
    found = nearest_known(table, np.array([2, 3, 0, 4, 1]), vocab_ids=[5, 7, 9], vocab_rows=[0, 1, 0])
    # row 2 is far from row 0 in length but near in angle; row 4 equals row 0 and goes to the first id listed
    assert found.tolist() == [5, 7, 5, 5, 7]


def test_a_fallback_finds_a_token_by_its_spellings_and_the_vocabulary_uses_it():
    fallback = WordFallback(np.array([hash_key("awful"), hash_key("great")], dtype=np.uint64), np.array([3, 2]))
    vocab = Vocabulary(["<pad>", "<unk>", "good", "bad"], fallback)
    assert fallback.id("great") == 2 and fallback.id("#awful") == 3 and fallback.id("Awful") == 3
    assert fallback.id("nothing") is None
    # a word of the vocabulary is itself even when the fallback knows it; an unknown one is <unk>
    assert vocab.encode(["good", "great", "#awful", "nothing", "bad"]) == [2, 2, 3, UNK_ID, 3]
    assert vocab.id("great") == UNK_ID  # id() is the list's own lookup
    assert Vocabulary(["<pad>", "<unk>", "good", "bad"]).encode(["great"]) == [UNK_ID]


def test_hash_key_is_spacys_string_hash_computed_without_spacy():
    import random

    from spacy.strings import hash_string

    rng = random.Random(4)
    words = ["supremacists", "#palestine", "héllo", "😂", "a", "", "12345678", "123456789", "x" * 1001]
    words += ["".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x2FFF), rng.randint(0x1F300, 0x1FAFF)]))
                      for _ in range(rng.randint(0, 24))) for _ in range(500)]
    assert [hash_key(w) for w in words] == [int(hash_string(w)) for w in words]
    assert hash_key("\ud800") != hash_key("")  # a lone surrogate hashes (it is no key), and does not fail


def test_the_cache_of_unknown_words_stays_bounded(monkeypatch):
    import hbilstm.data.fallback as fallback_module

    monkeypatch.setattr(fallback_module, "CACHE_LIMIT", 50)
    fallback = WordFallback(np.array([hash_key("great")], dtype=np.uint64), np.array([2]))
    for i in range(1000):
        assert fallback.id(f"unseen{i}") is None
        assert len(fallback._cache) <= 50
    assert fallback.id("great") == 2


def test_broken_fallbacks_are_refused():
    with pytest.raises(ValueError, match="each key once"):
        WordFallback(np.array([7, 7], dtype=np.uint64), np.array([2, 2]))
    with pytest.raises(ValueError, match="one vocabulary id per key"):
        WordFallback(np.array([7, 8], dtype=np.uint64), np.array([2]))
    with pytest.raises(ValueError, match="ids the vocabulary does not have"):
        Vocabulary(["<pad>", "<unk>", "good"], WordFallback(np.array([7], dtype=np.uint64), np.array([3])))


def test_spacy_vectors_give_every_key_its_nearest_vocabulary_word(tmp_path):
    folder = spacy_vectors_folder(tmp_path / "vectors", WORDS)
    vocab = Vocabulary.build([["good", "bad", "the", "missing"]])
    fallback = spacy_fallback(folder, vocab)
    assert len(fallback) == len(WORDS)
    assert {w: vocab.tokens[fallback.id(w)] for w in WORDS} == {
        "good": "good", "great": "good", "bad": "bad", "awful": "bad", "the": "the", "a": "the"}
    assert UNK_ID not in fallback.ids.tolist()
    assert vocab_payload(Vocabulary(vocab.tokens, fallback))["vocab_fallback"]["keys"].dtype == torch.int64
    again = vocabulary_from_payload(vocab_payload(Vocabulary(vocab.tokens, fallback)))
    assert again.fallback == fallback and again.tokens == vocab.tokens


def test_a_damaged_fallback_in_a_checkpoint_is_one_clear_error():
    payload = {"vocab": ["<pad>", "<unk>", "good"],
               "vocab_fallback": {"keys": torch.tensor([5, 6]), "ids": torch.tensor([2, 9], dtype=torch.int32)}}
    with pytest.raises(CheckpointError, match="damaged vocabulary"):
        vocabulary_from_payload(payload, "model.pt")


def test_vector_fallback_needs_spacy_vectors():
    from hbilstm.config import TrainConfig
    from hbilstm.data.embeddings import with_vector_fallback

    with pytest.raises(ConfigError, match="set embeddings too"):
        TrainConfig(vector_fallback=True)
    with pytest.raises(DataError, match="needs spaCy vectors"):
        with_vector_fallback("glove.6B.50d.txt")


def test_a_model_trained_with_the_fallback_reads_unknown_words_through_it_everywhere(tmp_path, data_dir):
    from hbilstm.api import load
    from hbilstm.config import TrainConfig
    from hbilstm.export.folder import read_model_folder, write_model_folder
    from hbilstm.training import load_run_config, train

    folder = spacy_vectors_folder(tmp_path / "vectors", {**WORDS, "superb": [0.95, 0.05, 0.0]})
    run = tmp_path / "run"
    config = TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, epochs=1, min_freq=2, embeddings=str(folder),
                         freeze_embeddings=True, vector_fallback=True, ngram_buckets=0, seed=2)
    train(config, run)
    loaded = load_model(run)
    fallback = loaded.vocab.fallback
    assert fallback is not None and len(fallback) == len(WORDS) + 1
    assert "superb" not in loaded.vocab and loaded.vocab.tokens[fallback.id("superb")] == "good"
    classifier = load(run, device="cpu")
    probs = classifier.predict_proba(["what a superb day", "what a good day", "what a zzzq day", "what a qqxv day"])
    assert np.allclose(probs[0], probs[1]) and not np.allclose(probs[0], probs[2])
    assert np.allclose(probs[2], probs[3])  # a word the vectors lack is <unk>, as before

    # the model folder and a resumed run keep it
    payload = read_model_folder(
        write_model_folder(torch.load(run / "model.pt", weights_only=True), tmp_path / "folder")
    )
    assert vocabulary_from_payload(payload).fallback == fallback
    assert np.allclose(load(tmp_path / "folder", device="cpu").predict_proba(["what a superb day"]), probs[:1])
    # scored by ONNX Runtime from its folder, it reads the fallback without importing spaCy or torch
    from hbilstm.export.exporter import export_model

    export_model(run, tmp_path / "onnx-folder", onnx=True)
    script = ("import sys, json, hbilstm; c = hbilstm.load(sys.argv[1]); "
              "p = c.predict_proba(['what a superb day', 'what a good day']).tolist(); "
              "print(json.dumps([c.backend, p, sorted({'torch', 'spacy', 'thinc'} & set(sys.modules))]))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "onnx-folder")], capture_output=True,
                          text=True, timeout=120)
    backend, onnx_probs, heavy = json.loads(done.stdout)
    assert backend == "onnx" and heavy == []
    assert np.allclose(onnx_probs[0], onnx_probs[1], atol=1e-6) and np.allclose(onnx_probs, probs[:2], atol=1e-5)
    train(load_run_config(run, {"epochs": 2}), run, resume=True)
    assert load_model(run).vocab.fallback == fallback


def test_prediction_workers_read_unknown_words_through_the_fallback(tmp_path, data_dir):
    import csv

    from hbilstm.config import TrainConfig
    from hbilstm.predict import predict
    from hbilstm.training import train

    folder = spacy_vectors_folder(tmp_path / "vectors", {**WORDS, "superb": [0.95, 0.05, 0.0]})
    run = tmp_path / "run"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, epochs=1, embeddings=str(folder),
                      freeze_embeddings=True, vector_fallback=True, ngram_buckets=0, seed=2), run)
    probabilities = {}
    for word in ("superb", "good"):
        source = tmp_path / f"{word}.txt"
        source.write_text("".join(f"what a {word} day number {i} :)\n" for i in range(400)))
        out = tmp_path / f"{word}.csv"
        predict(str(run), str(source), str(out), chunk_size=100, workers=2)
        with open(out, newline="", encoding="utf-8") as handle:
            probabilities[word] = [row[4:7] for row in csv.reader(handle)][1:]
    assert len(probabilities["superb"]) == 400 and probabilities["superb"] == probabilities["good"]
