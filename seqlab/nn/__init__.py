"""seqlab.nn: recurrent cells, drop-in recurrent layers, attention.

Cells (one step, readable beside the notes' equations): RNNCell, GRUCell, LSTMCell,
PeepholeLSTMCell, CoupledLSTMCell, LayerNormLSTMCell.
"""

from seqlab.nn.cells import CoupledLSTMCell, GRUCell, LayerNormLSTMCell, LSTMCell, PeepholeLSTMCell, RNNCell

__all__ = ["RNNCell", "GRUCell", "LSTMCell", "PeepholeLSTMCell", "CoupledLSTMCell", "LayerNormLSTMCell"]
