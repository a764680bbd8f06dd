"""Convolution and pooling layers, channels-last like Keras: Conv1D, Conv2D, pooling.

Inputs are (B, L, C) for 1-D and (B, H, W, C) for 2-D (``data_format="channels_last"``,
Keras' default); ``"channels_first"`` is accepted too.  Internally the tensors are permuted to
torch's channels-first layout.  ``padding="same"`` pads like TensorFlow/Keras (the extra pixel,
when the total is odd, goes at the end), ``"causal"`` (Conv1D) pads only the start (van den Oord
et al. 2016).  Kim 2014's sentence CNN in the notes is Conv1D → GlobalMaxPooling1D → Dense.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras import activations, initializers
from seqlab.keras.base import Layer, register

__all__ = [
    "AveragePooling1D", "AveragePooling2D", "Conv1D", "Conv2D", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "MaxPooling1D",
    "MaxPooling2D",
]

_PADDINGS = ("valid", "same")
_FORMATS = ("channels_last", "channels_first")


def _tuple(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n or not all(isinstance(v, int) and v > 0 for v in value):
        raise ConfigurationError(f"{what} must be a positive int or a tuple of {n} positive ints, got {value!r}")
    return value


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's "same" padding for one axis: (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _pad_spatial(x: Tensor, kernel, stride, dilation, value: float = 0.0) -> Tensor:
    """Pad the spatial axes of a channels-first tensor (B, C, *spatial) for "same"."""
    pads: list[int] = []
    for size, k, s, d in reversed(list(zip(x.shape[2:], kernel, stride, dilation))):
        pads.extend(_same_pad(size, k, s, d))
    return F.pad(x, pads, value=value) if any(pads) else x


class _Conv(Layer):
    _rank = 1

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str = "channels_last",
        dilation_rate: int | Sequence[int] = 1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        if not isinstance(filters, int) or filters <= 0:
            raise ConfigurationError(f"{cls}(filters={filters!r}): filters must be a positive int")
        valid = _PADDINGS + (("causal",) if self._rank == 1 else ())
        if padding not in valid:
            raise ConfigurationError(f"{cls}(padding={padding!r}); expected one of {valid}")
        if data_format not in _FORMATS:
            raise ConfigurationError(f"{cls}(data_format={data_format!r}); expected one of {_FORMATS}")
        self.filters = filters
        self.kernel_size = _tuple(kernel_size, self._rank, "kernel_size")
        self.strides = _tuple(strides, self._rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self._rank, "dilation_rate")
        self.padding = padding
        self.data_format = data_format
        self.groups = groups
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer) and kernel_initializer
        self.bias_initializer = initializers.get(bias_initializer) and bias_initializer

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != self._rank + 2:
            layout = "(batch, steps, channels)" if self._rank == 1 else "(batch, height, width, channels)"
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects inputs {layout}, got shape {input_shape}; "
                "use TimeDistributed for an extra time axis"
            )
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels % self.groups:
            raise ConfigurationError(f"{type(self).__name__}: {channels} input channels not divisible by groups={self.groups}")
        conv = nn.Conv1d if self._rank == 1 else nn.Conv2d
        self.conv = conv(channels, self.filters, self.kernel_size, stride=self.strides,
                         dilation=self.dilation_rate, groups=self.groups, bias=self.use_bias)
        initializers.initialize(self.conv.weight, self.kernel_initializer)
        if self.use_bias:
            initializers.initialize(self.conv.bias, self.bias_initializer)

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        x = inputs
        last = self.data_format == "channels_last"
        if last:
            x = x.movedim(-1, 1)  # (B, C, *spatial)
        if self.padding == "same":
            x = _pad_spatial(x, self.kernel_size, self.strides, self.dilation_rate)
        elif self.padding == "causal":
            x = F.pad(x, ((self.kernel_size[0] - 1) * self.dilation_rate[0], 0))
        y = self.activation(self.conv(x))
        return y.movedim(1, -1) if last else y

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activations.name_of(self.activation_arg), "use_bias": self.use_bias}


@register
class Conv1D(_Conv):
    """1-D convolution over time: (B, L, C) → (B, L', filters)."""

    _rank = 1


@register
class Conv2D(_Conv):
    """2-D convolution: (B, H, W, C) → (B, H', W', filters)."""

    _rank = 2


class _Pool(Layer):
    _rank = 1
    _mode = "max"

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str = "valid", data_format: str = "channels_last", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if padding not in _PADDINGS:
            raise ConfigurationError(f"{type(self).__name__}(padding={padding!r}); expected one of {_PADDINGS}")
        if data_format not in _FORMATS:
            raise ConfigurationError(f"{type(self).__name__}(data_format={data_format!r}); expected one of {_FORMATS}")
        self.pool_size = _tuple(pool_size, self._rank, "pool_size")
        self.strides = _tuple(strides, self._rank, "strides") if strides is not None else self.pool_size
        self.padding = padding
        self.data_format = data_format
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if inputs.dim() != self._rank + 2:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects rank-{self._rank + 2} inputs, got shape "
                f"{tuple(inputs.shape)}"
            )
        last = self.data_format == "channels_last"
        x = inputs.movedim(-1, 1) if last else inputs  # (B, C, *spatial)
        ones = (1,) * self._rank
        if self._mode == "max":
            if self.padding == "same":
                x = _pad_spatial(x, self.pool_size, self.strides, ones, value=float("-inf"))
            pool = F.max_pool1d if self._rank == 1 else F.max_pool2d
            y = pool(x, self.pool_size, self.strides)
        else:
            pool = F.avg_pool1d if self._rank == 1 else F.avg_pool2d
            if self.padding == "same":
                # Keras averages over the valid (unpadded) entries of each window.
                count = _pad_spatial(torch.ones_like(x[:1, :1]), self.pool_size, self.strides, ones)
                x = _pad_spatial(x, self.pool_size, self.strides, ones)
                y = pool(x, self.pool_size, self.strides) / pool(count, self.pool_size, self.strides)
            else:
                y = pool(x, self.pool_size, self.strides)
        return y.movedim(1, -1) if last else y

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


