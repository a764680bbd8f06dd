"""seqlab.keras ReduceLROnPlateau: the rate falls by ``factor`` after ``patience`` stalled
epochs, and ``History`` records ``learning_rate`` per epoch as Keras 3 does."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.errors import ConfigurationError
from seqlab.keras import Sequential
from seqlab.keras.callbacks import ReduceLROnPlateau
from seqlab.keras.layers import Dense
from seqlab.keras.optimizers import SGD


def _stalled_model():
    """A model whose loss cannot improve by ``min_delta``: SGD with a negligible rate."""
    model = Sequential([Dense(1)])
    model.compile(loss="mse", optimizer=SGD(learning_rate=1e-9))
    return model


def test_rate_halves_after_patience_and_history_records_it():
    x = np.ones((8, 3), dtype="float32")
    y = np.zeros((8, 1), dtype="float32")
    model = _stalled_model()
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                        callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, min_delta=1e-3)])
    # epoch 1 sets best; epochs 2, 3 stall -> reduce at the end of epoch 3; epochs 4, 5 stall -> again at 5.
    # Keras logs the rate the epoch ran with (read before the reduction).
    assert history.history["learning_rate"] == pytest.approx([1e-9, 1e-9, 1e-9, 5e-10, 5e-10])
    assert set(history.history) == {"loss", "learning_rate"}


def test_factor_out_of_range_is_rejected():
    with pytest.raises(ConfigurationError, match="factor"):
        ReduceLROnPlateau(factor=1.5)
