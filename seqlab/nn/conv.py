"""Convolutional encoders: Kim's filter bank over word vectors, audio frames, images.

* :class:`FilterBank` (Kim 2014, §2): parallel *wide* 1-D convolutions of window widths h over a
  sentence's word vectors, ReLU, and max-over-time pooling: each feature map keeps its strongest
  n-gram. The sentence classifier ``seqlab.models.TextCNN`` is this bank plus a softmax layer.
* :class:`ConvEncoder1d`: a small stack of "same" 1-D convolutions over the time axis of
  feature frames (log-mel or MFCC frames of audio), each block ReLU and an optional max-pool
  over time; ``lengths`` are carried through, so padded frames never reach a valid output.
* :class:`ConvEncoder2d`: a small configurable CNN over images (conv → [batch norm] → ReLU →
  max-pool per block) that returns the last block's *feature maps*, one C-vector per grid
  position: the "annotation vectors" an attention decoder attends over (Xu et al. 2015,
  "Show, Attend and Tell", §3.1.1 take them from a lower convolutional layer, not the
  classifier's fully connected output) or that a VQA model reads.

Padding convention (all three): positions outside ``mask`` / ``lengths`` are set to zero before
every convolution, so they act exactly like the zero padding at the sequence's ends, and a batch
padded further gives the same valid outputs.

Shapes: B batch, T time, F features per frame, I input size (C·E for word vectors), C channels,
H×W image grid; T', H', W' after pooling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["FilterBank", "ConvEncoder1d", "ConvEncoder2d"]


def _positive_ints(name: str, values: Sequence[int], owner: str) -> tuple[int, ...]:
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ConfigurationError(f"{owner}: {name} must be a non-empty list of positive ints, got {list(values)}")
    return values


def _per_block(name: str, value: int | Sequence[int], blocks: int, owner: str) -> tuple[int, ...]:
    values = (value,) * blocks if isinstance(value, int) else tuple(value)
    if len(values) != blocks:
        raise ConfigurationError(
            f"{owner}: {name} has {len(values)} entries but there are {blocks} blocks (one per channels entry); "
            f"give one int for every block or one per block"
        )
    return _positive_ints(name, values, owner)


def _odd_kernel(kernel_size: int, owner: str) -> int:
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigurationError(
            f"{owner}: kernel_size must be a positive odd int (a 'same' convolution pads (k-1)/2 on each "
            f"side), got {kernel_size!r}"
        )
    return kernel_size


class FilterBank(nn.ModuleList):
    """Kim (2014) §2's filter bank: one wide Conv1d per window width h, ReLU, max over time.

    A filter of width h spans h words and all I = C·E numbers of each word (every embedding
    channel), so it is a ``Conv1d(I, num_filters, h)`` over time. Kim's code pads each sentence
    with h−1 zero vectors on both sides (a wide convolution); windows that lie *entirely* outside
    the sentence are left out of the max, so extra padding in the batch changes nothing. A
    sentence with no real token pools to zeros.

    The bank is a list of its ``Conv1d`` modules (``bank[i]`` is the width-``widths[i]`` one),
    which keeps their checkpoint names ``convs.{i}.weight`` in ``TextCNN``.

    Args:
        input_size: I, numbers per word (C·E).
        num_filters: feature maps per width (Kim: 100).
        widths: window widths h (Kim: 3, 4, 5).

    Shapes:
        ``forward(x (B, T, I), mask (B, T) bool | None) -> (B, num_filters · len(widths))``.
    """

    def __init__(self, input_size: int, num_filters: int, widths: Sequence[int] = (3, 4, 5)) -> None:
        self.widths = _positive_ints("widths", widths, "FilterBank")
        super().__init__(nn.Conv1d(input_size, num_filters, w, padding=w - 1) for w in self.widths)
        self.input_size = input_size
        self.num_filters = num_filters

    @property
    def output_size(self) -> int:
        """num_filters · len(widths)."""
        return self.num_filters * len(self.widths)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """Max-over-time pooled n-gram features of each sentence.

        Args:
            x: (B, T, I) word vectors.
            mask: (B, T) bool, True on real words; None means all real.

        Returns:
            (B, num_filters · len(widths)), the widths' features concatenated in order.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ShapeError(f"FilterBank expects (B, T, I) with I={self.input_size}, got {tuple(x.shape)}")
        x = x.transpose(1, 2)  # (B, I, T)
        if mask is None:
            valid = torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)  # (B, 1, T)
        else:
            valid = mask.to(x.dtype).unsqueeze(1)  # (B, 1, T)
            x = x * valid  # words outside the mask count as Kim's zero padding
        pooled = []
        for width, conv in zip(self.widths, self):
            c = F.relu(conv(x))  # (B, F, T + w − 1): window j covers words j−w+1 … j
            # a window is real when it covers at least one real word: max-pool the mask the same way
            window_valid = F.max_pool1d(F.pad(valid, (width - 1, width - 1)), width, stride=1) > 0  # (B, 1, T+w−1)
            c = c.masked_fill(~window_valid, float("-inf"))
            pooled.append(c.amax(dim=2))  # (B, F)
        out = torch.cat(pooled, dim=1)
        # a sentence with no real word at all (empty line) pools to -inf: use 0 features instead
        return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


