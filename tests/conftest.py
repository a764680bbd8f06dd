"""Shared test set-up: find the real datasets and keep caches out of $HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

_SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "SEQLAB_DATA_DIR" not in os.environ and _SHARED_DATA.is_dir():
    os.environ["SEQLAB_DATA_DIR"] = str(_SHARED_DATA)
os.environ.setdefault("MPLBACKEND", "Agg")
# Tests never reach the internet: a missing file fails at once instead of waiting on DNS.
# The download tests unset this around their 127.0.0.1 server.
os.environ.setdefault("SEQLAB_OFFLINE", "1")


def data_dir() -> Path | None:
    """The real-data directory, or None when it is not available."""
    value = os.environ.get("SEQLAB_DATA_DIR")
    return Path(value) if value and Path(value).is_dir() else None


@pytest.fixture
def real_data_dir() -> Path:
    """Skip the test when the real datasets are not present."""
    path = data_dir()
    if path is None:
        pytest.skip("real datasets not found: set SEQLAB_DATA_DIR (CI points it at ../shared/data)")
    return path


# Small test tensors run many times slower with 2 threads on a shared 2-core machine
# (measured 4-30x by the engineers); the benchmarks, not the tests, measure threading.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def data_dir_without(real_data_dir, tmp_path, monkeypatch):
    """Build a data dir under tmp that mirrors the real one less the named files, and point SEQLAB_DATA_DIR at it.

    ``data_dir_without("mnist/train-images-idx3-ubyte.gz")`` returns the new folder. Entries are symlinks, so
    nothing is copied. Tests of a partly present dataset use this rather than assuming a file is missing from
    ``../shared/data``, which gains files over time.
    """

    def build(*missing: str) -> Path:
        missing_paths = {Path(m) for m in missing}
        for m in missing_paths:
            if not (real_data_dir / m).exists():
                raise FileNotFoundError(f"{m} is not in {real_data_dir}: the test names a file that does not exist")
        root = tmp_path / "partial-data"

        def mirror(rel: Path) -> None:
            source = real_data_dir / rel
            inside = [m for m in missing_paths if rel == Path(".") or rel in m.parents]
            if rel in missing_paths:
                return
            if not inside:
                (root / rel).symlink_to(source, target_is_directory=source.is_dir())
                return
            (root / rel).mkdir(parents=True, exist_ok=True)
            for child in sorted(source.iterdir()):
                mirror(rel / child.name)

        mirror(Path("."))
        monkeypatch.setenv("SEQLAB_DATA_DIR", str(root))
        return root

    return build
