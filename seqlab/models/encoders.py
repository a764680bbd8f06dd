"""Sequence encoders shared by the classifiers, translation and the question side of VQA.

* :class:`RecurrentEncoder`: tokens (or ready-made feature frames) → embedding → dropout → any
  ``seqlab.nn`` / ``torch.nn`` recurrent layer, with ``lengths`` passed through so padded steps
  never touch the state. Returns every step's output, the final state and the (B, T) mask of
  valid steps: what an attention decoder needs as its memory (outputs + mask) and its start
  state (the final state), and what :class:`Pooling` needs.
* :class:`Pooling`: one vector per sequence from the encoder's outputs, over valid steps only:
  ``last`` (each direction's final state: the forward direction after the last valid step, the
  backward one after reading the whole sequence; Schuster & Paliwal 1997, Tai et al. 2015),
  ``max`` (Conneau et al. 2017's best BiLSTM sentence encoder) or ``mean``.

Shapes: B batch, T time, E embedding, H hidden size per direction, D directions, L layers.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["POOLINGS", "EncoderOutput", "RecurrentEncoder", "Pooling"]

POOLINGS = ("last", "max", "mean")


class EncoderOutput(NamedTuple):
    """What :class:`RecurrentEncoder` returns."""

    outputs: Tensor  # (B, T, D·H), exactly 0 at padded steps
    final_state: Any  # the recurrent layer's state: h_n (L·D, B, H), or (h_n, c_n) for LSTMs
    mask: Tensor  # (B, T) bool, True on valid steps


class RecurrentEncoder(nn.Module):
    """Embedding → dropout → recurrent layer, over a padded batch.

    Args:
        embedding: maps (B, T) ids to (B, T, E) (``nn.Embedding``, :class:`seqlab.nn.TokenEmbedding`);
            None when the inputs are already (B, T, E) feature frames (video frames after a CNN,
            audio features).
        rnn: a batch-first recurrent layer with ``forward(x, state=None, lengths=None) ->
            (outputs, state)``: ``seqlab.nn.RNN`` / ``LSTM`` / ``GRU`` (any cell, uni- or
            bidirectional), as made by ``seqlab.models._recurrent.recurrent_layer``.
        dropout: on the embeddings, before the recurrent layer.

    Shapes:
        ``forward(inputs (B, T) ids | (B, T, E), lengths (B,) | None, state=None)
        -> EncoderOutput(outputs (B, T, D·H), final_state, mask (B, T))``.
    """

    def __init__(self, embedding: Optional[nn.Module], rnn: nn.Module, dropout: float = 0.0) -> None:
        super().__init__()
        if not getattr(rnn, "batch_first", True):
            raise ConfigurationError(
                "RecurrentEncoder needs a batch-first recurrent layer (inputs are (B, T, E)); "
                "build it with batch_first=True"
            )
        self.embedding = embedding
        self.embedding_dropout = nn.Dropout(dropout)
        self.rnn = rnn

    @property
    def output_size(self) -> int:
        """D·H, the last dimension of ``outputs``."""
        directions = 2 if getattr(self.rnn, "bidirectional", False) else 1
        return directions * self.rnn.hidden_size

    def forward(self, inputs: Tensor, lengths: Optional[Tensor] = None, state: Any = None) -> EncoderOutput:
        """Encode a batch padded at the end.

        Args:
            inputs: (B, T) token ids, or (B, T, E) features when the encoder has no embedding.
            lengths: (B,) valid steps per row, each in 1..T; None means all T.
            state: initial recurrent state; None for zeros.

        Returns:
            :class:`EncoderOutput`.
        """
        expected = 2 if self.embedding is not None else 3
        if inputs.dim() != expected:
            what = "(B, T) token ids" if expected == 2 else "(B, T, E) features (this encoder has no embedding)"
            raise ShapeError(f"inputs must be {what}, got shape {tuple(inputs.shape)}.")
        B, T = inputs.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=inputs.device)
        x = inputs if self.embedding is None else self.embedding(inputs)  # (B, T, E)
        x = self.embedding_dropout(x)
        outputs, final_state = self.rnn(x, state, lengths=lengths)  # (B, T, D·H), state
        steps = torch.arange(outputs.size(1), device=outputs.device)  # (T,)
        mask = steps[None, :] < lengths.to(outputs.device)[:, None]  # (B, T)
        return EncoderOutput(outputs, final_state, mask)


class Pooling(nn.Module):
    """One (B, D·H) vector per sequence from a recurrent encoder, over valid steps only.

    Args:
        mode: ``"last"`` (the top layer's final state of each direction, concatenated),
            ``"max"`` or ``"mean"`` (of the outputs over valid steps).

    Shapes:
        ``forward(outputs (B, T, D·H), final_state, mask (B, T)) -> (B, D·H)``; ``final_state``
        (h_n (L·D, B, H) or (h_n, c_n)) is read by ``"last"`` only.
    """

    def __init__(self, mode: str = "last") -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ConfigurationError(
                f"model.pooling={mode!r} is not supported; expected one of {', '.join(POOLINGS)}."
            )
        self.mode = mode

    def extra_repr(self) -> str:
        return repr(self.mode)

    def forward(self, outputs: Tensor, final_state: Any, mask: Tensor) -> Tensor:
        if self.mode == "last":
            h_n = final_state[0] if isinstance(final_state, tuple) else final_state  # (L·D, B, H)
            directions = outputs.shape[-1] // h_n.shape[-1]
            # the top layer's final state of each direction (torch.nn ordering: layer-major)
            return torch.cat(list(h_n[-directions:]), dim=-1)  # (B, D·H)
        valid = mask.unsqueeze(-1)  # (B, T, 1)
        if self.mode == "max":
            return outputs.masked_fill(~valid, float("-inf")).amax(dim=1)  # (B, D·H)
        total = outputs.masked_fill(~valid, 0.0).sum(dim=1)  # (B, D·H)
        counts = mask.sum(dim=1).to(outputs.dtype).clamp(min=1)  # (B,)
        return total / counts[:, None]
