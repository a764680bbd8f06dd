"""Same seed, same numbers: every model kind's short run gives the metrics recorded before the task redesign.

The runs and how the fixture was recorded are in ``golden_runs.py``. A refactor that changes the order in
which parameters are drawn, the batches, the loss or a metric changes these numbers exactly, so this test
fails on any of them.
"""

from __future__ import annotations

import json

import pytest
import torch

from golden_runs import GOLDEN_FILE, GOLDEN_RUNS, run

GOLDEN = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))


def test_every_model_kind_has_a_golden_run():
    assert set(GOLDEN) == set(GOLDEN_RUNS) == {"classifier", "text_cnn_cv", "keras_lstm", "language_model",
                                               "window_lm", "bow_lm"}


@pytest.mark.parametrize("name", sorted(GOLDEN_RUNS))
def test_same_seed_same_numbers(name, real_data_dir, tmp_path):
    torch.manual_seed(0)
    assert run(name, tmp_path / name) == GOLDEN[name]
