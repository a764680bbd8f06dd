"""Truncated BPTT: state carried between windows, detached, reset per epoch."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.data.streams import StreamDataset, StreamWindow, stream_loader
from seqlab.train import Trainer, detach_state


class TinyRNNLM(nn.Module):
    """Embedding → tanh RNN → linear; follows ``forward(x, state=None) -> (logits, state)``."""

    def __init__(self, vocab=5, hidden=6):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(vocab, 4)
        self.rnn = nn.RNN(4, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)
        self.seen: list = []

    def forward(self, x, state=None):  # x (B, T)
        self.seen.append(state)
        h, new_state = self.rnn(self.emb(x), state)  # (B, T, H), (1, B, H)
        return self.out(h), new_state  # (B, T, V)


class Stream(list):
    """Consecutive (inputs, targets) windows of a batchified stream."""

    is_stream = True


def make_stream(n_windows=3, batch=2, bptt=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, 5, (batch, n_windows * bptt + 1), generator=g)
    return Stream((seq[:, i : i + bptt], seq[:, i + 1 : i + bptt + 1]) for i in range(0, n_windows * bptt, bptt))


def test_detach_state_handles_nested_structures():
    a = torch.ones(2, requires_grad=True) * 2
    state = {"h": (a, [a * 3]), "n": None, "k": 3}
    out = detach_state(state)
    assert out["h"][0].grad_fn is None and out["h"][1][0].grad_fn is None
    assert isinstance(out["h"], tuple) and isinstance(out["h"][1], list)
    assert out["n"] is None and out["k"] == 3 and torch.equal(out["h"][1][0], a * 3)


def test_state_is_passed_detached_and_reset_every_epoch():
    model = TinyRNNLM()
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=0.1, metrics=["perplexity"], verbose=0)
    stream = make_stream(n_windows=3)
    trainer.fit(stream, epochs=2)  # tbptt switched on by Stream.is_stream
    train_seen = model.seen[:6]
    assert train_seen[0] is None and train_seen[3] is None  # reset at each epoch
    for s in train_seen[1:3] + train_seen[4:6]:
        assert isinstance(s, torch.Tensor) and s.grad_fn is None and not s.requires_grad
    model.seen.clear()
    result = trainer.evaluate(stream)
    assert model.seen[0] is None and all(isinstance(s, torch.Tensor) for s in model.seen[1:])
    assert result["perplexity"] == result["perplexity"] and result["perplexity"] > 1
    pred = trainer.predict(stream)
    assert pred.shape == (2, 12, 5)  # windows concatenated along time


def test_gradients_never_cross_a_window_boundary():
    model = TinyRNNLM()
    reference = copy.deepcopy(model)
    stream = make_stream(n_windows=2)
    # lr=0 keeps the weights fixed, so after fit the .grad fields hold the gradient of window 2 alone.
    trainer = Trainer(model, loss="cross_entropy", optimizer="sgd", lr=1e-30, verbose=0, device="cpu")
    trainer.fit(stream, epochs=1)

    (x1, _), (x2, y2) = stream
    _, h1 = reference(x1)
    logits, _ = reference(x2, state=h1.detach())
    F.cross_entropy(logits.reshape(-1, 5), y2.reshape(-1)).backward()
    truncated = {n: p.grad.clone() for n, p in reference.named_parameters()}
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, truncated[n], rtol=1e-6, atol=1e-7)

    reference.zero_grad()
    _, h1 = reference(x1)
    logits, _ = reference(x2, state=h1)  # full BPTT through both windows
    F.cross_entropy(logits.reshape(-1, 5), y2.reshape(-1)).backward()
    assert not torch.allclose(model.rnn.weight_hh_l0.grad, reference.rnn.weight_hh_l0.grad)


def test_language_model_learns_a_repeating_stream():
    seq = torch.tensor([0, 1, 2, 3, 4] * 40).reshape(2, 100)  # deterministic next token
    stream = Stream((seq[:, i : i + 9], seq[:, i + 1 : i + 10]) for i in range(0, 90, 9))
    trainer = Trainer(TinyRNNLM(), loss="cross_entropy", optimizer="adam", lr=0.05,
                      metrics=["perplexity", "accuracy"], verbose=0, seed=0)
    history = trainer.fit(stream, epochs=8)
    assert history.history["perplexity"][-1] < 1.5 < history.history["perplexity"][0]
    assert history.history["accuracy"][-1] > 0.95


# ---------------------------------------------------------------- token-weighted epoch means (issue 4)


class LookupLM(nn.Module):
    """Logits looked up per input id (no recurrence): ``forward(x, state) -> (table[x], state)``."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Embedding.from_pretrained(table, freeze=False)  # (V, V) logits per input id

    def forward(self, x, state=None):  # x (B, T)
        return self.table(x), state  # (B, T, V)


