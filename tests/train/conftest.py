"""Set-up for the training-engine tests.

The CI box has 2 cores shared by many processes; with torch's default of one
OpenMP thread per core a tiny model spends most of its time spinning in thread
barriers (measured: 26 s vs 0.6 s for the same 128 steps of a small MLP under load),
so these tests run with one thread — the subprocess scripts get it through
OMP_NUM_THREADS.  The previous setting is restored after each test.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
