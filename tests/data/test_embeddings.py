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
