"""Exercise 2 baselines: a fixed-window neural LM and an order-blind bag-of-words LM.

Both predict token t+1 from the last ``context_size`` tokens up to and including token t,
and speak the truncated-BPTT protocol of the recurrent LMs, so they are scored on the
SAME token streams, by the same engine and metrics (nats, perplexity, bits per char):

* ``forward(ids (B, T), state=None) -> (logits (B, T, V), state)`` where ``state`` is
  the last ``context_size`` tokens seen, (B, n−1) int64. The next window's first
  predictions use them as context, so a stream evaluated in one window or in many gives
  the same numbers (no context is lost at window boundaries).
* Before the first token of a stream (``state=None``) the context is filled with a
  reserved "before the stream" id, ``vocab_size``: one extra embedding row that no real
  token uses.

Models:

* :class:`FixedWindowLM` (Bengio et al. 2003, "A Neural Probabilistic Language Model",
  §2 eq. 1): ``x = [C(w_{t-n+2}); …; C(w_t)]`` the concatenated embeddings of the n−1
  previous words, ``y = b + W x + U tanh(d + H x)``, softmax(y). ``direct=True`` adds
  the optional direct connections ``W x`` from the embeddings to the output.
* :class:`BagOfWordsLM`: the mean (or sum) of the embeddings of the last k words, then
  one linear layer. Permuting the context does not change the prediction: the model
  cannot use word order, which is exactly what Exercise 2 asks to compare against.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["FixedWindowLM", "BagOfWordsLM", "fixed_window_lm", "bag_of_words_lm", "context_windows"]


def context_windows(ids: Tensor, state: Optional[Tensor], context_size: int, pad_id: int) -> tuple[Tensor, Tensor]:
    """The ``context_size`` tokens ending at each position, and the new state.

    Args:
        ids: (B, T) token ids.
        state: (B, n−1) the tokens before ``ids`` (the previous window's state), or None
            for the start of a stream (filled with ``pad_id``).
        context_size: n−1.
        pad_id: the "before the stream" id.

    Returns:
        ``(windows (B, T, n−1), new_state (B, n−1))``; ``windows[b, t]`` is
        ``[w_{t-n+2}, …, w_t]`` (oldest first), the input that predicts ``w_{t+1}``.
    """
    if ids.dim() != 2:
        raise ShapeError(f"ids must be (B, T) token ids, got shape {tuple(ids.shape)}.")
    B, T = ids.shape
    if state is None:
        state = ids.new_full((B, context_size), pad_id)
    elif state.shape != (B, context_size):
        raise ShapeError(
            f"state must be the previous window's last {context_size} tokens, shape ({B}, {context_size}), "
            f"got {tuple(state.shape)}; pass the state this model returned, or None at the start of a stream."
        )
    ctx = torch.cat([state.to(ids.dtype), ids], dim=1)  # (B, n−1+T)
    windows = ctx.unfold(1, context_size, 1)[:, 1:]  # (B, T, n−1): window t ends at ids[:, t]
    return windows, ctx[:, -context_size:]


class _WindowLMBase(nn.Module):
    def __init__(self, vocab_size: int, context_size: int, embedding_dim: int) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context_size", context_size), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}.")
        self.vocab_size = vocab_size
        self.context_size = context_size
        #: the id that fills the context before the first token of a stream
        self.pad_id = vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, embedding_dim)

    def _check_ids(self, ids: Tensor) -> None:
        if ids.dim() != 2:
            raise ShapeError(f"ids must be (B, T) token ids, got shape {tuple(ids.shape)}.")


class FixedWindowLM(_WindowLMBase):
    """Bengio et al. (2003) n-gram neural LM: concatenated embeddings → tanh → softmax.

    Args:
        vocab_size: V.
        context_size: n−1 previous tokens seen (2 for a trigram-like model, 7 for a large window).
        embedding_dim: E.
        hidden_size: H of the tanh layer.
        direct: add direct connections from the embeddings to the output (Bengio's W).
        dropout: dropout on the concatenated embeddings and on the hidden layer.

    Shapes:
        ``forward(ids (B, T), state=None) -> (logits (B, T, V), state (B, n−1))``.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        context_size: int = 2,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        direct: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(vocab_size, context_size, embedding_dim)
        width = context_size * embedding_dim
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(width, hidden_size)  # d + H x
        self.output = nn.Linear(hidden_size, vocab_size)  # b + U h
        self.direct = nn.Linear(width, vocab_size, bias=False) if direct else None  # W x

    def forward(self, ids: Tensor, state: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """Next-token logits at every position; state = the last n−1 tokens."""
        self._check_ids(ids)
        windows, state = context_windows(ids, state, self.context_size, self.pad_id)  # (B, T, n−1)
        B, T = ids.shape
        x = self.dropout(self.embedding(windows).reshape(B, T, -1))  # (B, T, (n−1)·E)
        h = self.dropout(torch.tanh(self.hidden(x)))  # (B, T, H)
        logits = self.output(h)  # (B, T, V)
        if self.direct is not None:
            logits = logits + self.direct(x)
        return logits, state


class BagOfWordsLM(_WindowLMBase):
    """Order-blind context model: mean (or sum) of the last k embeddings → Linear(V).

    Positions before the start of the stream are left out of the mean.

    Args:
        vocab_size: V.
        context_size: k previous tokens.
        embedding_dim: E.
        reduction: ``"mean"`` or ``"sum"``.

    Shapes:
        ``forward(ids (B, T), state=None) -> (logits (B, T, V), state (B, k))``.
    """

    REDUCTIONS = ("mean", "sum")

    def __init__(self, vocab_size: int, *, context_size: int = 8, embedding_dim: int = 64, reduction: str = "mean") -> None:
        super().__init__(vocab_size, context_size, embedding_dim)
        if reduction not in self.REDUCTIONS:
            raise ConfigurationError(
                f"BagOfWordsLM: reduction={reduction!r} is not valid; expected one of {', '.join(self.REDUCTIONS)}."
            )
        self.reduction = reduction
        with torch.no_grad():
            self.embedding.weight[self.pad_id].zero_()
        self.output = nn.Linear(embedding_dim, vocab_size)

    def forward(self, ids: Tensor, state: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
        """Next-token logits at every position; state = the last k tokens."""
        self._check_ids(ids)
        windows, state = context_windows(ids, state, self.context_size, self.pad_id)  # (B, T, k)
        real = (windows != self.pad_id).unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, T, k, 1)
        summed = (self.embedding(windows) * real).sum(2)  # (B, T, E)
        if self.reduction == "mean":
            summed = summed / real.sum(2).clamp_min(1.0)
        return self.output(summed), state  # (B, T, V)


def fixed_window_lm(
    vocab_size: int,
    *,
    context_size: int = 2,
    embedding_dim: int = 64,
    hidden_size: int = 256,
    direct: bool = False,
    dropout: float = 0.0,
) -> FixedWindowLM:
    """Builder: a :class:`FixedWindowLM` from flat hyperparameters."""
    return FixedWindowLM(
        vocab_size, context_size=context_size, embedding_dim=embedding_dim, hidden_size=hidden_size,
        direct=direct, dropout=dropout,
    )  # fmt: skip


def bag_of_words_lm(vocab_size: int, *, context_size: int = 8, embedding_dim: int = 64, reduction: str = "mean") -> BagOfWordsLM:
    """Builder: a :class:`BagOfWordsLM` from flat hyperparameters."""
    return BagOfWordsLM(vocab_size, context_size=context_size, embedding_dim=embedding_dim, reduction=reduction)
