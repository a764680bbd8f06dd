"""Checkpoints: one safetensors file holding the tensors and the JSON metadata.

Format ``seqlab.checkpoint`` version 1 — a standard safetensors file whose header
``__metadata__`` has one key, ``"seqlab"``, a JSON string::

    {"format": "seqlab.checkpoint", "version": 1,
     "sha256": <hash of the tensor data region>,
     "meta":  {epoch, global_step, config_hash, metrics, ...},
     "state": <the nested state, tensors replaced by {"__tensor__": key}>}

- Nested state (model, optimizer ``state_dict`` with its int keys and tuples,
  scheduler, callbacks, RNG states) is encoded by ``encode_state``: tensors go to the
  safetensors section under their path (``optimizer/state/0/exp_avg``), everything
  else to JSON with tags for tuples and non-string dict keys.
- Written atomically: temp file in the same directory, ``fsync``, ``os.replace``,
  ``fsync`` of the directory — a crash leaves the old file or the new one, never half.
- Loaded without executing code: the header is parsed as JSON, the data by
  safetensors; nothing is unpickled.  Truncated, corrupt (checksum), foreign
  (pickle / ``torch.save`` / other safetensors) files raise ``CheckpointError``
  naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from seqlab.errors import CheckpointError

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "read_checkpoint_metadata",
           "load_model_weights", "load_model_state", "encode_state", "decode_state", "config_hash",
           "capture_rng_state", "restore_rng_state"]

FORMAT = "seqlab.checkpoint"
VERSION = 1
_MAX_HEADER = 100 * 1024 * 1024


# --------------------------------------------------------------------- encoding
def encode_state(obj: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a nested state into a JSON-able skeleton and a flat ``{key: tensor}`` dict.

    Tensors sharing memory with the same shape (tied weights) are stored once.
    """
    tensors: dict[str, torch.Tensor] = {}
    seen: dict[tuple, str] = {}

    def enc(o: Any, path: str) -> Any:
        if isinstance(o, torch.Tensor):
            t = o.detach()
            ident = (t.device, t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype) if t.numel() else None
            if ident is not None and ident in seen:
                return {"__tensor__": seen[ident]}
            key = path or "tensor"
            while key in tensors:
                key += "_"
            tensors[key] = t.to("cpu", copy=True).contiguous()
            if ident is not None:
                seen[ident] = key
            return {"__tensor__": key}
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if isinstance(o, (np.integer, np.floating, np.bool_)):
            return o.item()
        if isinstance(o, np.ndarray):
            return enc(torch.from_numpy(o.astype(np.int64) if o.dtype == np.uint32 else o), path)
        if isinstance(o, tuple):
            return {"__tuple__": [enc(v, f"{path}/{i}") for i, v in enumerate(o)]}
        if isinstance(o, list):
            return [enc(v, f"{path}/{i}") for i, v in enumerate(o)]
        if isinstance(o, Mapping):
            if all(isinstance(k, str) and not k.startswith("__") for k in o):
                return {k: enc(v, f"{path}/{k}" if path else k) for k, v in o.items()}
            items = [[enc(k, f"{path}/key{i}"), enc(v, f"{path}/{k}")] for i, (k, v) in enumerate(o.items())]
            return {"__items__": items}
        raise CheckpointError(
            f"cannot store a value of type {type(o).__name__} at {path!r} in a checkpoint: only tensors, numbers, "
            "strings, lists, tuples and dicts are allowed (give the object a state_dict of those)"
        )

    return enc(obj, ""), tensors


def decode_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of ``encode_state``."""
    if isinstance(skeleton, list):
        return [decode_state(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            key = skeleton["__tensor__"]
            if key not in tensors:
                raise CheckpointError(f"corrupt checkpoint: tensor {key!r} is referenced but not stored")
            return tensors[key]
        if "__tuple__" in skeleton:
            return tuple(decode_state(v, tensors) for v in skeleton["__tuple__"])
        if "__items__" in skeleton:
            return {decode_state(k, tensors): decode_state(v, tensors) for k, v in skeleton["__items__"]}
        return {k: decode_state(v, tensors) for k, v in skeleton.items()}
    return skeleton


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


# ------------------------------------------------------------------------- RNG
def capture_rng_state() -> dict[str, Any]:
    """The states of torch (CPU and every CUDA device), numpy and Python's ``random``."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else [],
        "numpy": [np_state[0], np_state[1].astype(np.int64).tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": random.getstate(),
    }


def restore_rng_state(state: Mapping[str, Any] | None) -> None:
    """Inverse of ``capture_rng_state`` (``None`` is a no-op)."""
    if state is None:
        return
    torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu().to(torch.uint8) for s in state["cuda"]])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


