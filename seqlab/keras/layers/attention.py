"""Keras' ``Attention`` (Luong dot-product) and ``AdditiveAttention`` (Bahdanau) layers.

Called on ``[query, value]`` or ``[query, value, key]`` (key defaults to value) with query
(B, Tq, D) and value/key (B, Tv, D); returns (B, Tq, D) (and the weights (B, Tq, Tv) with
``return_attention_scores=True``).

* ``Attention``: scores = q·kᵀ (Luong et al. 2015, Section 3.1, "dot"), times a learned scalar
  when ``use_scale=True``; ``score_mode="concat"``: sum(tanh(q + k)) times a learned scalar.
* ``AdditiveAttention``: scores = Σ_d scale_d · tanh(q_d + k_d) (Bahdanau et al. 2015,
  Appendix A.1.2, with the projections W_q, W_k left to the layers before it, as in Keras).

These implement Keras' exact semantics directly rather than ``seqlab.nn.attention.Attention``,
whose "mlp" score owns projection matrices and has no learned scalar scale, so its parameters
and outputs would differ from Keras'.  As in Keras: padded values (``mask=[query_mask,
value_mask]``) get a score of −1e9 before the softmax, outputs at padded query steps are zero,
and ``use_causal_mask=True`` lets step i attend only to steps ≤ i.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras.base import Layer, register

__all__ = ["AdditiveAttention", "Attention"]

_SCORE_MODES = ("dot", "concat")


class _BaseAttention(Layer):
    def __init__(self, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigurationError(f"{type(self).__name__}(dropout={dropout!r}): must be in [0, 1)")
        self.dropout = float(dropout)

    def _split(self, inputs: Any) -> tuple[Tensor, Tensor, Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects [query, value] or [query, value, key], "
                f"got {type(inputs).__name__}{f' of length {len(inputs)}' if isinstance(inputs, (list, tuple)) else ''}"
            )
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        if q.dim() != 3 or v.dim() != 3 or k.dim() != 3 or q.shape[-1] != k.shape[-1] or k.shape[:2] != v.shape[:2]:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r}: expected query (B, Tq, D), value (B, Tv, Dv) "
                f"and key (B, Tv, D), got {tuple(q.shape)}, {tuple(v.shape)}, {tuple(k.shape)}"
            )
        return q, v, k

    def build(self, input_shape: Any) -> None:
        pass

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        raise NotImplementedError

    def call(self, inputs: Any, mask: Any = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False) -> Any:
        q, v, k = self._split(inputs)  # (B, Tq, D), (B, Tv, Dv), (B, Tv, D)
        q_mask = v_mask = None
        if mask is not None:
            q_mask = mask[0]
            v_mask = mask[1] if len(mask) > 1 else None
        scores = self._scores(q, k)  # (B, Tq, Tv)
        keep = None
        if v_mask is not None:
            keep = v_mask.bool().unsqueeze(1)  # (B, 1, Tv)
        if use_causal_mask:
            Tq, Tv = scores.shape[-2:]
            causal = torch.ones(Tq, Tv, dtype=torch.bool, device=scores.device).tril()
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = scores - 1e9 * (~keep).to(scores.dtype)  # Keras' large negative, not -inf
        weights = torch.softmax(scores, dim=-1)  # (B, Tq, Tv)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout, training=True)
        out = weights @ v  # (B, Tq, Dv)
        if q_mask is not None:
            out = out * q_mask.unsqueeze(-1).to(out.dtype)
        return [out, weights] if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return None
        return mask[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "dropout": self.dropout}


@register
class Attention(_BaseAttention):
    """Dot-product (Luong) attention; ``use_scale`` learns a scalar multiplier of the scores."""

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(dropout=dropout, **kwargs)
        if score_mode not in _SCORE_MODES:
            raise ConfigurationError(f"Attention(score_mode={score_mode!r}); expected one of {_SCORE_MODES}")
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.scale = nn.Parameter(torch.ones(())) if use_scale else None
        self.concat_score_weight = nn.Parameter(torch.ones(())) if score_mode == "concat" else None
        self.built = True

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        if self.score_mode == "dot":
            scores = q @ k.transpose(1, 2)  # (B, Tq, Tv)
            return scores * self.scale if self.scale is not None else scores
        qk = q.unsqueeze(2) + k.unsqueeze(1)  # (B, Tq, Tv, D)
        if self.scale is not None:
            qk = self.scale * qk
        return self.concat_score_weight * torch.tanh(qk).sum(-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@register
class AdditiveAttention(_BaseAttention):
    """Additive (Bahdanau) attention with a learned per-feature ``scale`` vector (D,)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(dropout=dropout, **kwargs)
        self.use_scale = use_scale

    def build(self, input_shape: Any) -> None:
        if self.use_scale:
            dim = int(input_shape[0][-1])
            limit = math.sqrt(3.0 / dim)  # glorot_uniform for a vector: fan_in = fan_out = D
            self.scale = nn.Parameter(torch.empty(dim).uniform_(-limit, limit))
        else:
            self.scale = None

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        qk = torch.tanh(q.unsqueeze(2) + k.unsqueeze(1))  # (B, Tq, Tv, D)
        if self.scale is not None:
            qk = qk * self.scale
        return qk.sum(-1)  # (B, Tq, Tv)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale}
