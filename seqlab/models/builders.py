"""Map a ``[model]`` config section to a model (STYLE.md principle 7: builders assemble).

``model.kind`` picks the system:

* ``classifier`` — :class:`~seqlab.models.classifier.RecurrentClassifier` (many-to-one);
* ``text_cnn`` — :class:`~seqlab.models.text_cnn.TextCNN` (Kim 2014);
* ``language_model`` — :class:`~seqlab.models.language_model.RNNLanguageModel`;
* ``window_lm`` / ``bow_lm`` — the Exercise 2 baselines of :mod:`seqlab.models.window_lm`.

``keras_lstm`` (the notes' Keras model) is built by the recipe layer with ``seqlab.keras``
(:func:`seqlab.recipes.build.build_keras_model`), which sits above this layer.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from seqlab.config import ModelConfig
from seqlab.errors import ConfigurationError
from seqlab.models.classifier import recurrent_classifier
from seqlab.models.language_model import rnn_language_model
from seqlab.models.text_cnn import TextCNN
from seqlab.models.window_lm import bag_of_words_lm, fixed_window_lm

__all__ = ["build_model", "check_model_config"]


def check_model_config(config: ModelConfig) -> None:
    """Cross-key checks of a ``[model]`` section that types alone cannot express.

    Raises:
        ConfigurationError: saying which keys conflict and how to fix them.
    """
    if config.vectors is not None and config.kind != "text_cnn":
        raise ConfigurationError(
            f"model.vectors is used by model.kind='text_cnn' only, but model.kind={config.kind!r}; "
            "remove model.vectors or set model.kind=text_cnn."
        )
    if config.kind == "text_cnn":
        if config.embedding_mode == "rand" and config.vectors is not None:
            raise ConfigurationError(
                f"model.vectors={config.vectors!r} is given but model.embedding_mode='rand' ignores it; "
                "set model.embedding_mode to static, non-static or multichannel, or remove model.vectors."
            )
        if not config.filter_widths or min(config.filter_widths) < 1:
            raise ConfigurationError(
                f"model.filter_widths must be a non-empty list of positive widths, got {config.filter_widths}; "
                "Kim (2014) uses [3, 4, 5]."
            )
        if config.num_filters < 1:
            raise ConfigurationError(f"model.num_filters must be >= 1, got {config.num_filters}; Kim (2014) uses 100.")
        if config.max_norm is not None and not config.max_norm > 0:
            raise ConfigurationError(f"model.max_norm must be > 0 or none, got {config.max_norm}; Kim (2014) uses 3.")
    if config.init != "torch" and config.kind != "classifier":
        raise ConfigurationError(
            f"model.init={config.init!r} applies to model.kind='classifier' only (keras_lstm already starts "
            f"from Keras' initializers), but model.kind={config.kind!r}; remove model.init."
        )
    if config.unk_init != "random" and config.kind not in ("classifier", "text_cnn"):
        raise ConfigurationError(
            f"model.unk_init={config.unk_init!r} applies to the classifiers (classifier, text_cnn), "
            f"not model.kind={config.kind!r}."
        )
    if config.kind in ("window_lm", "bow_lm") and config.window_size < 1:
        raise ConfigurationError(f"model.window_size must be >= 1 for {config.kind}, got {config.window_size}.")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigurationError(f"model.dropout must be in [0, 1), got {config.dropout}.")


@torch.no_grad()
def zero_unknown_rows_(model: nn.Module, unk_idx: int) -> None:
    """Set the ``<unk>`` row of every embedding of ``model`` to zero (``model.unk_init="zero"``).

    Why: with ``data.min_freq = 1`` no training token maps to ``<unk>``, so its row never gets
    a gradient and keeps its random initial vector: every unseen test word becomes the *same*
    random feature. A zero row makes an unseen word contribute nothing, so a text of unseen
    words is classified from the biases alone. When ``<unk>`` does occur in training
    (``min_freq > 1``) the row is trained from zero.

    Measured on MPQA (phrases of ~3 words, ~6 % of test phrases entirely unseen; Kim CNN, fold
    3 / fold 1): random ``<unk>`` 78.5 % / 86.3 %, zero ``<unk>`` 82.5 % / 83.2 %, and
    ``min_freq = 2`` (``<unk>`` trained on the training singletons) 83.5 % / 86.2 %, which
    the MPQA recipe uses (benchmarks/results/text_classification_settings.md).
    """
    for module in model.modules():
        if isinstance(module, nn.Embedding) and unk_idx < module.num_embeddings:
            module.weight[unk_idx].zero_()


def build_model(
    config: ModelConfig,
    vocab_size: int,
    num_classes: Optional[int] = None,
    padding_idx: Optional[int] = 0,
    pretrained: Optional[Tensor] = None,
    unk_idx: Optional[int] = None,
) -> nn.Module:
    """The model a config describes.

    Args:
        config: the ``[model]`` section.
        vocab_size: V, from the vocabulary built on the training split.
        num_classes: C, required by the classifiers.
        padding_idx: the vocabulary's padding id (classifiers only).
        unk_idx: the vocabulary's ``<unk>`` id; needed by ``model.unk_init="zero"``.
        pretrained: (V, E) initial word vectors for a ``text_cnn`` in a non-``rand`` mode
            (``seqlab.data.vectors.load_vectors``). When None in such a mode the architecture
            is built with zero vectors, to be overwritten by a checkpoint (``load_run``); the
            recipe runner always passes the vectors of ``model.vectors`` when training.

    Raises:
        ConfigurationError: conflicting keys (:func:`check_model_config`), a classifier
            without ``num_classes``, or ``model.kind='keras_lstm'`` (not a ``torch`` builder).
    """
    check_model_config(config)
    kind = config.kind
    if kind in ("classifier", "text_cnn") and num_classes is None:
        raise ConfigurationError(f"a {kind} needs num_classes; the dataset did not provide it.")
    if kind not in ("language_model",) and config.tie_weights:
        raise ConfigurationError("model.tie_weights applies to model.kind='language_model' only; set it to false.")
    if kind not in ("classifier",) and config.bidirectional:
        raise ConfigurationError(
            f"model.bidirectional=true cannot be used by model.kind={kind!r} (a language model would see the "
            "future; the other kinds have no recurrent layer to reverse); set model.bidirectional=false."
        )
    if config.unk_init == "zero" and unk_idx is None:
        raise ConfigurationError("model.unk_init='zero' needs the vocabulary's <unk> id (build_model(unk_idx=...)).")
    model = _architecture(config, vocab_size, num_classes, padding_idx, pretrained)
    if config.unk_init == "zero":
        zero_unknown_rows_(model, unk_idx)
    return model


def _architecture(config: ModelConfig, vocab_size: int, num_classes: Optional[int], padding_idx: Optional[int],
                  pretrained: Optional[Tensor]) -> nn.Module:
    """The module of ``config.kind``, freshly initialized (arguments as :func:`build_model`)."""
    kind = config.kind
    if kind == "classifier":
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
            init=config.init,
        )
    if kind == "text_cnn":
        if config.embedding_mode != "rand" and pretrained is None:
            pretrained = torch.zeros(vocab_size, config.embedding_dim)  # placeholder, see the docstring
        return TextCNN(
            vocab_size,
            num_classes,
            embedding_dim=config.embedding_dim,
            filter_widths=config.filter_widths,
            num_filters=config.num_filters,
            dropout=config.dropout,
            max_norm=config.max_norm,
            mode=config.embedding_mode,
            pretrained=pretrained if config.embedding_mode != "rand" else None,
            padding_idx=0 if padding_idx is None else padding_idx,
        )
    if kind == "window_lm":
        return fixed_window_lm(
            vocab_size,
            context_size=config.window_size,
            embedding_dim=config.embedding_dim,
            hidden_size=config.hidden_size,
            dropout=config.dropout,
        )
    if kind == "bow_lm":
        return bag_of_words_lm(vocab_size, context_size=config.window_size, embedding_dim=config.embedding_dim)
    if kind == "keras_lstm":
        raise ConfigurationError(
            "model.kind='keras_lstm' is a seqlab.keras model: the recipe runner builds it "
            "(seqlab.recipes.build.build_keras_model) and a run stores it as RUN_DIR/model.keras, "
            "loaded with seqlab.keras.load_model; `seqlab predict RUN_DIR` reads it."
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
