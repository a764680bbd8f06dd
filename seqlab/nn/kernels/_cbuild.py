"""Compile a small C source at first use and load it with ctypes.

Why not a torch C++ extension: ``load_inline`` needs 27-30 s to build cold, while a
~100-line plain C file compiles with gcc in well under a second and, called through
ctypes (which releases the GIL), runs as fast (../shared/notes/fast-recurrence.md).

* The shared object is cached under ``$SEQLAB_CACHE_DIR`` (default
  ``~/.cache/seqlab``)/kernels, keyed by a hash of source, flags and compiler.
* It is written to a temporary name and renamed into place, so concurrent processes
  (for example torchrun workers) never load a half-written file.
* ``SEQLAB_NO_NATIVE=1`` disables native kernels; a missing compiler or a failed
  build also returns ``None`` (with one warning) and callers fall back to ATen.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

_LOCK = threading.Lock()
_LOADED: dict[str, ctypes.CDLL | None] = {}

# No -ffast-math: gcc then links crtfastmath.o, which turns on flush-to-zero for the whole process.
DEFAULT_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared", "-fopenmp")


def cache_dir() -> Path:
    """Directory for compiled kernels (created on demand)."""
    root = os.environ.get("SEQLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "seqlab"
    )
    return Path(root) / "kernels"


def native_enabled() -> bool:
    """False when the user disabled native kernels with ``SEQLAB_NO_NATIVE=1``."""
    return os.environ.get("SEQLAB_NO_NATIVE", "0") in ("", "0", "false", "False")


def load_c_library(name: str, source: str, flags: tuple[str, ...] = DEFAULT_FLAGS) -> ctypes.CDLL | None:
    """Compile ``source`` (C99) once and return the loaded library, or ``None``.

    Args:
        name: short identifier used in the file name and in messages.
        source: the complete C source.
        flags: compiler flags; the cache key includes them.

    Returns:
        The ``ctypes.CDLL`` or ``None`` when native kernels are disabled or the
        build failed (a warning says why, once per process).
    """
    if not native_enabled():
        return None
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    key = hashlib.sha256("\0".join((source, " ".join(flags), compiler or "")).encode()).hexdigest()[:16]
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        lib = _build_and_load(name, source, flags, compiler, key)
        _LOADED[key] = lib
        return lib


def _build_and_load(name, source, flags, compiler, key):
    if compiler is None:
        warnings.warn(
            f"seqlab: no C compiler found, so the {name!r} kernel uses the slower ATen path. "
            "Install gcc (or set CC) to enable native kernels.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    directory = cache_dir()
    target = directory / f"{name}-{key}.so"
    if not target.exists():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=directory) as tmp:
                src = Path(tmp) / f"{name}.c"
                src.write_text(source)
                out = Path(tmp) / f"{name}.so"
                result = subprocess.run(
                    [compiler, *flags, str(src), "-o", str(out), "-lm"],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                if result.returncode != 0:
                    warnings.warn(
                        f"seqlab: building the {name!r} kernel failed, using the ATen path instead.\n"
                        f"{result.stderr.strip()[:2000]}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                    return None
                os.replace(out, target)  # atomic: other processes see all or nothing
        except (OSError, subprocess.SubprocessError) as exc:
            warnings.warn(
                f"seqlab: could not build the {name!r} kernel ({exc}); using the ATen path.",
                RuntimeWarning,
                stacklevel=4,
            )
            return None
    try:
        return ctypes.CDLL(str(target))
    except OSError as exc:
        warnings.warn(f"seqlab: could not load {target} ({exc}); using the ATen path.", RuntimeWarning, stacklevel=4)
        return None
