"""seqlab.keras: the notes' Keras code on seqlab, with only the imports changed.

    from seqlab.keras import Sequential
    from seqlab.keras.layers import Embedding, LSTM, Dropout, Dense

    model = Sequential()
    model.add(Embedding(max_features, output_dim=256))
    model.add(LSTM(128))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=16, epochs=10)
    score = model.evaluate(x_test, y_test, batch_size=16)

or ``import seqlab.keras as keras; keras.Input(...); keras.layers.LSTM(...)``.

* layers are ``torch.nn.Module`` s built lazily at their first call, channels-last, with Keras'
  default initializers; any ``torch.nn.Module`` can be used as a layer;
* the recurrent layers run on ``seqlab.nn``'s fused kernels; ``compile/fit/evaluate/predict``
  run on ``seqlab.train.Trainer``;
* ``save`` / ``load_model`` write JSON + safetensors (no pickle).
"""

from seqlab.keras import activations, callbacks, initializers, layers, losses, metrics, optimizers
from seqlab.keras.base import KerasTensor, Layer
from seqlab.keras.models import Input, InputLayer, Model, Sequential
from seqlab.keras.saving import load_model

__all__ = [
    "Input", "InputLayer", "KerasTensor", "Layer", "Model", "Sequential", "activations", "callbacks",
    "initializers", "layers", "load_model", "losses", "metrics", "optimizers",
]
