"""Recurrent many-to-one classifier: the notes' sentiment model (Embedding → LSTM → Dropout → Dense).

Architecture (:class:`~seqlab.models.encoders.RecurrentEncoder` + :class:`~seqlab.models.encoders.Pooling`
+ a head)::

    ids (B, T) ─ Embedding ─ dropout ─ RNN / LSTM (any cell) / GRU, uni- or bidirectional
        ─ pooling over valid steps (last state | max | mean) ─ dropout ─ Linear ─ logits (B, C)

* ``lengths`` is passed to the recurrent layer, so padded steps never touch the state, and
  pooling only looks at valid steps: padding a batch further never changes the logits.
* "last" pooling uses the final state of each direction: the forward direction's state at
  the last valid step and the backward direction's state after reading the whole sentence
  (Schuster & Paliwal 1997; Tai et al. 2015 use the final LSTM state for SST).
* "max" / "mean" pool the top layer's outputs over valid steps (Conneau et al. 2017 found
  max pooling the strongest for BiLSTM sentence encoders).
* ``init="keras"`` starts from Keras' defaults instead of torch's (see :func:`keras_init_`):
  on SST-2 from scratch it is worth several points of test accuracy (benchmarks/results/
  text_classification.md), the gap between the notes' Keras model and a torch-initialized one.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models._recurrent import recurrent_layer
from seqlab.models._state_names import keep_state_dict_names
from seqlab.models.encoders import POOLINGS, Pooling, RecurrentEncoder

__all__ = ["POOLINGS", "INITS", "keras_init_", "RecurrentClassifier", "recurrent_classifier"]

INITS = ("torch", "keras")


@torch.no_grad()
def keras_init_(module: nn.Module, *, rnn_type: str, cell: str, hidden_size: int) -> None:
    """Re-initialize an embedding / recurrent / dense stack in place with Keras' defaults.

    * ``Embedding``: U(-0.05, 0.05) (Keras' ``uniform``), the padding row kept at zero;
    * input kernels ``weight_ih*`` (G·H, I): glorot-uniform, whose torch fans equal the
      Keras kernel's (I, G·H) fans;
    * recurrent kernels ``weight_hh*`` (G·H, H): one orthogonal matrix over all gates
      (Saxe et al. 2014), as Keras' ``orthogonal`` on its (H, G·H) kernel;
    * every bias zero, except an LSTM's forget-gate slice of ``bias_ih*``, set to 1
      (Keras' ``unit_forget_bias``; Jozefowicz et al. 2015, Section 3). Gate blocks follow
      torch.nn: i, f, g, o (standard, peephole, layernorm) and f, g, o (coupled);
    * ``Linear`` weights glorot-uniform, biases zero;
    * peephole weights and layer-norm gains keep their own initialization (Keras has none).
    """
    forget = None
    if rnn_type == "lstm":
        start = 0 if cell == "coupled" else hidden_size
        forget = slice(start, start + hidden_size)
    for sub in module.modules():
        if isinstance(sub, nn.Embedding):
            nn.init.uniform_(sub.weight, -0.05, 0.05)
            if sub.padding_idx is not None:
                sub.weight[sub.padding_idx].zero_()
        elif isinstance(sub, nn.Linear):
            nn.init.xavier_uniform_(sub.weight)
            if sub.bias is not None:
                nn.init.zeros_(sub.bias)
    for name, param in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf.startswith("weight_ih"):
            nn.init.xavier_uniform_(param)
        elif leaf.startswith("weight_hh"):
            nn.init.orthogonal_(param)
        elif leaf.startswith("bias_ih") or leaf.startswith("bias_hh"):
            nn.init.zeros_(param)
            if forget is not None and leaf.startswith("bias_ih"):
                param[forget] = 1.0


class RecurrentClassifier(nn.Module):
    """Embedding → recurrent encoder → pooling → dropout → Linear(num_classes).

    Args:
        vocab_size: V, number of token ids.
        num_classes: C, number of output classes.
        embedding_dim: E.
        hidden_size: H per direction.
        num_layers: stacked recurrent layers (dropout between them).
        rnn_type: "rnn", "lstm" or "gru".
        cell: LSTM cell variant ("standard", "peephole", "coupled", "layernorm").
        bidirectional: add a right-to-left direction; features become 2H.
        pooling: "last", "max" or "mean" over valid steps.
        dropout: on the embeddings (unless ``embedding_dropout`` is given), between layers and
            before the output layer.
        embedding_dropout: dropout on the embeddings; None uses ``dropout``.
        padding_idx: id of the padding token (its embedding stays zero).
        impl: recurrent implementation forwarded to ``seqlab.nn``.
        init: ``"torch"`` keeps torch.nn's initialization; ``"keras"`` applies Keras'
            defaults (:func:`keras_init_`).

    Shapes:
        ``forward(ids (B, T), lengths (B,) | None) -> logits (B, C)``.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        rnn_type: str = "lstm",
        cell: str = "standard",
        bidirectional: bool = False,
        pooling: str = "last",
        dropout: float = 0.5,
        embedding_dropout: Optional[float] = None,
        padding_idx: Optional[int] = 0,
        impl: str = "auto",
        init: str = "torch",
    ) -> None:
        super().__init__()
        if init not in INITS:
            raise ConfigurationError(
                f"model.init={init!r} is not supported; expected one of {', '.join(INITS)}."
            )
        if num_classes < 2:
            raise ConfigurationError(f"num_classes={num_classes} must be at least 2.")
        pool = Pooling(pooling)  # checks the name before any parameter is drawn
        embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
        rnn = recurrent_layer(
            rnn_type,
            embedding_dim,
            hidden_size,
            num_layers,
            cell=cell,
            dropout=dropout,
            bidirectional=bidirectional,
            impl=impl,
        )
        encoder = RecurrentEncoder(embedding, rnn, dropout if embedding_dropout is None else embedding_dropout)
        self._assemble(encoder, pool, num_classes, dropout)
        if init == "keras":
            keras_init_(self, rnn_type=rnn_type, cell=cell, hidden_size=hidden_size)

    @classmethod
    def from_parts(
        cls, encoder: RecurrentEncoder, num_classes: int, *, pooling: str | Pooling = "last", dropout: float = 0.5
    ) -> "RecurrentClassifier":
        """A classifier over a ready-made :class:`~seqlab.models.encoders.RecurrentEncoder`.

        Args:
            encoder: embedding + recurrent layer (its ``output_size`` D·H feeds the output layer).
            num_classes: C.
            pooling: ``"last"``, ``"max"``, ``"mean"`` or a :class:`~seqlab.models.encoders.Pooling`.
            dropout: before the output layer.
        """
        if num_classes < 2:
            raise ConfigurationError(f"num_classes={num_classes} must be at least 2.")
        model = cls.__new__(cls)
        nn.Module.__init__(model)
        model._assemble(encoder, pooling if isinstance(pooling, Pooling) else Pooling(pooling), num_classes, dropout)
        return model

    def _assemble(self, encoder: RecurrentEncoder, pooling: Pooling, num_classes: int, dropout: float) -> None:
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(encoder.output_size, num_classes)
        # Checkpoints name the parts as before the encoder existed (issue 12: old run directories load).
        keep_state_dict_names(self, {"encoder.embedding.": "embedding.", "encoder.rnn.": "encoder."})

    @property
    def embedding(self) -> nn.Module:
        """The token embedding (``encoder.embedding``)."""
        return self.encoder.embedding

    def forward(self, ids: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        """Class logits of a padded batch.

        Args:
            ids: (B, T) token ids, padded at the end.
            lengths: (B,) number of valid tokens per row (each >= 1); None means all T.

        Returns:
            (B, C) unnormalised class scores.
        """
        if ids.dim() != 2:
            raise ShapeError(f"ids must be (B, T) token ids, got shape {tuple(ids.shape)}.")
        outputs, final_state, mask = self.encoder(ids, lengths)  # (B, T, D*H), state, (B, T)
        features = self.pooling(outputs, final_state, mask)  # (B, D*H)
        return self.output(self.dropout(features))  # (B, C)


def recurrent_classifier(
    vocab_size: int,
    num_classes: int,
    *,
    rnn_type: str = "lstm",
    cell: str = "standard",
    embedding_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = False,
    pooling: str = "last",
    dropout: float = 0.5,
    embedding_dropout: Optional[float] = None,
    padding_idx: Optional[int] = 0,
    impl: str = "auto",
    init: str = "torch",
) -> RecurrentClassifier:
    """Builder: a :class:`RecurrentClassifier` from flat hyperparameters (torchtune style)."""
    return RecurrentClassifier(
        vocab_size,
        num_classes,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_type=rnn_type,
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
        dropout=dropout,
        embedding_dropout=embedding_dropout,
        padding_idx=padding_idx,
        impl=impl,
        init=init,
    )

