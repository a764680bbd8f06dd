"""Build the recurrent layer a model uses, from flat hyperparameters.

One place maps ``rnn_type`` / ``cell`` / ``impl`` to a ``seqlab.nn`` module so the
classifier and the language model stay short (STYLE.md principle 7).
"""

from __future__ import annotations

from torch import nn

import seqlab.nn as snn
from seqlab.errors import ConfigurationError

RNN_TYPES = ("rnn", "lstm", "gru")
LSTM_CELLS = ("standard", "peephole", "coupled", "layernorm")


def recurrent_layer(
    rnn_type: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    cell: str = "standard",
    dropout: float = 0.0,
    bidirectional: bool = False,
    impl: str = "auto",
) -> nn.Module:
    """A batch-first ``seqlab.nn`` RNN / LSTM / GRU.

    Its ``forward(x (B, T, I), state=None, lengths=None)`` returns
    ``(output (B, T, D*H), state)`` with ``D = 2 if bidirectional else 1``; padded steps
    (``t >= lengths[b]``) never influence the state.
    """
    if rnn_type not in RNN_TYPES:
        raise ConfigurationError(
            f"model.rnn_type={rnn_type!r} is not supported; expected one of {', '.join(RNN_TYPES)}."
        )
    if cell not in LSTM_CELLS:
        raise ConfigurationError(
            f"model.cell={cell!r} is not supported; expected one of {', '.join(LSTM_CELLS)}."
        )
    if rnn_type != "lstm" and cell != "standard":
        raise ConfigurationError(
            f"model.cell={cell!r} is an LSTM variant but model.rnn_type={rnn_type!r}; "
            "set model.rnn_type=lstm or model.cell=standard."
        )
    common = dict(
        num_layers=num_layers,
        batch_first=True,
        dropout=dropout if num_layers > 1 else 0.0,
        bidirectional=bidirectional,
        impl=impl,
    )
    if rnn_type == "lstm":
        return snn.LSTM(input_size, hidden_size, cell=cell, **common)
    if rnn_type == "gru":
        return snn.GRU(input_size, hidden_size, **common)
    return snn.RNN(input_size, hidden_size, nonlinearity="tanh", **common)
