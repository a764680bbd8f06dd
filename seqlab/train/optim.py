"""Optimizers and learning-rate schedules by name.

``build_optimizer("adam", model.parameters(), lr=1e-3)`` picks from ``OPTIMIZERS``
with PyTorch's defaults (``style="torch"``) or Keras' (``style="keras"``: RMSprop
``rho=0.9, eps=1e-7``, Adam ``eps=1e-7``, Adagrad ``initial_accumulator_value=0.1``,
Adadelta ``lr=1e-3, rho=0.95`` ...), so the notes' Keras code trains as in Keras.

``build_lr_schedule(spec, optimizer, epochs=, steps_per_epoch=)`` builds an
``LRSchedule``: a torch scheduler plus when it is stepped (after every optimizer step
or at the end of every epoch) and, for ``plateau``, which logged value it watches.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import lr_scheduler

from seqlab.errors import ConfigurationError

__all__ = ["OPTIMIZERS", "OPTIMIZER_DEFAULTS", "KERAS_OPTIMIZER_DEFAULTS", "LR_SCHEDULES", "LRSchedule",
           "build_optimizer", "build_lr_schedule"]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta,
}

# PyTorch's own defaults, except SGD which has no default learning rate in torch.
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.01},
    "adam": {"lr": 1e-3},
    "adamw": {"lr": 1e-3},
    "rmsprop": {"lr": 1e-2},
    "adagrad": {"lr": 1e-2},
    "adadelta": {"lr": 1.0},
}

# keras.optimizers defaults (Keras 3), mapped to torch argument names.
KERAS_OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.01},
    "adam": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7},
    "adamw": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 0.004},
    "rmsprop": {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7},
    "adagrad": {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7},
    "adadelta": {"lr": 1e-3, "rho": 0.95, "eps": 1e-7},
}


def build_optimizer(
    spec: str | torch.optim.Optimizer | Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer],
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float | None = None,
    style: str = "torch",
    options: Mapping[str, Any] | None = None,
) -> torch.optim.Optimizer:
    """An optimizer from a name, an instance (returned as is) or a factory ``params -> Optimizer``.

    Args:
        spec: ``sgd, adam, adamw, rmsprop, adagrad, adadelta`` (case-insensitive).
        lr: overrides the default learning rate.
        style: ``"torch"`` or ``"keras"`` defaults (see the module docstring).
        options: more constructor arguments (``momentum``, ``weight_decay`` ...); an
            unknown one is a ``ConfigurationError`` listing the valid ones.
    """
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    if not isinstance(spec, str) and callable(spec):
        opt = spec(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ConfigurationError(f"the optimizer factory returned {type(opt).__name__}, not a torch Optimizer")
        return opt
    name = spec.lower() if isinstance(spec, str) else spec
    if name not in OPTIMIZERS:
        raise ConfigurationError(
            f"unknown optimizer {spec!r}; valid names: {', '.join(OPTIMIZERS)} "
            "(or pass a torch.optim.Optimizer or a callable params -> Optimizer)"
        )
    if style not in ("torch", "keras"):
        raise ConfigurationError(f"optimizer style must be 'torch' or 'keras', got {style!r}")
    cls = OPTIMIZERS[name]
    kwargs = dict((KERAS_OPTIMIZER_DEFAULTS if style == "keras" else OPTIMIZER_DEFAULTS)[name])
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    unknown = sorted(set(options or {}) - set(valid))
    if unknown:
        raise ConfigurationError(f"unknown option(s) {unknown} for optimizer {name!r}; valid options: {valid}")
    kwargs.update(options or {})
    if lr is not None:
        if not lr > 0:
            raise ConfigurationError(f"the learning rate must be positive, got {lr!r}")
        kwargs["lr"] = lr
    return cls(params, **kwargs)


@dataclass
class LRSchedule:
    """A torch LR scheduler and when the engine steps it.

    Attributes:
        scheduler: the ``torch.optim.lr_scheduler`` object.
        interval: ``"step"`` (after every optimizer step) or ``"epoch"`` (after every epoch).
        monitor: for ``ReduceLROnPlateau``: the logged value it watches (``val_loss``;
            falls back to ``loss`` when there is no validation data).
    """

    scheduler: Any
    interval: str = "epoch"
    monitor: str | None = None

    def batch_end(self) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def epoch_end(self, logs: Mapping[str, float]) -> None:
        if self.interval != "epoch":
            return
        if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau):
            key = self.monitor if self.monitor in logs else "loss"
            self.scheduler.step(logs[key])
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


def _check_options(name: str, options: Mapping[str, Any], valid: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {unknown} for lr_schedule {name!r}; valid options with defaults: {dict(valid)}"
        )
    return {**valid, **options}


def _total_steps(epochs: int, steps_per_epoch: int | None) -> tuple[int, str]:
    if steps_per_epoch:
        return max(1, epochs * steps_per_epoch), "step"
    return max(1, epochs), "epoch"


def _step(opt, o, epochs, spe):
    return LRSchedule(lr_scheduler.StepLR(opt, step_size=o["step_size"], gamma=o["gamma"]), "epoch")


def _exponential(opt, o, epochs, spe):
    """lr × gamma^max(0, e + 1 − start) in epoch e (0-based): ``start`` epochs at the full rate
    first.  Zaremba et al. 2014's schedule (their code's ``max_epoch``: small 4, medium 6,
    large 14, each with its own gamma); ``start=0`` is torch's ExponentialLR after one step."""
    start = o["start"]
    if not isinstance(start, int) or isinstance(start, bool) or start < 0:
        raise ConfigurationError(f"exponential schedule: start must be an int >= 0 (epochs at the full rate), got {start!r}")
    if start == 0:
        return LRSchedule(lr_scheduler.ExponentialLR(opt, gamma=o["gamma"]), "epoch")
    gamma = o["gamma"]
    return LRSchedule(lr_scheduler.LambdaLR(opt, lambda e: gamma ** max(0, e + 1 - start)), "epoch")


