import gzip

import pytest

from hbilstm.data.embeddings import load_vectors
from hbilstm.data.vocab import Vocabulary
from hbilstm.errors import DataError


@pytest.mark.parametrize("compressed,header", [(False, False), (True, True)])
def test_vectors_are_read_matched_and_coverage_reported(tmp_path, compressed, header):
    lines = ["good 1 2 3", "Bad 4 5 6", "win 7 8 9", "unused 0 0 0"]
    text = ("4 3\n" if header else "") + "\n".join(lines) + "\n"
    path = tmp_path / ("v.txt.gz" if compressed else "v.txt")
    if compressed:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    vocab = Vocabulary.build([["good", "bad", "#win", "missing"]])
    counts = {"good": 5, "bad": 3, "#win": 1, "missing": 1}
    vectors = load_vectors(path, vocab, counts)
    assert vectors.weights.shape == (len(vocab), 3)
    assert vectors.weights[vocab.id("good")].tolist() == [1, 2, 3]
    assert vectors.weights[vocab.id("bad")].tolist() == [4, 5, 6]  # matched through lowercasing
    assert vectors.weights[vocab.id("#win")].tolist() == [7, 8, 9]  # matched without '#'
    assert vectors.weights[0].abs().sum() == 0
    assert vectors.found == 3 and vectors.type_coverage == pytest.approx(3 / 4)
    assert vectors.token_coverage == pytest.approx(9 / 10)


def test_file_without_any_vocabulary_word_is_refused(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("zebra 1 2\n")
    with pytest.raises(DataError, match="none of the"):
        load_vectors(path, Vocabulary.build([["a"]]))


def spacy_vectors_folder(folder, words: dict):
    """A spaCy vectors table holding ``words`` (string -> vector), written as spaCy writes it."""
    import numpy
    from spacy.vectors import Vectors

    table = Vectors(data=numpy.array(list(words.values()), dtype="float32"), keys=list(words))
    folder.mkdir(parents=True)
    table.to_disk(folder)
    return folder


def test_spacy_vectors_are_read_from_a_folder_or_the_pipeline_around_it(tmp_path):
    words = {"good": [1.0, 2.0], "Bad": [3.0, 4.0], "win": [5.0, 6.0], "bad": [7.0, 8.0]}
    spacy_vectors_folder(tmp_path / "pipe" / "en_core_web_xx-1.0" / "vocab", words)
    vocab = Vocabulary.build([["good", "bad", "#win", "missing"]])
    for source in (tmp_path / "pipe" / "en_core_web_xx-1.0" / "vocab", tmp_path / "pipe"):
        vectors = load_vectors(source, vocab, {"good": 2, "bad": 1, "#win": 1, "missing": 4})
        assert vectors.weights.shape == (len(vocab), 2)
        assert vectors.weights[vocab.id("good")].tolist() == [1, 2]
        assert vectors.weights[vocab.id("bad")].tolist() == [7, 8]  # its own key before another case
        assert vectors.weights[vocab.id("#win")].tolist() == [5, 6]
        assert vectors.found == 3 and vectors.token_coverage == pytest.approx(4 / 8)


def test_a_folder_without_spacy_vectors_or_an_unknown_package_is_one_clear_error(tmp_path):
    vocab = Vocabulary.build([["good"]])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no spaCy vectors"):
        load_vectors(tmp_path / "empty", vocab)
    with pytest.raises(DataError, match="no such embeddings file"):
        load_vectors("no_such_package_here", vocab)


def test_training_takes_spacy_vectors(tmp_path, data_dir):
    from hbilstm.config import TrainConfig
    from hbilstm.training import train

    words = {w: [float(i), 1.0, -1.0] for i, w in enumerate(["the", "i", "good", "not", "to", "a"])}
    folder = spacy_vectors_folder(tmp_path / "vectors", words)
    run = tmp_path / "run"
    train(TrainConfig(data_dir=str(data_dir), layers=1, hidden=8, epochs=1, min_freq=1, embeddings=str(folder),
                      freeze_embeddings=True), run)
    import torch

    saved = torch.load(run / "model.pt", weights_only=True)
    vocab = saved["vocab"]
    assert saved["model_config"]["embedding_dim"] == 3
    assert saved["state_dict"]["embedding.weight"][vocab.index("good")].tolist() == [2.0, 1.0, -1.0]
