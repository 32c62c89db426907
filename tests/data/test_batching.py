import torch

from hbilstm.data.batching import ResidentSplit, bucket_order, collate


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