# ------------------------------------------------------------------------ save
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file, ``fsync`` and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def save_checkpoint(path: str | Path, state: Mapping[str, Any], *, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``state`` (nested tensors/values) and ``metadata`` (JSON-able) to ``path`` atomically."""
    skeleton, tensors = encode_state(state)
    raw = st_save(tensors)
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    body = raw[8 + header_len :]
    header["__metadata__"] = {
        "seqlab": json.dumps({
            "format": FORMAT,
            "version": VERSION,
            "sha256": hashlib.sha256(body).hexdigest(),
            "meta": dict(metadata or {}),
            "state": skeleton,
        }, default=_json_default)
    }
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)  # keep the data 8-byte aligned, as safetensors does
    atomic_write_bytes(path, struct.pack("<Q", len(header_bytes)) + header_bytes + body)
    return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, torch.Tensor) and o.numel() == 1:
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"metadata value of type {type(o).__name__} is not JSON-serialisable")


# ------------------------------------------------------------------------ load
def _read_header(path: Path, data: bytes) -> tuple[dict[str, Any], int]:
    """Validate the safetensors framing and the seqlab metadata; return (seqlab JSON, data start)."""
    size = len(data)
    # A pickle starts with 0x80 and a torch.save zip with "PK", but 0x80 is also a valid
    # low byte of a safetensors header length: only call it a pickle when the bytes
    # do not frame a safetensors header.
    looks_pickled = data[:1] == b"\x80" or data[:4] == b"PK\x03\x04"
    header_len = struct.unpack("<Q", data[:8])[0] if size >= 8 else 0
    framed = size >= 8 and header_len <= _MAX_HEADER and 8 + header_len <= size and data[8:9] == b"{"
    if looks_pickled and not framed:
        raise CheckpointError(
            f"{path}: not a seqlab checkpoint: it looks like a pickle / torch.save file; seqlab never unpickles "
            "files (that could execute code). Convert it with torch.load(weights_only=True) + "
            "seqlab.train.checkpoint.save_checkpoint if you trust it"
        )
    if size < 8:
        raise CheckpointError(f"{path}: truncated: {size} bytes, a checkpoint has at least an 8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER:
        raise CheckpointError(
            f"{path}: not a seqlab checkpoint: the first 8 bytes do not give a plausible safetensors header length "
            f"({header_len})"
        )
    if 8 + header_len > size:
        raise CheckpointError(
            f"{path}: truncated: the header needs {8 + header_len} bytes but the file has {size}; "
            "the file was cut short (disk full or copy interrupted?) — use another checkpoint"
        )
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: not a seqlab checkpoint: the header is not safetensors JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a seqlab checkpoint: the header is not a JSON object")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(f"{path}: corrupt: tensor entry {name!r} has no valid data_offsets") from None
    expected = 8 + header_len + end
    if size < expected:
        raise CheckpointError(
            f"{path}: truncated: expected {expected} bytes, found {size}; the file was cut short — use another "
            "checkpoint (e.g. best.safetensors) or restart the run"
        )
    if size > expected:
        raise CheckpointError(f"{path}: corrupt: {size - expected} unexpected bytes after the tensor data")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or "seqlab" not in meta:
        raise CheckpointError(
            f"{path}: not a seqlab checkpoint: a safetensors file without seqlab metadata (written by another "
            "tool?). For plain weights use seqlab.train.checkpoint.load_model_weights(model, path, strict=...)"
        )
    try:
        info = json.loads(meta["seqlab"])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: corrupt: the seqlab metadata is not valid JSON") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqlab checkpoint: format is {info.get('format')!r}, expected {FORMAT!r}")
    if not isinstance(info.get("version"), int) or info["version"] > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {info.get('version')!r} is newer than this seqlab supports "
            f"({VERSION}); upgrade seqlab"
        )
    return info, 8 + header_len


def _read_bytes(path: str | Path) -> tuple[Path, bytes]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return path, path.read_bytes()


def read_checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """The ``meta`` dict of a checkpoint (epoch, step, metrics, config hash) after validating the file."""
    path, data = _read_bytes(path)
    return _read_header(path, data)[0]["meta"]


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """Read a checkpoint: returns ``(state, meta)``; tensors are moved to ``map_location``.

    Raises:
        CheckpointError: missing, truncated, corrupt (checksum), foreign or too-new file.
    """
    path, data = _read_bytes(path)
    info, start = _read_header(path, data)
    if hashlib.sha256(data[start:]).hexdigest() != info.get("sha256"):
        raise CheckpointError(f"{path}: corrupt: the tensor data does not match its checksum (the file was damaged)")
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: corrupt: safetensors could not read the tensors ({exc})") from None
    if str(map_location) != "cpu":
        tensors = {k: v.to(map_location) for k, v in tensors.items()}
    return decode_state(info["state"], tensors), info["meta"]


def load_model_state(model: torch.nn.Module, state: Mapping[str, torch.Tensor], *, strict: bool = True,
                     source: str = "checkpoint") -> None:
    """``model.load_state_dict`` with a ``CheckpointError`` that lists missing, unexpected and mis-shaped keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if mismatched or (strict and (missing or unexpected)):
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if mismatched:
            parts.append(f"shape mismatch {mismatched}")
        raise CheckpointError(
            f"{source} does not fit {type(model).__name__}: {'; '.join(parts)}. Build the model with the same "
            "configuration as the run that wrote the checkpoint"
        )
    model.load_state_dict(dict(state), strict=strict)


def load_model_weights(model: torch.nn.Module, path: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """Load only the model weights of a seqlab checkpoint into ``model``; returns the metadata."""
    state, meta = load_checkpoint(path, map_location=next(model.parameters(), torch.empty(0)).device)
    if not isinstance(state, Mapping) or "model" not in state:
        raise CheckpointError(f"{path}: corrupt: the checkpoint has no 'model' entry")
    load_model_state(model, state["model"], strict=strict, source=str(path))
    return meta