@register
class MaxPooling1D(_Pool):
    """(B, L, C) → (B, L', C), max over windows of ``pool_size`` steps."""


@register
class AveragePooling1D(_Pool):
    _mode = "avg"


@register
class MaxPooling2D(_Pool):
    """(B, H, W, C) → (B, H', W', C), max over ``pool_size`` windows (default (2, 2))."""

    _rank = 2


@register
class AveragePooling2D(_Pool):
    _rank = 2
    _mode = "avg"


class _GlobalPool(Layer):
    _rank = 1
    _mode = "max"

    def __init__(self, data_format: str = "channels_last", keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in _FORMATS:
            raise ConfigurationError(f"{type(self).__name__}(data_format={data_format!r}); expected one of {_FORMATS}")
        self.data_format = data_format
        self.keepdims = keepdims
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if inputs.dim() != self._rank + 2:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects rank-{self._rank + 2} inputs, got shape "
                f"{tuple(inputs.shape)}"
            )
        axes = tuple(range(1, 1 + self._rank)) if self.data_format == "channels_last" else tuple(
            range(2, 2 + self._rank))
        if self._mode == "max":
            if mask is not None and self._rank == 1:
                m = mask.unsqueeze(-1) if self.data_format == "channels_last" else mask.unsqueeze(1)
                inputs = inputs.masked_fill(~m.bool(), float("-inf"))
            return inputs.amax(dim=axes, keepdim=self.keepdims)
        if mask is not None and self._rank == 1:  # Keras: masked steps do not count
            m = (mask.unsqueeze(-1) if self.data_format == "channels_last" else mask.unsqueeze(1)).to(inputs.dtype)
            total = (inputs * m).sum(dim=axes, keepdim=self.keepdims)
            return total / m.sum(dim=axes, keepdim=self.keepdims).clamp(min=1)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


@register
class GlobalMaxPooling1D(_GlobalPool):
    """(B, L, C) → (B, C): max over time (Kim 2014's max-over-time pooling)."""


@register
class GlobalAveragePooling1D(_GlobalPool):
    """(B, L, C) → (B, C): mean over the unmasked time steps."""

    _mode = "avg"


@register
class GlobalMaxPooling2D(_GlobalPool):
    _rank = 2


@register
class GlobalAveragePooling2D(_GlobalPool):
    """(B, H, W, C) → (B, C): mean over the spatial grid (InceptionV3's ``pooling='avg'``)."""

    _rank = 2
    _mode = "avg"
