"""Diagnostics that read models and runs: gradient flow, plots."""

from seqlab.diagnostics.gradient_flow import GradientFlow, gradient_flow, save_gradient_flow
from seqlab.diagnostics.plots import plot_gradient_flow, plot_learning_curves, plot_metric_vs_delay

__all__ = [
    "GradientFlow",
    "gradient_flow",
    "save_gradient_flow",
    "plot_gradient_flow",
    "plot_learning_curves",
    "plot_metric_vs_delay",
]
