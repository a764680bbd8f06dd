"""Data: datasets and their registry, downloads, tokenizers, vocabularies, batching.

* :mod:`~seqlab.data.registry` — ``load(name, split, data_dir=None, **options)``, ``available()``;
* :mod:`~seqlab.data.download` — find files (data_dir, $SEQLAB_DATA_DIR, cache), check, download;
* :mod:`~seqlab.data.archives` — safe tar/zip extraction;
* :mod:`~seqlab.data.vocab` — :class:`Vocabulary` (``<pad>`` = 0);
* :mod:`~seqlab.data.tokenizers` — word, character and BPE tokenizers;
* :mod:`~seqlab.data.vectors` — pre-trained word2vec/GloVe vectors aligned to a vocabulary;
* :mod:`~seqlab.data.collate` — padding collate (``(B, T)`` ids, lengths, bool mask True = real);
* :mod:`~seqlab.data.samplers` — length-bucketed batch sampler;
* :mod:`~seqlab.data.streams` — LM stream batching for truncated BPTT.
"""

from seqlab.data.archives import extract_archive
from seqlab.data.collate import PadCollate, PaddedBatch, PairBatch, PairCollate, pad_collate, pad_sequences, pair_collate
from seqlab.data.datasets import (
    EncodedPairDataset,
    EncodedTextDataset,
    HARDataset,
    MNISTDataset,
    Recording,
    SpokenDigitDataset,
    TextClassificationDataset,
    TokenCorpus,
    TranslationDataset,
)
from seqlab.data.download import RemoteFile, cache_dir, data_search_dirs, download_file
from seqlab.data.registry import DatasetSpec, available, dataset_status, get_spec, load
from seqlab.data.samplers import BucketBatchSampler
from seqlab.data.streams import StreamDataset, StreamWindow, batchify, stream_loader
from seqlab.data.tokenizers import BPETokenizer, CharTokenizer, KimTokenizer, WordTokenizer
from seqlab.data.vectors import VectorCoverage, load_vectors
from seqlab.data.vocab import UnknownTokenError, Vocabulary

__all__ = [
    "load", "available", "get_spec", "dataset_status", "DatasetSpec", "RemoteFile",
    "cache_dir", "data_search_dirs", "download_file", "extract_archive",
    "Vocabulary", "UnknownTokenError", "load_vectors", "VectorCoverage", "WordTokenizer", "KimTokenizer", "CharTokenizer", "BPETokenizer",
    "pad_sequences", "pad_collate", "PadCollate", "PaddedBatch", "pair_collate", "PairCollate", "PairBatch",
    "BucketBatchSampler", "StreamDataset", "StreamWindow", "batchify", "stream_loader",
    "TextClassificationDataset", "EncodedTextDataset", "TokenCorpus", "TranslationDataset", "EncodedPairDataset",
    "SpokenDigitDataset", "Recording", "MNISTDataset", "HARDataset",
]