def test_epoch_loss_is_a_token_mean_golden_two_unequal_windows():
    ln2 = math.log(2.0)
    # Input 0 -> logits [0, 0]: every target costs ln 2.  Input 1 -> logits [0, ln 3]: target 0 costs ln 4.
    table = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    stream = Stream([
        (torch.zeros(2, 3, dtype=torch.long), torch.tensor([[0, 1, 0], [1, 0, 1]])),  # 6 tokens x ln 2
        (torch.ones(2, 1, dtype=torch.long), torch.tensor([[0], [-100]])),  # 1 token x ln 4, 1 ignored
    ])
    # Σ token losses / Σ tokens = (6 ln2 + 2 ln2) / 7; weighting the window means by B would give 1.5 ln2.
    expected = 8 * ln2 / 7
    model = LookupLM(table)
    trainer = Trainer(model, loss="cross_entropy", optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                      metrics=["perplexity", "bits_per_char"], verbose=0)
    evaluated = trainer.evaluate(stream)
    trained = {k: v[0] for k, v in trainer.fit(stream, epochs=1).history.items()}  # lr 0: same weights
    for logs in (evaluated, trained):  # losses are float32, the metric sums float64
        assert logs["loss"] == pytest.approx(expected, abs=1e-6)
        assert logs["bits_per_char"] == pytest.approx(8 / 7, abs=1e-6)
        assert logs["perplexity"] == pytest.approx(2 ** (8 / 7), abs=1e-6)


def test_state_carried_stream_gives_the_same_means_in_one_window_or_many_unequal_ones():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 5, (2 * 31,), generator=g)  # 2 rows of 31 tokens: 30 targets per row
    model = TinyRNNLM()
    trainer = Trainer(model, loss="cross_entropy", metrics=["perplexity", "bits_per_char", "accuracy"], verbose=0)
    whole = Stream(tuple(w) for w in StreamDataset(ids, batch_size=2, bptt=30))  # one window
    pieces = Stream(tuple(w) for w in StreamDataset(ids, batch_size=2, bptt=7))  # 7, 7, 7, 7, 2
    assert [x.shape[1] for x, _ in pieces] == [7, 7, 7, 7, 2]
    one, many = trainer.evaluate(whole), trainer.evaluate(pieces)
    assert model.seen[-1] is not None  # the state was carried between the windows
    for key in ("loss", "perplexity", "bits_per_char", "accuracy"):
        assert many[key] == pytest.approx(one[key], abs=1e-6), key


# ---------------------------------------------------------------- StreamWindow batches (issue 4)


def test_stream_loader_windows_train_without_an_input_adapter():
    ids = torch.tensor([0, 1, 2, 3, 4] * 40)  # a deterministic next token
    train = stream_loader(ids, batch_size=4, bptt=6)  # StreamWindow(inputs, targets); last window shorter
    assert isinstance(next(iter(train)), StreamWindow) and len(train) == 9
    model = TinyRNNLM()
    trainer = Trainer(model, loss="cross_entropy", optimizer="adam", lr=0.05, metrics=["perplexity"], tbptt=True,
                      verbose=0, seed=0)
    history = trainer.fit(train, epochs=6)  # forward(x, state=...) has no `inputs=` keyword
    assert history.history["perplexity"][-1] < 1.5 < history.history["perplexity"][0]
    assert model.seen[0] is None and isinstance(model.seen[1], torch.Tensor)  # state carried from window 0
    assert trainer.evaluate(train)["perplexity"] < 1.5
    assert trainer.predict(train).shape == (4, 49, 5)  # windows concatenated along time
