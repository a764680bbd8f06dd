"""Free Spoken Digit Dataset (Jakobovski et al.): 3,000 recordings of spoken digits.

6 speakers x 10 digits x 50 takes, files ``recordings/{digit}_{speaker}_{index}.wav``,
RIFF WAV, 8 kHz, mono, 16-bit PCM.  Official split (README "Usage"): takes 0-4 are
``test`` (300), 5-49 ``train`` (2,700); ``all`` is every recording.

Audio is read with the standard library's :mod:`wave` (16-bit PCM to float32 in
[-1, 1)): it handles exactly this format, needs no native libsndfile, and adds no
dependency; any other format is rejected with a DataError rather than misread.
Waveforms are read lazily in ``__getitem__`` (the file list is known up front), so
loading is instant and DataLoader workers share the work.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.errors import DataError

__all__ = ["Recording", "SpokenDigitDataset", "load_fsdd", "read_wav", "SAMPLE_RATE", "SPEAKERS", "TEST_TAKES"]

SAMPLE_RATE = 8000
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
TEST_TAKES = range(0, 5)


class Recording(NamedTuple):
    """One FSDD item; first two fields are ``(sequence, label)`` so ``pad_collate`` works.

    waveform: ``(T,)`` float32 tensor in [-1, 1); digit: 0-9; speaker: name;
    sample_rate: 8000; take: the recording index 0-49.
    """

    waveform: torch.Tensor
    digit: int
    speaker: str
    sample_rate: int
    take: int


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a mono 16-bit PCM WAV as float32 in [-1, 1) and its sample rate."""
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{path} is not a readable WAV file ({exc})") from None
    if channels != 1 or width != 2:
        raise DataError(f"{path}: expected mono 16-bit PCM, got {channels} channel(s) of {8 * width}-bit samples")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, rate


def parse_name(file_name: str) -> tuple[int, str, int]:
    """``"3_theo_17.wav"`` -> ``(3, "theo", 17)``."""
    stem = file_name.rsplit(".", 1)[0]
    digit, speaker, take = stem.split("_")
    return int(digit), speaker, int(take)


class SpokenDigitDataset(Dataset):
    """FSDD split.  ``dataset[i]`` is a :class:`Recording` ``(waveform (T,), digit, speaker, sample_rate, take)``.

    Attributes: paths, digits (= labels), speakers, takes, class_names ("0".."9"),
    num_classes (10), sample_rate (8000), speaker_names.
    """

    sample_rate = SAMPLE_RATE
    class_names = [str(d) for d in range(10)]
    speaker_names = list(SPEAKERS)

    def __init__(self, paths: list[Path], *, name: str, split: str) -> None:
        self.paths = paths
        self.name = name
        self.split = split
        parsed = [parse_name(p.name) for p in paths]
        self.digits = [d for d, _, _ in parsed]
        self.speakers = [s for _, s, _ in parsed]
        self.takes = [t for _, _, t in parsed]

    @property
    def labels(self) -> list[int]:
        return self.digits

    @property
    def num_classes(self) -> int:
        return 10

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Recording:
        audio, rate = read_wav(self.paths[index])
        if rate != SAMPLE_RATE:
            raise DataError(f"{self.paths[index]}: sample rate {rate} Hz, FSDD is {SAMPLE_RATE} Hz")
        return Recording(torch.from_numpy(audio), self.digits[index], self.speakers[index], rate, self.takes[index])

    def __repr__(self) -> str:
        return f"SpokenDigitDataset(split={self.split!r}, recordings={len(self)})"


def load_fsdd(name: str, split: str, paths: dict[str, Path]) -> SpokenDigitDataset:
    chosen = []
    for rel in sorted(paths, key=lambda r: parse_name(Path(r).name)):
        _, _, take = parse_name(Path(rel).name)
        if split == "all" or (take in TEST_TAKES) == (split == "test"):
            chosen.append(paths[rel])
    return SpokenDigitDataset(chosen, name=name, split=split)
