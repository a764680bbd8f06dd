"""Language-model stream batching for truncated backpropagation through time.

The corpus (one long id stream) is cut into ``B`` equal parallel streams, one per
batch row, and the rows are read left to right in windows of ``T`` tokens.  The
target of each input token is the token after it.  With the 26-letter stream
``a b c ... z``, ``B = 5`` and ``T = 2``::

                 window 0   window 1
    stream 0:    a b        c d        e   <- last token of a row: only a target
    stream 1:    f g        h i        j
    stream 2:    k l        m n        o
    stream 3:    p q        r s        t
    stream 4:    u v        w x        y      (z dropped: 26 = 5 rows x 5 + 1)

    inputs  of window 1 = [[c d], [h i], [m n], [r s], [w x]]     (B, T)
    targets of window 1 = [[d e], [i j], [n o], [s t], [x y]]     inputs shifted by one

Row ``b`` of window ``k+1`` continues exactly where row ``b`` of window ``k`` ended,
so a recurrent model can carry its hidden state from one window to the next (and
detach it: that is where truncated BPTT cuts the graph).  This is pytorch/examples
``word_language_model``'s ``batchify``/``get_batch`` laid out batch-first.  The last
window may be shorter than ``T`` (``drop_last=True`` drops it).

:class:`StreamDataset` serves whole ``(B, T)`` windows, so a DataLoader must not
batch again: use ``batch_size=None`` (``stream_loader`` does) and no shuffling; it
works with any ``num_workers`` because window ``k`` is computed from ``k`` alone.
``is_stream = True`` tells the training engine to carry recurrent state across batches.

Data-parallel training (``shard=(rank, world_size)``): the stream is batchified with the
full ``B`` and each process keeps the rows ``rank::world_size`` (``B / world_size`` of
them, so ``B`` must be divisible by ``world_size``).  Every rank then has the same number
of windows of the same ``T``, and DDP's averaged gradient of the ranks' per-token mean
losses is the gradient of the mean over all ``B`` rows: the same updates as one process
reading all ``B`` streams.  With ``B = 4`` and two processes, rank 0 reads streams 0 and 2,
rank 1 streams 1 and 3.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch.utils.data import DataLoader, Dataset

from seqlab.errors import ConfigurationError, DataError

__all__ = ["StreamWindow", "StreamDataset", "batchify", "stream_loader"]


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Lay a 1-D id stream ``(N,)`` out as ``(B, N // B)`` parallel streams (tail dropped)."""
    if ids.dim() != 1:
        raise DataError(f"expected a 1-D stream of ids (N,), got shape {tuple(ids.shape)}")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
    length = ids.numel() // batch_size
    if length < 2:
        raise DataError(f"a stream of {ids.numel()} tokens is too short for {batch_size} rows of at least 2 tokens")
    return ids[: length * batch_size].view(batch_size, length)  # (B, L)


class StreamWindow(NamedTuple):
    """One TBPTT window: ``inputs`` and ``targets`` both ``(B, T)`` int64."""

    inputs: torch.Tensor
    targets: torch.Tensor


class StreamDataset(Dataset):
    """Window ``k`` of the batchified stream (see the module docstring).

    Args:
        ids: ``(N,)`` the token ids.
        batch_size: ``B``, the number of parallel streams (over all processes when sharded).
        bptt: ``T``, the window length.
        drop_last: drop a final window shorter than ``T``.
        shard: ``(rank, world_size)``: keep only the rows ``rank::world_size`` of the ``B``.

    Attributes:
        data: ``(B', L)`` this process's streams (``B' = B / world_size`` when sharded);
            batch_size (B'), bptt (T), num_windows.
        is_stream: True, the marker for "carry recurrent state between batches".
    """

    is_stream = True

    def __init__(self, ids: torch.Tensor, batch_size: int, bptt: int, *, drop_last: bool = False,
                 shard: Optional[tuple[int, int]] = None) -> None:
        if bptt < 1:
            raise ConfigurationError(f"bptt (the window length T) must be >= 1, got {bptt}")
        data = batchify(torch.as_tensor(ids, dtype=torch.long), batch_size)  # (B, L)
        if shard is not None:
            rank, world_size = shard
            if not 0 <= rank < world_size:
                raise ConfigurationError(f"shard rank must be in 0..{world_size - 1}, got {rank}")
            if batch_size % world_size:
                raise ConfigurationError(
                    f"data.batch_size={batch_size} streams cannot be split evenly over {world_size} processes; "
                    f"under torchrun a language model's data.batch_size is the global number of streams, so set "
                    f"it to a multiple of {world_size} (e.g. data.batch_size={world_size * max(1, batch_size // world_size)})."
                )
            data = data[rank::world_size]  # (B / world_size, L)
        self.data = data.contiguous()
        self.batch_size = self.data.shape[0]
        self.bptt = bptt
        self.drop_last = drop_last
        usable = self.data.shape[1] - 1  # the last token of a row is only a target
        self.num_windows = usable // bptt if drop_last else -(-usable // bptt)
        if self.num_windows == 0:
            raise DataError(f"streams of {self.data.shape[1]} tokens give no full window of T={bptt}; lower bptt or batch_size")

    @property
    def num_tokens(self) -> int:
        """Target tokens per epoch (for per-token loss and perplexity)."""
        usable = self.data.shape[1] - 1
        per_row = (usable // self.bptt) * self.bptt if self.drop_last else usable
        return per_row * self.batch_size

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, k: int) -> StreamWindow:
        if not 0 <= k < self.num_windows:
            raise IndexError(f"window {k} out of range 0..{self.num_windows - 1}")
        start = k * self.bptt
        T = min(self.bptt, self.data.shape[1] - 1 - start)
        inputs = self.data[:, start: start + T]  # (B, T)
        targets = self.data[:, start + 1: start + 1 + T]  # (B, T)
        return StreamWindow(inputs.clone(), targets.clone())


def stream_loader(ids: torch.Tensor, batch_size: int, bptt: int, *, drop_last: bool = False,
                  num_workers: int = 0, pin_memory: bool = False,
                  shard: Optional[tuple[int, int]] = None) -> DataLoader:
    """A DataLoader over the TBPTT windows of ``ids`` ``(N,)``, in order.

    Each item is a :class:`StreamWindow` ``(inputs (B, T), targets (B, T))``;
    ``loader.dataset.is_stream`` is True and ``len(loader)`` is the number of windows.
    ``shard=(rank, world_size)`` keeps this process's ``B / world_size`` rows (see
    :class:`StreamDataset`).
    """
    dataset = StreamDataset(ids, batch_size, bptt, drop_last=drop_last, shard=shard)
    return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False)
