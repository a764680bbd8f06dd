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
