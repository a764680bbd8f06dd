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

``load_run(run_dir)`` rebuilds the model, its vocabulary and its config from these files
alone, so ``seqlab eval`` / ``predict`` / ``generate`` need nothing else.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from seqlab.config import Config, load_config, save_config
from seqlab.errors import CheckpointError, ConfigurationError

__all__ = [
    "CONFIG_FILE",
    "RUN_INFO_FILE",
    "VOCAB_FILE",
    "RESULTS_FILE",
    "CHECKPOINTS_DIR",
    "PLOTS_DIR",
    "LoadedRun",
    "new_run_dir",
    "init_run_dir",
    "write_json",
    "read_json",
    "find_checkpoint",
    "load_run",
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


def init_run_dir(path: str | Path, config: Config, *, info: Optional[dict[str, Any]] = None) -> Path:
    """Create a run directory and write its resolved config (and ``run.json`` when given).

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
    save_config(config, path / CONFIG_FILE)
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


@dataclass
class LoadedRun:
    """A trained model rebuilt from its run directory.

    Attributes:
        path: the run directory.
        config: the resolved :class:`~seqlab.config.Config`.
        model: the model with the checkpoint's weights, in ``eval()`` mode.
        vocab: the :class:`~seqlab.data.vocab.Vocabulary` it was trained with.
        info: ``run.json`` (``num_classes``, ``class_names``, ...).
        checkpoint: the weights file that was loaded.
        checkpoint_meta: its metadata (epoch, step, metrics).
    """

    path: Path
    config: Config
    model: nn.Module
    vocab: Any
    info: dict[str, Any] = field(default_factory=dict)
    checkpoint: Optional[Path] = None
    checkpoint_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return list(self.info.get("class_names") or [])


def load_run(run_dir: str | Path, *, checkpoint: str = "best", device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild model, vocabulary and config from a run directory written by ``seqlab run``.

    Args:
        run_dir: the run directory.
        checkpoint: ``"best"`` (falls back to ``"last"``) or ``"last"``.
        device: where the model is placed.

    Raises:
        ConfigurationError: not a run directory, or its config/run.json is damaged.
        CheckpointError: no checkpoint, or one that does not fit the config's model.
    """
    from seqlab.data.vocab import Vocabulary
    from seqlab.models import build_model
    from seqlab.train.checkpoint import load_model_weights

    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigurationError(f"run directory {str(path)!r} does not exist; pass a directory written by `seqlab run`.")
    if not (path / CONFIG_FILE).is_file():
        raise ConfigurationError(
            f"{path} is not a run directory: it has no {CONFIG_FILE}. Pass a directory written by `seqlab run`."
        )
    config = load_config(path / CONFIG_FILE)
    info = read_json(path / RUN_INFO_FILE) if (path / RUN_INFO_FILE).is_file() else {}
    if not (path / VOCAB_FILE).is_file():
        raise ConfigurationError(f"{path} has no {VOCAB_FILE}; the run directory is incomplete.")
    vocab = Vocabulary.load(path / VOCAB_FILE)
    num_classes = info.get("num_classes")
    model = build_model(config.model, len(vocab), num_classes, padding_idx=vocab.pad_id,
                        unk_idx=getattr(vocab, "unk_id", None))
    weights = find_checkpoint(path, checkpoint)
    meta = load_model_weights(model, weights)
    model.to(device).eval()
    return LoadedRun(path=path, config=config, model=model, vocab=vocab, info=info, checkpoint=weights,
                     checkpoint_meta=meta)
