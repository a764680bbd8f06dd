"""Attention over a set of keys: the notes' four score functions behind one module.

Architecture (lecture notes, "Attention" slides; Bahdanau et al. 2015, Luong et al. 2015):

* a *query* (a decoder state) is scored against every *key* (encoder states) with a score
  function ``a(q, k)``;
* the scores of one query are normalised with a softmax over the keys ("attention weights",
  summing to one; padded keys get weight exactly 0);
* the *context* is the weighted sum of the *values* (by default the keys themselves).

Score functions (``score=``):

* ``"mlp"`` (alias ``"additive"``), Bahdanau et al. 2015, Appendix A.1.2:
  ``a(q, k) = w2ᵀ tanh(W1 [q; k])``, computed as ``w2ᵀ tanh(W_q q + W_k k)``;
* ``"bilinear"`` (alias ``"general"``), Luong et al. 2015, Section 3.1: ``a(q, k) = qᵀ W k``;
* ``"dot"``, Luong et al. 2015, Section 3.1: ``a(q, k) = qᵀ k`` (no parameters; needs equal sizes);
* ``"scaled_dot"``, Vaswani et al. 2017, Section 3.2.1: ``a(q, k) = qᵀ k / sqrt(d_k)``.

``SpatialAttention`` takes image feature maps ``(B, C, H, W)`` as keys and values, one key per
spatial position: the soft attention of Xu et al. 2015 ("Show, Attend and Tell", Section 4.2)
used for captioning and visual question answering.

The modules keep no state between calls (JoeyNMT's attention stores the projected keys on the
module, which breaks when two batches interleave).  To project the keys only once per source
sequence, call :meth:`Attention.project_keys` and pass the result back as ``projected_keys=``:
the caller owns that cache.

Shape legend: B batch, Tq query steps, S key positions, Hq query size, Hk key size,
Hv value size, A attention (hidden) size of the MLP score, C channels, H×W feature-map grid.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["SCORES", "Attention", "SpatialAttention"]

#: Accepted ``score=`` names, mapped to their canonical name.
SCORES: dict[str, str] = {
    "mlp": "mlp",
    "additive": "mlp",
    "bilinear": "bilinear",
    "general": "bilinear",
    "dot": "dot",
    "scaled_dot": "scaled_dot",
}


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _is_tracing_or_compiling() -> bool:
    """True under torch.jit scripting/tracing or torch.compile, where a data-dependent raise
    would break the graph (so the fully-masked-row check is skipped there)."""
    if torch.jit.is_scripting() or torch.jit.is_tracing():
        return True
    compiler = getattr(torch, "compiler", None)
    return bool(compiler is not None and compiler.is_compiling())


class Attention(nn.Module):
    """Attention of one or several queries over a set of keys, with one of four score functions.

    Args:
        score: ``"mlp"``/``"additive"``, ``"bilinear"``/``"general"``, ``"dot"`` or ``"scaled_dot"``.
        query_size: Hq, the last dimension of the query.
        key_size: Hk, the last dimension of the keys; defaults to ``query_size``.  ``"dot"``
            and ``"scaled_dot"`` need ``key_size == query_size``.
        attention_size: A, the hidden size of the MLP score (only for ``"mlp"``); defaults to
            ``query_size``.

    Parameters (by score): ``mlp``: ``query_projection.weight`` (A, Hq) = W_q,
    ``key_projection.weight`` (A, Hk) = W_k, ``energy.weight`` (1, A) = w2ᵀ;
    ``bilinear``: ``weight`` (Hq, Hk) = W; ``dot``/``scaled_dot``: none.

    Example::

        attn = Attention("mlp", query_size=256, key_size=512)
        context, weights = attn(decoder_h, encoder_outputs, mask=src_mask)   # (B, 512), (B, S)
    """

    def __init__(
        self,
        score: str,
        query_size: int,
        key_size: int | None = None,
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if score not in SCORES:
            raise ConfigurationError(
                f"unknown attention score {score!r}; expected one of {sorted(SCORES)} "
                "(mlp=additive, bilinear=general)"
            )
        key_size = query_size if key_size is None else key_size
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive int, got {value!r}")
        self.score = SCORES[score]
        self.query_size = query_size
        self.key_size = key_size
        self.attention_size: int | None = None

        if self.score != "mlp" and attention_size is not None:
            raise ConfigurationError(
                f"attention_size is only used by score='mlp', got attention_size={attention_size} "
                f"with score={score!r}; drop the argument or use score='mlp'"
            )
        if self.score in ("dot", "scaled_dot") and query_size != key_size:
            raise ConfigurationError(
                f"score={score!r} has no parameters and needs query_size == key_size, got "
                f"query_size={query_size}, key_size={key_size}; project one side to the other's "
                "size or use score='bilinear' or 'mlp'"
            )

        if self.score == "mlp":
            # Bahdanau et al. 2015, Appendix A.1.2: e_ij = v_aᵀ tanh(W_a s_{i-1} + U_a h_j).
            # W1 [q; k] == W_q q + W_k k (split W1 by columns).  Split, the key half W_k k does
            # not depend on the query, so it is computed once per source sequence (S·Hk·A FLOPs)
            # rather than once per (query, key) pair, and a decoder can reuse it at every step
            # through project_keys().  No biases: the notes' formula has none.
            attention_size = query_size if attention_size is None else attention_size
            if not isinstance(attention_size, int) or isinstance(attention_size, bool) or attention_size <= 0:
                raise ConfigurationError(f"attention_size must be a positive int, got {attention_size!r}")
            self.attention_size = attention_size
            self.query_projection = nn.Linear(query_size, attention_size, bias=False)
            self.key_projection = nn.Linear(key_size, attention_size, bias=False)
            self.energy = nn.Linear(attention_size, 1, bias=False)
        elif self.score == "bilinear":
            # Luong et al. 2015, Section 3.1 ("general"): score(h_t, h_s) = h_tᵀ W_a h_s.
            self.weight = nn.Parameter(torch.empty(query_size, key_size))
            bound = 1.0 / math.sqrt(key_size)
            nn.init.uniform_(self.weight, -bound, bound)
        # "dot" (Luong et al. 2015, Section 3.1) and "scaled_dot" (Vaswani et al. 2017,
        # Section 3.2.1) have no parameters.

    def extra_repr(self) -> str:
        extra = f", attention_size={self.attention_size}" if self.score == "mlp" else ""
        return f"score={self.score!r}, query_size={self.query_size}, key_size={self.key_size}{extra}"

    # ------------------------------------------------------------------ public API

    def project_keys(self, keys: Tensor) -> Tensor:
        """The query-independent part of the score, to compute once per source sequence.

        Args:
            keys: (B, S, Hk).

        Returns:
            ``mlp``: W_k k, (B, S, A); ``bilinear``: W k, (B, S, Hq); ``dot``/``scaled_dot``:
            the keys themselves (B, S, Hk).  Pass it to :meth:`forward` as ``projected_keys``.
        """
        self._check_keys(keys)
        return self._project_keys(keys)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from ``query`` over ``keys`` and return the context and the weights.

        Args:
            query: (B, Hq) for one query per example, or (B, Tq, Hq).
            keys: (B, S, Hk).
            values: (B, S, Hv); defaults to ``keys``.
            mask: bool, True marks a real key (project-wide convention): (B, S), or
                (B, Tq, S) for a per-query mask with a 3-D query.  Masked keys get weight
                exactly 0.  Every query must see at least one real key: a fully masked row
                raises ``ShapeError`` (checked with one ``.any()`` reduction — a host sync on
                GPU — and skipped under torch.jit / torch.compile).
            projected_keys: the result of :meth:`project_keys` for these keys, to skip
                recomputing it at every decoding step.

        Returns:
            ``(context, weights)``: (B, Hv) and (B, S) for a 2-D query, (B, Tq, Hv) and
            (B, Tq, S) for a 3-D query.  Each row of ``weights`` sums to 1.
        """
        single = self._check_query(query)
        self._check_keys(keys)
        batch, src_len = keys.shape[0], keys.shape[1]
        if query.shape[0] != batch:
            raise ShapeError(
                f"query has batch size {query.shape[0]} (shape {_shape(query)}) but keys have "
                f"{batch} (shape {_shape(keys)}); expected the same batch size"
            )
        if query.dtype != keys.dtype:
            raise ShapeError(f"query has dtype {query.dtype} but keys have {keys.dtype}; expected the same dtype")
        if values is None:
            values = keys
        else:
            self._check_values(values, keys)
        q = query.unsqueeze(1) if single else query  # (B, Tq, Hq)
        if mask is not None:
            mask = self._check_mask(mask, batch, q.shape[1], src_len, single)

        if projected_keys is None:
            scores = self._scores(q, keys, None)  # (B, Tq, S)
        else:
            self._check_projected(projected_keys, keys)
            scores = self._scores(q, keys, projected_keys)  # (B, Tq, S)

        if mask is not None:
            mask3 = mask.unsqueeze(1) if mask.dim() == 2 else mask  # (B, 1 or Tq, S)
            # exp(-inf - max) is exactly 0, so masked keys get weight exactly 0.
            scores = scores.masked_fill(~mask3, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, Tq, S)
        context = torch.bmm(weights, values)  # (B, Tq, Hv)
        if single:
            return context.squeeze(1), weights.squeeze(1)  # (B, Hv), (B, S)
        return context, weights

    # ------------------------------------------------------------------ computation

    def _project_keys(self, keys: Tensor) -> Tensor:
        if self.score == "mlp":
            return self.key_projection(keys)  # (B, S, A)
        if self.score == "bilinear":
            return torch.matmul(keys, self.weight.t())  # (B, S, Hq): row j is W k_j
        return keys

    def _scores(self, q: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        """Unnormalised scores a(q, k): (B, Tq, S)."""
        if self.score == "mlp":
            k_proj = self.key_projection(keys) if projected is None else projected  # (B, S, A)
            q_proj = self.query_projection(q)  # (B, Tq, A)
            hidden = torch.tanh(q_proj.unsqueeze(2) + k_proj.unsqueeze(1))  # (B, Tq, S, A)
            return self.energy(hidden).squeeze(-1)  # (B, Tq, S)
        if self.score == "bilinear":
            if projected is None:
                # (qᵀ W) k: projecting the Tq queries is cheaper than the S keys when Tq < S.
                q_w = torch.matmul(q, self.weight)  # (B, Tq, Hk)
                return torch.bmm(q_w, keys.transpose(1, 2))  # (B, Tq, S)
            return torch.bmm(q, projected.transpose(1, 2))  # (B, Tq, S)
        scores = torch.bmm(q, keys.transpose(1, 2))  # (B, Tq, S)
        if self.score == "scaled_dot":
            # Vaswani et al. 2017, 3.2.1: dot products grow like sqrt(d_k) and push the softmax
            # into regions of tiny gradient; dividing by sqrt(d_k) keeps their variance ~1.
            scores = scores / math.sqrt(self.key_size)
        return scores

    # ------------------------------------------------------------------ validation

    def _check_float(self, name: str, t: Tensor) -> None:
        if not isinstance(t, Tensor):
            raise ShapeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise ShapeError(
                f"{name} has dtype {t.dtype} (shape {_shape(t)}); expected a floating-point "
                f"tensor; convert it with {name}.float()"
            )

    def _check_query(self, query: Tensor) -> bool:
        """Validate the query; True when it is 2-D (one query per example)."""
        self._check_float("query", query)
        if query.dim() not in (2, 3):
            raise ShapeError(
                f"query has shape {_shape(query)}; expected (B, Hq) or (B, Tq, Hq) with Hq={self.query_size}"
            )
        if query.shape[-1] != self.query_size:
            raise ShapeError(
                f"query has shape {_shape(query)}; expected last dimension Hq={self.query_size} "
                "(the module's query_size)"
            )
        return query.dim() == 2

    def _check_keys(self, keys: Tensor) -> None:
        self._check_float("keys", keys)
        if keys.dim() != 3:
            raise ShapeError(f"keys has shape {_shape(keys)}; expected (B, S, Hk) with Hk={self.key_size}")
        if keys.shape[-1] != self.key_size:
            raise ShapeError(
                f"keys has shape {_shape(keys)}; expected last dimension Hk={self.key_size} (the module's key_size)"
            )
        if keys.shape[1] == 0:
            raise ShapeError(f"keys has shape {_shape(keys)}; expected at least one key position (S >= 1)")
        if self.score != "dot" and self.score != "scaled_dot":
            # parameterised scores: dtype must match the parameters for the matmuls
            param = next(self.parameters())
            if keys.dtype != param.dtype:
                raise ShapeError(
                    f"keys has dtype {keys.dtype} but the module's parameters are {param.dtype}; "
                    f"convert one of them (e.g. attention.to({keys.dtype}))"
                )

    def _check_values(self, values: Tensor, keys: Tensor) -> None:
        self._check_float("values", values)
        if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
            raise ShapeError(
                f"values has shape {_shape(values)}; expected (B, S, Hv) with B={keys.shape[0]}, "
                f"S={keys.shape[1]} like keys {_shape(keys)}"
            )
        if values.dtype != keys.dtype:
            raise ShapeError(f"values has dtype {values.dtype} but keys have {keys.dtype}; expected the same dtype")

    def _check_mask(self, mask: Tensor, batch: int, tq: int, src_len: int, single: bool) -> Tensor:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
            raise ShapeError(
                f"mask has dtype {got}; expected a bool tensor where True marks a real key "
                "(e.g. mask = lengths[:, None] > torch.arange(S))"
            )
        ok_2d = mask.dim() == 2 and tuple(mask.shape) == (batch, src_len)
        ok_3d = (not single) and mask.dim() == 3 and tuple(mask.shape) == (batch, tq, src_len)
        if not (ok_2d or ok_3d):
            expected = f"(B, S) = ({batch}, {src_len})"
            if not single:
                expected += f" or (B, Tq, S) = ({batch}, {tq}, {src_len})"
            raise ShapeError(f"mask has shape {_shape(mask)}; expected {expected}")
        if not _is_tracing_or_compiling() and not bool(mask.any(dim=-1).all()):
            rows = (~mask.any(dim=-1)).nonzero().tolist()
            raise ShapeError(
                f"mask has rows with no real key at (batch[, query]) index {rows[:5]}"
                f"{' ...' if len(rows) > 5 else ''}: a softmax over no keys is undefined (NaN); "
                "expected every row to keep at least one True; drop empty sequences from the batch"
            )
        return mask

    def _check_projected(self, projected: Tensor, keys: Tensor) -> None:
        self._check_float("projected_keys", projected)
        width = {"mlp": self.attention_size, "bilinear": self.query_size}.get(self.score, self.key_size)
        expected = (keys.shape[0], keys.shape[1], width)
        if tuple(projected.shape) != expected:
            raise ShapeError(
                f"projected_keys has shape {_shape(projected)}; expected {expected} as returned by "
                "project_keys(keys) for these keys"
            )


class SpatialAttention(Attention):
    """Soft attention over the positions of an image feature map (Xu et al. 2015, Section 4.2).

    The feature map ``(B, C, H, W)`` (e.g. a CNN's last convolutional block) is read as
    S = H·W keys of size C, which are also the values; the context is a (B, C) feature
    vector and the weights come back as an (B, H, W) map, ready to overlay on the image.
    Xu et al. use the MLP score; every score of :class:`Attention` is accepted.

    Args:
        score: as for :class:`Attention`.
        query_size: Hq, the decoder (captioning) or question (VQA) state size.
        channels: C, the feature map's channel count (the key and value size).
        attention_size: A, for ``score="mlp"``; defaults to ``query_size``.
    """

    def __init__(self, score: str, query_size: int, channels: int, attention_size: int | None = None) -> None:
        super().__init__(score, query_size, key_size=channels, attention_size=attention_size)
        self.channels = channels

    def _flatten(self, feature_map: Tensor) -> Tensor:
        self._check_float("feature_map", feature_map)
        if feature_map.dim() != 4 or feature_map.shape[1] != self.channels:
            raise ShapeError(
                f"feature_map has shape {_shape(feature_map)}; expected (B, C, H, W) with C={self.channels} "
                "(the module's channels)"
            )
        return feature_map.flatten(2).transpose(1, 2)  # (B, H·W, C)

    def project_keys(self, feature_map: Tensor) -> Tensor:  # type: ignore[override]
        """Project the feature map's positions once per image: (B, H·W, A or Hq or C)."""
        return super().project_keys(self._flatten(feature_map))

    def forward(  # type: ignore[override]
        self,
        query: Tensor,
        feature_map: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from ``query`` over the positions of ``feature_map``.

        Args:
            query: (B, Hq) or (B, Tq, Hq).
            feature_map: (B, C, H, W).
            mask: optional bool (B, H, W), True marks a position to attend to.
            projected_keys: the result of :meth:`project_keys` for this feature map.

        Returns:
            ``(context, weights)``: (B, C) and (B, H, W) for a 2-D query, (B, Tq, C) and
            (B, Tq, H, W) for a 3-D query.
        """
        keys = self._flatten(feature_map)  # (B, S, C), S = H·W
        height, width = feature_map.shape[2], feature_map.shape[3]
        if mask is not None:
            if (
                not isinstance(mask, Tensor)
                or mask.dim() != 3
                or tuple(mask.shape)
                != (
                    feature_map.shape[0],
                    height,
                    width,
                )
            ):
                got = _shape(mask) if isinstance(mask, Tensor) else type(mask).__name__
                raise ShapeError(
                    f"mask has shape {got}; expected (B, H, W) = "
                    f"({feature_map.shape[0]}, {height}, {width}) like feature_map"
                )
            mask = mask.flatten(1)  # (B, S)
        context, weights = super().forward(query, keys, None, mask, projected_keys)
        return context, weights.unflatten(-1, (height, width))  # (B, [Tq,] H, W)
