"""The notes' Keras text model LEARNS on a real sample of SST-2 (Kim 2014's stsa.binary).

Embedding → LSTM → Dropout(0.5) → Dense(1, sigmoid), rmsprop, binary_crossentropy: the code of
the notes' "LSTM in Keras" slides with only the imports changed, on 3000 training sentences
(smaller dimensions to keep CI fast).  Chance is about 0.5; the test asks for well above it.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from seqlab.data.datasets.kim2014 import read_labelled_lines
from seqlab.keras import Sequential
from seqlab.keras.layers import LSTM, Dense, Dropout, Embedding

MAX_LEN = 40
MAX_FEATURES = 6000


def _encode(texts, vocab):
    """Keras ``pad_sequences`` defaults: pad and truncate at the front (0 = padding)."""
    x = np.zeros((len(texts), MAX_LEN), dtype="int64")
    for i, text in enumerate(texts):
        ids = [vocab.get(w, 1) for w in text.split()][-MAX_LEN:]  # 1 = unknown
        if ids:
            x[i, -len(ids):] = ids
    return x


def test_notes_model_learns_sst2(real_data_dir):
    torch.manual_seed(0)
    train_texts, train_labels = read_labelled_lines(real_data_dir / "kim2014" / "stsa.binary.train", "utf-8")
    test_texts, test_labels = read_labelled_lines(real_data_dir / "kim2014" / "stsa.binary.test", "utf-8")
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(train_texts))[:3000]
    train_texts = [train_texts[i] for i in pick]
    y_train = np.array([train_labels[i] for i in pick])
    counts = Counter(w for t in train_texts for w in t.split())
    vocab = {w: i + 2 for i, (w, _) in enumerate(counts.most_common(MAX_FEATURES - 2))}
    x_train = _encode(train_texts, vocab)
    x_test, y_test = _encode(test_texts[:800], vocab), np.array(test_labels[:800])

    model = Sequential()
    model.add(Embedding(MAX_FEATURES, output_dim=64))
    model.add(LSTM(64))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=16, epochs=3, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > 0.68, f"test accuracy {accuracy:.3f} after 3 epochs"
