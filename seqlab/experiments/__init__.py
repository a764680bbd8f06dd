"""Runnable experiments of the notes (each module has a ``main(argv)``).

* :mod:`~seqlab.experiments.hello` — the notes' h-e-l-o example: a tiny character RNN
  trained on "hello" that, given "h", generates "hello".
* :mod:`~seqlab.experiments.long_range` — vanishing / exploding gradients measured: the
  copy-memory and adding problems swept over the delay for RNN, LSTM (standard, peephole,
  coupled, layernorm) and GRU, and gradient-norm clipping fixing an exploding RNN.
* :mod:`~seqlab.experiments.window_baselines` — the notes' Exercise 2 baselines
  (fixed-window LMs with n−1 = 2 and 7, bag of words) trained and scored on a real
  corpus with the same TBPTT streams and metrics as the recurrent LMs.

Run one with ``python -m seqlab.experiments.long_range --help``.
"""
