"""Metrics by name, accumulated on the device without per-batch syncs.

A ``Metric`` keeps a few summable tensors (e.g. ``correct``, ``count``) on the
device; ``update`` adds to them with tensor ops only, and ``compute`` turns them into
a float (one sync) when the engine logs.  Summable states make the distributed
average exact: the engine all-reduces the sums, then calls ``compute_from``.

Names: ``accuracy`` (binary probabilities or logits, multi-class logits/probabilities,
per-token accuracy for ``(B, T, V)``), ``binary_accuracy``, ``perplexity`` and
``bits_per_char`` (from logits ``(..., V)``: ``exp`` resp. ``/ ln 2`` of the mean token
cross-entropy), ``mse``, ``mae``.  Targets equal to ``ignore_index`` (-100) are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from seqlab.errors import ConfigurationError, ShapeError

__all__ = ["Metric", "Accuracy", "BinaryAccuracy", "Perplexity", "BitsPerChar", "MeanSquaredError",
           "MeanAbsoluteError", "METRICS", "get_metric"]


class Metric:
    """Base class: a ratio ``total / count`` of two device tensors, transformed by ``finalize``.

    Subclasses implement ``update(output, targets)`` adding to ``self.total`` and
    ``self.count`` (tensor ops only) and may override ``finalize(mean) -> float``.
    """

    name: str = "metric"

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.reset(torch.device("cpu"))

    def reset(self, device: torch.device | str) -> None:
        """Zero the sums on ``device``."""
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.count = torch.zeros((), dtype=torch.float64, device=device)

    def update(self, output: torch.Tensor, targets: torch.Tensor) -> None:  # pragma: no cover - abstract
        """Add one batch (no syncs)."""
        raise NotImplementedError

    def state(self) -> list[torch.Tensor]:
        """The summable state tensors (all-reduced over ranks by the engine)."""
        return [self.total, self.count]

    def finalize(self, mean: float) -> float:
        """Map the mean ``total / count`` to the reported value."""
        return mean

    def compute_from(self, states: Sequence[torch.Tensor]) -> float:
        """The metric value from (possibly reduced) ``state()`` tensors."""
        total, count = float(states[0]), float(states[1])
        return self.finalize(total / count) if count > 0 else float("nan")

    def compute(self) -> float:
        """The metric over everything seen since ``reset`` (one sync)."""
        return self.compute_from(self.state())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"total": self.total.clone(), "count": self.count.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str | None = None) -> None:
        device = device or self.total.device
        self.total = state["total"].to(device=device, dtype=torch.float64).clone()
        self.count = state["count"].to(device=device, dtype=torch.float64).clone()


def _valid_mask(targets: torch.Tensor, ignore_index: int) -> torch.Tensor:
    return targets != ignore_index


class Accuracy(Metric):
    """Fraction of correct predictions.

    - outputs ``(..., C)`` with ``C > 1`` and integer targets ``(...)``: argmax;
      one-hot targets ``(..., C)``: argmax of both;
    - binary outputs ``(B,)`` / ``(B, 1)``: threshold 0.5 for probabilities and 0 for
      logits.  ``from_logits=None`` decides per batch on the device: outputs all in
      ``[0, 1]`` are probabilities (a sigmoid layer), otherwise logits.  Set
      ``from_logits`` explicitly when logits may all fall in ``[0, 1]``.
    """

    name = "accuracy"

    def __init__(self, name: str | None = None, *, from_logits: bool | None = None, ignore_index: int = -100) -> None:
        self.from_logits = from_logits
        self.ignore_index = ignore_index
        super().__init__(name)

    def update(self, output: torch.Tensor, targets: torch.Tensor) -> None:
        if output.dim() == targets.dim() + 1 and output.shape[-1] > 1:  # (..., C) vs ids (...)
            valid = _valid_mask(targets, self.ignore_index)
            correct = (output.argmax(dim=-1) == targets) & valid
            self.total += correct.sum()
            self.count += valid.sum()
            return
        if output.shape == targets.shape and output.dim() >= 2 and output.shape[-1] > 1:  # one-hot
            self.total += (output.argmax(dim=-1) == targets.argmax(dim=-1)).sum()
            self.count += targets.numel() // targets.shape[-1]
            return
        if output.numel() != targets.numel():
            raise ShapeError(
                f"accuracy cannot match outputs {tuple(output.shape)} to targets {tuple(targets.shape)}: expected "
                "(..., C) logits with (...) class ids, one-hot targets, or binary outputs with one target each"
            )
        out = output.reshape(-1)
        if self.from_logits is None:
            threshold = torch.where((out.min() >= 0) & (out.max() <= 1), 0.5, 0.0)
        else:
            threshold = torch.tensor(0.0 if self.from_logits else 0.5, device=out.device)
        pred = out > threshold
        self.total += (pred == (targets.reshape(-1) > 0.5)).sum()
        self.count += out.numel()


class BinaryAccuracy(Accuracy):
    """Keras' ``binary_accuracy``: probabilities thresholded at 0.5."""

    name = "binary_accuracy"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name, from_logits=False)


class Perplexity(Metric):
    """``exp`` of the mean token cross-entropy of logits ``(..., V)`` against ids ``(...)``."""

    name = "perplexity"

    def __init__(self, name: str | None = None, *, ignore_index: int = -100) -> None:
        self.ignore_index = ignore_index
        super().__init__(name)

    def update(self, output: torch.Tensor, targets: torch.Tensor) -> None:
        if output.shape[:-1] != targets.shape:
            raise ShapeError(
                f"{self.name} needs logits (..., V) and class ids (...), got {tuple(output.shape)} and "
                f"{tuple(targets.shape)}"
            )
        logits = output.reshape(-1, output.shape[-1])
        t = targets.reshape(-1).long()
        self.total += F.cross_entropy(logits.float(), t, ignore_index=self.ignore_index, reduction="sum")
        self.count += (t != self.ignore_index).sum()

    def finalize(self, mean: float) -> float:
        return math.exp(mean) if mean < 700 else float("inf")


class BitsPerChar(Perplexity):
    """Mean token cross-entropy in bits (``nats / ln 2``)."""

    name = "bits_per_char"

    def finalize(self, mean: float) -> float:
        return mean / math.log(2.0)


class MeanSquaredError(Metric):
    name = "mse"

    def update(self, output: torch.Tensor, targets: torch.Tensor) -> None:
        self.total += (output.reshape(-1).double() - targets.reshape(-1).double()).pow(2).sum()
        self.count += output.numel()


class MeanAbsoluteError(Metric):
    name = "mae"

    def update(self, output: torch.Tensor, targets: torch.Tensor) -> None:
        self.total += (output.reshape(-1).double() - targets.reshape(-1).double()).abs().sum()
        self.count += output.numel()


METRICS: dict[str, type[Metric]] = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy,
    "perplexity": Perplexity,
    "bits_per_char": BitsPerChar,
    "bpc": BitsPerChar,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
}


def get_metric(metric: str | Metric) -> Metric:
    """A fresh ``Metric`` from its name (see ``METRICS``; logged under that name) or the object itself."""
    if isinstance(metric, Metric):
        return metric
    if isinstance(metric, str) and metric in METRICS:
        return METRICS[metric](name=metric)
    raise ConfigurationError(
        f"unknown metric {metric!r}; valid names: {', '.join(sorted(METRICS))} (or pass a seqlab.train.Metric)"
    )
