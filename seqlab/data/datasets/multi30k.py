"""Multi30k task 1, German-English (Elliott et al. 2016; test 2017: Elliott et al. 2017).

Files are the gzip-compressed originals of multi30k/dataset (read directly with
:mod:`gzip`): one untokenized, cased UTF-8 sentence per line, ``.de`` and ``.en``
line-aligned.  Splits: ``train`` 29,000, ``valid`` 1,014, ``test2016`` 1,000 (the
standard test set, torchtext's Multi30k), and the extra held-out sets
``test2017_flickr`` 1,000, ``test2017_mscoco`` 461, ``test2018`` 1,071 (Flickr).
``source``/``target`` pick the direction (default de -> en).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import Dataset

from seqlab.errors import ConfigurationError, DataError

__all__ = ["TranslationDataset", "EncodedPairDataset", "load_multi30k", "MULTI30K_SPLITS", "LANGUAGES"]

LANGUAGES = ("de", "en")
# split name -> file stem under multi30k/raw/
MULTI30K_SPLITS = {
    "train": "train",
    "valid": "val",
    "test2016": "test_2016_flickr",
    "test2017_flickr": "test_2017_flickr",
    "test2017_mscoco": "test_2017_mscoco",
    "test2018": "test_2018_flickr",
}


class TranslationDataset(Dataset):
    """Parallel sentences: ``dataset[i]`` is ``(source_text, target_text)``.

    Attributes: name, split, source_lang, target_lang, source_texts, target_texts.
    """

    def __init__(self, source_texts: list[str], target_texts: list[str], *, name: str, split: str,
                 source_lang: str, target_lang: str) -> None:
        if len(source_texts) != len(target_texts):
            raise DataError(f"{name}/{split}: {len(source_texts)} {source_lang} lines but {len(target_texts)} {target_lang} lines")
        self.source_texts = source_texts
        self.target_texts = target_texts
        self.name = name
        self.split = split
        self.source_lang = source_lang
        self.target_lang = target_lang

    def __len__(self) -> int:
        return len(self.source_texts)

    def __getitem__(self, index: int) -> tuple[str, str]:
        return self.source_texts[index], self.target_texts[index]

    def encode(self, encode_source: Callable[[str], list[int]], encode_target: Callable[[str], list[int]]) -> EncodedPairDataset:
        """Id view for ``pair_collate``: e.g. ``ds.encode(lambda s: bpe_de.encode(s, add_eos=True),
        lambda t: bpe_en.encode(t, add_bos=True, add_eos=True))``."""
        return EncodedPairDataset(
            [torch.tensor(encode_source(s), dtype=torch.long) for s in self.source_texts],
            [torch.tensor(encode_target(t), dtype=torch.long) for t in self.target_texts],
        )

    def __repr__(self) -> str:
        return (f"TranslationDataset(name={self.name!r}, split={self.split!r}, "
                f"{self.source_lang}->{self.target_lang}, size={len(self)})")


class EncodedPairDataset(Dataset):
    """``dataset[i]`` is ``(source_ids (S,), target_ids (T,))`` int64; ``lengths`` are the source
    lengths (for :class:`~seqlab.data.samplers.BucketBatchSampler`)."""

    def __init__(self, sources: list[torch.Tensor], targets: list[torch.Tensor]) -> None:
        self.sources = sources
        self.targets = targets
        self.lengths = [len(s) for s in sources]
        self.target_lengths = [len(t) for t in targets]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sources[index], self.targets[index]


def _read_gz_lines(path: Path) -> list[str]:
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
            return [line.rstrip("\n") for line in f]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as gzip-compressed UTF-8 text ({exc}); re-download it") from None


def load_multi30k(name: str, split: str, paths: dict[str, Path], *, source: str = "de", target: str = "en") -> TranslationDataset:
    for role, lang in (("source", source), ("target", target)):
        if lang not in LANGUAGES:
            raise ConfigurationError(f"{role}={lang!r} is not a Multi30k language here; valid: {list(LANGUAGES)}")
    if source == target:
        raise ConfigurationError(f"source and target are both {source!r}; pick de->en or en->de")
    stem = MULTI30K_SPLITS[split]
    by_name = {Path(p).name: Path(p) for p in paths.values()}
    src = _read_gz_lines(by_name[f"{stem}.{source}.gz"])
    tgt = _read_gz_lines(by_name[f"{stem}.{target}.gz"])
    return TranslationDataset(src, tgt, name=name, split=split, source_lang=source, target_lang=target)
