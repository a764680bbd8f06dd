"""Experiment recipes: ``seqlab run NAME key=value ...`` for the experiments that are sweeps.

A TOML recipe trains one model into one run directory.  The long-range experiment
(``seqlab.experiments.long_range``) trains 48 small models over a grid of delays and
writes plots of accuracy against delay, so it is not a TOML recipe.  It is still run the
same way (``seqlab run long-range``), with ``key=value`` overrides checked against its
own keys, and everything lands in a run directory.

    seqlab run long-range                                    # the whole sweep + clipping demo
    seqlab run long-range quick=true models=lstm,gru tasks=copy --run-dir runs/lr
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from seqlab.errors import ConfigurationError
from seqlab.train.runs import new_run_dir

__all__ = ["Experiment", "EXPERIMENTS", "run_experiment"]


@dataclass(frozen=True)
class Experiment:
    """An experiment recipe: the module whose ``main(argv)`` runs it, and its override keys.

    ``keys`` maps an override key to its command-line option; ``lists`` are the keys whose
    value is a comma-separated list; ``flags`` are the boolean ones (``true`` / ``false``).
    """

    module: str
    description: str
    citation: str
    keys: dict[str, str] = field(default_factory=dict)
    lists: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()


EXPERIMENTS: dict[str, Experiment] = {
    "long-range": Experiment(
        module="seqlab.experiments.long_range",
        description="copy-memory and adding problems: accuracy vs delay for RNN, LSTM variants and GRU; "
                    "gradient flow; clipping an exploding RNN",
        citation="Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016; Pascanu et al. 2013",
        keys={"tasks": "--tasks", "models": "--models", "epochs": "--epochs", "seed": "--seed",
              "only": "--only", "threads": "--threads", "quick": "--quick"},
        lists=frozenset({"tasks", "models"}),
        flags=frozenset({"quick"}),
    ),
}


def _argv(name: str, experiment: Experiment, overrides: list[str]) -> list[str]:
    argv: list[str] = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"override {item!r} is not key=value (for example epochs=3)")
        if key not in experiment.keys:
            raise ConfigurationError(
                f"unknown key {key!r} for the {name} experiment; valid keys: {', '.join(sorted(experiment.keys))}"
            )
        option = experiment.keys[key]
        if key in experiment.flags:
            if value.lower() not in ("true", "false"):
                raise ConfigurationError(f"{key} takes true or false, got {value!r}")
            argv += [option] if value.lower() == "true" else []
        elif key in experiment.lists:
            argv += [option, *[v for v in value.split(",") if v]]
        else:
            argv += [option, value]
    return argv


def run_experiment(name: str, overrides: list[str], *, run_dir: Optional[str | Path] = None,
                   runs_root: str | Path = "runs") -> Path:
    """Run the experiment ``name`` into ``run_dir`` (default ``runs_root/<name>-<timestamp>``).

    Raises:
        ConfigurationError: an unknown experiment or override key, a malformed value, or a
            ``run_dir`` that already holds files.
    """
    if name not in EXPERIMENTS:
        raise ConfigurationError(f"unknown experiment {name!r}; experiments: {', '.join(EXPERIMENTS)}")
    experiment = EXPERIMENTS[name]
    argv = _argv(name, experiment, overrides)
    path = Path(run_dir) if run_dir is not None else new_run_dir(name, runs_root)
    if path.exists() and any(path.iterdir()):
        raise ConfigurationError(f"{path} is not empty; choose another --run-dir (an experiment does not resume).")
    module = importlib.import_module(experiment.module)
    start = time.perf_counter()
    try:
        status = module.main([*argv, "--out", str(path)])
    except SystemExit as exc:  # the module's argparse refused a value (e.g. models=lsmt)
        raise ConfigurationError(f"the {name} experiment refused its options {argv}: see the message above") from exc
    if status:
        raise ConfigurationError(f"the {name} experiment failed (exit status {status})")
    print(f"{name}: done in {time.perf_counter() - start:.0f} s; plots and JSON in {path}")
    return path
