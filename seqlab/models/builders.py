"""Map a ``[model]`` config section to a model (STYLE.md principle 7: builders assemble)."""

from __future__ import annotations

from typing import Optional

from torch import nn

from seqlab.config import ModelConfig
from seqlab.errors import ConfigurationError
from seqlab.models.classifier import recurrent_classifier
from seqlab.models.language_model import rnn_language_model


def build_model(
    config: ModelConfig,
    vocab_size: int,
    num_classes: Optional[int] = None,
    padding_idx: Optional[int] = 0,
) -> nn.Module:
    """The model a config describes.

    Args:
        config: the ``[model]`` section.
        vocab_size: V, from the vocabulary built on the training split.
        num_classes: C, required when ``config.kind == "classifier"``.
        padding_idx: the vocabulary's padding id (classifier only).
    """
    if config.kind == "classifier":
        if num_classes is None:
            raise ConfigurationError("a classifier needs num_classes; the dataset did not provide it.")
        if config.tie_weights:
            raise ConfigurationError("model.tie_weights applies to language models only; set it to false.")
        return recurrent_classifier(
            vocab_size,
            num_classes,
            rnn_type=config.rnn_type,
            cell=config.cell,
            embedding_dim=config.embedding_dim,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            pooling=config.pooling,
            dropout=config.dropout,
            embedding_dropout=config.embedding_dropout,
            padding_idx=padding_idx,
            impl=config.impl,
        )
    if config.bidirectional:
        raise ConfigurationError(
            "model.bidirectional=true cannot be used by a language model (it would see the future); "
            "set model.bidirectional=false."
        )
    return rnn_language_model(
        vocab_size,
        rnn_type=config.rnn_type,
        cell=config.cell,
        embedding_dim=config.embedding_dim,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout,
        embedding_dropout=config.embedding_dropout,
        tie_weights=config.tie_weights,
        impl=config.impl,
    )
