import pytest

from hbilstm.data.vocab import PAD, PAD_ID, UNK, UNK_ID, Vocabulary


def test_build_orders_by_frequency_then_alphabet_and_applies_limits():
    lists = [["b", "a", "c"], ["a", "b", "d"], ["a"]]
    vocab = Vocabulary.build(lists, min_freq=2)
    assert vocab.tokens == [PAD, UNK, "a", "b"]
    assert Vocabulary.build(lists, max_size=4).tokens == [PAD, UNK, "a", "b"]
    assert Vocabulary.build(lists).tokens == [PAD, UNK, "a", "b", "c", "d"]


def test_unknown_tokens_map_to_unk_and_round_trip_through_the_token_list():
    vocab = Vocabulary.build([["hello", "world", "hello"]])
    again = Vocabulary(list(vocab.tokens))
    ids = again.encode(["hello", "never-seen", "world"])
    assert ids == vocab.encode(["hello", "never-seen", "world"])
    assert ids[1] == UNK_ID and vocab.id(PAD) == PAD_ID
    assert again.decode(ids) == ["hello", UNK, "world"]


def test_a_damaged_token_list_is_refused():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError):
        Vocabulary([PAD, UNK, "x", "x"])
