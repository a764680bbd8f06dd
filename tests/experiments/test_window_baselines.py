"""Exercise 2 baselines on a small real sample of Tiny Shakespeare, through the engine."""

import math

import pytest

from seqlab.experiments.window_baselines import BASELINES, _table, build_baseline, run_baselines
from seqlab.errors import ConfigurationError


def test_baselines_learn_on_real_characters(real_data_dir):
    results = run_baselines("tinyshakespeare", names=("window2", "bow8"), seconds_each=1.5, limit=20_000,
                            eval_limit=3_000, log=lambda *_: None)
    for name, row in results.items():
        assert row["steps"] > 0
        # far below the uniform distribution over ~65 characters (4.17 nats), as a char model should
        assert row["valid_nats"] < math.log(65) - 0.8, name
        assert row["valid_bits_per_char"] == pytest.approx(row["valid_nats"] / math.log(2), rel=1e-3)
        assert row["valid_perplexity"] == pytest.approx(math.exp(row["valid_nats"]), rel=1e-3)
    table = _table("tinyshakespeare", results)
    assert "| window2 |" in table and "valid bpc" in table


def test_unknown_baseline():
    with pytest.raises(ConfigurationError, match="window2, window7, bow8"):
        build_baseline("window3", 10)
    assert set(BASELINES) == {"window2", "window7", "bow8"}
