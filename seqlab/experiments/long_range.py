"""Vanishing and exploding gradients, measured (issue 6, item 5).

Two experiments, each writing its numbers (JSON) and plots into ``--out``:

* **Delay sweep** (``sweep``): the copy-memory and adding problems
  (Hochreiter & Schmidhuber 1997 §5; Arjovsky et al. 2016 §4.2) generated at several
  delays, one model per (cell, delay) trained from scratch with the engine
  (``seqlab.train.Trainer``, Adam, gradient clipping 1.0), for the vanilla RNN, the LSTM
  with its three variants (peephole, coupled, layernorm) and the GRU. Reported on a held
  out set: copy — recall accuracy on the copied symbols (chance = 1/num_symbols);
  adding — MSE (the constant prediction 1 gives 1/6 ≈ 0.167). Plots: accuracy / MSE
  against delay, one line per model; plus the gradient flow ‖∂L/∂h_t‖ of the untrained
  RNN and LSTM at the largest delay (where the vanishing gradient is visible directly).
* **Clipping demo** (``clipping``): the same vanilla tanh RNN on the adding problem,
  trained twice with plain SGD from a recurrent matrix ``scale · orthogonal`` (spectral
  radius ``scale`` > 1, the exploding regime of Pascanu et al. 2013, §3), once without
  and once with gradient-norm clipping (Pascanu et al. 2013, §3.2, Algorithm 1). Without
  clipping the loss goes to inf/NaN within a few dozen steps; with it training goes on.
  This loop is written out explicitly (not the engine) because it must record the
  pre-clipping gradient norm of every step and keep going through a non-finite loss,
  which the engine rightly refuses to do.

    python -m seqlab.experiments.long_range --out runs/long-range            # a few minutes on 2 cores
    python -m seqlab.experiments.long_range --quick --out /tmp/lr            # seconds (tests)
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from seqlab.data.synthetic import AddingProblemDataset, CopyMemoryDataset
from seqlab.errors import ConfigurationError

__all__ = [
    "MODELS",
    "TASKS",
    "SweepConfig",
    "ClippingConfig",
    "LongRangeModel",
    "train_one",
    "run_sweep",
    "clipping_demo",
    "main",
]

#: model name -> (rnn_type, LSTM cell)
MODELS: dict[str, tuple[str, str]] = {
    "rnn": ("rnn", "standard"),
    "lstm": ("lstm", "standard"),
    "peephole": ("lstm", "peephole"),
    "coupled": ("lstm", "coupled"),
    "layernorm": ("lstm", "layernorm"),
    "gru": ("gru", "standard"),
}
TASKS = ("copy", "adding")


class LongRangeModel(nn.Module):
    """A recurrent layer with a task head.

    * ``copy``: ids (B, T) → one-hot → recurrent → Linear(C) at every step → (B, T, C).
    * ``adding``: x (B, T, 2) → recurrent → Linear(1) on the last step → (B,).
    """

    def __init__(self, task: str, model: str, hidden_size: int, *, num_classes: int = 10) -> None:
        super().__init__()
        from seqlab.models._recurrent import recurrent_layer

        if task not in TASKS:
            raise ConfigurationError(f"task={task!r} is not valid; expected one of {', '.join(TASKS)}.")
        if model not in MODELS:
            raise ConfigurationError(f"model={model!r} is not valid; expected one of {', '.join(MODELS)}.")
        self.task = task
        self.num_classes = num_classes
        rnn_type, cell = MODELS[model]
        input_size = num_classes if task == "copy" else 2
        self.rnn = recurrent_layer(rnn_type, input_size, hidden_size, 1, cell=cell)
        self.head = nn.Linear(hidden_size, num_classes if task == "copy" else 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.task == "copy":
            x = nn.functional.one_hot(x, self.num_classes).float()  # (B, T, C)
            out, _ = self.rnn(x)  # (B, T, H)
            return self.head(out)  # (B, T, C)
        out, _ = self.rnn(x)  # (B, T, H)
        return self.head(out[:, -1]).squeeze(-1)  # (B,)


@dataclass
class SweepConfig:
    """Sizes of the delay sweep (defaults: 48 trainings of 768 Adam steps, ~10 minutes on one CPU core).

    At these sizes LSTM/GRU solve the short delays and the vanilla RNN stays at chance.
    """

    tasks: tuple[str, ...] = TASKS
    models: tuple[str, ...] = tuple(MODELS)
    copy_delays: tuple[int, ...] = (5, 10, 20, 40)
    adding_lengths: tuple[int, ...] = (10, 20, 40, 80)
    copy_length: int = 3
    num_symbols: int = 8
    hidden_size: int = 64
    train_samples: int = 4096
    test_samples: int = 512
    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-2
    grad_clip_norm: float = 1.0
    seed: int = 0


@dataclass
class ClippingConfig:
    """The exploding-RNN setting (unclipped: inf loss by step ~30 at seed 0)."""

    steps: int = 150
    hidden_size: int = 32
    length: int = 50
    batch_size: int = 32
    lr: float = 0.1
    recurrent_scale: float = 2.0
    clip_norm: float = 1.0
    seed: int = 0


#: ``--quick``: seconds, for tests and smoke runs (numbers meaningless, files all written)
QUICK_SWEEP = SweepConfig(models=("rnn", "lstm"), copy_delays=(2, 4), adding_lengths=(4, 8), copy_length=3,
                          hidden_size=8, train_samples=64, test_samples=32, epochs=1)
#: ``--quick`` clipping demo: the full setting, fewer steps (unclipped diverges at step ~28)
QUICK_CLIPPING = ClippingConfig(steps=35)


def _datasets(task: str, delay: int, cfg: SweepConfig):
    if task == "copy":
        make = lambda n, s: CopyMemoryDataset(n, delay, cfg.copy_length, cfg.num_symbols, seed=s)  # noqa: E731
    else:
        make = lambda n, s: AddingProblemDataset(n, delay, seed=s)  # noqa: E731
    return make(cfg.train_samples, cfg.seed), make(cfg.test_samples, cfg.seed + 10_000)


def train_one(task: str, model_name: str, delay: int, cfg: SweepConfig) -> dict[str, Any]:
    """Train one model on one delay with the engine; the held-out metric and timing.

    Returns ``{"metric": recall accuracy (copy) or MSE (adding), "chance": ..., "loss": ...,
    "seconds": ...}``.
    """
    from seqlab.train import Trainer

    train, test = _datasets(task, delay, cfg)
    torch.manual_seed(cfg.seed)
    num_classes = getattr(train, "num_classes", 10)
    model = LongRangeModel(task, model_name, cfg.hidden_size, num_classes=num_classes)
    trainer = Trainer(model, loss="cross_entropy" if task == "copy" else "mse", optimizer="adam", lr=cfg.lr,
                      grad_clip_norm=cfg.grad_clip_norm, device="cpu", seed=cfg.seed, verbose=0)
    start = time.perf_counter()
    trainer.fit(train, epochs=cfg.epochs, batch_size=cfg.batch_size)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        out = model(test.inputs)
        if task == "copy":
            metric = float(train.recall_accuracy(out, test.targets))
            chance = 1.0 / cfg.num_symbols
            loss = float(nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), test.targets.reshape(-1)))
        else:
            metric = loss = float(nn.functional.mse_loss(out, test.targets))
            chance = AddingProblemDataset.baseline_mse
    return {"metric": metric, "chance": chance, "loss": loss, "seconds": round(seconds, 2)}


def run_sweep(cfg: SweepConfig, out_dir: str | Path, *, log=print) -> dict[str, Any]:
    """Every (task, model, delay) of ``cfg``; writes ``sweep.json`` and the plots into ``out_dir``.

    Returns ``{task: {model: {delay: result of train_one}}}``.
    """
    from seqlab.diagnostics.gradient_flow import gradient_flow
    from seqlab.diagnostics.plots import plot_metric_vs_delay

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for task in cfg.tasks:
        if task not in TASKS:
            raise ConfigurationError(f"task {task!r} is not valid; expected one of {', '.join(TASKS)}.")
        delays = cfg.copy_delays if task == "copy" else cfg.adding_lengths
        results[task] = {}
        for name in cfg.models:
            results[task][name] = {}
            for delay in delays:
                r = train_one(task, name, delay, cfg)
                results[task][name][delay] = r
                log(f"{task:6s} {name:9s} delay {delay:4d}: "
                    f"{'recall acc' if task == 'copy' else 'test MSE'} {r['metric']:.3f} "
                    f"(chance {r['chance']:.3f}) in {r['seconds']:.1f}s")
        metric = {m: {d: r["metric"] for d, r in by.items()} for m, by in results[task].items()}
        if task == "copy":
            plot_metric_vs_delay(metric, out / "copy_accuracy_vs_delay.png", ylabel="recall accuracy",
                                 title=f"Copy memory ({cfg.copy_length} symbols), held-out recall accuracy",
                                 baseline=1.0 / cfg.num_symbols, baseline_label="chance (1/num_symbols)")
        else:
            plot_metric_vs_delay(metric, out / "adding_mse_vs_length.png", ylabel="test MSE",
                                 title="Adding problem, held-out MSE", baseline=AddingProblemDataset.baseline_mse,
                                 baseline_label="predict 1 (MSE 0.167)")
        # The vanishing gradient itself: ‖∂L/∂h_t‖ of untrained RNN vs LSTM at the longest delay.
        train, _ = _datasets(task, delays[-1], cfg)
        for name in [m for m in ("rnn", "lstm") if m in cfg.models]:
            torch.manual_seed(cfg.seed)
            model = LongRangeModel(task, name, cfg.hidden_size, num_classes=getattr(train, "num_classes", 10))
            flow = gradient_flow(model, (train.inputs[:64], train.targets[:64]))
            flow.plot(out / f"{task}_gradient_flow_{name}.png",
                      title=f"{task}, untrained {name}, delay {delays[-1]}: log10 ‖∂L/∂h_t‖")
            (out / f"{task}_gradient_flow_{name}.json").write_text(json.dumps(flow.to_dict()) + "\n", encoding="utf-8")
            log(f"{task:6s} {name:9s} untrained, delay {delays[-1]}: ‖∂L/∂h_0‖ / ‖∂L/∂h_T-1‖ = {float(flow.ratio()[0]):.2e}")
    payload = {"config": asdict(cfg), "results": results}
    (out / "sweep.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return results


def _train_clipping_run(cfg: ClippingConfig, clip: Optional[float]) -> dict[str, list[float]]:
    """One SGD run of the exploding RNN; per-step loss and pre-clipping gradient norm."""
    import seqlab.nn as snn

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    rnn = snn.RNN(2, cfg.hidden_size, batch_first=True)
    head = nn.Linear(cfg.hidden_size, 1)
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l0)
        rnn.weight_hh_l0.mul_(cfg.recurrent_scale)  # spectral radius = scale > 1
    torch.random.set_rng_state(generator_state)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=cfg.lr)
    losses: list[float] = []
    norms: list[float] = []
    for step in range(cfg.steps):
        # a fresh batch per step, seeded by (seed, step): a shorter run is a prefix of a longer one
        batch = AddingProblemDataset(cfg.batch_size, cfg.length, seed=cfg.seed * 1_000_003 + step)
        out, _ = rnn(batch.inputs)  # (B, T, H)
        loss = nn.functional.mse_loss(head(out[:, -1]).squeeze(-1), batch.targets)
        optimizer.zero_grad()
        loss.backward()
        # clip_grad_norm_ returns the norm BEFORE clipping; inf max_norm = measure only
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
        optimizer.step()
        losses.append(float(loss.detach()))
        norms.append(float(norm))
        if not math.isfinite(losses[-1]):
            break  # diverged: every later step is NaN too
    return {"loss": losses, "grad_norm": norms}


def clipping_demo(cfg: ClippingConfig, out_dir: Optional[str | Path] = None, *, log=print) -> dict[str, Any]:
    """Train the exploding RNN without and with clipping; plots and ``clipping.json`` in ``out_dir``.

    Returns ``{"unclipped": {"loss": [...], "grad_norm": [...]}, "clipped": {...}}``
    (a diverged run stops at its first non-finite loss).
    """
    runs = {"unclipped": _train_clipping_run(cfg, None), "clipped": _train_clipping_run(cfg, cfg.clip_norm)}
    for name, r in runs.items():
        finite = all(math.isfinite(v) for v in r["loss"])
        log(f"clipping demo, {name:9s}: {len(r['loss'])} steps, final loss {r['loss'][-1]:.4g}, "
            f"max grad norm {max(r['grad_norm']):.3g}" + ("" if finite else " (diverged)"))
    if out_dir is not None:
        from seqlab.diagnostics.plots import plot_learning_curves

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        plot_learning_curves({k: v["loss"] for k, v in runs.items()}, out / "clipping_loss.png", log_y=True,
                             ylabel="training MSE", baseline=AddingProblemDataset.baseline_mse,
                             baseline_label="predict 1 (MSE 0.167)",
                             title=f"Vanilla RNN, W_hh = {cfg.recurrent_scale}·orthogonal, SGD lr {cfg.lr}: "
                                   f"clip {cfg.clip_norm} vs none")
        plot_learning_curves({k: v["grad_norm"] for k, v in runs.items()}, out / "clipping_grad_norm.png",
                             log_y=True, ylabel="gradient norm (before clipping)")
        (out / "clipping.json").write_text(json.dumps({"config": asdict(cfg), "runs": runs}, indent=2) + "\n",
                                           encoding="utf-8")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seqlab.experiments.long_range",
        description="Copy/adding delay sweep over RNN, LSTM variants and GRU, and the gradient-clipping demo.",
    )
    parser.add_argument("--out", default="runs/long-range", help="output directory (plots, JSON)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests and smoke runs")
    parser.add_argument("--only", choices=("sweep", "clipping"), default=None, help="run one of the two experiments")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _run(args: argparse.Namespace) -> int:
    sweep = QUICK_SWEEP if args.quick else SweepConfig()
    clipping = QUICK_CLIPPING if args.quick else ClippingConfig()
    overrides = {k: v for k, v in (("tasks", args.tasks), ("models", args.models), ("epochs", args.epochs),
                                   ("seed", args.seed)) if v is not None}
    sweep = SweepConfig(**{**asdict(sweep), **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}})
    if args.seed is not None:
        clipping = ClippingConfig(**{**asdict(clipping), "seed": args.seed})
    start = time.perf_counter()
    if args.only in (None, "sweep"):
        run_sweep(sweep, args.out)
    if args.only in (None, "clipping"):
        clipping_demo(clipping, args.out)
    print(f"done in {time.perf_counter() - start:.1f}s; plots and JSON in {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
