"""Padding collate, length-bucketed sampling and TBPTT stream batching, with DataLoaders."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from seqlab.data import (
    BucketBatchSampler,
    EncodedTextDataset,
    PairCollate,
    StreamDataset,
    batchify,
    pad_collate,
    pad_sequences,
    stream_loader,
)
from seqlab.errors import ConfigurationError, DataError


def test_pad_collate_golden():
    batch = pad_collate([(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0), ([9, 4], 1)])
    assert batch.ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 4, 0]]
    assert batch.ids.dtype == torch.long and batch.lengths.dtype == torch.long
    assert batch.lengths.tolist() == [3, 1, 2]
    assert batch.mask.dtype == torch.bool
    assert batch.mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert batch.labels.tolist() == [1, 0, 1]
    ids, lengths, mask, labels = batch  # unpacks
    assert batch.to("cpu").ids.equal(ids)
    assert sorted(batch.as_dict()) == ["ids", "labels", "lengths", "mask"]
    assert "labels" not in pad_collate([[1, 2]]).as_dict()


def test_pad_sequences_features_and_errors():
    padded, lengths, mask = pad_sequences([torch.ones(2, 3), torch.ones(4, 3)], min_length=6)
    assert padded.shape == (2, 6, 3) and lengths.tolist() == [2, 4] and mask.sum().item() == 6
    assert pad_collate([torch.tensor([1, 2])]).labels is None
    with pytest.raises(DataError, match="trailing shape"):
        pad_sequences([torch.ones(2, 3), torch.ones(2, 4)])
    with pytest.raises(DataError, match="encode it to ids first"):
        pad_collate([("a text", 1)])
    with pytest.raises(DataError, match="empty batch"):
        pad_sequences([])


def test_pair_collate():
    batch = PairCollate()([([1, 2, 3], [4]), ([5], [6, 7])])
    assert batch.source.tolist() == [[1, 2, 3], [5, 0, 0]] and batch.target.tolist() == [[4, 0], [6, 7]]
    assert batch.source_mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.target_lengths.tolist() == [1, 2]


LENGTHS = [(i * 7919) % 37 + 1 for i in range(503)]


def test_bucket_sampler_covers_each_index_once_and_groups_lengths():
    sampler = BucketBatchSampler(LENGTHS, batch_size=16, batches_per_bucket=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 32
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(LENGTHS)))
    # padding waste is far lower than with random batches
    def waste(bs):
        return sum(max(LENGTHS[i] for i in b) * len(b) - sum(LENGTHS[i] for i in b) for b in bs)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(LENGTHS), generator=g).tolist()
    random_batches = [perm[i: i + 16] for i in range(0, len(perm), 16)]
    assert waste(batches) < 0.3 * waste(random_batches)


def test_bucket_sampler_determinism_and_epochs():
    a = BucketBatchSampler(LENGTHS, 8, seed=5)
    b = BucketBatchSampler(LENGTHS, 8, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(BucketBatchSampler(LENGTHS, 8, seed=6)) != first
    fixed = list(BucketBatchSampler(LENGTHS, 8, shuffle=False))
    assert [LENGTHS[i] for b in fixed for i in b] == sorted(LENGTHS)
    dropped = BucketBatchSampler(LENGTHS, 8, drop_last=True)
    assert all(len(b) == 8 for b in dropped) and len(list(dropped)) == len(dropped) == 62
    with pytest.raises(ConfigurationError):
        BucketBatchSampler(LENGTHS, 0)


def test_bucket_sampler_with_dataloader_workers():
    seqs = [torch.arange(1, n + 1) for n in LENGTHS]
    dataset = EncodedTextDataset(seqs, [n % 2 for n in LENGTHS], ["even", "odd"])
    sampler = BucketBatchSampler(dataset.lengths, 32, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=pad_collate, num_workers=2)
    total = 0
    for batch, indices in zip(loader, sampler):
        assert batch.lengths.tolist() == [LENGTHS[i] for i in indices]
        assert batch.ids.shape[1] == max(batch.lengths.tolist())
        total += len(indices)
    assert total == len(LENGTHS)


def test_batchify_golden():
    ids = torch.arange(26)
    data = batchify(ids, 5)
    assert data.tolist()[1] == [5, 6, 7, 8, 9]  # row b is the b-th contiguous chunk
    with pytest.raises(DataError, match="1-D"):
        batchify(ids.view(2, 13), 2)
    with pytest.raises(DataError, match="too short"):
        batchify(torch.arange(5), 4)


def test_stream_windows_match_the_diagram():
    ds = StreamDataset(torch.arange(26), batch_size=5, bptt=2)  # the module docstring's example
    assert ds.is_stream and len(ds) == ds.num_windows == 2 and ds.num_tokens == 20
    inputs, targets = ds[1]
    letters = lambda t: ["".join(chr(97 + i) for i in row) for row in t.tolist()]  # noqa: E731
    assert letters(inputs) == ["cd", "hi", "mn", "rs", "wx"]
    assert letters(targets) == ["de", "ij", "no", "st", "xy"]


@pytest.mark.parametrize("n, B, T, drop_last", [(1000, 4, 7, False), (1000, 4, 7, True), (97, 3, 50, False), (64, 2, 5, False)])
def test_stream_continuity(n, B, T, drop_last):
    ids = torch.randperm(n)  # distinct values: every token identifies its position
    ds = StreamDataset(ids, B, T, drop_last=drop_last)
    L = n // B
    rows = [[] for _ in range(B)]
    for k in range(len(ds)):
        x, y = ds[k]
        assert x.shape == y.shape and x.shape[0] == B and x.dtype == torch.long
        assert x.shape[1] == T or (k == len(ds) - 1 and not drop_last)
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
        for b in range(B):
            if rows[b]:  # window k continues exactly where window k-1 ended
                assert int(x[b, 0]) == rows[b][-1][1]
            rows[b].append((int(x[b, 0]), int(y[b, -1])))
            start = b * L + k * T
            assert x[b].tolist() == ids[start: start + x.shape[1]].tolist()
    covered = sum(ds[k][0].shape[1] for k in range(len(ds)))
    assert covered == ((L - 1) // T) * T if drop_last else covered == L - 1
    assert ds.num_tokens == covered * B


def test_stream_loader_workers_preserve_order():
    ids = torch.arange(2_000)
    reference = [tuple(t.clone() for t in w) for w in stream_loader(ids, 4, 9)]
    loader = stream_loader(ids, 4, 9, num_workers=2)
    assert loader.dataset.is_stream and len(loader) == len(reference)
    for (x, y), (rx, ry) in zip(loader, reference):
        assert torch.equal(x, rx) and torch.equal(y, ry) and x.shape[0] == 4


def test_stream_errors():
    with pytest.raises(ConfigurationError, match="bptt"):
        StreamDataset(torch.arange(100), 2, 0)
    with pytest.raises(DataError, match="no full window"):
        StreamDataset(torch.arange(20), 2, 20, drop_last=True)
    with pytest.raises(IndexError):
        StreamDataset(torch.arange(100), 2, 10)[99]
