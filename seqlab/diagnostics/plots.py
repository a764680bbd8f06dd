"""Figures for runs and experiments (matplotlib, Agg backend: no display needed).

* :func:`plot_learning_curves` — loss (or any metric) against step/epoch, several runs;
* :func:`plot_gradient_flow` — ‖∂L/∂h_t‖ as a layer × time heatmap and per-layer lines;
* :func:`plot_metric_vs_delay` — accuracy (or MSE) against the delay of a long-range task,
  one line per model, with an optional chance/baseline line.

Every function writes the figure to ``path`` (format from its suffix), closes it and
returns the path; parent directories are created.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import matplotlib

matplotlib.use("Agg")  # headless: never open a window (CI, servers)
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from seqlab.diagnostics.gradient_flow import GradientFlow

__all__ = ["plot_learning_curves", "plot_gradient_flow", "plot_metric_vs_delay"]


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_learning_curves(
    curves: Mapping[str, Sequence[float]],
    path: str | Path,
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: Optional[str] = None,
    log_y: bool = False,
    baseline: Optional[float] = None,
    baseline_label: str = "baseline",
) -> Path:
    """One line per curve (``name -> values``); non-finite values are left as gaps and
    marked with an ``x`` at the first one (a diverged run)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in curves.items():
        values = [float(v) for v in values]
        line = ax.plot(range(len(values)), [v if math.isfinite(v) else float("nan") for v in values], label=name)[0]
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            finite = [v for v in values[:bad] if math.isfinite(v)]
            ax.plot([bad], [finite[-1] if finite else 0.0], "x", color=line.get_color(), markersize=10,
                    label=f"{name}: non-finite from step {bad}")
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label=baseline_label)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_gradient_flow(flow: "GradientFlow", path: str | Path, *, title: Optional[str] = None) -> Path:
    """Heatmap of log10 ‖∂L/∂h_t‖ (rows = layers, columns = time) above a line plot per layer."""
    import torch

    norms = flow.norms.detach().double()
    logn = torch.log10(norms.clamp_min(1e-30))  # (R, T)
    R, T = logn.shape
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 2.0 + 0.4 * R + 3.0), gridspec_kw={"height_ratios": [max(R, 1), 3]})
    im = top.imshow(logn.numpy(), aspect="auto", interpolation="nearest", cmap="viridis")
    top.set_yticks(range(R))
    top.set_yticklabels(flow.layers)
    top.set_xlabel("time step t")
    top.set_title(title or f"log10 ‖∂L/∂h_t‖ (mean over batch), loss {flow.loss:.3g}")
    fig.colorbar(im, ax=top)
    for r, label in enumerate(flow.layers):
        bottom.plot(range(T), norms[r].numpy(), label=label)
    for label, cn in flow.cell_norms.items():
        bottom.plot(range(cn.numel()), cn.double().numpy(), linestyle=":", label=f"{label} (cell c_t)")
    bottom.set_yscale("log")
    bottom.set_xlabel("time step t")
    bottom.set_ylabel("‖∂L/∂h_t‖")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_metric_vs_delay(
    results: Mapping[str, Mapping[int, float]],
    path: str | Path,
    *,
    ylabel: str = "accuracy",
    title: Optional[str] = None,
    baseline: Optional[float] = None,
    baseline_label: str = "chance",
    log_y: bool = False,
) -> Path:
    """One line per model: ``results[model][delay] = value``."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, by_delay in results.items():
        delays = sorted(by_delay)
        ax.plot(delays, [by_delay[d] for d in delays], marker="o", label=name)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label=baseline_label)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
