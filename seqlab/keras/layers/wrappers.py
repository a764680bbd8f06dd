"""TimeDistributed: apply one layer (or any torch module, or a model) to every time step."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from seqlab.errors import ShapeError
from seqlab.keras.base import Layer, as_layer, deserialize_layer, register, serialize_layer

__all__ = ["TimeDistributed"]


@register
class TimeDistributed(Layer):
    """(B, T, ...) → layer on (B·T, ...) → (B, T, ...out).

    The notes' video-QA model runs a CNN over each frame: ``TimeDistributed(cnn)(video)`` with
    video (B, T, H, W, C).  ``layer`` may be a seqlab.keras layer or model, or any
    ``torch.nn.Module`` (which then receives channels-last frames as they are).  The mask is
    passed through.
    """

    supports_masking = True

    def __init__(self, layer: Layer | nn.Module, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.layer = as_layer(layer)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if inputs.dim() < 3:
            raise ShapeError(
                f"TimeDistributed {self.name!r} expects inputs (batch, time, ...), got shape "
                f"{tuple(inputs.shape)}"
            )
        B, T = inputs.shape[:2]
        y = self.layer(inputs.reshape(B * T, *inputs.shape[2:]))  # (B·T, ...)
        return y.reshape(B, T, *y.shape[1:])  # (B, T, ...)

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: dict) -> "TimeDistributed":
        return cls(**dict(config, layer=deserialize_layer(config["layer"])))
