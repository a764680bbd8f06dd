"""Assembled systems built from ``seqlab.nn`` parts.

* :class:`RecurrentClassifier` — many-to-one text classifier (the notes' sentiment model).
* :class:`RecurrentEncoder`, :class:`Pooling` — the shared sequence encoder and its pooling.
* :class:`RNNLanguageModel` — character/word language model for truncated BPTT.

The config → model mapping is the tasks' (:mod:`seqlab.tasks`): this package never sees a config.
"""

from seqlab.models.classifier import RecurrentClassifier, recurrent_classifier
from seqlab.models.encoders import Pooling, RecurrentEncoder
from seqlab.models.language_model import RNNLanguageModel, rnn_language_model

__all__ = [
    "RecurrentClassifier",
    "recurrent_classifier",
    "RNNLanguageModel",
    "rnn_language_model",
    "RecurrentEncoder",
    "Pooling",
]
