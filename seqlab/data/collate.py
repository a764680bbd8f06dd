"""Padding collate functions: variable-length sequences -> padded batch tensors.

Project conventions: batch first, ``<pad>`` id 0, masks are bool with **True on real
(non-pad) positions**.

    >>> batch = pad_collate([(torch.tensor([5, 6, 7]), 1), (torch.tensor([8]), 0)])
    >>> batch.ids          # (B, T) int64
    tensor([[5, 6, 7],
            [8, 0, 0]])
    >>> batch.lengths, batch.mask[1], batch.labels
    (tensor([3, 1]), tensor([ True, False, False]), tensor([1, 0]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from seqlab.errors import DataError

__all__ = ["PaddedBatch", "PairBatch", "pad_sequences", "PadCollate", "pad_collate", "PairCollate", "pair_collate"]


def _as_tensor(seq: Any) -> torch.Tensor:
    if isinstance(seq, torch.Tensor):
        return seq
    if isinstance(seq, str):
        raise DataError(f"cannot pad a string ({seq[:30]!r}); encode it to ids first (dataset.encode(vocab))")
    return torch.as_tensor(seq)


def pad_sequences(
    sequences: Sequence[Any], *, pad_value: float = 0, min_length: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad sequences of shape ``(T_i, *F)`` along time.

    Returns:
        padded: ``(B, T, *F)`` with ``T = max(max_i T_i, min_length)``, dtype of the inputs
            (lists of ints become int64).
        lengths: ``(B,)`` int64.
        mask: ``(B, T)`` bool, True on real positions.
    """
    if len(sequences) == 0:
        raise DataError("cannot collate an empty batch")
    tensors = [_as_tensor(s) for s in sequences]
    feature_shape = tensors[0].shape[1:]
    for t in tensors:
        if t.dim() == 0 or t.shape[1:] != feature_shape:
            raise DataError(
                f"sequences must share their trailing shape (T, *F); got {tuple(t.shape)} and (T, *{tuple(feature_shape)})"
            )
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)  # (B,)
    T = max(int(lengths.max()), min_length)
    padded = tensors[0].new_full((len(tensors), T, *feature_shape), pad_value)  # (B, T, *F)
    for i, t in enumerate(tensors):
        padded[i, : t.shape[0]] = t
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    return padded, lengths, mask


class PaddedBatch(NamedTuple):
    """A padded batch (a NamedTuple, so it unpacks and pins through a DataLoader).

    ids: ``(B, T)`` int64 token ids (or ``(B, T, *F)`` features for audio/images);
    lengths: ``(B,)`` int64; mask: ``(B, T)`` bool, True = real; labels: ``(B,)`` int64 or None.
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor | None

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PaddedBatch:
        return PaddedBatch(*(None if t is None else t.to(device, non_blocking=non_blocking) for t in self))

    def as_dict(self) -> dict[str, torch.Tensor]:
        """``{"ids", "lengths", "mask", "labels"}`` (labels left out when None): the dict batch
        protocol of :mod:`seqlab.train.engine`."""
        return {k: v for k, v in self._asdict().items() if v is not None}


class PadCollate:
    """``collate_fn`` for items that are a sequence or a tuple ``(sequence, label, *extra)``.

    Extra fields (e.g. FSDD's speaker) are dropped.  ``min_length`` pads T up to at
    least that many steps (a CNN with filters of width k needs T >= k, and CR/MPQA have
    empty sentences).
    """

    def __init__(self, pad_id: int = 0, min_length: int = 0) -> None:
        self.pad_id = pad_id
        self.min_length = min_length

    def __call__(self, batch: Sequence[Any]) -> PaddedBatch:
        if len(batch) and isinstance(batch[0], tuple):
            sequences = [item[0] for item in batch]
            labels = torch.tensor([int(item[1]) for item in batch], dtype=torch.long)  # (B,)
        else:
            sequences, labels = list(batch), None
        ids, lengths, mask = pad_sequences(sequences, pad_value=self.pad_id, min_length=self.min_length)
        return PaddedBatch(ids, lengths, mask, labels)

    def __repr__(self) -> str:
        return f"PadCollate(pad_id={self.pad_id}, min_length={self.min_length})"


pad_collate = PadCollate()


class PairBatch(NamedTuple):
    """A padded source/target batch for sequence-to-sequence models.

    source: ``(B, S)``, source_lengths ``(B,)``, source_mask ``(B, S)``;
    target: ``(B, T)``, target_lengths ``(B,)``, target_mask ``(B, T)``.
    """

    source: torch.Tensor
    source_lengths: torch.Tensor
    source_mask: torch.Tensor
    target: torch.Tensor
    target_lengths: torch.Tensor
    target_mask: torch.Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PairBatch:
        return PairBatch(*(t.to(device, non_blocking=non_blocking) for t in self))


class PairCollate:
    """``collate_fn`` for ``(source_ids, target_ids)`` items -> :class:`PairBatch`."""

    def __init__(self, pad_id: int = 0) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[tuple[Any, Any]]) -> PairBatch:
        src = pad_sequences([s for s, _ in batch], pad_value=self.pad_id)
        tgt = pad_sequences([t for _, t in batch], pad_value=self.pad_id)
        return PairBatch(*src, *tgt)


pair_collate = PairCollate()
