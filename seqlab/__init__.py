"""seqlab: classic sequence models as fast, tested PyTorch systems.

Layout (data flows one way, STYLE.md principle 1)::

    seqlab.data        datasets, tokenizers, vocabularies, batching
    seqlab.nn          cells, the recurrent wrapper, attention, fast kernels
    seqlab.models      assembled systems (classifiers, language models, ...)
    seqlab.train       the training engine, callbacks, checkpoints, runs
    seqlab.keras       the Keras-style API of the lecture notes, on seqlab.train
    seqlab.cli         the ``seqlab`` command; recipes live in seqlab/recipes
    seqlab.diagnostics plots, gradient flow, reports (reads models and runs)

Tensor shape legend used everywhere: B batch, T time, S source length,
H hidden, E embedding, V vocabulary, C channels, I input features.
"""

__version__ = "0.1.0"
