"""Keras-style layers (channels-last, shapes inferred at the first call).

``from seqlab.keras.layers import Embedding, LSTM, Dropout, Dense`` — the notes' imports with
``keras`` replaced by ``seqlab.keras``.
"""

from seqlab.keras.base import Layer, TorchModuleWrapper
from seqlab.keras.layers.attention import AdditiveAttention, Attention
from seqlab.keras.layers.conv import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from seqlab.keras.layers.core import Activation, Dense, Dropout, Embedding, Flatten, Reshape
from seqlab.keras.layers.merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from seqlab.keras.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from seqlab.keras.layers.wrappers import TimeDistributed

# ``keras.layers.Input`` exists in Keras too.
from seqlab.keras.models import Input, InputLayer  # noqa: E402  (models imports the layer base only)

__all__ = [
    "Activation", "Add", "AdditiveAttention", "Attention", "Average", "AveragePooling1D",
    "AveragePooling2D", "Bidirectional", "Concatenate", "Conv1D", "Conv2D", "Dense", "Dropout",
    "Embedding", "Flatten", "GRU", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "Input", "InputLayer", "LSTM", "Layer", "MaxPooling1D", "MaxPooling2D",
    "Maximum", "Minimum", "Multiply", "Reshape", "SimpleRNN", "Subtract", "TimeDistributed",
    "TorchModuleWrapper", "add", "average", "concatenate", "maximum", "minimum", "multiply",
    "subtract",
]
