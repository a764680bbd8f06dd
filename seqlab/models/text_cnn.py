"""Kim (2014) convolutional network for sentence classification (the notes' "CNN for Text").

Architecture (Kim 2014, section 2; notes, "Convolutional neural network for text classification"):

* a sentence of n words is an n × k matrix of word embeddings (one or two *channels*);
* filters of widths h ∈ {3, 4, 5} (100 feature maps each) slide over word windows:
  c_i = ReLU(w · x_{i:i+h−1} + b) — a learnt n-gram detector;
* max-over-time pooling keeps each map's strongest n-gram: ĉ = max{c};
* dropout (p = 0.5) on the pooled vector, a fully connected softmax layer whose weight
  vectors are re-scaled to an l2 norm of at most s = 3 after every gradient step.

Embedding modes (section 3.1, :class:`seqlab.nn.embedding.TokenEmbedding`): ``rand`` (random
init, trained), ``static`` (pretrained, frozen), ``non-static`` (pretrained, fine-tuned),
``multichannel`` (two copies of the pretrained vectors, one frozen and one fine-tuned, each a
separate input channel).

Padding: Kim's code pads every sentence with h−1 zero vectors on both sides (a "wide"
convolution), so windows partly over the padding count.  Here the same wide
convolution is used, and windows that lie *entirely* over padding are excluded from the
max, which makes the result independent of how much extra padding a batch carries; words
outside ``lengths`` / ``mask`` count as zero padding (:class:`seqlab.nn.conv.FilterBank`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.models._state_names import keep_state_dict_names
from seqlab.nn.conv import FilterBank
from seqlab.nn.embedding import EMBEDDING_MODES, TokenEmbedding

__all__ = ["EMBEDDING_MODES", "TextCNN"]


class TextCNN(nn.Module):
    """Kim (2014) CNN sentence classifier.

    Args:
        vocab_size: V, number of token ids (id 0 is padding).
        num_classes: number of output classes.
        embedding_dim: E (Kim: 300, the word2vec size).
        filter_widths: window sizes h of the filter banks.
        num_filters: feature maps per width.
        dropout: dropout on the pooled features.
        max_norm: l2 bound on each output weight row (``None`` disables the constraint).
        mode: one of ``EMBEDDING_MODES``.
        pretrained: (V, E) vectors, required unless ``mode == "rand"``.
        padding_idx: id of the padding token.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 300,
        filter_widths: Sequence[int] = (3, 4, 5),
        num_filters: int = 100,
        dropout: float = 0.5,
        max_norm: float | None = 3.0,
        mode: str = "rand",
        pretrained: Tensor | None = None,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        if not filter_widths or min(filter_widths) < 1:
            raise ConfigurationError(f"TextCNN: filter_widths must be positive integers, got {list(filter_widths)}")
        self.mode = mode
        self.max_norm = max_norm
        self.padding_idx = padding_idx
        self.filter_widths = tuple(int(w) for w in filter_widths)

        # Kim §3.1's four modes (seqlab.nn.embedding); a checkpoint keeps the fixed channel of
        # "multichannel" under its old name static_embedding.weight (issue 12: old runs load).
        self.embedding = TokenEmbedding(vocab_size, embedding_dim, mode=mode, pretrained=pretrained,
                                        padding_idx=padding_idx)
        keep_state_dict_names(self, {"embedding.static.": "static_embedding."})
        channels = self.embedding.channels
        # Kim §2's filter bank (seqlab.nn.conv): a list of Conv1d, so its checkpoint names stay convs.{i}.*
        self.convs = FilterBank(channels * embedding_dim, num_filters, self.filter_widths)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(num_filters * len(self.filter_widths), num_classes)

    def features(self, ids: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """Max-over-time pooled n-gram features.

        Args:
            ids: (B, T) token ids.
            lengths: (B,) number of real tokens of each row (the first ``lengths[b]``); the
                padded batches of ``seqlab.data`` carry them. Ignored when ``mask`` is given.
            mask: (B, T) bool, True on real tokens; default from ``lengths``, else
                ``ids != padding_idx``.

        Returns:
            (B, F·len(filter_widths)) pooled features.
        """
        if ids.dim() != 2:
            raise ShapeError(f"TextCNN expects token ids of shape (batch, time), got {tuple(ids.shape)}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise ShapeError(f"TextCNN expects integer token ids, got dtype {ids.dtype}")
        if mask is None and lengths is not None:
            if lengths.shape != ids.shape[:1]:
                raise ShapeError(f"TextCNN: lengths must have shape ({ids.shape[0]},), got {tuple(lengths.shape)}")
            mask = torch.arange(ids.shape[1], device=ids.device) < lengths.to(ids.device).unsqueeze(1)  # (B, T)
        if mask is None:
            mask = ids != self.padding_idx
        return self.convs(self.embedding(ids), mask)  # (B, T, C·E) -> (B, F·len(filter_widths))

    def forward(self, ids: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """(B, T) ids (and optional (B,) lengths or (B, T) mask) → (B, num_classes) logits.

        The softmax is in the loss. ``forward(ids, lengths)`` is the calling convention of
        the recurrent classifiers, so recipes, ``seqlab eval`` and ``seqlab predict`` call
        both kinds alike.
        """
        return self.output(self.dropout(self.features(ids, lengths, mask)))

    @property
    def static_embedding(self) -> nn.Embedding:
        """The fixed channel of ``mode="multichannel"`` (``embedding.static``)."""
        if self.mode != "multichannel":
            raise AttributeError(f"TextCNN(mode={self.mode!r}) has no static_embedding; only multichannel has one")
        return self.embedding.static

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Kim's l2 constraint: rescale each output weight row w to ‖w‖₂ = s whenever ‖w‖₂ > s.

        Call after every optimizer step (the training engine does so for any model with
        this method).
        """
        if self.max_norm is None:
            return
        w = self.output.weight  # (num_classes, features)
        norms = w.norm(dim=1, keepdim=True)
        w.mul_(torch.clamp(self.max_norm / norms.clamp_min(1e-12), max=1.0))
