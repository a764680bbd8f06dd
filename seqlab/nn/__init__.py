"""seqlab.nn: recurrent cells, drop-in recurrent layers, attention.

* Cells (one step, readable beside the notes' equations): ``RNNCell``, ``GRUCell``,
  ``LSTMCell``, ``PeepholeLSTMCell``, ``CoupledLSTMCell``, ``LayerNormLSTMCell``.
* Recurrent layers (drop-ins for torch.nn's, plus ``lengths=``, ``cell=``, ``impl=``,
  ``recurrent_dropout=``): ``RNN``, ``LSTM``, ``GRU``.
* Token embeddings with Kim (2014)'s four modes: ``TokenEmbedding``.
* Convolutional encoders: ``FilterBank`` (Kim 2014), ``ConvEncoder1d`` (audio frames),
  ``ConvEncoder2d`` (image feature maps).
* Attention (the notes' four score functions; spatial form for image feature maps):
  ``Attention``, ``SpatialAttention``.
"""

from seqlab.nn.attention import Attention, SpatialAttention
from seqlab.nn.conv import ConvEncoder1d, ConvEncoder2d, FilterBank
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
    "FilterBank",
    "ConvEncoder1d",
    "ConvEncoder2d",
]