def _half_cosine(progress: float) -> float:
    """1 → 0 along half a cosine as ``progress`` goes 0 → 1 (Loshchilov & Hutter 2017, SGDR)."""
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine(opt, o, epochs, spe):
    """Cosine to ``min_lr`` over the planned steps (Loshchilov & Hutter 2017, no restarts).

    With ``time_budget_s`` the schedule's progress is the larger of steps done / planned and
    seconds since the first step / the budget, so a run stopped by its time limit (the
    recipes' ``train.max_time_s``) still ends annealed, however fast the machine: a loaded
    2-core CPU that manages 4 of 6 planned epochs in 30 minutes anneals over those 4.  The
    price: the learning rate then depends on the clock, so such a run is not bit-for-bit
    reproducible (and a resumed one restarts the clock, as TimeLimit does).  The clock starts
    when the schedule is built, at the start of ``fit`` (LambdaLR evaluates step 0 then).
    """
    total, interval = _total_steps(epochs, spe)
    budget = o["time_budget_s"]
    if budget is None:
        return LRSchedule(lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=o["min_lr"]), interval)
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
        raise ConfigurationError(f"cosine schedule: time_budget_s must be a positive number of seconds, got {budget!r}")
    clock = _BudgetClock(float(budget))

    def factor_for(base_lr: float) -> Callable[[int], float]:
        floor = o["min_lr"] / base_lr if base_lr > 0 else 0.0

        def factor(step: int) -> float:
            progress = min(1.0, max(step / total, clock.fraction(step)))
            return floor + (1.0 - floor) * _half_cosine(progress)

        return factor

    lambdas = [factor_for(group["lr"]) for group in opt.param_groups]
    return LRSchedule(lr_scheduler.LambdaLR(opt, lambdas), interval)


class _BudgetClock:
    """Fraction of a time budget used, counted from the first call (LambdaLR's step 0)."""

    def __init__(self, budget_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self.budget_s = budget_s
        self.now = now
        self.start: float | None = None

    def fraction(self, step: int) -> float:
        if step <= 0 or self.start is None:
            self.start = self.now() if self.start is None else self.start
            return 0.0
        return (self.now() - self.start) / self.budget_s


def _plateau(opt, o, epochs, spe):
    sched = lr_scheduler.ReduceLROnPlateau(
        opt, mode=o["mode"], factor=o["factor"], patience=o["patience"], min_lr=o["min_lr"]
    )
    return LRSchedule(sched, "epoch", monitor=o["monitor"])


def _linear_warmup(opt, o, epochs, spe):
    """Linear warm-up from 0 over ``warmup_steps``, then ``decay``: constant, linear or cosine to 0."""
    total, interval = _total_steps(epochs, spe)
    warmup = o["warmup_steps"] if o["warmup_steps"] is not None else max(1, total // 20)
    decay = o["decay"]
    if decay not in ("constant", "linear", "cosine"):
        raise ConfigurationError(f"linear_warmup decay must be constant, linear or cosine, got {decay!r}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if decay == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 1.0 - progress if decay == "linear" else _half_cosine(progress)

    return LRSchedule(lr_scheduler.LambdaLR(opt, factor), interval)


LR_SCHEDULES: dict[str, tuple[Callable[..., LRSchedule], dict[str, Any]]] = {
    "step": (_step, {"step_size": 10, "gamma": 0.1}),
    "exponential": (_exponential, {"gamma": 0.95, "start": 0}),
    "cosine": (_cosine, {"min_lr": 0.0, "time_budget_s": None}),
    "plateau": (_plateau, {"monitor": "val_loss", "mode": "min", "factor": 0.1, "patience": 10, "min_lr": 0.0}),
    "linear_warmup": (_linear_warmup, {"warmup_steps": None, "decay": "linear"}),
}


def build_lr_schedule(
    spec: str | Mapping[str, Any] | LRSchedule | Any,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    steps_per_epoch: int | None,
) -> LRSchedule:
    """An ``LRSchedule`` from a name, ``{"name": ..., **options}``, an ``LRSchedule`` or a torch scheduler.

    Names and options (defaults): ``step`` (step_size=10 epochs, gamma=0.1),
    ``exponential`` (gamma=0.95 per epoch, from epoch ``start``=0), ``cosine`` (to min_lr=0 over the whole run,
    per step when the number of steps is known; with time_budget_s=S also by time), ``plateau`` (monitor="val_loss",
    mode="min", factor=0.1, patience=10, min_lr=0), ``linear_warmup``
    (warmup_steps=5 % of the run, then decay="linear" | "cosine" | "constant").
    A bare torch scheduler is stepped once per epoch.
    """
    if isinstance(spec, LRSchedule):
        return spec
    if isinstance(spec, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)):
        return LRSchedule(spec, "epoch", monitor="val_loss")
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise ConfigurationError(f"an lr_schedule mapping needs a 'name' key, got keys {sorted(spec)}")
        name, options = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    else:
        raise ConfigurationError(
            f"lr_schedule must be a name, a mapping, an LRSchedule or a torch scheduler, got {type(spec).__name__}"
        )
    if name not in LR_SCHEDULES:
        raise ConfigurationError(f"unknown lr_schedule {name!r}; valid names: {', '.join(LR_SCHEDULES)}")
    builder, defaults = LR_SCHEDULES[name]
    return builder(optimizer, _check_options(name, options, defaults), epochs, steps_per_epoch)
