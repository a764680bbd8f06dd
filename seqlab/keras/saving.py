"""``model.save(path)`` / ``load_model(path)``: architecture as JSON, weights as safetensors.

The file is a zip archive (like Keras' ``.keras`` files) holding ``config.json`` (format tag,
model class and config, compile settings given by name) and ``model.safetensors``.  Nothing in
it is executed on load — no pickle — and a file that is not such an archive, or whose weights
do not fit the architecture, raises ``CheckpointError``.  ``save_weights`` / ``load_weights``
read and write a bare safetensors file (for models containing plain torch modules, whose
architecture cannot be written as JSON).  Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load, save as st_save

from seqlab.errors import CheckpointError, ConfigurationError

__all__ = ["load_model", "load_weights", "save_model", "save_weights"]

FORMAT = "seqlab.keras"
VERSION = 1


def _state_bytes(model: torch.nn.Module) -> bytes:
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(state, metadata={"format": FORMAT})


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _compile_config(model: Any) -> dict | None:
    compiled = getattr(model, "_compiled", None)
    if not compiled:
        return None
    loss, metrics = compiled["loss"], compiled["metrics"]
    if not isinstance(loss, str) or not all(isinstance(m, str) for m in metrics):
        return None  # objects cannot be written to JSON; the loaded model needs compile() again
    opt = compiled["optimizer"]
    return {"loss": loss, "metrics": list(metrics),
            "optimizer": opt.get_config() if hasattr(opt, "_name") and opt._name else None}


def save_model(model: Any, filepath: str | Path) -> None:
    """Write ``model`` (a seqlab.keras ``Sequential`` or ``Model``) to ``filepath``."""
    from seqlab.keras.base import serialize_layer

    if not model.built:
        raise ConfigurationError(
            f"model {model.name!r} is not built yet, so it has no weights to save; call it on data or fit() first"
        )
    config = {"format": FORMAT, "version": VERSION, "model": serialize_layer(model),
              "compile": _compile_config(model)}
    weights = _state_bytes(model)

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("config.json", json.dumps(config, indent=1))
            zf.writestr("model.safetensors", weights)

    _atomic_write(Path(filepath), write)


def _load_state(model: torch.nn.Module, blob: bytes, source: str) -> None:
    try:
        state = st_load(blob)
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{source}: the weights are not a valid safetensors file ({exc})") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source}: the weights do not fit model {getattr(model, 'name', '')!r}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {shapes[:5]}; load them into the model they were saved from"
        )
    model.load_state_dict(state)


def load_model(filepath: str | Path, compile: bool = True) -> Any:
    """Rebuild a model written by ``model.save`` and load its weights.

    With ``compile=True`` the model is compiled again when it was compiled with names (loss,
    optimizer, metrics); the optimizer's state is not restored.
    """
    from seqlab.keras.base import deserialize_layer

    path = Path(filepath)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            blob = zf.read("model.safetensors")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(
            f"{path} is not a seqlab.keras model file ({type(exc).__name__}: {exc}); it must be written by "
            "model.save(); for a bare safetensors weights file use model.load_weights()"
        ) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{path}: config.json is not a {FORMAT} config (format={config.get('format') if isinstance(config, dict) else None!r})")
    if config.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported format version {config.get('version')!r}; expected {VERSION}")
    try:
        model = deserialize_layer(config["model"])
    except (ConfigurationError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: the architecture cannot be rebuilt ({exc})") from None
    _load_state(model, blob, str(path))
    comp = config.get("compile")
    if compile and comp:
        from seqlab.keras import optimizers

        opt_cfg = dict(comp["optimizer"] or {"name": "rmsprop"})
        name = opt_cfg.pop("name")
        cls = optimizers.OPTIMIZERS[name]
        opt = cls(learning_rate=opt_cfg["learning_rate"], clipnorm=opt_cfg.get("clipnorm"))
        model.compile(optimizer=opt, loss=comp["loss"], metrics=comp["metrics"])
    return model


def save_weights(model: torch.nn.Module, filepath: str | Path) -> None:
    """Write only the weights, as a safetensors file."""
    blob = _state_bytes(model)
    _atomic_write(Path(filepath), lambda tmp: Path(tmp).write_bytes(blob))


def load_weights(model: torch.nn.Module, filepath: str | Path) -> None:
    """Load weights from a safetensors file (or from a ``model.save`` archive)."""
    path = Path(filepath)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            try:
                blob = zf.read("model.safetensors")
            except KeyError:
                raise CheckpointError(f"{path} is a zip file without model.safetensors") from None
    else:
        blob = path.read_bytes()
    _load_state(model, blob, str(path))
