"""Length-bucketed batch sampler: batches of similar-length sequences, little padding.

Per epoch (seeded with ``seed + epoch``, so every run and every worker agrees):

1. sort the indices by length (ties broken randomly when shuffling);
2. cut the sorted list into buckets of ``batch_size * batches_per_bucket`` indices;
3. shuffle inside each bucket and cut it into batches;
4. shuffle the order of all batches.

Call ``set_epoch(epoch)`` before each epoch for a new order (like DistributedSampler).

Sharding for data-parallel training (``num_replicas`` processes): every rank builds the
same seeded batch list, keeps a whole number of rounds (``len // num_replicas`` batches
each, the last ``len % num_replicas`` batches of the epoch dropped) and takes every
``num_replicas``-th batch from its ``rank`` on::

    batches  b0 b1 b2 b3 b4 b5 b6        (this epoch's order, num_replicas = 2)
    rank 0   b0    b2    b4              b6 dropped: every rank takes the same number
    rank 1      b1    b3    b5           of steps, as DDP's gradient all-reduce needs

With ``even=False`` nothing is dropped (ranks may differ by one batch): for evaluation,
where every example must count once and the ranks do not step together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from seqlab.errors import ConfigurationError

__all__ = ["BucketBatchSampler"]


class BucketBatchSampler(Sampler[list[int]]):
    """``batch_sampler`` for a DataLoader: yields lists of dataset indices.

    Args:
        lengths: length of every item (e.g. ``EncodedTextDataset.lengths``).
        batch_size: items per batch.
        batches_per_bucket: bucket size in batches; larger = more randomness, more padding.
        shuffle: False gives a fixed order (sorted by length) for evaluation.
        drop_last: drop the final incomplete batch.
        seed: base seed; the epoch is added to it.
        num_replicas: number of data-parallel processes sharing the batches (1: no sharding).
        rank: this process's shard, ``0 <= rank < num_replicas``.
        even: drop the epoch's last ``len % num_replicas`` batches so that every rank gets the
            same number (training under DDP); False keeps them all (evaluation).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, batches_per_bucket: int = 50,
                 shuffle: bool = True, drop_last: bool = False, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0, even: bool = True) -> None:
        if num_replicas < 1:
            raise ConfigurationError(f"num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ConfigurationError(f"rank must be in 0..{num_replicas - 1} for num_replicas={num_replicas}, got {rank}")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
        if batches_per_bucket < 1:
            raise ConfigurationError(f"batches_per_bucket must be >= 1, got {batches_per_bucket}")
        self.lengths = torch.as_tensor(list(lengths), dtype=torch.long)
        self.batch_size = batch_size
        self.batches_per_bucket = batches_per_bucket
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.even = even
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def all_batches(self) -> list[list[int]]:
        """Every rank's batches of the current epoch, in order (before sharding)."""
        n = len(self.lengths)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.shuffle:
            perm = torch.randperm(n, generator=g)  # random tie-break among equal lengths
            order = perm[torch.sort(self.lengths[perm], stable=True).indices]
        else:
            order = torch.sort(self.lengths, stable=True).indices
        bucket = self.batch_size * self.batches_per_bucket
        batches: list[list[int]] = []
        for start in range(0, n, bucket):
            members = order[start: start + bucket]
            if self.shuffle:
                members = members[torch.randperm(len(members), generator=g)]
            for b in range(0, len(members), self.batch_size):
                batches.append(members[b: b + self.batch_size].tolist())
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            # only the final bucket can end with a short batch (buckets are multiples of batch_size)
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch, in order (all of them when not sharded)."""
        batches = self.all_batches()
        if self.num_replicas == 1:
            return batches
        if self.even:
            batches = batches[: len(batches) - len(batches) % self.num_replicas]
        return batches[self.rank:: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        total = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.even:
            return total // self.num_replicas
        return len(range(self.rank, total, self.num_replicas))
