"""Recurrent language model (character- or word-level), trained with truncated BPTT.

Architecture (Zaremba et al. 2014, "Recurrent Neural Network Regularization")::

    ids (B, T) ─ Embedding ─ dropout ─ stacked RNN / LSTM (any cell) / GRU
        (dropout between layers) ─ dropout ─ Linear(V) ─ logits (B, T, V)

* Dropout is applied only to the non-recurrent connections (Zaremba et al. 2014, §3):
  after the embedding, between stacked layers, and before the output layer.
* ``tie_weights`` shares the embedding and output matrices (Press & Wolf 2017, "Using the
  Output Embedding to Improve Language Models"; Inan et al. 2017); it needs E == H.
* Recurrent state is passed in and returned, never kept on the module (STYLE.md principle 8):
  ``forward(ids, state) -> (logits, state)`` is the engine's truncated-BPTT protocol, which
  hands the returned state back, detached, with the next window of the stream.
"""

from __future__ import annotations

from typing import Optional, Union

from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models._recurrent import recurrent_layer

#: ``h`` (L, B, H) for RNN/GRU, ``(h, c)`` for LSTMs.
State = Union[Tensor, tuple[Tensor, Tensor]]


class RNNLanguageModel(nn.Module):
    """Embedding → stacked recurrent layers → Linear(V), with optional weight tying.

    Args:
        vocab_size: V.
        embedding_dim: E.
        hidden_size: H.
        num_layers: L stacked layers.
        rnn_type: "rnn", "lstm" or "gru".
        cell: LSTM cell variant ("standard", "peephole", "coupled", "layernorm").
        dropout: dropout on non-recurrent connections (Zaremba et al. 2014).
        embedding_dropout: dropout on the embeddings; None uses ``dropout``.
        tie_weights: share the embedding and output weights (Press & Wolf 2017).
        impl: recurrent implementation forwarded to ``seqlab.nn``.

    Shapes:
        ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)`` where state is
        ``h`` (L, B, H) for RNN/GRU and ``(h, c)`` of (L, B, H) each for LSTMs.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        rnn_type: str = "lstm",
        cell: str = "standard",
        dropout: float = 0.0,
        embedding_dropout: Optional[float] = None,
        tie_weights: bool = False,
        impl: str = "auto",
    ) -> None:
        super().__init__()
        if tie_weights and embedding_dim != hidden_size:
            raise ConfigurationError(
                f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and {hidden_size}; "
                f"set model.embedding_dim={hidden_size} or model.tie_weights=false."
            )
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.embedding_dropout = nn.Dropout(dropout if embedding_dropout is None else embedding_dropout)
        self.rnn = recurrent_layer(rnn_type, embedding_dim, hidden_size, num_layers, cell=cell, dropout=dropout, impl=impl)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        # Uniform init of embeddings and decoder as in Zaremba et al. (2014) and
        # pytorch/examples' word_language_model (keeps early logits near uniform).
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if tie_weights:
            self.decoder.weight = self.embedding.weight  # one Parameter, two uses
        else:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, ids: Tensor, state: Optional[State] = None) -> tuple[Tensor, State]:
        """Next-token logits for every position, and the state after the last one.

        Args:
            ids: (B, T) token ids.
            state: the state returned by the previous window, or None for zeros.

        Returns:
            ``(logits (B, T, V), state)``.
        """
        if ids.dim() != 2:
            raise ShapeError(f"ids must be (B, T) token ids, got shape {tuple(ids.shape)}.")
        x = self.embedding_dropout(self.embedding(ids))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.decoder(self.dropout(out))  # (B, T, V)
        return logits, state


def rnn_language_model(
    vocab_size: int,
    *,
    rnn_type: str = "lstm",
    cell: str = "standard",
    embedding_dim: int = 128,
    hidden_size: int = 128,
    num_layers: int = 1,
    dropout: float = 0.0,
    embedding_dropout: Optional[float] = None,
    tie_weights: bool = False,
    impl: str = "auto",
) -> RNNLanguageModel:
    """Builder: an :class:`RNNLanguageModel` from flat hyperparameters (torchtune style)."""
    return RNNLanguageModel(
        vocab_size,
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        rnn_type=rnn_type,
        cell=cell,
        dropout=dropout,
        embedding_dropout=embedding_dropout,
        tie_weights=tie_weights,
        impl=impl,
    )
