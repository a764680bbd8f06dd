"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Embedding (channels-last)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigurationError, ShapeError
from seqlab.keras import activations, initializers
from seqlab.keras.base import Layer, register

__all__ = ["Activation", "Dense", "Dropout", "Embedding", "Flatten", "Reshape"]


@register
class Dense(Layer):
    """``y = activation(x W + b)`` on the last axis: (B, ..., I) → (B, ..., units).

    Kernel ``glorot_uniform``, bias ``zeros`` (Keras defaults).  Stored as torch
    ``weight`` (units, I) and ``bias`` (units,).
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ConfigurationError(f"Dense(units={units!r}): units must be a positive int")
        self.units = units
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer) and kernel_initializer
        self.bias_initializer = initializers.get(bias_initializer) and bias_initializer

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2:
            raise ShapeError(
                f"Dense {self.name!r} needs inputs of rank >= 2 (B, ..., features), got shape "
                f"{input_shape}"
            )
        self.linear = nn.Linear(input_shape[-1], self.units, bias=self.use_bias)
        initializers.initialize(self.linear.weight, self.kernel_initializer)
        if self.use_bias:
            initializers.initialize(self.linear.bias, self.bias_initializer)

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        return self.activation(self.linear(inputs))  # (B, ..., units)

    def get_config(self) -> dict:
        name = activations.name_of(self.activation_arg)
        if name is None:
            raise ConfigurationError(
                f"Dense {self.name!r} has an unnamed callable activation that cannot be saved to "
                f"JSON; use one of {sorted(activations.ACTIVATIONS)} or save_weights()"
            )
        return {**super().get_config(), "units": self.units, "activation": name,
                "use_bias": self.use_bias}


@register
class Activation(Layer):
    """Apply an activation by name (or callable) elementwise."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation_arg = activation
        self.activation = activations.get(activation)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        return self.activation(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.name_of(self.activation_arg)}


@register
class Dropout(Layer):
    """Inverted dropout during training (Srivastava et al. 2014); identity at inference.

    ``noise_shape`` (without or with the batch axis, ``None`` = same as input) shares one mask
    along axes of size 1, as in Keras.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: tuple | None = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(rate) < 1.0:
            raise ConfigurationError(f"Dropout(rate={rate!r}): rate must be in [0, 1)")
        self.rate = float(rate)
        self.noise_shape = tuple(noise_shape) if noise_shape is not None else None
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if not self.training or self.rate == 0.0:
            return inputs
        if self.noise_shape is None:
            return F.dropout(inputs, self.rate, training=True)
        shape = [inputs.shape[i] if s is None else s for i, s in enumerate(self.noise_shape)]
        keep = torch.empty(shape, device=inputs.device, dtype=inputs.dtype).bernoulli_(1 - self.rate)
        return inputs * keep / (1 - self.rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape}


@register
class Flatten(Layer):
    """(B, d1, d2, ...) → (B, d1·d2·...)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        return inputs.reshape(inputs.shape[0], -1)


@register
class Reshape(Layer):
    """(B, ...) → (B, *target_shape); one entry may be -1."""

    def __init__(self, target_shape: tuple, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        try:
            return inputs.reshape(inputs.shape[0], *self.target_shape)
        except RuntimeError as exc:
            raise ShapeError(
                f"Reshape {self.name!r}: cannot reshape input of shape {tuple(inputs.shape)} to "
                f"(batch, {', '.join(map(str, self.target_shape))}); the element counts must match"
            ) from exc

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


@register
class Embedding(Layer):
    """Token ids (B, ...) → vectors (B, ..., output_dim).

    Embeddings start uniform in ±0.05 (Keras' default).  With ``mask_zero=True`` id 0 is padding:
    the layer emits the mask ``ids != 0`` that recurrent layers consume (as sequence lengths when
    the padding is at the end), and ``input_dim`` must count the padding id.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        mask_zero: bool = False,
        input_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigurationError(f"Embedding({arg}={value!r}): must be a positive int")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero
        self.input_length = input_length  # accepted for Keras 2 code; shapes are inferred
        self.embeddings = nn.Parameter(torch.empty(input_dim, output_dim))
        initializers.initialize(self.embeddings, embeddings_initializer)
        self.built = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        if inputs.is_floating_point():
            if not torch.equal(inputs, inputs.round()):
                raise ShapeError(
                    f"Embedding {self.name!r} expects integer token ids, got non-integral floats "
                    f"of dtype {inputs.dtype}; pass an int array"
                )
        try:
            return F.embedding(inputs.long(), self.embeddings)  # (B, ..., E)
        except IndexError as exc:
            raise ShapeError(
                f"Embedding {self.name!r}: a token id is outside [0, {self.input_dim}) (ids range "
                f"{int(inputs.min())}..{int(inputs.max())}); raise input_dim to the vocabulary size"
            ) from exc

    def compute_mask(self, inputs: Tensor, mask: Any = None) -> Tensor | None:
        if not self.mask_zero:
            return None
        return inputs != 0  # (B, T)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "mask_zero": self.mask_zero}