class ConvEncoder1d(nn.Module):
    """Feature frames (B, T, F) → (B, T', C) over time: a stack of "same" Conv1d blocks.

    Block i: zero the padded frames, ``Conv1d(kernel_size, padding (k−1)/2)``, ReLU, dropout, then
    (when ``pool[i] > 1``) max-pool over time with window and stride ``pool[i]``. A pooled
    window partly past a sequence's end takes the max of its valid frames only, and the
    lengths become ⌈length / pool⌉, so each sequence's outputs equal those of the sequence alone.

    Args:
        input_size: F, numbers per frame (e.g. 40 log-mel bands).
        channels: C of each block (the last one is the output size).
        kernel_size: odd window over time (in frames) of every block.
        pool: max-pool window over time, one int for all blocks or one per block (1 = none).
        dropout: after each block's ReLU.

    Shapes:
        ``forward(frames (B, T, F), lengths (B,) | None) -> (features (B, T', C), lengths' (B,) | None)``.
    """

    def __init__(
        self,
        input_size: int,
        channels: Sequence[int] = (64, 64),
        *,
        kernel_size: int = 3,
        pool: int | Sequence[int] = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.channels = _positive_ints("channels", channels, "ConvEncoder1d")
        self.pool = _per_block("pool", pool, len(self.channels), "ConvEncoder1d")
        self.kernel_size = _odd_kernel(kernel_size, "ConvEncoder1d")
        self.input_size = input_size
        sizes = (input_size, *self.channels)
        self.convs = nn.ModuleList(
            nn.Conv1d(sizes[i], sizes[i + 1], kernel_size, padding=kernel_size // 2) for i in range(len(self.channels))
        )
        self.dropout = nn.Dropout(dropout)

    @property
    def output_size(self) -> int:
        """C of the last block."""
        return self.channels[-1]

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """Valid output steps of sequences of ``lengths`` frames: ⌈·/pool⌉ per pooling block."""
        for p in self.pool:
            lengths = torch.div(lengths + (p - 1), p, rounding_mode="floor")
        return lengths

    def forward(self, frames: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Encode a padded batch of frame sequences.

        Args:
            frames: (B, T, F).
            lengths: (B,) valid frames per sequence; None means all T.

        Returns:
            ``(features (B, T', C), lengths' (B,))``; features past a sequence's length are 0;
            lengths' is None when ``lengths`` is.
        """
        if frames.dim() != 3 or frames.shape[-1] != self.input_size:
            raise ShapeError(f"ConvEncoder1d expects frames (B, T, F) with F={self.input_size}, got {tuple(frames.shape)}")
        x = frames.transpose(1, 2)  # (B, F, T)
        valid = None
        if lengths is not None:
            if lengths.shape != frames.shape[:1]:
                raise ShapeError(f"ConvEncoder1d: lengths must have shape ({frames.shape[0]},), got {tuple(lengths.shape)}")
            lengths = lengths.to(frames.device)
        for conv, p in zip(self.convs, self.pool):
            if lengths is not None:
                valid = (torch.arange(x.shape[2], device=x.device) < lengths[:, None]).unsqueeze(1)  # (B, 1, T)
                x = x.masked_fill(~valid, 0.0)  # padded frames act as the conv's zero padding
            x = self.dropout(F.relu(conv(x)))  # (B, C, T)
            if p > 1:
                if valid is not None:
                    x = x.masked_fill(~valid, float("-inf"))  # a window's max over its valid frames only
                x = F.max_pool1d(x, p, stride=p, ceil_mode=True)  # (B, C, ⌈T/p⌉)
                if lengths is not None:
                    lengths = torch.div(lengths + (p - 1), p, rounding_mode="floor")
        if lengths is not None:
            valid = (torch.arange(x.shape[2], device=x.device) < lengths[:, None]).unsqueeze(1)  # (B, 1, T')
            x = x.masked_fill(~valid, 0.0)
        return x.transpose(1, 2), lengths  # (B, T', C)


class ConvEncoder2d(nn.Module):
    """Images (B, C_in, H, W) → feature maps (B, C, H', W'): a small configurable CNN.

    Block i: ``Conv2d(kernel_size, padding (k−1)/2)`` ("same" size) → ``BatchNorm2d`` (when
    ``batch_norm``) → ReLU → ``MaxPool2d(pool[i])`` (when ``pool[i] > 1``, floor division of the
    grid) → ``Dropout2d`` (when ``dropout > 0``). With ``batch_norm`` the convolutions have no
    bias (the norm's shift replaces it).

    The output keeps its grid: ``SpatialAttention`` reads it as H'·W' keys of size C, and
    ``flatten(2)`` or a global pool turns it into a vector.

    Args:
        in_channels: C_in (1 for MNIST, 3 for RGB).
        channels: C of each block (the last one is the output's C).
        kernel_size: odd square kernel of every block.
        pool: max-pool window and stride, one int for all blocks or one per block (1 = none).
        batch_norm: a BatchNorm2d after each convolution.
        dropout: Dropout2d (whole feature maps) after each block.

    Shapes:
        ``forward(images (B, C_in, H, W)) -> (B, C, H', W')`` with ``(H', W') = output_grid(H, W)``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (32, 64),
        *,
        kernel_size: int = 3,
        pool: int | Sequence[int] = 2,
        batch_norm: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.channels = _positive_ints("channels", channels, "ConvEncoder2d")
        self.pool = _per_block("pool", pool, len(self.channels), "ConvEncoder2d")
        self.kernel_size = _odd_kernel(kernel_size, "ConvEncoder2d")
        self.in_channels = in_channels
        sizes = (in_channels, *self.channels)
        blocks = []
        for i, p in enumerate(self.pool):
            layers: list[nn.Module] = [
                nn.Conv2d(sizes[i], sizes[i + 1], kernel_size, padding=kernel_size // 2, bias=not batch_norm)
            ]
            if batch_norm:
                layers.append(nn.BatchNorm2d(sizes[i + 1]))
            layers.append(nn.ReLU())
            if p > 1:
                layers.append(nn.MaxPool2d(p))
            if dropout > 0:
                layers.append(nn.Dropout2d(dropout))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)

    @property
    def out_channels(self) -> int:
        """C of the last block."""
        return self.channels[-1]

    def output_grid(self, height: int, width: int) -> tuple[int, int]:
        """(H', W') of the feature maps of an H×W image."""
        for p in self.pool:
            height, width = height // p, width // p
        return height, width

    def forward(self, images: Tensor) -> Tensor:
        """(B, C_in, H, W) images → (B, C, H', W') feature maps."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ShapeError(
                f"ConvEncoder2d expects images (B, C_in, H, W) with C_in={self.in_channels}, got "
                f"{tuple(images.shape)}; add a channel axis to grey images with images.unsqueeze(1)"
            )
        if min(self.output_grid(images.shape[2], images.shape[3])) < 1:
            raise ShapeError(
                f"ConvEncoder2d: a {images.shape[2]}×{images.shape[3]} image is too small for pools {list(self.pool)} "
                "(the grid would shrink to nothing); use smaller pools or fewer blocks"
            )
        return self.blocks(images)  # (B, C, H', W')
