"""Whole-sequence kernels for every cell family, behind one registry.

``get_family(name)`` returns the ``CellFamily`` (see ``base.py`` for the contract)
that ``seqlab.nn.recurrent`` runs for a layer. Families are stateless apart from a
diagnostic ``_last_path``, so one instance per name is shared.
"""

from __future__ import annotations

from seqlab.errors import ConfigurationError
from seqlab.nn.kernels.base import CellFamily, ParamSpec
from seqlab.nn.kernels.gru import GRUFamily
from seqlab.nn.kernels.lstm import CoupledLSTMFamily, LayerNormLSTMFamily, LSTMFamily, PeepholeLSTMFamily
from seqlab.nn.kernels.rnn import RNNFamily

_FAMILIES: dict[str, CellFamily] = {
    "rnn_tanh": RNNFamily("tanh"),
    "rnn_relu": RNNFamily("relu"),
    "lstm": LSTMFamily(),
    "peephole": PeepholeLSTMFamily(),
    "coupled": CoupledLSTMFamily(),
    "layernorm": LayerNormLSTMFamily(),
    "gru": GRUFamily(),
}

FAMILY_NAMES = tuple(_FAMILIES)


def get_family(name: str) -> CellFamily:
    """The cell family registered as ``name`` (one of ``FAMILY_NAMES``)."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ConfigurationError(f"unknown cell family {name!r}; valid names: {', '.join(FAMILY_NAMES)}") from None


__all__ = ["CellFamily", "ParamSpec", "FAMILY_NAMES", "get_family"]
