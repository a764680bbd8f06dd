"""The FSDD checksum table ships as package data (seqlab/data/datasets/fsdd_manifest.tsv)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from seqlab.data import registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_manifest_is_declared_package_data():
    """A non-editable install (wheel) only carries the data files package-data names."""
    package_data = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data.get("seqlab.data.datasets", [])
    assert any(Path(registry.FSDD_MANIFEST).match(p) for p in patterns), patterns
    assert (Path(registry.__file__).parent / "datasets" / registry.FSDD_MANIFEST).is_file()


def test_manifest_loads_every_recording():
    rows = registry.fsdd_manifest()
    assert len(rows) == 3000 and len({name for name, _, _ in rows}) == 3000
    assert all(re.fullmatch(r"\d_[a-z]+_\d+\.wav", name) for name, _, _ in rows)
    assert all(size > 44 and re.fullmatch(r"[0-9a-f]{64}", sha) for _, size, sha in rows)  # > a bare WAV header
    assert sum(size for _, size, _ in rows) == 21_128_848  # what `seqlab datasets` reports for fsdd
    assert rows[0] == ("0_george_0.wav", 4812, "228ab63fccdf262d2e05817b6ec918b15e7d9e4bfb6bb20183c46ae088405240")
    spec = registry.get_spec("fsdd")
    assert len(spec.files) == 3000 and spec.files[0].path == "fsdd/recordings/0_george_0.wav"
