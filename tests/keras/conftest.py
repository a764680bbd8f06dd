"""Keras-API tests run single-threaded: their models are tiny, and on a shared 2-core machine
torch's intra-op threads spend far longer synchronising than computing (measured: a
64×12×16 LSTM step takes 62 ms with 2 busy threads, 2 ms with 1)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
