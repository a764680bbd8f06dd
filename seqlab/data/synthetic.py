"""Generated long-range-dependency tasks: copy memory and the adding problem.

Both make the notes' "I live in France … I speak fluent French" argument measurable:
the information needed at the end of the sequence was seen ``delay`` steps earlier.
Every dataset is generated at construction from its own seeded generator, so the same
arguments always give the same tensors, independent of the global RNG.

Copy memory (Hochreiter & Schmidhuber 1997, section 5; the form of Arjovsky et al. 2016)::

    input : s1 … s10  0 0 … 0 (delay−1 blanks)  9  0 … 0 (10 blanks)
    target: 0 … 0 (delay + 10 blanks)                 s1 … s10

with symbols s_i from {1, …, 8}, blank 0 and the "recall now" marker 9 (num_symbols + 1);
sequence length delay + 20.  A model that does not remember predicts the 10 symbols by chance:
cross-entropy 10·log 8 / (delay + 20) nats per step, recall accuracy 1/8.

Adding problem (Hochreiter & Schmidhuber 1997, section 5.4)::

    input : (T, 2); channel 0 ~ U[0, 1], channel 1 is 1 at two positions
            (one in each half of the sequence) and 0 elsewhere
    target: the sum of the two marked values

Predicting the constant 1 gives mean squared error 1/6 ≈ 0.167: the baseline to beat.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from seqlab.errors import ConfigurationError

COPY_BLANK = 0


class CopyMemoryDataset(Dataset):
    """The copy-memory task.

    Args:
        num_samples: number of sequences.
        delay: blank steps between the symbols and the recall marker (T = delay + 2·copy_length).
        copy_length: number of symbols to remember (10 in Arjovsky et al.).
        num_symbols: symbols are drawn from 1 … num_symbols (8).
        seed: generator seed.

    Items are ``(inputs (T,), targets (T,))`` int64 tensors; ``num_classes`` is num_symbols + 2.
    """

    def __init__(self, num_samples: int, delay: int, copy_length: int = 10, num_symbols: int = 8, seed: int = 0) -> None:
        if num_samples < 1 or delay < 1 or copy_length < 1 or num_symbols < 2:
            raise ConfigurationError(
                "CopyMemoryDataset: num_samples, delay and copy_length must be >= 1 and num_symbols >= 2, got "
                f"num_samples={num_samples}, delay={delay}, copy_length={copy_length}, num_symbols={num_symbols}"
            )
        self.delay, self.copy_length, self.num_symbols = delay, copy_length, num_symbols
        self.marker = num_symbols + 1
        self.num_classes = num_symbols + 2
        g = torch.Generator().manual_seed(seed)
        length = delay + 2 * copy_length
        symbols = torch.randint(1, num_symbols + 1, (num_samples, copy_length), generator=g)
        inputs = torch.full((num_samples, length), COPY_BLANK, dtype=torch.long)
        inputs[:, :copy_length] = symbols
        inputs[:, delay + copy_length - 1] = self.marker
        targets = torch.full((num_samples, length), COPY_BLANK, dtype=torch.long)
        targets[:, -copy_length:] = symbols
        self.inputs, self.targets = inputs, targets  # (N, T) each

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]

    @property
    def chance_cross_entropy(self) -> float:
        """Per-step cross-entropy (nats) of the best memoryless model."""
        import math

        return self.copy_length * math.log(self.num_symbols) / self.inputs.shape[1]

    def recall_accuracy(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Fraction of the recalled symbols predicted correctly; logits (B, T, C), targets (B, T)."""
        k = self.copy_length
        return (logits[:, -k:].argmax(-1) == targets[:, -k:]).float().mean()


class AddingProblemDataset(Dataset):
    """The adding problem.

    Args:
        num_samples: number of sequences.
        length: sequence length T (the delay between the two marked values is up to T).
        seed: generator seed.

    Items are ``(inputs (T, 2) float32, target () float32)``.
    """

    baseline_mse = 1.0 / 6.0

    def __init__(self, num_samples: int, length: int, seed: int = 0) -> None:
        if num_samples < 1 or length < 2:
            raise ConfigurationError(
                f"AddingProblemDataset: need num_samples >= 1 and length >= 2, got {num_samples}, {length}"
            )
        g = torch.Generator().manual_seed(seed)
        values = torch.rand(num_samples, length, generator=g)
        half = length // 2
        first = torch.randint(0, half, (num_samples,), generator=g)
        second = torch.randint(half, length, (num_samples,), generator=g)
        markers = torch.zeros(num_samples, length)
        rows = torch.arange(num_samples)
        markers[rows, first] = 1.0
        markers[rows, second] = 1.0
        self.inputs = torch.stack([values, markers], dim=2)  # (N, T, 2)
        self.targets = values[rows, first] + values[rows, second]  # (N,)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.inputs[index], self.targets[index]
