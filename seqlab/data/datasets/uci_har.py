"""UCI HAR (Anguita et al. 2013): 9-channel smartphone inertial signals, 6 activities.

Each window is 128 time steps (2.56 s at 50 Hz) of 9 channels (body_acc, body_gyro,
total_acc; x/y/z), so ``dataset[i]`` is ``(signals (128, 9) float32, label 0..5)``.
Splits ``train`` (7,352 windows, 21 subjects) / ``test`` (2,947, 9 subjects).

shared/data holds only the labels, subjects and metadata: the ``Inertial Signals``
files are missing (each >= 4 MiB upstream).  Loading therefore downloads them (they are
checked against their upstream git blob ids) or, offline, raises DatasetNotFoundError
naming every missing file and its URL.  Nothing is faked from the labels alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.errors import DataError

__all__ = ["HARDataset", "load_uci_har", "CHANNELS", "ROOT"]

ROOT = "uci_har/UCI HAR Dataset"
CHANNELS = tuple(f"{kind}_{axis}" for kind in ("body_acc", "body_gyro", "total_acc") for axis in "xyz")


def har_files(split: str) -> list[str]:
    """Relative paths a split needs."""
    return [
        f"{ROOT}/activity_labels.txt",
        f"{ROOT}/{split}/y_{split}.txt",
        f"{ROOT}/{split}/subject_{split}.txt",
        *(f"{ROOT}/{split}/Inertial Signals/{c}_{split}.txt" for c in CHANNELS),
    ]


class HARDataset(Dataset):
    """Attributes: signals ``(N, 128, 9)`` float32 tensor, labels ``(N,)`` int64 (0-based),
    subjects ``(N,)`` int64, class_names (WALKING, ...), channels."""

    channels = list(CHANNELS)

    def __init__(self, signals: np.ndarray, labels: np.ndarray, subjects: np.ndarray, class_names: list[str], *, split: str) -> None:
        self.signals = torch.from_numpy(np.ascontiguousarray(signals, dtype=np.float32))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.subjects = torch.from_numpy(subjects.astype(np.int64))
        self.class_names = class_names
        self.name = "uci_har"
        self.split = split

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.signals[index], int(self.labels[index])


def load_uci_har(name: str, split: str, paths: dict[str, Path]) -> HARDataset:
    names = []
    for line in paths[f"{ROOT}/activity_labels.txt"].read_text(encoding="ascii").splitlines():
        if line.strip():
            names.append(line.split()[1])
    labels = np.loadtxt(paths[f"{ROOT}/{split}/y_{split}.txt"], dtype=np.int64) - 1
    subjects = np.loadtxt(paths[f"{ROOT}/{split}/subject_{split}.txt"], dtype=np.int64)
    channels = []
    for c in CHANNELS:
        path = paths[f"{ROOT}/{split}/Inertial Signals/{c}_{split}.txt"]
        arr = np.loadtxt(path, dtype=np.float32, ndmin=2)  # (N, 128)
        if arr.shape != (len(labels), 128):
            raise DataError(f"{path}: expected {len(labels)} windows x 128 steps, got {arr.shape}")
        channels.append(arr)
    signals = np.stack(channels, axis=-1)  # (N, 128, 9)
    return HARDataset(signals, labels, subjects, names, split=split)
