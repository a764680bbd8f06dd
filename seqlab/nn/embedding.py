"""Token embeddings with Kim (2014)'s four ways to start and train them.

Kim (2014, "Convolutional Neural Networks for Sentence Classification", §3.1):

* ``rand``: random vectors, trained (Kim draws them from U[-a, a], a = 0.25, so their variance
  is close to the pre-trained word2vec vectors');
* ``static``: pre-trained vectors, kept fixed;
* ``non-static``: pre-trained vectors, fine-tuned;
* ``multichannel``: two copies of the pre-trained vectors, one fine-tuned and one fixed, each
  an input *channel*; the two lookups are concatenated, so a token becomes 2E numbers.

:class:`TokenEmbedding` *is* an ``nn.Embedding`` (its ``weight`` is the trained or fixed
channel), so everything that treats embeddings specially keeps working: the lazy row updates of
``seqlab.train.LazyAdadelta``, ``zero_unknown_rows_``, Keras-style init. The padding row starts
at zero and gets no gradient.

Shapes: B batch, T time, V vocab, E embedding size, C channels (1, or 2 for multichannel).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["EMBEDDING_MODES", "TokenEmbedding"]

#: Kim (2014) §3.1's model variants, by the name he gives them.
EMBEDDING_MODES = ("rand", "static", "non-static", "multichannel")


class TokenEmbedding(nn.Embedding):
    """Token ids (B, T) to vectors (B, T, C·E), in one of Kim (2014)'s four modes.

    Args:
        vocab_size: V, number of token ids.
        embedding_dim: E.
        mode: one of :data:`EMBEDDING_MODES`.
        pretrained: (V, E) initial vectors, required unless ``mode == "rand"``
            (``seqlab.data.vectors.load_vectors`` makes them).
        padding_idx: id of the padding token (its rows start at zero, never trained); None for none.
        rand_range: a of ``rand``'s U[-a, a] (Kim: 0.25).

    Parameters: ``weight`` (V, E), the trained channel (fixed for ``static``); ``static.weight``
    (V, E), the fixed copy of ``multichannel``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        *,
        mode: str = "rand",
        pretrained: Tensor | None = None,
        padding_idx: int | None = 0,
        rand_range: float = 0.25,
    ) -> None:
        if mode not in EMBEDDING_MODES:
            raise ConfigurationError(
                f"TokenEmbedding: unknown mode {mode!r}; valid modes: {', '.join(EMBEDDING_MODES)}"
            )
        if mode != "rand":
            if pretrained is None:
                raise ConfigurationError(
                    f"TokenEmbedding: mode {mode!r} needs pretrained vectors (pretrained=(V, E) tensor); "
                    "load them with seqlab.data.vectors.load_vectors, or use mode='rand'"
                )
            if tuple(pretrained.shape) != (vocab_size, embedding_dim):
                raise ShapeError(
                    f"TokenEmbedding: pretrained vectors have shape {tuple(pretrained.shape)}, "
                    f"expected (vocab_size, embedding_dim) = ({vocab_size}, {embedding_dim})"
                )
        super().__init__(vocab_size, embedding_dim, padding_idx=padding_idx)
        self.mode = mode
        with torch.no_grad():
            if mode == "rand":
                nn.init.uniform_(self.weight, -rand_range, rand_range)
            else:
                self.weight.copy_(pretrained)
            if padding_idx is not None:
                self.weight[padding_idx].zero_()
        self.weight.requires_grad_(mode != "static")
        if mode == "multichannel":
            self.static = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
            with torch.no_grad():
                self.static.weight.copy_(self.weight)
            self.static.weight.requires_grad_(False)

    @property
    def channels(self) -> int:
        """C: 2 for ``multichannel``, else 1."""
        return 2 if self.mode == "multichannel" else 1

    @property
    def output_size(self) -> int:
        """C·E, the last dimension of :meth:`forward`'s output."""
        return self.channels * self.embedding_dim

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls, vectors: Tensor, *, mode: str = "non-static", padding_idx: int | None = 0
    ) -> TokenEmbedding:
        """A token embedding started from (V, E) ``vectors`` (``static``, ``non-static`` or ``multichannel``)."""
        if vectors.dim() != 2:
            raise ShapeError(f"TokenEmbedding.from_pretrained: vectors must be (V, E), got {tuple(vectors.shape)}")
        return cls(vectors.shape[0], vectors.shape[1], mode=mode, pretrained=vectors, padding_idx=padding_idx)

    def forward(self, ids: Tensor) -> Tensor:
        """(B, T) ids → (B, T, C·E) vectors; multichannel concatenates [fine-tuned; fixed]."""
        x = super().forward(ids)  # (B, T, E)
        if self.mode == "multichannel":
            x = torch.cat([x, self.static(ids)], dim=-1)  # (B, T, 2E)
        return x

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode!r}"
