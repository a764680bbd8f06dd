"""Per-rank data sharding for torchrun: bucketed batches dealt round-robin, stream rows split."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from seqlab.data import BucketBatchSampler, StreamDataset, batchify, stream_loader
from seqlab.errors import ConfigurationError
from seqlab.train.distributed import DistributedContext, make_loader


def _lengths(n: int = 103) -> list[int]:
    return torch.randint(1, 40, (n,), generator=torch.Generator().manual_seed(5)).tolist()


@pytest.mark.parametrize("drop_last", [False, True])
def test_bucket_sampler_shards_partition_the_epoch(drop_last):
    lengths, world = _lengths(), 5
    for epoch in (0, 1):
        full = BucketBatchSampler(lengths, 8, batches_per_bucket=2, seed=7, drop_last=drop_last)
        full.set_epoch(epoch)
        everything = full.batches()
        shards = []
        for rank in range(world):
            sampler = BucketBatchSampler(lengths, 8, batches_per_bucket=2, seed=7, drop_last=drop_last,
                                         num_replicas=world, rank=rank)
            sampler.set_epoch(epoch)
            shards.append(sampler.batches())
            assert len(sampler) == len(shards[-1]) == len(everything) // world  # every rank steps alike
            assert shards[-1] == everything[rank: len(everything) // world * world: world]
        kept = len(everything) // world * world
        assert len(everything) % world != 0  # the case under test: a tail is dropped
        seen = Counter(i for shard in shards for batch in shard for i in batch)
        expected = Counter(i for batch in everything[:kept] for i in batch)
        assert seen == expected and max(seen.values()) == 1  # each index once, only the dropped tail missing
    assert shards[0] != BucketBatchSampler(lengths, 8, batches_per_bucket=2, seed=7, drop_last=drop_last,
                                           num_replicas=world, rank=0).batches()  # epoch 1 differs from 0


def test_uneven_eval_shards_cover_every_example_once():
    lengths, world = _lengths(), 2
    shards = [BucketBatchSampler(lengths, 10, shuffle=False, num_replicas=world, rank=r, even=False)
              for r in range(world)]
    assert [len(s) for s in shards] == [len(s.batches()) for s in shards] == [6, 5]  # 11 batches of 103
    assert sorted(i for s in shards for batch in s for i in batch) == list(range(len(lengths)))


def test_bucket_sampler_rejects_a_bad_rank():
    with pytest.raises(ConfigurationError, match="rank must be in 0..1"):
        BucketBatchSampler([3, 4], 2, num_replicas=2, rank=2)


def test_make_loader_passes_a_pre_sharded_batch_sampler_through():
    data = list(range(20))
    ctx = DistributedContext(rank=1, local_rank=1, world_size=2)
    sharded = DataLoader(data, batch_sampler=BucketBatchSampler([1] * 20, 4, num_replicas=2, rank=1))
    assert make_loader(sharded, batch_size=None, shuffle=True, dist=ctx, seed=0, train=True) is sharded
    whole = DataLoader(data, batch_sampler=BucketBatchSampler([1] * 20, 4))
    with pytest.raises(ConfigurationError, match="cannot shard a DataLoader with a custom batch_sampler"):
        make_loader(whole, batch_size=None, shuffle=True, dist=ctx, seed=0, train=True)


def test_stream_shards_are_rows_of_the_full_batchify():
    ids, B, T, world = torch.arange(203), 4, 6, 2
    full = batchify(ids, B)  # (4, 50)
    whole = StreamDataset(ids, B, T)
    for rank in range(world):
        shard = StreamDataset(ids, B, T, shard=(rank, world))
        torch.testing.assert_close(shard.data, full[rank::world])
        assert shard.batch_size == B // world and len(shard) == len(whole) == 9  # 49 usable tokens / 6
        for k in (0, len(whole) - 1):
            torch.testing.assert_close(shard[k].inputs, whole[k].inputs[rank::world])
            torch.testing.assert_close(shard[k].targets, whole[k].targets[rank::world])
        assert shard.num_tokens * world == whole.num_tokens
    loader = stream_loader(ids, B, T, shard=(1, world))
    assert loader.dataset.is_stream and next(iter(loader)).inputs.tolist() == [[50, 51, 52, 53, 54, 55],
                                                                               [150, 151, 152, 153, 154, 155]]


def test_stream_batch_size_must_divide_over_the_processes():
    with pytest.raises(ConfigurationError, match=r"data\.batch_size=5 .* over 2 processes.*multiple of 2"):
        StreamDataset(torch.arange(100), 5, 4, shard=(0, 2))
