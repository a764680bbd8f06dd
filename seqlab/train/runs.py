"""Run directories: everything one training run writes, and how to load it back.

Layout of ``runs/<recipe>-<YYYYmmdd-HHMMSS>/``::

    config.json          the resolved config (recipe + overrides), reloadable
    run.json             what the config does not say: vocabulary size, class names,
                         seqlab/torch versions, the command line, start time
    vocab.json           the vocabulary built on the training split
    metrics.csv          one row per epoch (written by the engine's CSVLogger)
    metrics.jsonl        the same as JSON lines (JSONLLogger)
    checkpoints/         best.safetensors, last.safetensors (ModelCheckpoint)
    results.json         final metrics of the run (train / val / test)
    plots/               figures (seqlab.diagnostics)
    errors.tsv           the worst misclassifications (``seqlab eval``)

What a task saves besides (``vocab.json`` for the text tasks, ``model.keras`` for the notes'
Keras model) is the task's (``seqlab.tasks``); :func:`seqlab.tasks.load_run` rebuilds the model,
its artifacts and its config from these files alone, so ``seqlab eval`` / ``predict`` /
``generate`` need nothing else. This module knows the layout and the file I/O only: it
never sees a config class or a model builder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Optional

from seqlab.errors import CheckpointError, ConfigurationError

__all__ = [
    "CONFIG_FILE",
    "RUN_INFO_FILE",
    "VOCAB_FILE",
    "RESULTS_FILE",
    "CHECKPOINTS_DIR",
    "PLOTS_DIR",
    "new_run_dir",
    "init_run_dir",
    "write_json",
    "read_json",
    "find_checkpoint",
]

CONFIG_FILE = "config.json"
RUN_INFO_FILE = "run.json"
VOCAB_FILE = "vocab.json"
RESULTS_FILE = "results.json"
CHECKPOINTS_DIR = "checkpoints"
PLOTS_DIR = "plots"

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def new_run_dir(name: str, runs_root: str | Path = "runs", *, now: Optional[_dt.datetime] = None) -> Path:
    """A fresh path ``runs_root/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ... if taken).

    The directory is not created (see :func:`init_run_dir`).
    """
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(runs_root) / f"{_SAFE_NAME.sub('_', name) or 'run'}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file of a run directory; a clear error when missing or damaged."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path} does not exist; is {path.parent} a run directory written by `seqlab run`?"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid JSON ({exc}); the run directory is damaged.") from None


def init_run_dir(path: str | Path, config: Mapping[str, Any], *, info: Optional[dict[str, Any]] = None) -> Path:
    """Create a run directory and write its resolved config (``seqlab.config.to_dict``; and
    ``run.json`` when given).

    Raises:
        ConfigurationError: ``path`` already holds a run (resume it with ``--resume`` or
            pick another ``--run-dir``).
    """
    path = Path(path)
    if (path / CONFIG_FILE).exists():
        raise ConfigurationError(
            f"{path} already holds a run; continue it with `seqlab run --resume {path}` "
            "or choose another --run-dir."
        )
    (path / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)
    (path / PLOTS_DIR).mkdir(exist_ok=True)
    write_json(path / CONFIG_FILE, dict(config))
    if info is not None:
        write_json(path / RUN_INFO_FILE, info)
    return path


def find_checkpoint(run_dir: str | Path, which: str = "best") -> Path:
    """``checkpoints/best.safetensors`` (falling back to ``last``) or ``last`` when asked.

    Raises:
        CheckpointError: the run wrote no checkpoint.
    """
    ckpt_dir = Path(run_dir) / CHECKPOINTS_DIR
    if which not in ("best", "last"):
        raise ConfigurationError(f"checkpoint must be 'best' or 'last', got {which!r}.")
    order = ["best", "last"] if which == "best" else ["last"]
    for name in order:
        candidate = ckpt_dir / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{ckpt_dir} holds no {' or '.join(n + '.safetensors' for n in order)}; the run stopped before its "
        f"first checkpoint. Train it (again) with `seqlab run`."
    )
