"""What the native paths share (seqlab/nn/kernels/native.py, _cbuild.py) and how their C sources ship."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import torch

from seqlab.nn.kernels import _cbuild, native
from seqlab.nn.kernels.lstm_bptt import LSTMKind

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KERNELS_DIR = Path(native.__file__).parent
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
SOURCES = (native.GRU_SOURCE, native.RNN_SOURCE, native.LSTM_SOURCE)
needs_compiler = pytest.mark.skipif(
    not (shutil.which("gcc") or shutil.which("cc")), reason="no C compiler (gcc/cc): native kernels cannot be built"
)


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.file)
def test_every_source_is_a_c_file_shipped_as_package_data(source):
    """The C sources ship as files (no C in Python strings): beside native.py and in package-data."""
    assert (KERNELS_DIR / source.file).is_file()
    package_data = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    assert any(Path(source.file).match(pattern) for pattern in package_data["seqlab.nn.kernels"])


def test_lstm_kinds_match_the_c_enum():
    text = (KERNELS_DIR / native.LSTM_SOURCE.file).read_text()
    body = re.search(r"enum lstm_kind \{([^}]*)\}", text).group(1)
    in_c = {name.strip(): int(value) for name, value in (item.split("=") for item in body.split(","))}
    assert in_c == {f"LSTM_{kind.name}": kind.value for kind in LSTMKind}


@needs_compiler
def test_the_kernel_cache_follows_the_source_text(monkeypatch, tmp_path):
    """A changed source (an edited .c file) gets its own library; an unchanged one is reused."""
    monkeypatch.setenv("SEQLAB_NO_NATIVE", "0")
    monkeypatch.setenv("SEQLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cbuild, "_LOADED", {})
    source = "int seqlab_probe(void) { return 1; }\n"
    edited = source.replace("return 1", "return 2")
    first = _cbuild.load_c_library("probe", source)
    assert first is not None and first.seqlab_probe() == 1
    built = sorted((tmp_path / "kernels").glob("probe-*.so"))
    monkeypatch.setattr(_cbuild, "_LOADED", {})  # a new process: only the disk cache is left
    assert _cbuild.load_c_library("probe", source).seqlab_probe() == 1
    assert sorted((tmp_path / "kernels").glob("probe-*.so")) == built  # reused, not rebuilt
    assert _cbuild.load_c_library("probe", edited).seqlab_probe() == 2
    assert len(list((tmp_path / "kernels").glob("probe-*.so"))) == 2


def test_kernels_for_skips_absent_tensors_and_needs_one_cpu_float_dtype():
    f32, f64 = torch.zeros(1), torch.zeros(1, dtype=torch.float64)
    assert native.native_dtype(f32, None, f32) == (torch.float32 if _cbuild.native_enabled() else None)
    assert native.native_dtype(f32, f64) is None
    assert native.native_dtype(torch.zeros(1, dtype=torch.bfloat16)) is None
    assert native.kernels_for(native.GRU_SOURCE, f32, f64) is None
