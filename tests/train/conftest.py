"""Set-up for the training-engine tests.

The CI box has 2 cores shared by many processes; with torch's default of one
OpenMP thread per core a tiny model spends most of its time spinning in thread
barriers (measured: 26 s vs 0.6 s for the same 128 steps), so these tests use one
thread — also what the subprocess scripts get through OMP_NUM_THREADS.
"""

import torch

torch.set_num_threads(1)
