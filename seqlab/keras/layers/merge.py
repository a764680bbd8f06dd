"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum (+ functions).

``concatenate([a, b])`` is the notes' ``layers.concatenate([video_vector, question_vector])``.
Masks of the inputs (where present) are combined with a logical AND, as in Keras.
"""

from __future__ import annotations

from functools import reduce
from typing import Any

import torch
from torch import Tensor

from seqlab.errors import ShapeError
from seqlab.keras.base import Layer, register

__all__ = [
    "Add", "Average", "Concatenate", "Maximum", "Minimum", "Multiply", "Subtract",
    "add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
]


class _Merge(Layer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.built = True

    def _check(self, inputs: Any) -> list[Tensor]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} expects a list of at least 2 tensors, got "
                f"{type(inputs).__name__}"
            )
        return list(inputs)

    def _merge(self, xs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def call(self, inputs: Any, mask: Any = None) -> Tensor:
        xs = self._check(inputs)
        try:
            return self._merge(xs)
        except RuntimeError as exc:
            raise ShapeError(
                f"{type(self).__name__} {self.name!r} cannot merge shapes "
                f"{[tuple(x.shape) for x in xs]}: {exc}"
            ) from exc

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None or all(m is None for m in mask):
            return None
        return reduce(torch.logical_and, [m for m in mask if m is not None])


@register
class Concatenate(_Merge):
    """Concatenate along ``axis`` (default the last, the feature axis)."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def _merge(self, xs):
        return torch.cat(xs, dim=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@register
class Add(_Merge):
    def _merge(self, xs):
        return reduce(torch.add, xs)


@register
class Subtract(_Merge):
    def _merge(self, xs):
        if len(xs) != 2:
            raise ShapeError(f"Subtract {self.name!r} expects exactly 2 inputs, got {len(xs)}")
        return xs[0] - xs[1]


@register
class Multiply(_Merge):
    def _merge(self, xs):
        return reduce(torch.mul, xs)


@register
class Average(_Merge):
    def _merge(self, xs):
        return reduce(torch.add, xs) / len(xs)


@register
class Maximum(_Merge):
    def _merge(self, xs):
        return reduce(torch.maximum, xs)


@register
class Minimum(_Merge):
    def _merge(self, xs):
        return reduce(torch.minimum, xs)


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    """Functional form of :class:`Concatenate`."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs: list, **kwargs: Any) -> Any:
    return Add(**kwargs)(inputs)


def subtract(inputs: list, **kwargs: Any) -> Any:
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list, **kwargs: Any) -> Any:
    return Multiply(**kwargs)(inputs)


def average(inputs: list, **kwargs: Any) -> Any:
    return Average(**kwargs)(inputs)


def maximum(inputs: list, **kwargs: Any) -> Any:
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list, **kwargs: Any) -> Any:
    return Minimum(**kwargs)(inputs)
