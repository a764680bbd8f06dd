"""MNIST (LeCun et al. 1998) from the original idx ``.gz`` files, for sequential MNIST.

``dataset[i]`` is ``(image (28, 28) float32 in [0, 1], label)``: read row by row it is a
sequence of T = 28 steps of I = 28 features, the classic RNN benchmark
(Le et al. 2015 read it pixel by pixel: ``image.reshape(784, 1)``).
Splits: ``train`` 60,000 (its image file is missing from shared/data: loading it
downloads it or names the URL), ``test`` 10,000.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.errors import DataError

__all__ = ["MNISTDataset", "load_mnist", "read_idx"]

_DTYPES = {0x08: np.uint8}


def read_idx(path: str | Path) -> np.ndarray:
    """Read a (gzip-compressed) idx file into an array of its declared shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path} ({exc}); re-download it") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"{path} is not an unsigned-byte idx file (bad magic {data[:4].hex()})")
    ndim = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=_DTYPES[data[2]], offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: header says {dims} but holds {body.size} values (truncated?)")
    return body.reshape(dims)


class MNISTDataset(Dataset):
    """Attributes: images ``(N, 28, 28)`` uint8 tensor, labels ``(N,)`` int64 tensor,
    class_names, num_classes (10)."""

    class_names = [str(d) for d in range(10)]

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, name: str, split: str) -> None:
        if len(images) != len(labels):
            raise DataError(f"{name}/{split}: {len(images)} images but {len(labels)} labels")
        self.images = torch.from_numpy(images.copy())
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.name = name
        self.split = split

    @property
    def num_classes(self) -> int:
        return 10

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float() / 255.0, int(self.labels[index])


def load_mnist(name: str, split: str, paths: dict[str, Path]) -> MNISTDataset:
    prefix = "train" if split == "train" else "t10k"
    by_name = {Path(p).name: Path(p) for p in paths.values()}
    images = read_idx(by_name[f"{prefix}-images-idx3-ubyte.gz"])
    labels = read_idx(by_name[f"{prefix}-labels-idx1-ubyte.gz"])
    return MNISTDataset(images, labels, name=name, split=split)
