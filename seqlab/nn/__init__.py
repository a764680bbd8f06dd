"""seqlab.nn: recurrent cells, drop-in recurrent layers, attention.

* Cells (one step, readable beside the notes' equations): ``RNNCell``, ``GRUCell``,
  ``LSTMCell``, ``PeepholeLSTMCell``, ``CoupledLSTMCell``, ``LayerNormLSTMCell``.
* Recurrent layers (drop-ins for torch.nn's, plus ``lengths=``, ``cell=``, ``impl=``,
  ``recurrent_dropout=``): ``RNN``, ``LSTM``, ``GRU``.
* Token embeddings with Kim (2014)'s four modes: ``TokenEmbedding``.
* Attention (the notes' four score functions; spatial form for image feature maps):
  ``Attention``, ``SpatialAttention``.
"""

from seqlab.nn.attention import Attention, SpatialAttention
from seqlab.nn.embedding import TokenEmbedding
from seqlab.nn.cells import CoupledLSTMCell, GRUCell, LayerNormLSTMCell, LSTMCell, PeepholeLSTMCell, RNNCell
from seqlab.nn.recurrent import GRU, LSTM, RNN

__all__ = [
    "RNNCell",
    "GRUCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "CoupledLSTMCell",
    "LayerNormLSTMCell",
    "RNN",
    "LSTM",
    "GRU",
    "Attention",
    "SpatialAttention",
    "TokenEmbedding",
]
