import pickle

import numpy as np
import torch

from hbilstm.data.batching import ResidentSplit, bucket_order, collate, iter_batches
from hbilstm.data.padding import Ragged, longest_first, pad_ids


def sequences(n=300, seed=0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 40, (n,), generator=generator).tolist()
    return [torch.randint(2, 500, (k,), generator=generator).tolist() for k in lengths]


def test_bucket_order_covers_every_position_once_and_depends_only_on_the_seed():
    seqs = sequences()
    lengths = [len(s) for s in seqs]
    a = bucket_order(lengths, 16, torch.Generator().manual_seed(7), pool_batches=4)
    b = bucket_order(lengths, 16, torch.Generator().manual_seed(7), pool_batches=4)
    c = bucket_order(lengths, 16, torch.Generator().manual_seed(8), pool_batches=4)
    assert a == b and a != c
    assert sorted(i for batch in a for i in batch) == list(range(len(seqs)))
    # inside a pool, batches hold neighbours in length: the spread is small
    spread = sum(max(lengths[i] for i in batch) - min(lengths[i] for i in batch) for batch in a) / len(a)
    assert spread < 10


def test_evaluation_order_is_sorted_longest_first():
    lengths = [3, 9, 1, 9, 4]
    assert bucket_order(lengths, 2) == [[1, 3], [4, 0], [2]]


def test_resident_batches_equal_host_collated_batches():
    seqs = sequences()
    labels = [i % 3 for i in range(len(seqs))]
    resident = ResidentSplit(seqs, labels, "cpu")
    for positions in bucket_order([len(s) for s in seqs], 32, torch.Generator().manual_seed(1)):
        fast = resident.batch(positions)
        slow = collate([seqs[i] for i in positions], [labels[i] for i in positions], positions)
        assert torch.equal(fast.tokens, slow.tokens)
        assert torch.equal(fast.lengths, slow.lengths)
        assert torch.equal(fast.labels, slow.labels)
        assert fast.index == slow.index


def test_ragged_rows_pad_take_concatenate_and_pickle_as_the_lists_they_came_from():
    seqs = sequences(200, seed=3) + [[7]]
    ragged = Ragged.from_lists(seqs)
    assert len(ragged) == 201 and ragged.tolist() == seqs and ragged.values.dtype == np.int32
    assert ragged.lengths.tolist() == [len(s) for s in seqs]
    positions = [200, 5, 5, 0, 199]
    padded, counts = ragged.pad(positions)
    assert np.array_equal(padded, pad_ids([seqs[i] for i in positions])) and counts.tolist() == [
        1,
        *map(len, (seqs[5], seqs[5], seqs[0], seqs[199])),
    ]
    joined = Ragged.concat([Ragged.from_lists(seqs[3:5]), Ragged.from_lists([]), Ragged.from_lists(seqs[9:10])])
    assert joined.tolist() == [seqs[3], seqs[4], seqs[9]]
    assert np.array_equal(joined.pad([2, 0])[0], pad_ids([seqs[9], seqs[3]]))
    assert Ragged.concat([]).tolist() == [] and len(Ragged.concat([])) == 0
    assert pickle.loads(pickle.dumps(ragged)).tolist() == seqs


def test_batches_from_ragged_ids_equal_batches_from_lists():
    seqs, grams = sequences(300, seed=1), sequences(300, seed=2)
    labels = [i % 3 for i in range(300)]
    order = longest_first([len(s) for s in seqs], 32)
    from_lists = list(iter_batches(seqs, labels, order, ngrams=grams))
    from_ragged = list(iter_batches(Ragged.from_lists(seqs), labels, order, ngrams=Ragged.from_lists(grams)))
    assert len(from_lists) == len(from_ragged) == 10
    for a, b in zip(from_lists, from_ragged):
        assert a.index == b.index and torch.equal(a.labels, b.labels) and torch.equal(a.lengths, b.lengths)
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.ngrams, b.ngrams)
        assert b.tokens.dtype == b.ngrams.dtype == b.lengths.dtype == torch.long
