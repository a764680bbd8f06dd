"""Loaders of the registered datasets, one module per family (see :mod:`seqlab.data.registry`)."""

from seqlab.data.datasets.fsdd import Recording, SpokenDigitDataset
from seqlab.data.datasets.kim2014 import EncodedTextDataset, TextClassificationDataset
from seqlab.data.datasets.mnist import MNISTDataset
from seqlab.data.datasets.multi30k import EncodedPairDataset, TranslationDataset
from seqlab.data.datasets.text_lm import TokenCorpus
from seqlab.data.datasets.uci_har import HARDataset

__all__ = [
    "TextClassificationDataset",
    "EncodedTextDataset",
    "TokenCorpus",
    "TranslationDataset",
    "EncodedPairDataset",
    "SpokenDigitDataset",
    "Recording",
    "MNISTDataset",
    "HARDataset",
]
